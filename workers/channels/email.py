"""Email through Django's email backend (SMTP in production).

The Message-ID is derived from the message's idempotency key, so a retry after
a crash carries the same id and a deduping mail system keeps one copy.
List-Unsubscribe and List-Unsubscribe-Post give one-click unsubscribe (RFC 8058).
"""

from __future__ import annotations

import smtplib
from email.utils import formataddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from admissions.messaging.envelope import Envelope, PermanentSendError, SendResult, TransientSendError


def message_id_for(envelope: Envelope) -> str:
    return f"<{envelope.idempotency_key}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"


def email_build(envelope: Envelope) -> EmailMessage:
    """The email for an envelope, with a stable Message-ID and unsubscribe headers."""
    headers = {"Message-ID": message_id_for(envelope), **envelope.headers}
    if envelope.unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{envelope.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    body = f"{envelope.preview}\n\n{envelope.body}" if envelope.preview else envelope.body
    return EmailMessage(
        subject=envelope.subject,
        body=body,
        from_email=formataddr((envelope.sender_name, settings.DEFAULT_FROM_EMAIL)),
        to=[envelope.to],
        headers=headers,
    )


def email_send(envelope: Envelope, *, connection: Any = None) -> SendResult:
    """Send one email; connection trouble and 4xx answers are transient, 5xx refusals permanent.

    ``connection``: an open email backend connection to reuse (it stays open);
    without one, a connection is opened and closed for this email.
    """
    message = email_build(envelope)
    try:
        if connection is not None:
            connection.send_messages([message])
        else:
            with get_connection() as own:
                own.send_messages([message])
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        if all(400 <= code < 500 for code in codes):
            raise TransientSendError(f"recipient deferred ({codes})") from error
        raise PermanentSendError(f"recipient refused ({codes})") from error
    except smtplib.SMTPResponseException as error:
        if 400 <= error.smtp_code < 500:
            raise TransientSendError(f"SMTP {error.smtp_code}") from error
        raise PermanentSendError(f"SMTP {error.smtp_code}") from error
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        raise TransientSendError(f"SMTP unavailable: {type(error).__name__}") from error
    return SendResult(provider_message_id=message_id_for(envelope).strip("<>")[:80], status="sent")
