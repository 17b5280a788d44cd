"""Writes and business rules of admissions. The only place an inquiry's stage changes.

Background work is enqueued with ``transaction.on_commit`` so a worker never
sees an id whose row is not committed yet.
"""

from __future__ import annotations

import time as time_module
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from admissions.followup_policy import NEW_INQUIRY_CADENCE, STOPS_AFTER_FIRST_ATTEMPT
from admissions.models import (
    Caller,
    Campaign,
    FollowUp,
    Inquiry,
    InquiryEvent,
    LeadSource,
    Person,
    ReferralPartner,
    Substance,
    Touch,
)
from admissions.pipeline import (
    STAGE_TIMESTAMP_FIELD,
    TERMINAL_STAGES,
    Stage,
    TransitionError,
    check_transition,
)
from admissions.waitlist_offers import waitlist_entries_close
from crm.models import Facility, User
from crm.roles import Role
from crm.time_zones import moment_text
from programs.models import CapacityHold, Census, Program
from programs.services import capacity_hold_create, capacity_hold_release


def inquiry_event(
    *,
    inquiry: Inquiry,
    kind: InquiryEvent.Kind | str,
    actor: User | None = None,
    actor_label: str = "",
    body: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    **extra: str,
) -> InquiryEvent:
    """Append one entry to an inquiry's timeline."""
    return InquiryEvent.objects.create(
        inquiry=inquiry,
        kind=kind,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor_label,
        body=body,
        data=data or {},
        at=at or timezone.now(),
        **extra,
    )


@dataclass(frozen=True)
class TouchData:
    """Attribution of one touch, as it arrived."""

    channel: str
    lead_source: LeadSource | None = None
    campaign: Campaign | None = None
    referral_partner: ReferralPartner | None = None
    utm: dict[str, str] = field(default_factory=dict)


TOUCH_ATTRIBUTION_FIELDS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "landing_page",
    "referrer",
    "call_tracking_id",
)


def touch_add(*, inquiry: Inquiry, touch: TouchData, at: datetime | None = None) -> Touch:
    """Record a marketing or referral touch on an inquiry."""
    return Touch.objects.create(**_touch_record(inquiry_id=inquiry.pk, touch=touch, at=at))


def _touch_record(*, inquiry_id: int, touch: TouchData, at: datetime | None) -> dict[str, Any]:
    return {
        "inquiry_id": inquiry_id,
        "at": at or timezone.now(),
        "channel": touch.channel,
        "lead_source_id": touch.lead_source.pk if touch.lead_source else None,
        "campaign_id": touch.campaign.pk if touch.campaign else None,
        "referral_partner_id": touch.referral_partner.pk if touch.referral_partner else None,
        **{k: v for k, v in touch.utm.items() if k in TOUCH_ATTRIBUTION_FIELDS and v},
    }


def coordinator_next_on_duty(*, facility: Facility) -> tuple[User | None, bool]:
    """Round robin: the on-duty coordinator at the facility who was given a lead longest ago, and
    whether their row is now locked by this transaction.

    The row is taken with SKIP LOCKED, so a lead never waits on another lead's transaction. When
    every on-duty coordinator is locked by leads still in flight, the next in turn is returned
    without the lock (and ``False``): the lead is still routed, never left unassigned for want of
    a free row. Only the coordinator's own row is locked (``of=("self",)``): locking the joined
    group and facility rows too would make every concurrent lead skip every coordinator. The lock
    is FOR NO KEY UPDATE, so the other lead's inquiry, whose owner key points at that row, need
    not wait for it."""
    on_duty = User.objects.filter(
        is_active=True,
        is_on_duty=True,
        facilities=facility,
        groups__name=Role.COORDINATOR.value,
    ).order_by(F("last_lead_assigned_at").asc(nulls_first=True), "pk")
    free = on_duty.select_for_update(skip_locked=True, no_key=True, of=("self",)).first()
    if free is not None:
        return free, True
    return on_duty.first(), False


def followups_schedule_for_new(*, inquiry: Inquiry) -> None:
    """Write the new-inquiry cadence for an inquiry (idempotent by dedupe key)."""
    followups = [
        FollowUp(
            inquiry=inquiry,
            kind=kind,
            due_at=inquiry.created_at + offset,
            dedupe_key=f"inquiry:{inquiry.pk}:{key}",
        )
        for kind, offset, key in NEW_INQUIRY_CADENCE
    ]
    FollowUp.objects.bulk_create(followups, ignore_conflicts=True)


