"""What a channel is given to send, and what it answers. Channels live in ``workers.channels``.

Admissions does not import ``workers``: the worker task passes its channels
into ``followups_deliver``, which hands each channel one ``Envelope``. Both sides key their
registries by the envelope's medium (``admissions.messaging.mediums.MEDIUMS``,
``workers.channels.TRANSPORTS``) and raise ``UnknownMedium`` for any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Envelope:
    """A composed message; ``idempotency_key`` is stable across retries of the same message."""

    message_id: int
    inquiry_id: int | None
    medium: str  # "sms" or "email"
    to: str
    sender_name: str
    body: str
    idempotency_key: str
    subject: str = ""
    preview: str = ""
    unsubscribe_url: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str = "sent"


class TransientSendError(Exception):
    """The provider may accept the message later (timeout, 5xx, 429): retry with backoff."""


class PermanentSendError(Exception):
    """The provider refused the message for good (invalid number, unsubscribed): do not retry."""


class UnknownMedium(LookupError):
    """A medium no registry knows: raised instead of falling back to another medium."""


class Channels(Protocol):
    def send(self, envelope: Envelope) -> SendResult: ...
