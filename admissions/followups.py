"""Claiming and carrying out follow-ups. Called by the worker tasks in ``workers.tasks``.

PostgreSQL is the record: a row is SCHEDULED until due, QUEUED (with a lease)
while a task carries its id, then DONE, CANCELLED, BLOCKED or FAILED. A lost
task (worker killed, Redis restarted) leaves its row QUEUED; when the lease
runs out the dispatcher claims it again. Each start of a delivery counts an
attempt (committed before sending), so a message that keeps crashing its
worker ends FAILED after ``FOLLOWUP_MAX_ATTEMPTS`` instead of looping for ever.

Messages are sent inside the transaction that holds the recipient's row lock;
a crash after the provider accepted a message but before commit re-sends it
with the same idempotency key, which the provider (or SMTP Message-ID) dedupes.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from admissions.followup_policy import STOPS_AFTER_FIRST_ATTEMPT
from admissions.messaging.envelope import Channels, PermanentSendError, TransientSendError
from admissions.messaging.models import OutboundMessage
from admissions.messaging.services import cadence_repeat, envelope_build, message_decide
from admissions.models import FollowUp, Inquiry, InquiryEvent, Person
from admissions.pipeline import OPEN_STAGES, Stage
from admissions.services import inquiry_event

log = logging.getLogger(__name__)


def lease() -> timedelta:
    return timedelta(seconds=settings.FOLLOWUP_LEASE_SECONDS)


def followups_claim_due(*, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Move due rows (and queued rows whose lease ran out) to QUEUED; returns their ids.

    Safe when several dispatchers race: on PostgreSQL rows are locked with
    SKIP LOCKED; on SQLite the IMMEDIATE transaction serialises writers. Both
    branches require ``due_at <= now`` so the partial index on ``due_at`` is
    read only as far as the due rows go, however many rows are scheduled later.
    """
    now = now or timezone.now()
    due = Q(due_at__lte=now) & (
        Q(state=FollowUp.State.SCHEDULED) | Q(state=FollowUp.State.QUEUED, lease_until__lt=now)
    )
    # Keep the broker's backlog shorter than a lease, or rows waiting in the queue would be
    # claimed again before a worker reaches them. Queued rows are always due, hence due_at here.
    in_flight = FollowUp.objects.filter(
        due_at__lte=now, state=FollowUp.State.QUEUED, lease_until__gte=now
    ).count()
    limit = min(limit, settings.FOLLOWUP_MAX_IN_FLIGHT - in_flight)
    if limit <= 0:
        return []
    with transaction.atomic():
        rows = FollowUp.objects.filter(due).order_by("due_at")
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        claimed = list(rows.values_list("pk", "attempts")[:limit])
        exhausted = [pk for pk, attempts in claimed if attempts >= settings.FOLLOWUP_MAX_ATTEMPTS]
        ids = [pk for pk, attempts in claimed if attempts < settings.FOLLOWUP_MAX_ATTEMPTS]
        if exhausted:
            _give_up(ids=exhausted, now=now, why=f"gave up after {settings.FOLLOWUP_MAX_ATTEMPTS} attempts")
        if ids:
            FollowUp.objects.filter(pk__in=ids).update(state=FollowUp.State.QUEUED, lease_until=now + lease())
    return ids


def followup_start(*, followup_id: int, now: datetime | None = None) -> bool:
    """Count an attempt and renew the lease as a worker starts; committed before anything is sent.

    Counting here rather than at claim time means time spent waiting in the
    queue is not an attempt, while a worker killed mid-send still used one.
    """
    now = now or timezone.now()
    return (
        FollowUp.objects.filter(pk=followup_id, state=FollowUp.State.QUEUED).update(
            attempts=F("attempts") + 1, lease_until=now + lease()
        )
        == 1
    )


