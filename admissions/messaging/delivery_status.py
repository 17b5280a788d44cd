"""Delivery statuses the SMS provider reports for messages already sent."""

from __future__ import annotations

from django.utils import timezone

from admissions.messaging.models import OutboundMessage

_STATUS_RANK = {
    OutboundMessage.Status.PENDING: 0,
    OutboundMessage.Status.SENDING: 1,
    OutboundMessage.Status.SENT: 2,
    OutboundMessage.Status.DELIVERED: 3,
    OutboundMessage.Status.UNDELIVERED: 3,
    OutboundMessage.Status.FAILED: 3,
}
_PROVIDER_STATUS = {
    "accepted": OutboundMessage.Status.SENDING,
    "queued": OutboundMessage.Status.SENDING,
    "sending": OutboundMessage.Status.SENDING,
    "sent": OutboundMessage.Status.SENT,
    "delivered": OutboundMessage.Status.DELIVERED,
    "undelivered": OutboundMessage.Status.UNDELIVERED,
    "failed": OutboundMessage.Status.FAILED,
}


def sms_status_update(*, provider_message_id: str, provider_status: str) -> int:
    """Record a delivery status from the provider; a status never moves backwards."""
    status = _PROVIDER_STATUS.get(provider_status.lower())
    if status is None or not provider_message_id:
        return 0
    lower = [s for s, rank in _STATUS_RANK.items() if rank < _STATUS_RANK[status]]
    return OutboundMessage.objects.filter(provider_message_id=provider_message_id, status__in=lower).update(
        status=status, status_at=timezone.now()
    )
