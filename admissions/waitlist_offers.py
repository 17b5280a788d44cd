"""What the rest of admissions needs of the waitlist without importing ``admissions.waitlist``
(which builds on ``admissions.services``): whether an offer still stands, read by the follow-up
machine before an offer's alert and message go, and closing an inquiry's entries when the
inquiry leaves the pipeline."""

from __future__ import annotations

from django.utils import timezone

from admissions.models import WaitlistEntry
from programs.models import CapacityHold
from programs.services import capacity_hold_release


def offer_standing(*, inquiry_id: int) -> bool:
    """True while the inquiry holds an offer that has not run out."""
    return WaitlistEntry.objects.filter(
        inquiry_id=inquiry_id, state=WaitlistEntry.State.OFFERED, offer_expires_at__gt=timezone.now()
    ).exists()


def waitlist_entries_close(*, inquiry_id: int) -> int:
    """An inquiry closed, was admitted or moved to nurture: it waits no more, and a place offered
    to it goes back (to the next person). Returns how many entries closed."""
    now = timezone.now()
    live = list(
        WaitlistEntry.objects.select_for_update(of=("self",))
        .select_related("offer_hold")
        .filter(inquiry_id=inquiry_id, state__in=[WaitlistEntry.State.WAITING, WaitlistEntry.State.OFFERED])
    )
    for entry in live:
        hold = entry.offer_hold
        if entry.state == WaitlistEntry.State.OFFERED and hold is not None and hold.released_at is None:
            capacity_hold_release(hold=hold, reason=CapacityHold.ReleaseReason.CANCELLED)
    WaitlistEntry.objects.filter(pk__in=[e.pk for e in live]).update(
        state=WaitlistEntry.State.REMOVED, ended_at=now
    )
    return len(live)
