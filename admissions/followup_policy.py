"""Which follow-ups an inquiry gets, and when.

Two sources, on purpose:

- ``NEW_INQUIRY_CADENCE`` (here, in code): the staff alerts and call tasks of a
  new inquiry. ``inquiry_create`` writes them in the inquiry's own transaction,
  so the 5-minute speed-to-lead alert exists the moment the lead does.
- ``CadenceStep`` rows (data, editable in the admin): acknowledgements by text
  or email, reminders before an admission, the monthly nurture touch, the
  check-in after a referral out. The dispatcher plans them from the timeline
  (``admissions.messaging.cadences.cadences_plan``). The defaults are installed by the
  data migration ``0007_messaging_defaults``.

Every cadence stops by itself: the send-time checks in ``admissions.followups``
and ``admissions.messaging.decision.message_decide`` cancel a follow-up whose
inquiry advanced, closed, was crisis-routed or red-flagged, whose person
replied, or whose consent was revoked. The sets of kinds below say which rule stops which.
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

# Automated kinds that a reply from the person makes pointless.
STOPPED_BY_REPLY = frozenset(
    {FollowUp.Kind.ACKNOWLEDGEMENT, FollowUp.Kind.NURTURE_TOUCH, FollowUp.Kind.REFERRAL_CHECK_IN}
)
# Answers to a text the person just sent: no consent or quiet-hour check (carrier rules expect them).
DIRECT_REPLIES = frozenset({FollowUp.Kind.HELP_REPLY, FollowUp.Kind.OPT_OUT_CONFIRMATION})
# Automated messages a hold (crisis, unclear reply) stops: everything but direct replies and the
# one-to-one texts a coordinator writes.
NOT_AUTOMATED = DIRECT_REPLIES | {FollowUp.Kind.COORDINATOR_TEXT}
# Follow-ups still to run: what an opt-out, a hold or a stage change cancels.
PENDING = (FollowUp.State.SCHEDULED, FollowUp.State.QUEUED)
