"""Channels that carry composed messages out: email through Django's backend, SMS through a provider.

One ``DefaultChannels`` serves one batch of a worker: it keeps a single SMTP
connection open across the batch's emails (``close()`` ends it), and the HTTP
SMS provider keeps one pooled keep-alive client per worker process.
"""

from __future__ import annotations

import smtplib
from types import TracebackType
from typing import Any

from django.core.mail import get_connection

from admissions.messaging.envelope import Envelope, SendResult, TransientSendError
from workers.channels.email import email_send
from workers.channels.sms import sms_provider


class DefaultChannels:
    """Routes an envelope to the email backend or the configured SMS provider."""

    def __init__(self) -> None:
        self._mail: Any = None  # an open email backend connection, reused until close()
        self._mail_sent = 0

    def send(self, envelope: Envelope) -> SendResult:
        if envelope.medium == "email":
            return self._email(envelope)
        return sms_provider().send(envelope)

    def _email(self, envelope: Envelope) -> SendResult:
        reused = self._mail is not None and self._mail_sent > 0
        try:
            result = email_send(envelope, connection=self._mail_connection())
        except TransientSendError as error:
            self._mail_close()
            if not (reused and isinstance(error.__cause__, smtplib.SMTPServerDisconnected)):
                raise
            # The server dropped an idle connection: one more try on a new one, same Message-ID.
            result = email_send(envelope, connection=self._mail_connection())
        self._mail_sent += 1
        return result

    def _mail_connection(self) -> Any:
        if self._mail is None:
            connection = get_connection()
            try:
                connection.open()
            except (OSError, smtplib.SMTPException) as error:
                raise TransientSendError(f"SMTP unavailable: {type(error).__name__}") from error
            self._mail, self._mail_sent = connection, 0
        return self._mail

    def _mail_close(self) -> None:
        connection, self._mail = self._mail, None
        if connection is not None:
            try:
                connection.close()
            except (OSError, smtplib.SMTPException):
                pass  # already broken; nothing to hand back

    def close(self) -> None:
        self._mail_close()

    def __enter__(self) -> DefaultChannels:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def default_channels() -> DefaultChannels:
    return DefaultChannels()
