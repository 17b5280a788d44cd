"""Tasks that hand a coordinator what the messaging rules could not decide."""

from __future__ import annotations

from datetime import datetime

from admissions.models import FollowUp, Inquiry
from admissions.services import dispatcher_kick


def coordinator_review_create(*, inquiry: Inquiry, key: str, note: str, now: datetime) -> FollowUp:
    """A task for the inquiry's coordinator to decide what the rules could not (posted when due).

    ``note`` (no PHI: a reason, never the person's words) waits in the row's ``outcome``
    until the task posts it on the timeline as an alert."""
    task = FollowUp(
        inquiry=inquiry,
        kind=FollowUp.Kind.COORDINATOR_REVIEW,
        channel=FollowUp.Channel.TASK,
        due_at=now,
        dedupe_key=f"review:{key}"[:80],
        outcome=note[:120],
        created_at=now,
    )
    FollowUp.objects.bulk_create([task], ignore_conflicts=True)
    dispatcher_kick()
    return task