def followups_cancel(*, inquiry: Inquiry, kinds: Iterable[str] | None = None, reason: str) -> int:
    """Cancel follow-ups that have not run yet."""
    pending = FollowUp.objects.filter(
        inquiry=inquiry, state__in=[FollowUp.State.SCHEDULED, FollowUp.State.QUEUED]
    )
    if kinds is not None:
        pending = pending.filter(kind__in=list(kinds))
    return pending.update(state=FollowUp.State.CANCELLED, finished_at=timezone.now(), outcome=reason[:120])


@transaction.atomic(savepoint=False)
def inquiry_create(
    *,
    person: Person,
    facility: Facility,
    touch: TouchData,
    caller: Caller | None = None,
    actor: User | None = None,
    actor_label: str = "",
    phone: str = "",
    email: str = "",
    message: str = "",
    external_id: str = "",
    substances: Iterable[Substance] = (),
    created_at: datetime | None = None,
    assign_to: User | None = None,
) -> Inquiry:
    """Open a new inquiry as New, route it, record its first touch and schedule its follow-ups.

    Inside another transaction it sets no savepoint of its own: a caller that carries on after an
    ``IntegrityError`` (a partial unique index refusing a second open inquiry) wraps the call in
    its own ``transaction.atomic()``, as ``intake_create`` does."""
    now = created_at or timezone.now()
    owner_id: int | None
    if assign_to is not None:
        owner_id = assign_to.pk
        User.objects.filter(pk=assign_to.pk).update(last_lead_assigned_at=now)
    else:
        owner_id = _coordinator_take_next(facility=facility, at=now)
    inquiry = Inquiry.objects.create(
        person=person,
        caller=caller,
        facility=facility,
        channel=touch.channel,
        lead_source=touch.lead_source,
        campaign=touch.campaign,
        referral_partner=touch.referral_partner,
        phone=phone or person.phone,
        email=email or person.email,
        message=message,
        external_id=external_id,
        created_at=now,
        stage_changed_at=now,
        assigned_to_id=owner_id,
        assigned_at=now if owner_id else None,
    )
    if assign_to is not None:
        inquiry.assigned_to = assign_to  # the caller's instance, as before
    if substances:
        inquiry.substances.set(substances)
    Touch.objects.create(**_touch_record(inquiry_id=inquiry.pk, touch=touch, at=now))
    actor_id = actor.pk if actor is not None and actor.is_authenticated else None
    events = [
        InquiryEvent(
            inquiry=inquiry,
            kind=InquiryEvent.Kind.CREATED,
            actor_id=actor_id,
            actor_label=actor_label,
            data={"channel": touch.channel, "source": touch.lead_source.name if touch.lead_source else ""},
            at=now,
        )
    ]
    if owner_id is not None:
        events.append(
            InquiryEvent(
                inquiry=inquiry,
                kind=InquiryEvent.Kind.ASSIGNED,
                actor_id=actor_id,
                actor_label=actor_label or "routing",
                data={"to": owner_id, "how": "direct" if assign_to else "round robin"},
                at=now,
            )
        )
    InquiryEvent.objects.bulk_create(events)  # the timeline's first entries, in one statement
    followups_schedule_for_new(inquiry=inquiry)
    dispatcher_kick()
    return inquiry


def _coordinator_take_next(*, facility: Facility, at: datetime) -> int | None:
    """Route a new inquiry: ``coordinator_next_on_duty``, stamped with the time they were given it
    (a coordinator whose row another lead holds is stamped by that lead)."""
    owner, locked = coordinator_next_on_duty(facility=facility)
    if owner is None:
        return None
    if locked:
        User.objects.filter(pk=owner.pk).update(last_lead_assigned_at=at)
    return owner.pk


DISPATCH_KICK_KEY = "followups:dispatch-kick"
DISPATCH_KICK_SECONDS = 1
# The clock second this process last kicked in (or found kicked): see ``dispatcher_kick``.
_kicked_second: int | None = None


def dispatcher_kick() -> None:
    """After commit, ask a worker to sweep due follow-ups now instead of at the next beat tick.

    One kick per clock second reaches the broker: the first write of second S publishes a sweep
    due at S + 1, when the second is over, and that sweep takes every row committed meanwhile, so
    the writes that follow within S need no kick of their own. The cache key names the second,
    so a process that has kicked, or found the key taken, in second S knows the sweep at S + 1 is
    on its way and asks neither the cache nor the broker again until S is over. Without the
    cache every process kicks once a second (never fewer sweeps than writes need).
    """
    from celery import current_app  # noqa: PLC0415 - by task name: admissions never imports workers

    def kick() -> None:
        global _kicked_second  # noqa: PLW0603 - per process, as the cache key is per second
        now = time_module.time()
        second = int(now)
        if second == _kicked_second:
            return
        try:
            first = cache.add(f"{DISPATCH_KICK_KEY}:{second}", 1, timeout=DISPATCH_KICK_SECONDS + 2)
        except Exception:  # noqa: BLE001 - a cache outage must not cost a sweep
            first = True
        if first:
            current_app.send_task(
                "workers.tasks.followups_dispatch", countdown=second + DISPATCH_KICK_SECONDS - now
            )
        _kicked_second = second

    transaction.on_commit(kick)


