"""Channels that carry composed messages out: email through Django's backend, SMS through a provider."""

from __future__ import annotations

from admissions.messaging.envelope import Envelope, SendResult
from workers.channels.email import email_send
from workers.channels.sms import sms_provider


class DefaultChannels:
    """Routes an envelope to the email backend or the configured SMS provider."""

    def send(self, envelope: Envelope) -> SendResult:
        if envelope.medium == "email":
            return email_send(envelope)
        return sms_provider().send(envelope)


def default_channels() -> DefaultChannels:
    return DefaultChannels()
