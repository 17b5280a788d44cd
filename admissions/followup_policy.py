"""Which follow-ups a new inquiry gets, and when. Offsets are from the inquiry's arrival."""

from __future__ import annotations

from datetime import timedelta

from admissions.models import FollowUp

NEW_INQUIRY_CADENCE: tuple[tuple[str, timedelta, str], ...] = (
    (FollowUp.Kind.COORDINATOR_ALERT, timedelta(minutes=5), "alert-5m"),
    (FollowUp.Kind.MANAGER_ESCALATION, timedelta(minutes=15), "escalate-15m"),
    (FollowUp.Kind.CALL_TASK, timedelta(hours=1), "call-1h"),
    (FollowUp.Kind.CALL_TASK, timedelta(days=1), "call-1d"),
    (FollowUp.Kind.CALL_TASK, timedelta(days=3), "call-3d"),
    (FollowUp.Kind.CALL_TASK, timedelta(days=7), "call-7d"),
)

# Alerts about a missing first contact stop mattering once someone has tried.
STOPS_AFTER_FIRST_ATTEMPT = frozenset({FollowUp.Kind.COORDINATOR_ALERT, FollowUp.Kind.MANAGER_ESCALATION})