def _give_up(*, ids: list[int], now: datetime, why: str) -> None:
    FollowUp.objects.filter(pk__in=ids).update(
        state=FollowUp.State.FAILED, finished_at=now, outcome=why[:120], lease_until=None
    )
    OutboundMessage.objects.filter(followup_id__in=ids).exclude(
        status__in=[OutboundMessage.Status.SENT, OutboundMessage.Status.DELIVERED]
    ).update(status=OutboundMessage.Status.FAILED, status_at=now, error=why[:200])


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with full jitter: up to base * 2^(attempts-1), capped."""
    ceiling = min(
        settings.FOLLOWUP_RETRY_MAX_SECONDS, settings.FOLLOWUP_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    )
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not crypto


def _still_wanted(followup: FollowUp, inquiry: Inquiry) -> str:
    """Why a staff alert or task should not run any more, or "" if it should."""
    if followup.kind == FollowUp.Kind.REFERRAL_CHECK_IN:
        return "" if inquiry.stage == Stage.REFERRED_OUT else f"inquiry is {inquiry.stage}"
    if followup.kind == FollowUp.Kind.NURTURE_TOUCH:
        return "" if inquiry.stage == Stage.NURTURE else f"inquiry is {inquiry.stage}"
    if inquiry.stage not in OPEN_STAGES:
        return f"inquiry is {inquiry.stage}"
    if followup.kind in STOPS_AFTER_FIRST_ATTEMPT and (
        inquiry.first_attempt_at is not None or inquiry.stage != Stage.NEW
    ):
        return "a contact attempt was made"
    if followup.kind == FollowUp.Kind.CALL_TASK and inquiry.stage not in (Stage.NEW, Stage.CONTACT_ATTEMPTED):
        return "the person was reached"
    return ""


_ALERT_TEXT = {
    FollowUp.Kind.COORDINATOR_ALERT: "No contact attempt {minutes} minutes after the inquiry arrived.",
    FollowUp.Kind.MANAGER_ESCALATION: "Escalated to the manager: no contact attempt after {minutes} minutes.",
    FollowUp.Kind.CALL_TASK: "Call task: try to reach the person now.",
    FollowUp.Kind.CALLBACK: "Scheduled call-back: call the person now.",
    FollowUp.Kind.REFERRAL_CHECK_IN: "Check in: did the person reach the provider they were referred to?",
    FollowUp.Kind.NURTURE_TOUCH: "Nurture: time for a check-in call.",
    FollowUp.Kind.ADMISSION_REMINDER: "Admission coming up: confirm the person's arrival.",
    FollowUp.Kind.ACKNOWLEDGEMENT: "New inquiry: acknowledge it.",
}


def alert_text(*, kind: str, minutes: int) -> str:
    """The timeline note a staff follow-up posts, ``minutes`` after the inquiry arrived."""
    return _ALERT_TEXT[FollowUp.Kind(kind)].format(minutes=minutes)


def followup_deliver(
    *, followup_id: int, channels: Channels | None = None, now: datetime | None = None
) -> str:
    """Run one follow-up at most once per claim: re-check under row locks, act, record the outcome."""
    if not followup_start(followup_id=followup_id, now=now):
        return "not queued"
    peek = (
        FollowUp.objects.filter(pk=followup_id).values_list("state", "channel", "inquiry__person_id").first()
    )
    if peek is None or peek[0] != FollowUp.State.QUEUED:
        return "not queued"
    if peek[1] == FollowUp.Channel.TASK:
        return _task_deliver(followup_id=followup_id)
    if channels is None:
        raise ValueError("Sending a message needs channels (see workers.channels).")
    return _message_deliver(followup_id=followup_id, person_id=peek[2], channels=channels, now=now)


def _locked(followup_id: int) -> FollowUp | None:
    return (
        FollowUp.objects.select_for_update(of=("self",))
        .select_related("inquiry__facility", "inquiry__assigned_to", "cadence_step")
        .filter(pk=followup_id, state=FollowUp.State.QUEUED)
        .first()
    )


def _finish(followup: FollowUp, state: str, outcome: str, now: datetime) -> str:
    followup.state, followup.outcome, followup.finished_at, followup.lease_until = (
        state,
        outcome[:120],
        now,
        None,
    )
    followup.save(update_fields=["state", "outcome", "finished_at", "lease_until", "error"])
    return state


def _task_deliver(*, followup_id: int) -> str:
    with transaction.atomic():
        followup = _locked(followup_id)
        if followup is None:
            return "not queued"  # another worker finished it, or it was cancelled
        inquiry = followup.inquiry
        now = timezone.now()
        reason = _still_wanted(followup, inquiry)
        if reason:
            return _finish(followup, FollowUp.State.CANCELLED, reason, now)
        minutes = int((now - inquiry.created_at).total_seconds() // 60)
        inquiry_event(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.NOTE,
            actor_label="follow-up",
            body=alert_text(kind=followup.kind, minutes=minutes),
            data={"followup": followup.pk, "kind": followup.kind, "alert": True},
        )
        cadence_repeat(followup=followup)
        return _finish(followup, FollowUp.State.DONE, "alert posted", now)


def _message_deliver(*, followup_id: int, person_id: int, channels: Channels, now: datetime | None) -> str:
    with transaction.atomic():
        # Lock order: person, then follow-up (opt-out handling takes them in the same order).
        person = Person.objects.select_for_update().get(pk=person_id)
        followup = _locked(followup_id)
        if followup is None:
            return "not queued"
        inquiry = followup.inquiry
        now = now or timezone.now()
        message = OutboundMessage.objects.filter(followup=followup).first()
        decision = message_decide(followup=followup, person=person, now=now, message=message)
        if decision.action == "cancel":
            if message is not None:
                message.status, message.error = OutboundMessage.Status.BLOCKED, decision.reason[:200]
                message.save(update_fields=["status", "error"])
            return _finish(followup, FollowUp.State.CANCELLED, decision.reason, now)
        if decision.action == "block":
            log.info("follow-up %s blocked: %s", followup.pk, decision.reason)
            if message is not None:
                message.status, message.error = OutboundMessage.Status.BLOCKED, decision.reason[:200]
                message.save(update_fields=["status", "error"])
            return _finish(followup, FollowUp.State.BLOCKED, decision.reason, now)
        if decision.action == "defer":
            assert decision.until is not None  # noqa: S101
            FollowUp.objects.filter(pk=followup.pk).update(
                state=FollowUp.State.SCHEDULED,
                due_at=decision.until,
                lease_until=None,
                deferrals=F("deferrals") + 1,
                attempts=F("attempts") - 1,  # a deferral is not a delivery attempt
                outcome=f"deferred: {decision.reason}"[:120],
            )
            return "deferred"
        parts = decision.envelope_parts or {}
        if message is None:
            message = OutboundMessage.objects.create(
                person=person,
                inquiry=inquiry,
                followup=followup,
                medium=followup.channel,
                to_address=parts["to"],
                sender_name=inquiry.facility.neutral_sender_name,
                subject=parts.get("subject", ""),
                preview=parts.get("preview", ""),
                body=parts["body"],
                automated=followup.kind != FollowUp.Kind.COORDINATOR_TEXT,
                idempotency_key=f"fu-{followup.pk}",
            )
        else:
            message.to_address = parts["to"]
        try:
            result = channels.send(envelope_build(message=message, inquiry=inquiry, parts=parts))
        except TransientSendError as error:
            return _retry_later(followup, message, str(error), now)
        except PermanentSendError as error:
            message.status, message.error, message.status_at = (
                OutboundMessage.Status.FAILED,
                str(error)[:200],
                now,
            )
            message.save(update_fields=["status", "error", "status_at", "to_address"])
            followup.error = str(error)[:200]
            return _finish(followup, FollowUp.State.FAILED, "provider refused the message", now)
        message.provider_message_id = result.provider_message_id[:80]
        message.status = (
            OutboundMessage.Status.DELIVERED if result.status == "delivered" else OutboundMessage.Status.SENT
        )
        message.sent_at = message.status_at = now
        message.error = ""
        message.save(
            update_fields=["provider_message_id", "status", "sent_at", "status_at", "error", "to_address"]
        )
        inquiry_event(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.MESSAGE,
            actor=message.sent_by,
            actor_label="" if message.sent_by_id else "follow-up",
            body=message.body if message.medium == "sms" else f"{message.subject}\n\n{message.body}",
            data={
                "direction": "outbound",
                "channel": message.medium,
                "message": message.pk,
                "followup": followup.pk,
                "kind": followup.kind,
            },
            at=now,
        )
        cadence_repeat(followup=followup)
        followup.error = ""
        return _finish(followup, FollowUp.State.DONE, f"{message.medium} sent", now)


def _retry_later(followup: FollowUp, message: OutboundMessage, error: str, now: datetime) -> str:
    message.error = error[:200]
    message.save(update_fields=["error", "to_address"])
    if followup.attempts >= settings.FOLLOWUP_MAX_ATTEMPTS:
        followup.error = error[:200]
        _give_up(ids=[followup.pk], now=now, why=f"gave up after {followup.attempts} attempts")
        return FollowUp.State.FAILED
    FollowUp.objects.filter(pk=followup.pk).update(
        state=FollowUp.State.SCHEDULED,
        due_at=now + retry_delay(followup.attempts),
        lease_until=None,
        error=error[:200],
        outcome="retrying",
    )
    return "retry"
