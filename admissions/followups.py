"""The follow-up state machine: claim, lease, start, deliver, retry, give up. One place for all of it.

PostgreSQL is the record: a row is SCHEDULED until due; the dispatcher then leases it to the
broker (``followups_claim``: a ``DispatchLease`` row, a primary key and a time, rather than a
new version of the wide follow-up row), a worker starts it (``followups_start``: QUEUED, one
more attempt, a run lease), and it ends DONE, CANCELLED, BLOCKED or FAILED, or goes back to
SCHEDULED, deferred or for a retry. A lost task (worker killed, Redis restarted) leaves its
lease to run out and the row is claimed again. Each start counts an attempt (committed before
anything is sent), so a message that keeps crashing its worker ends FAILED after
``FOLLOWUP_MAX_ATTEMPTS`` instead of looping for ever. Leases are shorter than the broker's
visibility timeout (``crm.settings`` refuses otherwise), so a lost task is published again
from the database before the broker would re-deliver it, and a second copy of a task finds its
rows started or finished (``followups_start`` takes each row once) and does nothing.

How the dependency runs: the Celery tasks in ``workers.tasks`` call ``followups_dispatch_due``
(with the function that publishes a batch) and ``followups_deliver`` (with the channels that
carry messages out); nothing here imports ``workers``.

A worker takes a batch of ids: it starts them in one statement and reads what does not decide
anything (inquiry, facility, templates, program names) in a few queries for the whole batch.
Each message is then sent in its own short transaction that holds the recipient's row lock
while consent, quiet hours, the daily cap and the follow-up's state are read again and the
message goes out; a crash after the provider accepted a message but before commit re-sends
only that one message, with the same idempotency key, which the provider (or SMTP
Message-ID) dedupes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from admissions.followup_policy import STOPS_AFTER_FIRST_ATTEMPT
from admissions.messaging.cadences import cadence_repeat
from admissions.messaging.consent import consents_active
from admissions.messaging.decision import SendFacts, message_decide, person_reach, sending_rules
from admissions.messaging.envelope import Channels, PermanentSendError, TransientSendError
from admissions.messaging.holds import hold_reason
from admissions.messaging.mediums import envelope_build, medium_for
from admissions.messaging.models import (
    InboundMessage,
    MessageTemplate,
    OutboundMessage,
    facilities_forbidden_terms,
)
from admissions.messaging.quiet_hours import Rule, next_allowed
from admissions.messaging.reviews import coordinator_review_create
from admissions.messaging.templates import templates_for
from admissions.models import DispatchLease, FollowUp, Inquiry, InquiryEvent, Person
from admissions.pipeline import OPEN_STAGES, Stage
from admissions.services import inquiry_event
from admissions.waitlist_offers import offer_standing

log = logging.getLogger(__name__)

# The person and inquiry fields the send-time rules and the timeline read; the rest is not loaded.
_PERSON_FIELDS = ("first_name", "phone", "email", "state", "postal_code", "time_zone", "ok_to_text")
# Staff tasks that tell a coordinator to call the person: they wait for the person's calling hours.
# Alerts about the lead itself (and call-backs at a time a coordinator agreed) fire when due.
CALLS_THE_PERSON = frozenset(
    {
        FollowUp.Kind.CALL_TASK,
        FollowUp.Kind.NURTURE_TOUCH,
        FollowUp.Kind.REFERRAL_CHECK_IN,
        FollowUp.Kind.ADMISSION_REMINDER,
    }
)
_INQUIRY_FIELDS = tuple(
    f"inquiry__{name}"
    for name in (
        "person_id", "caller_id", "facility_id", "assigned_to_id", "channel", "stage", "stage_changed_at",
        "has_red_flag", "first_attempt_at", "phone", "email", "admission_date", "created_at",
    )
)  # fmt: skip
_FOLLOWUP_FIELDS = tuple(f.name for f in FollowUp._meta.concrete_fields)


def lease() -> timedelta:
    return timedelta(seconds=settings.FOLLOWUP_LEASE_SECONDS)


# --- the dispatcher: which due rows go to the broker now, in which batches --------------------


# The claim is one statement. It reads the due rows through the partial index followup_due_idx
# (due_at <= now, so only as far as the due rows go, however many are scheduled later), locks
# them with SKIP LOCKED so racing dispatchers split them, and leases them with a conditional
# upsert that never takes over a lease another dispatcher committed meanwhile. Rows out of
# attempts are returned unleased (the caller gives them up).
_CLAIM_SQL = """
WITH picked AS (
    SELECT f.id, f.attempts, f.due_at
    FROM admissions_followup f
    WHERE f.due_at <= %(now)s
      AND (f.state = 'scheduled' OR (f.state = 'queued' AND f.lease_until < %(now)s))
      AND NOT EXISTS (
          SELECT 1 FROM admissions_dispatchlease l
          WHERE l.followup_id = f.id AND l.due_at = f.due_at AND l.lease_until >= %(now)s
      )
    ORDER BY f.due_at
    LIMIT %(limit)s
    FOR UPDATE OF f SKIP LOCKED
), leased AS (
    INSERT INTO admissions_dispatchlease (followup_id, due_at, lease_until)
    SELECT id, due_at, %(until)s FROM picked WHERE attempts < %(max_attempts)s
    ON CONFLICT (followup_id) DO UPDATE SET due_at = EXCLUDED.due_at, lease_until = EXCLUDED.lease_until
        WHERE admissions_dispatchlease.lease_until < %(now)s
           OR admissions_dispatchlease.due_at <> EXCLUDED.due_at
    RETURNING followup_id
)
SELECT p.id, p.attempts, l.followup_id IS NOT NULL
FROM picked p LEFT JOIN leased l ON l.followup_id = p.id
ORDER BY p.due_at, p.id
"""


def followups_claim(*, limit: int = 500, now: datetime | None = None) -> list[tuple[int, int]]:
    """Lease due follow-ups for the broker; returns ``(id, attempts)`` of each leased row, earliest due first.

    Claimable: due, and SCHEDULED, or QUEUED with a run lease that ran out (its worker died),
    with no live dispatch lease for that due time. Rows that used up ``FOLLOWUP_MAX_ATTEMPTS``
    end FAILED here instead. At most ``FOLLOWUP_MAX_IN_FLIGHT`` leases are live at a time, so
    the broker's backlog stays shorter than a lease.

    Hand-written (``_CLAIM_SQL``) because it pays: the plain ORM claim (the locked SELECT, a
    second read of the leases, ``bulk_create(update_conflicts=True)``) sends every lease's id
    and due time through Python and back, and ``bench/followups.py`` measured it slower per
    sweep. tests/followups/test_claim.py compares this statement with the ORM's answer.
    """
    now = now or timezone.now()
    limit = min(
        limit, settings.FOLLOWUP_MAX_IN_FLIGHT - DispatchLease.objects.filter(lease_until__gte=now).count()
    )
    if limit <= 0:
        return []
    params = {
        "now": now,
        "until": now + lease(),
        "limit": limit,
        "max_attempts": settings.FOLLOWUP_MAX_ATTEMPTS,
    }
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, params)
            rows = [(int(pk), int(attempts), bool(leased)) for pk, attempts, leased in cursor.fetchall()]
        exhausted = [pk for pk, attempts, _ in rows if attempts >= settings.FOLLOWUP_MAX_ATTEMPTS]
        if exhausted:
            followups_give_up(
                ids=exhausted, now=now, why=f"gave up after {settings.FOLLOWUP_MAX_ATTEMPTS} attempts"
            )
    return [(pk, attempts) for pk, attempts, leased in rows if leased]


def followups_claim_due(*, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Lease due follow-ups for the broker; returns their ids, earliest due first."""
    return [pk for pk, _ in followups_claim(limit=limit, now=now)]


