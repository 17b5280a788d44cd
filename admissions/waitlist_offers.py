"""Whether an inquiry's waitlist offer still stands: read by the follow-up machine before the
offer's alert and message go (``admissions.waitlist`` makes and ends offers)."""

from __future__ import annotations

from django.utils import timezone

from admissions.models import WaitlistEntry


def offer_standing(*, inquiry_id: int) -> bool:
    """True while the inquiry holds an offer that has not run out."""
    return WaitlistEntry.objects.filter(
        inquiry_id=inquiry_id, state=WaitlistEntry.State.OFFERED, offer_expires_at__gt=timezone.now()
    ).exists()