def handoff_alert(*, inquiry: Inquiry, body: str) -> FollowUp:
    """Hand the next step to the inquiry's owner: a task due now, first in their due list until they
    act on it, whose alert posts ``body`` (what happened and what is theirs to do) on the timeline."""
    followup = FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.HANDOFF,
        channel=FollowUp.Channel.TASK,
        due_at=timezone.now(),
        dedupe_key=f"inquiry:{inquiry.pk}:handoff:{uuid.uuid4().hex}",
        outcome=body[:120],
    )
    dispatcher_kick()
    return followup


@transaction.atomic
def inquiry_advance(
    *,
    inquiry: Inquiry,
    to: Stage | str,
    actor: User | None,
    reason: str = "",
    lost_reason: str = "",
    destination: str = "",
    duplicate_of: Inquiry | None = None,
    at: datetime | None = None,
) -> Inquiry:
    """Move an inquiry along the pipeline; the only place stage rules are applied. The rules are
    checked on the locked row, and the instance given shows the move afterwards, so a caller that
    passed it through several steps decides its next one on the stage as it is."""
    given = inquiry
    inquiry = Inquiry.objects.select_for_update().get(pk=given.pk)
    check_transition(
        inquiry.stage,
        to,
        provided={
            "reason": reason,
            "lost_reason": lost_reason,
            "destination": destination,
            "duplicate_of": duplicate_of,
        },
    )
    if duplicate_of is not None and duplicate_of.pk == inquiry.pk:
        raise TransitionError("An inquiry cannot be a duplicate of itself.", field="duplicate_of")
    now = at or timezone.now()
    previous = inquiry.stage
    inquiry.stage = to
    inquiry.stage_changed_at = now
    changed = ["stage", "stage_changed_at"]
    stamp = STAGE_TIMESTAMP_FIELD.get(to)
    if stamp and getattr(inquiry, stamp) is None:
        setattr(inquiry, stamp, now)
        changed.append(stamp)
    if to == Stage.CLOSED:
        inquiry.lost_reason = lost_reason
        changed.append("lost_reason")
    if to == Stage.REFERRED_OUT:
        inquiry.referred_out_to = destination[:160]
        changed.append("referred_out_to")
    if to == Stage.DUPLICATE:
        inquiry.duplicate_of = duplicate_of
        changed.append("duplicate_of")
    if reason:
        inquiry.close_note = reason[:300]
        changed.append("close_note")
    inquiry.save(update_fields=changed)
    for name in changed:
        setattr(given, name, getattr(inquiry, name))
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.STAGE_CHANGED,
        actor=actor,
        data={
            "from": previous,
            "to": str(to),
            "reason": reason,
            "lost_reason": lost_reason,
            "destination": destination,
        },
        at=now,
    )
    if to == Stage.CRISIS_ROUTED:  # however it was routed: marketing stops until a clinician allows it
        from admissions.messaging.holds import crisis_hold_start  # noqa: PLC0415 - it imports this module

        crisis_hold_start(inquiry=inquiry, actor=actor, at=now)
    if to != Stage.NEW:
        followups_cancel(inquiry=inquiry, kinds=STOPS_AFTER_FIRST_ATTEMPT, reason=f"moved to {to}")
    if to in TERMINAL_STAGES or to == Stage.NURTURE:
        followups_cancel(inquiry=inquiry, reason=f"moved to {to}")
        waitlist_entries_close(inquiry_id=inquiry.pk)
        if inquiry.capacity_hold_id and to != Stage.ADMITTED:
            capacity_hold_release(
                hold=CapacityHold.objects.get(pk=inquiry.capacity_hold_id),
                reason=CapacityHold.ReleaseReason.CANCELLED,
            )
    return inquiry


@transaction.atomic
def inquiry_assign(*, inquiry: Inquiry, to: User | None, actor: User | None) -> Inquiry:
    """Give an inquiry to a coordinator (or back to the unassigned queue)."""
    now = timezone.now()
    Inquiry.objects.filter(pk=inquiry.pk).update(assigned_to=to, assigned_at=now if to else None)
    inquiry.assigned_to, inquiry.assigned_at = to, now if to else None
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.ASSIGNED,
        actor=actor,
        data={"to": to.pk if to else None, "how": "manual"},
        at=now,
    )
    return inquiry


