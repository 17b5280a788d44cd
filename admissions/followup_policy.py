"""Which follow-ups an inquiry gets, and when.

Two sources, on purpose:

- ``NEW_INQUIRY_CADENCE`` (here, in code): the staff alerts and call tasks of a
  new inquiry. ``inquiry_create`` writes them in the inquiry's own transaction,
  so the 5-minute speed-to-lead alert exists the moment the lead does.
- ``CadenceStep`` rows (data, editable in the admin): acknowledgements by text
  or email, reminders before an admission, the monthly nurture touch, the
  check-in after a referral out. The dispatcher plans them from the timeline
  (``admissions.messaging.services.cadences_plan``). The defaults are installed by the
  data migration ``0007_messaging_defaults``.

Every cadence stops by itself: the send-time checks in ``admissions.followups``
and ``admissions.messaging.services.message_decide`` cancel a follow-up whose
inquiry advanced, closed, was crisis-routed or red-flagged, whose person
replied, or whose consent was revoked.
"""

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
