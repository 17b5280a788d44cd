"""Channels that carry composed messages out, one transport per medium.

``TRANSPORTS`` maps each medium of ``admissions.messaging.mediums.MEDIUMS`` to the class that
sends it: email through Django's backend, texts through the configured SMS provider. An
envelope of any other medium raises ``UnknownMedium``; nothing falls through to texting.

One ``DefaultChannels`` serves one batch of a worker: it opens a medium's transport on the
first envelope of that medium and closes them all at the end (the email transport keeps a
single SMTP connection open across the batch's emails; the HTTP SMS provider keeps one pooled
keep-alive client per worker process).
"""

from __future__ import annotations

import smtplib
from types import TracebackType
from typing import Any, Protocol

from django.core.mail import get_connection

from admissions.messaging.envelope import Envelope, SendResult, TransientSendError, UnknownMedium
from admissions.models import FollowUp
from workers.channels.email import email_send
from workers.channels.sms import sms_provider


class Transport(Protocol):
    """Sends envelopes of one medium for the length of a batch."""

    def send(self, envelope: Envelope) -> SendResult: ...

    def close(self) -> None: ...


class EmailTransport:
    """Email through Django's backend, over one connection for the whole batch."""

    def __init__(self) -> None:
        self._mail: Any = None  # an open email backend connection, reused until close()
        self._mail_sent = 0

    def send(self, envelope: Envelope) -> SendResult:
        reused = self._mail is not None and self._mail_sent > 0
        try:
            result = email_send(envelope, connection=self._connection())
        except TransientSendError as error:
            self.close()
            if not (reused and isinstance(error.__cause__, smtplib.SMTPServerDisconnected)):
                raise
            # The server dropped an idle connection: one more try on a new one, same Message-ID.
            result = email_send(envelope, connection=self._connection())
        self._mail_sent += 1
        return result

    def _connection(self) -> Any:
        if self._mail is None:
            connection = get_connection()
            try:
                connection.open()
            except (OSError, smtplib.SMTPException) as error:
                raise TransientSendError(f"SMTP unavailable: {type(error).__name__}") from error
            self._mail, self._mail_sent = connection, 0
        return self._mail

    def close(self) -> None:
        connection, self._mail = self._mail, None
        if connection is not None:
            try:
                connection.close()
            except (OSError, smtplib.SMTPException):
                pass  # already broken; nothing to hand back


class SmsTransport:
    """Texts through the provider ``SMS_PROVIDER`` names."""

    def send(self, envelope: Envelope) -> SendResult:
        return sms_provider().send(envelope)

    def close(self) -> None:
        pass  # the provider's HTTP client is pooled per process, not per batch


TRANSPORTS: dict[str, type[Transport]] = {
    FollowUp.Channel.EMAIL.value: EmailTransport,
    FollowUp.Channel.SMS.value: SmsTransport,
}


class DefaultChannels:
    """Routes each envelope to the transport of its medium."""

    def __init__(self) -> None:
        self._open: dict[str, Transport] = {}

    def send(self, envelope: Envelope) -> SendResult:
        return self.transport(envelope.medium).send(envelope)

    def transport(self, medium: str) -> Transport:
        """The batch's transport for ``medium``, opened on first use."""
        if medium not in self._open:
            try:
                kind = TRANSPORTS[medium]
            except KeyError:
                raise UnknownMedium(
                    f"No transport for {medium!r}; there are {', '.join(TRANSPORTS)}."
                ) from None
            self._open[medium] = kind()
        return self._open[medium]

    def close(self) -> None:
        open_now, self._open = self._open, {}
        for transport in open_now.values():
            transport.close()

    def __enter__(self) -> DefaultChannels:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def default_channels() -> DefaultChannels:
    """The channels of one batch (use as a context manager so its connections close)."""
    return DefaultChannels()