@transaction.atomic
def call_log(
    *,
    inquiry: Inquiry,
    actor: User,
    direction: InquiryEvent.CallDirection,
    outcome: InquiryEvent.CallOutcome,
    note: str = "",
) -> InquiryEvent:
    """Record a call; an outbound attempt or a conversation moves a New inquiry on."""
    event = inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.CALL,
        actor=actor,
        body=note,
        call_direction=direction,
        call_outcome=outcome,
    )
    if outcome == InquiryEvent.CallOutcome.CONNECTED and inquiry.stage in (
        Stage.NEW,
        Stage.CONTACT_ATTEMPTED,
    ):
        if inquiry.first_attempt_at is None and direction == InquiryEvent.CallDirection.OUTBOUND:
            Inquiry.objects.filter(pk=inquiry.pk).update(first_attempt_at=event.at)
        inquiry_advance(inquiry=inquiry, to=Stage.CONTACTED, actor=actor)
    elif direction == InquiryEvent.CallDirection.OUTBOUND and inquiry.stage == Stage.NEW:
        inquiry_advance(inquiry=inquiry, to=Stage.CONTACT_ATTEMPTED, actor=actor)
    return event


@transaction.atomic
def inquiry_hold_capacity(
    *, inquiry: Inquiry, program: Program, until: datetime, actor: User
) -> CapacityHold:
    """Hold a bed or slot in a program for this inquiry, replacing any earlier hold."""
    if inquiry.capacity_hold_id:
        earlier = CapacityHold.objects.select_related("program").get(pk=inquiry.capacity_hold_id)
        if earlier.released_at is None:
            capacity_hold_release(hold=earlier, reason=CapacityHold.ReleaseReason.CANCELLED)
            inquiry_event(
                inquiry=inquiry,
                kind=InquiryEvent.Kind.CAPACITY_RELEASED,
                actor=actor,
                body=f"Released the hold in {earlier.program.name}; a new hold replaces it.",
                data={"program": earlier.program_id, "hold": earlier.pk},
            )
    hold = capacity_hold_create(program=program, reference=f"inquiry:{inquiry.pk}", held_until=until)
    Inquiry.objects.filter(pk=inquiry.pk).update(capacity_hold=hold)
    inquiry.capacity_hold = hold
    unit = "Bed" if program.capacity_kind == Program.CapacityKind.BEDS else "Slot"
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.CAPACITY_HELD,
        actor=actor,
        body=f"{unit} held in {program.name} until {moment_text(until, inquiry.facility)}.",
        data={"program": program.pk, "until": until.isoformat(), "hold": hold.pk},
    )
    return hold


@transaction.atomic
def inquiry_schedule_admission(
    *, inquiry: Inquiry, program: Program, admission_date: date, actor: User, hold_days: int = 1
) -> Inquiry:
    """Schedule the admission and hold the bed or slot until the day after it."""
    until = timezone.make_aware(
        datetime.combine(admission_date + timedelta(days=hold_days), datetime.min.time())
    )
    inquiry_hold_capacity(inquiry=inquiry, program=program, until=until, actor=actor)
    Inquiry.objects.filter(pk=inquiry.pk).update(admission_date=admission_date, approved_program=program)
    inquiry.admission_date, inquiry.approved_program = admission_date, program
    return inquiry_advance(inquiry=inquiry, to=Stage.ADMISSION_SCHEDULED, actor=actor)


@transaction.atomic
def inquiry_admit(
    *, inquiry: Inquiry, actor: User, program: Program | None = None, reason: str = ""
) -> Inquiry:
    """Mark the person admitted; the hold turns into an occupied bed or slot. ``reason`` says why
    when the admission differs from the plan (another day, another program)."""
    program = program or inquiry.approved_program
    if program is None:
        raise TransitionError("Choose the program the person is admitted to.", field="program")
    inquiry = inquiry_advance(inquiry=inquiry, to=Stage.ADMITTED, actor=actor, reason=reason)
    Inquiry.objects.filter(pk=inquiry.pk).update(admitted_program=program)
    inquiry.admitted_program = program
    if inquiry.capacity_hold_id:
        hold = CapacityHold.objects.get(pk=inquiry.capacity_hold_id)
        used = hold.program_id == program.pk
        capacity_hold_release(
            hold=hold,
            reason=CapacityHold.ReleaseReason.ADMITTED if used else CapacityHold.ReleaseReason.CANCELLED,
        )
    census, _ = Census.objects.select_for_update().get_or_create(program=program)
    Census.objects.filter(pk=census.pk).update(occupied=F("occupied") + 1, updated_at=timezone.now())
    return inquiry