def dispatch_batches(claimed: list[tuple[int, int]], *, size: int) -> list[list[int]]:
    """Split claimed rows into task batches; a row that already used an attempt goes alone.

    A worker counts an attempt for every row of a batch as it starts it, so if
    one message kills its worker the others of that batch come back with an
    attempt used; sending them alone afterwards keeps one bad message from
    using up its neighbours' attempts.
    """
    fresh = [pk for pk, attempts in claimed if attempts == 0]
    batches = [fresh[i : i + size] for i in range(0, len(fresh), size)]
    batches.extend([pk] for pk, attempts in claimed if attempts > 0)
    return batches


def followups_dispatch_due(
    *, publish: Callable[[list[int]], object], limit: int = 500, rounds: int = 20
) -> int:
    """Lease the due follow-ups and hand them to ``publish`` a task batch at a time; returns how many.

    Claims up to ``limit`` rows a round (each round commits its leases before publishing), for
    at most ``rounds`` rounds, and stops at the first round that finds fewer than ``limit``.
    """
    dispatch_leases_purge()
    total = 0
    for _ in range(rounds):
        claimed = followups_claim(limit=limit)
        for ids in dispatch_batches(claimed, size=settings.FOLLOWUP_BATCH_SIZE):
            publish(ids)
        total += len(claimed)
        if len(claimed) < limit:
            break
    return total


def dispatch_leases_release(*, ids: list[int]) -> None:
    """Drop the dispatch leases of a batch a worker is done with."""
    DispatchLease.objects.filter(followup_id__in=ids).delete()


def dispatch_leases_purge(*, now: datetime | None = None) -> int:
    """Delete leases that ran out (their task was lost); the claim would overwrite them anyway."""
    deleted, _ = DispatchLease.objects.filter(lease_until__lt=now or timezone.now()).delete()
    return deleted


# --- a worker: start a batch, carry each follow-up out, finish it --------------------------------


def followups_start(*, ids: list[int], now: datetime | None = None) -> list[int]:
    """Count an attempt and take a run lease for each startable row; committed before anything is sent.

    Startable: SCHEDULED and due, or QUEUED with a run lease that ran out.
    Counting here rather than at claim time means time spent waiting in the
    queue is not an attempt, while a worker killed mid-send still used one.
    Rows locked by another worker are skipped (it is running them).
    """
    now = now or timezone.now()
    startable = Q(state=FollowUp.State.SCHEDULED, due_at__lte=now) | Q(
        state=FollowUp.State.QUEUED, lease_until__lt=now
    )
    with transaction.atomic():
        started = list(
            FollowUp.objects.select_for_update(skip_locked=True)
            .filter(startable, pk__in=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if started:
            FollowUp.objects.filter(pk__in=started).update(
                state=FollowUp.State.QUEUED, attempts=F("attempts") + 1, lease_until=now + lease()
            )
    order = {pk: n for n, pk in enumerate(ids)}
    return sorted(started, key=order.__getitem__)


def followup_start(*, followup_id: int, now: datetime | None = None) -> bool:
    """``followups_start`` for one row: True if this worker may run it now."""
    return followups_start(ids=[followup_id], now=now) == [followup_id]


def followups_release(*, ids: list[int]) -> int:
    """Hand started rows back untried (a batch ran out of time): due again now, attempt refunded."""
    return FollowUp.objects.filter(pk__in=ids, state=FollowUp.State.QUEUED).update(
        state=FollowUp.State.SCHEDULED, lease_until=None, attempts=F("attempts") - 1
    )


def followups_give_up(*, ids: list[int], now: datetime, why: str) -> None:
    """End these follow-ups FAILED, with their messages, visibly."""
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
    if followup.kind == FollowUp.Kind.COORDINATOR_REVIEW:
        return ""  # a decision only a person can make, whatever the stage
    if followup.kind == FollowUp.Kind.WAITLIST_OFFER:
        return "" if offer_standing(inquiry_id=inquiry.pk) else "the waitlist offer ended"
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


# Staff tasks whose alert says what the service that planned them wrote into ``outcome``.
WRITTEN_WHEN_PLANNED = (FollowUp.Kind.COORDINATOR_REVIEW, FollowUp.Kind.HANDOFF)

_ALERT_TEXT = {
    FollowUp.Kind.COORDINATOR_ALERT: "No contact attempt {minutes} minutes after the inquiry arrived.",
    FollowUp.Kind.MANAGER_ESCALATION: "Escalated to the manager: no contact attempt after {minutes} minutes.",
    FollowUp.Kind.CALL_TASK: "Call task: try to reach the person now.",
    FollowUp.Kind.CALLBACK: "Scheduled call-back: call the person now.",
    FollowUp.Kind.REFERRAL_CHECK_IN: "Check in: did the person reach the provider they were referred to?",
    FollowUp.Kind.NURTURE_TOUCH: "Nurture: time for a check-in call.",
    FollowUp.Kind.ADMISSION_REMINDER: "Admission coming up: confirm the person's arrival.",
    FollowUp.Kind.ACKNOWLEDGEMENT: "New inquiry: acknowledge it.",
    FollowUp.Kind.COORDINATOR_REVIEW: "For a coordinator to decide.",
    FollowUp.Kind.WAITLIST_OFFER: "A waitlist place is held for this person: call them now, then accept or "
    "decline the offer on the waitlist page.",
    FollowUp.Kind.HANDOFF: "The next step is yours.",
}


def alert_text(*, kind: str, minutes: int) -> str:
    """The timeline note a staff follow-up posts, ``minutes`` after the inquiry arrived."""
    return _ALERT_TEXT[FollowUp.Kind(kind)].format(minutes=minutes)


@dataclass
class _Batch:
    """What a worker reads once for a whole batch: nothing here decides whether a message may go."""

    rows: dict[int, FollowUp]
    templates: dict[tuple[int, str], MessageTemplate]
    forbidden_terms: dict[int, list[str]]
    rules: dict[str, Rule]


def _batch_read(ids: list[int]) -> _Batch:
    rows = {
        f.pk: f
        for f in FollowUp.objects.filter(pk__in=ids).select_related(
            "inquiry__facility", "inquiry__assigned_to", "cadence_step"
        )
    }
    messages = [f for f in rows.values() if f.channel != FollowUp.Channel.TASK]
    return _Batch(
        rows=rows,
        templates=templates_for(pairs={(f.inquiry.facility_id, f.template_code) for f in messages}),
        forbidden_terms=facilities_forbidden_terms({f.inquiry.facility for f in messages}),
        rules=sending_rules(),
    )


def followups_deliver(
    *, ids: list[int], channels: Channels | None = None, now: datetime | None = None
) -> dict[int, str]:
    """Start a batch of follow-ups and run each at most once: re-check under row locks, act, record.

    Returns the outcome per id ("not queued" for ids another worker has or
    that are no longer pending). Stops starting new messages after
    ``FOLLOWUP_BATCH_SECONDS`` and hands the rest back, due at once. The batch's dispatch
    leases are dropped at the end (an error on the way keeps them until they run out).
    """
    deadline = time.monotonic() + settings.FOLLOWUP_BATCH_SECONDS
    results = dict.fromkeys(ids, "not queued")
    started = followups_start(ids=ids, now=now)
    if not started:
        dispatch_leases_release(ids=ids)
        return results
    batch = _batch_read(started)
    for n, pk in enumerate(started):
        if time.monotonic() > deadline:
            followups_release(ids=started[n:])
            for rest in started[n:]:
                results[rest] = "released"
            break
        followup = batch.rows[pk]
        if followup.channel == FollowUp.Channel.TASK:
            results[pk] = _task_deliver(followup_id=pk, known=followup, rules=batch.rules, now=now)
        elif channels is None:
            raise ValueError("Sending a message needs channels (workers.channels.default_channels).")
        else:
            results[pk] = _message_deliver(known=followup, batch=batch, channels=channels, now=now)
    dispatch_leases_release(ids=ids)
    return results


def followup_deliver(
    *, followup_id: int, channels: Channels | None = None, now: datetime | None = None
) -> str:
    """Run one follow-up at most once per claim (``followups_deliver`` for a single id)."""
    return followups_deliver(ids=[followup_id], channels=channels, now=now)[followup_id]


def _finish(followup: FollowUp, state: str, outcome: str, now: datetime) -> str:
    followup.state, followup.outcome, followup.finished_at, followup.lease_until = (
        state,
        outcome[:120],
        now,
        None,
    )
    followup.save(update_fields=["state", "outcome", "finished_at", "lease_until", "error"])
    return state


def _defer(followup: FollowUp, *, until: datetime, why: str) -> str:
    """Move a started row later: not an attempt; the first due time is kept to bound deferrals."""
    FollowUp.objects.filter(pk=followup.pk).update(
        state=FollowUp.State.SCHEDULED,
        due_at=until,
        lease_until=None,
        deferrals=F("deferrals") + 1,
        attempts=F("attempts") - 1,  # a deferral is not a delivery attempt
        deferred_from=Coalesce(F("deferred_from"), F("due_at")),
        outcome=f"deferred: {why}"[:120],
    )
    return "deferred"


def _task_deliver(
    *, followup_id: int, known: FollowUp, rules: dict[str, Rule] | None = None, now: datetime | None = None
) -> str:
    with transaction.atomic():
        followup = (
            FollowUp.objects.select_for_update(of=("self",))
            .select_related("inquiry")
            .filter(pk=followup_id, state=FollowUp.State.QUEUED)
            .first()
        )
        if followup is None:
            return "not queued"  # another worker finished it, or it was cancelled
        inquiry = followup.inquiry
        inquiry.facility = known.inquiry.facility
        followup.cadence_step = known.cadence_step
        now = now or timezone.now()
        reason = _still_wanted(followup, inquiry)
        if reason:
            return _finish(followup, FollowUp.State.CANCELLED, reason, now)
        minutes = int((now - inquiry.created_at).total_seconds() // 60)
        body = alert_text(kind=followup.kind, minutes=minutes)
        if followup.kind in WRITTEN_WHEN_PLANNED and followup.outcome:
            body = followup.outcome  # why it was handed over, written when it was
        if followup.kind in CALLS_THE_PERSON:
            person = Person.objects.only(*_PERSON_FIELDS).get(pk=inquiry.person_id)
            reach = person_reach(
                person=person,
                phone=str(person.phone or inquiry.phone or ""),
                fallback_zone=known.inquiry.facility.time_zone,
                rules=rules,
            )
            until = next_allowed(now, reach=reach)
            if until is not None and until > now:
                return _defer(followup, until=until, why="outside the person's calling hours")
            if until is None:
                body += f" Their local time is unknown ({reach.signals.describe()}): check it before calling."
        inquiry_event(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.NOTE,
            actor_label="follow-up",
            body=body,
            data={"followup": followup.pk, "kind": followup.kind, "alert": True},
            at=now,
        )
        cadence_repeat(followup=followup)
        # a hand-off keeps its words: the due list shows them until the step is taken
        kept = followup.kind == FollowUp.Kind.HANDOFF and bool(followup.outcome)
        return _finish(followup, FollowUp.State.DONE, followup.outcome if kept else "alert posted", now)


def _locked_message(*, known: FollowUp, person: Person) -> FollowUp | None:
    """The follow-up, its inquiry and message as they are now, read after the person's lock is held.

    Consent for the address the message would go to and whether the person
    replied since it was planned come in the same statement, so everything the
    send-time rules read is read under the lock.
    """
    address = medium_for(known.channel).address(person=person, inquiry=known.inquiry)
    consent = consents_active(person_id=person.pk, medium=known.channel, address=address).values("pk")[:1]
    replied = InboundMessage.objects.filter(person_id=person.pk, received_at__gte=OuterRef("created_at"))
    found = list(
        FollowUp.objects.select_for_update(of=("self",))
        .select_related("inquiry", "message")
        .only(*_FOLLOWUP_FIELDS, *_INQUIRY_FIELDS, "message")
        .filter(pk=known.pk, state=FollowUp.State.QUEUED)
        .annotate(consent_id=Subquery(consent), replied=Exists(replied), held=hold_reason(person.pk))[:1]
    )
    followup = found[0] if found else None
    if followup is not None:
        followup.inquiry.facility = known.inquiry.facility
        followup.inquiry.assigned_to = known.inquiry.assigned_to
        followup.cadence_step = known.cadence_step
        followup.consent_address = address  # type: ignore[attr-defined]
    return followup


def _message_deliver(*, known: FollowUp, batch: _Batch, channels: Channels, now: datetime | None) -> str:
    with transaction.atomic():
        # Lock order: person, then follow-up (opt-out handling takes them in the same order).
        person = Person.objects.select_for_update().only(*_PERSON_FIELDS).get(pk=known.inquiry.person_id)
        followup = _locked_message(known=known, person=person)
        if followup is None:
            return "not queued"
        inquiry = followup.inquiry
        now = now or timezone.now()
        try:
            message: OutboundMessage | None = followup.message
        except OutboundMessage.DoesNotExist:
            message = None
        facts = SendFacts(
            address=followup.consent_address,  # type: ignore[attr-defined]
            consent_id=followup.consent_id,  # type: ignore[attr-defined]
            replied=followup.replied,  # type: ignore[attr-defined]
            template=batch.templates.get((inquiry.facility_id, followup.template_code)),
            forbidden_terms=batch.forbidden_terms.get(inquiry.facility_id, []),
            held=followup.held or "",  # type: ignore[attr-defined]
            rules=batch.rules,
        )
        decision = message_decide(followup=followup, person=person, now=now, message=message, facts=facts)
        if decision.action in ("cancel", "block"):
            if decision.action == "block":
                log.info("follow-up %s blocked: %s", followup.pk, decision.reason)
            if message is not None:
                message.status, message.error = OutboundMessage.Status.BLOCKED, decision.reason[:200]
                message.save(update_fields=["status", "error"])
            state = FollowUp.State.CANCELLED if decision.action == "cancel" else FollowUp.State.BLOCKED
            return _finish(followup, state, decision.reason, now)
        if decision.action == "defer":
            assert decision.until is not None  # noqa: S101
            return _defer(followup, until=decision.until, why=decision.reason)
        if decision.action == "handover":
            return _hand_over(followup, message=message, reason=decision.reason, now=now)
        parts = decision.envelope_parts or {}
        if message is None:
            message = OutboundMessage(
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
            message.save()
            followup.error = str(error)[:200]
            return _finish(followup, FollowUp.State.FAILED, "provider refused the message", now)
        message.provider_message_id = result.provider_message_id[:80]
        message.status = (
            OutboundMessage.Status.DELIVERED if result.status == "delivered" else OutboundMessage.Status.SENT
        )
        message.sent_at = message.status_at = now
        message.error = ""
        message.save()  # one INSERT for a new message (the row is written only once it went out)
        sender = message.sent_by if message.sent_by_id else None
        inquiry_event(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.MESSAGE,
            actor=sender,
            actor_label="" if sender else "follow-up",
            body=medium_for(message.medium).timeline_body(message),
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


def _hand_over(followup: FollowUp, *, message: OutboundMessage | None, reason: str, now: datetime) -> str:
    """The rules leave no time to send it: a coordinator gets a task saying why, at once."""
    what = medium_for(followup.channel).noun
    label = FollowUp.Kind(followup.kind).label.lower()
    coordinator_review_create(
        inquiry=followup.inquiry,
        key=f"followup:{followup.pk}",
        note=f"{what.capitalize()} not sent ({label}): {reason}"[:120],
        now=now,
    )
    log.info("follow-up %s handed to a coordinator: %s", followup.pk, reason)
    if message is not None:
        message.status, message.error = (
            OutboundMessage.Status.BLOCKED,
            f"handed to a coordinator: {reason}"[:200],
        )
        message.save(update_fields=["status", "error"])
    _finish(followup, FollowUp.State.CANCELLED, f"handed to a coordinator: {reason}", now)
    return "handed over"


def _retry_later(followup: FollowUp, message: OutboundMessage, error: str, now: datetime) -> str:
    message.error = error[:200]
    message.save()
    if followup.attempts >= settings.FOLLOWUP_MAX_ATTEMPTS:
        followup.error = error[:200]
        followups_give_up(ids=[followup.pk], now=now, why=f"gave up after {followup.attempts} attempts")
        return FollowUp.State.FAILED
    FollowUp.objects.filter(pk=followup.pk).update(
        state=FollowUp.State.SCHEDULED,
        due_at=now + retry_delay(followup.attempts),
        lease_until=None,
        error=error[:200],
        outcome="retrying",
    )
    return "retry"
