"""The waitlist: who waits for which program, and the offer of a place that frees.

An inquiry with a signed-off level waits for one or more programs at or above that level
(``waitlist_add``). When a place frees in a program (a discharge, a hold released or expired, a
capacity change) ``programs.services.capacity_freed`` sends ``workers.tasks.capacity_freed`` by
name and the worker calls ``waitlist_offer_next``: under the program's row lock it counts the free
places again and offers each to the first eligible waiting inquiry, in order of urgency from the
screen, then waiting time. An offer is a capacity hold for ``WAITLIST_OFFER_HOURS``; the owner
gets an alert at once and the person, if they chose text or email, a message with no clinical
details (consent and quiet hours checked at send time by the follow-up machine). An offer
declined (``waitlist_offer_decline``) or lapsed (``waitlist_offers_lapse``) frees the place
again, which goes to the next; every step is on the inquiry's timeline.

Why two workers never offer one place twice: the program row is locked (``FOR UPDATE``) while
its free places are counted and held, so offers for one program are made one transaction at a
time against committed holds; never more than the free places. Waiting entries are taken with
``SKIP LOCKED`` and the inquiry's row is locked before its offer, so two programs freeing at
once never both offer to one inquiry (``waitlist_one_offer`` backs that in the schema).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from admissions.models import FollowUp, Inquiry, InquiryEvent, InsurancePolicy, WaitlistEntry
from admissions.pipeline import OPEN_STAGES
from admissions.screening.models import Screening
from admissions.services import dispatcher_kick, inquiry_event
from crm.models import User
from crm.time_zones import moment_text
from programs.models import CapacityHold, Program
from programs.services import capacity_freed, capacity_hold_create, capacity_hold_release, program_free_units

OFFER_TEMPLATES = {"sms": "place-available-sms", "email": "place-available-email"}


class WaitlistError(ValueError):
    """A waitlisting or an offer step that cannot be done; ``field`` says which input."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def offer_hours() -> timedelta:
    return timedelta(hours=settings.WAITLIST_OFFER_HOURS)


def _urgency(screening: Screening | None) -> int:
    if screening is None:
        return WaitlistEntry.Urgency.ROUTINE
    result = screening.result or {}
    if result.get("withdrawal_management"):
        return WaitlistEntry.Urgency.WITHDRAWAL
    if screening.has_red_flag or screening.safety_flags:
        return WaitlistEntry.Urgency.FLAGGED
    return WaitlistEntry.Urgency.ROUTINE


def _gender(text: str) -> str:
    value = (text or "").strip().lower()
    if value in ("f", "female", "woman", "women"):
        return Program.Gender.WOMEN
    if value in ("m", "male", "man", "men"):
        return Program.Gender.MEN
    return ""


@dataclass(frozen=True)
class Eligibility:
    """What the waitlist checks of a person against a program, as copied onto an entry."""

    payer_id: int | None
    self_pay: bool
    gender: str
    specialties: tuple[str, ...]
    urgency: int


def eligibility_for(*, inquiry: Inquiry) -> Eligibility:
    """Payer, gender and wanted specialties from the record and the latest screen."""
    policy = (
        InsurancePolicy.objects.filter(inquiry=inquiry, rank=InsurancePolicy.Rank.PRIMARY)
        .only("payer_id", "vob_status")
        .first()
    )
    screening = Screening.objects.filter(inquiry=inquiry).order_by("-created_at", "-pk").first()
    answers = screening.answers if screening is not None else {}
    logistics = answers.get("logistics") or {}
    insurance = answers.get("insurance") or {}
    self_pay = bool(insurance.get("self_pay")) or (
        policy is not None and policy.vob_status == InsurancePolicy.VobStatus.SELF_PAY
    )
    payer_id = policy.payer_id if policy is not None else insurance.get("payer_id")
    gender = _gender(str(logistics.get("gender") or "")) or _gender(inquiry.person.gender)
    return Eligibility(
        payer_id=int(payer_id) if payer_id else None,
        self_pay=self_pay,
        gender=gender,
        specialties=tuple(sorted(str(s) for s in logistics.get("specialties_wanted") or [])),
        urgency=_urgency(screening),
    )


def eligible(queryset: QuerySet[WaitlistEntry], *, program: Program) -> QuerySet[WaitlistEntry]:
    """Entries of ``queryset`` that ``program`` may take: at or above the signed-off level
    (intensity, and withdrawal management where the level has it), a payer it accepts (or
    self-pay where it takes self-pay), a gender it admits, every specialty wanted."""
    level = program.level_of_care
    accepted = list(
        Program.accepted_payers.through.objects.filter(program_id=program.pk).values_list(
            "payer_id", "payer__is_self_pay"
        )
    )
    paying = Q(payer_id__in=[payer for payer, _ in accepted])
    if any(is_self_pay for _, is_self_pay in accepted):
        paying |= Q(self_pay=True)
    entries = queryset.filter(
        paying,
        inquiry__approved_level__isnull=False,
        inquiry__approved_level__intensity__lte=level.intensity,
    )
    if not level.withdrawal_management:
        entries = entries.exclude(inquiry__approved_level__withdrawal_management=True)
    if program.gender != Program.Gender.ANY:
        entries = entries.filter(gender=program.gender)
    codes = list(program.specialties.values_list("code", flat=True))
    return entries.filter(specialties__contained_by=codes)


def _refusal(*, program: Program, inquiry: Inquiry, facts: Eligibility) -> str:
    """Why ``program`` cannot take the inquiry, or ""."""
    approved = inquiry.approved_level
    if approved is None:
        return "A clinician signs off the level of care before the waitlist."
    level = program.level_of_care
    if level.intensity < approved.intensity or (
        approved.withdrawal_management and not level.withdrawal_management
    ):
        return f"{program.name} ({level.code}) is below the signed-off level {approved.code}."
    payers = {p.pk: p.is_self_pay for p in program.accepted_payers.all()}
    if not (
        (facts.self_pay and any(payers.values())) or (facts.payer_id is not None and facts.payer_id in payers)
    ):
        return f"{program.name} does not take this person's payer."
    if program.gender != Program.Gender.ANY and facts.gender != program.gender:
        return f"{program.name} is for {program.get_gender_display().lower()}."
    missing = set(facts.specialties) - {s.code for s in program.specialties.all()}
    if missing:
        return f"{program.name} lacks what the person needs: {', '.join(sorted(missing))}."
    return ""


@transaction.atomic
def waitlist_add(
    *,
    inquiry: Inquiry,
    programs: Sequence[Program],
    earliest_start: date,
    contact: str,
    actor: User,
) -> list[WaitlistEntry]:
    """Put an inquiry on the waitlist of each program; refused whole if any cannot take it."""
    if inquiry.stage not in OPEN_STAGES:
        raise WaitlistError("Only an open inquiry can wait for a place.")
    if not programs:
        raise WaitlistError("Choose at least one program.", field="programs")
    if contact not in WaitlistEntry.Contact.values:
        raise WaitlistError("Choose how to reach the person.", field="contact")
    inquiry = (
        Inquiry.objects.select_for_update(of=("self",))
        .select_related("approved_level", "person")
        .get(pk=inquiry.pk)
    )
    facts = eligibility_for(inquiry=inquiry)
    programs = list(
        Program.objects.filter(pk__in=[p.pk for p in programs], is_active=True)
        .select_related("level_of_care")
        .prefetch_related("accepted_payers", "specialties")
    )
    for program in programs:
        why = _refusal(program=program, inquiry=inquiry, facts=facts)
        if why:
            raise WaitlistError(why, field="programs")
    waiting = set(
        WaitlistEntry.objects.filter(
            inquiry=inquiry, state__in=[WaitlistEntry.State.WAITING, WaitlistEntry.State.OFFERED]
        ).values_list("program_id", flat=True)
    )
    now = timezone.now()
    entries = []
    for program in programs:
        if program.pk in waiting:
            continue
        entries.append(
            WaitlistEntry.objects.create(
                inquiry=inquiry,
                program=program,
                urgency=facts.urgency,
                earliest_start=earliest_start,
                contact=contact,
                payer_id=facts.payer_id,
                self_pay=facts.self_pay,
                gender=facts.gender,
                specialties=list(facts.specialties),
                created_at=now,
                created_by=actor,
            )
        )
    if not entries:
        raise WaitlistError("The inquiry already waits for these programs.", field="programs")
    names = ", ".join(e.program.name for e in entries)
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.WAITLISTED,
        actor=actor,
        body=f"Waitlisted for {names}; can start from {earliest_start:%b %-d}.",
        data={"programs": [e.program_id for e in entries], "urgency": facts.urgency, "contact": contact},
        at=now,
    )
    for entry in entries:  # a place may be free already
        capacity_freed(program_id=entry.program_id)
    return entries


def waiting_for(*, program: Program, today: date) -> QuerySet[WaitlistEntry]:
    """Waiting entries ``program`` may offer to today, in priority order."""
    entries = WaitlistEntry.objects.filter(
        program=program,
        state=WaitlistEntry.State.WAITING,
        earliest_start__lte=today,
        inquiry__stage__in=sorted(OPEN_STAGES),
    ).exclude(
        Exists(
            WaitlistEntry.objects.filter(inquiry_id=OuterRef("inquiry_id"), state=WaitlistEntry.State.OFFERED)
        )
    )
    return eligible(entries, program=program).order_by("-urgency", "created_at", "pk")


def waitlist_offer_next(*, program_id: int, now: datetime | None = None) -> list[int]:
    """Offer each free place of a program to the next eligible waiting inquiry; returns the
    entries offered. Safe to run in any number of workers at once (see the module docstring)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    offered: list[int] = []
    with transaction.atomic():
        program = (
            Program.objects.select_for_update(of=("self",))
            .select_related("level_of_care")
            .filter(pk=program_id, is_active=True, facility__is_active=True)
            .first()
        )
        if program is None:
            return []
        free = program_free_units(program=program, at=now)
        skipped: list[int] = []
        while free > 0:
            entry = (
                waiting_for(program=program, today=today)
                .exclude(pk__in=skipped)
                .select_for_update(of=("self",), skip_locked=True)
                .first()
            )
            if entry is None:
                break
            # The inquiry's row: another program's worker may be offering to it right now.
            inquiry = (
                Inquiry.objects.select_for_update(skip_locked=True)
                .filter(pk=entry.inquiry_id, stage__in=sorted(OPEN_STAGES))
                .first()
            )
            if (
                inquiry is None
                or WaitlistEntry.objects.filter(
                    inquiry_id=entry.inquiry_id, state=WaitlistEntry.State.OFFERED
                ).exists()
            ):
                skipped.append(entry.pk)
                continue
            _offer(entry=entry, inquiry=inquiry, program=program, now=now)
            offered.append(entry.pk)
            free -= 1
    return offered


def _offer(*, entry: WaitlistEntry, inquiry: Inquiry, program: Program, now: datetime) -> None:
    until = now + offer_hours()
    hold = capacity_hold_create(
        program=program, reference=f"inquiry:{inquiry.pk}:offer:{entry.pk}", held_until=until
    )
    WaitlistEntry.objects.filter(pk=entry.pk).update(
        state=WaitlistEntry.State.OFFERED,
        offered_at=now,
        offer_expires_at=until,
        offer_hold=hold,
        offers=entry.offers + 1,
    )
    unit = "bed" if program.capacity_kind == Program.CapacityKind.BEDS else "slot"
    local = moment_text(until, inquiry.facility)
    inquiry_event(
        inquiry=inquiry,
        kind=InquiryEvent.Kind.OFFER_MADE,
        actor_label="waitlist",
        body=f"A {unit} in {program.name} is offered and held until {local}.",
        data={"entry": entry.pk, "program": program.pk, "hold": hold.pk, "until": until.isoformat()},
        at=now,
    )
    key = f"waitlist:{entry.pk}:offer:{hold.pk}"
    followups = [
        FollowUp(inquiry=inquiry, kind=FollowUp.Kind.WAITLIST_OFFER, due_at=now, dedupe_key=f"{key}:alert")
    ]
    template = OFFER_TEMPLATES.get(entry.contact)
    if template:
        followups.append(
            FollowUp(
                inquiry=inquiry,
                kind=FollowUp.Kind.WAITLIST_OFFER,
                channel=entry.contact,
                template_code=template,
                due_at=now,
                dedupe_key=f"{key}:{entry.contact}",
            )
        )
    FollowUp.objects.bulk_create(followups)
    dispatcher_kick()


def _end(entry: WaitlistEntry, *, state: str, actor: User | None, now: datetime, body: str) -> None:
    WaitlistEntry.objects.filter(pk=entry.pk).update(state=state, ended_at=now, ended_by=actor)
    entry.state = state
    inquiry_event(
        inquiry=entry.inquiry,
        kind=InquiryEvent.Kind.OFFER_ENDED if entry.offered_at else InquiryEvent.Kind.WAITLISTED,
        actor=actor,
        actor_label="" if actor else "waitlist",
        body=body,
        data={"entry": entry.pk, "program": entry.program_id, "state": state},
        at=now,
    )


def _locked(entry: WaitlistEntry, *states: str) -> WaitlistEntry:
    found = (
        WaitlistEntry.objects.select_for_update(of=("self",))
        .select_related("inquiry", "program", "offer_hold")
        .filter(pk=entry.pk, state__in=states)
        .first()
    )
    if found is None:
        raise WaitlistError("This waitlist entry changed meanwhile; reload the page.")
    return found


@transaction.atomic
def waitlist_offer_decline(*, entry: WaitlistEntry, actor: User) -> WaitlistEntry:
    """The person turned the offer down: the place goes to the next."""
    entry = _locked(entry, WaitlistEntry.State.OFFERED)
    now = timezone.now()
    if entry.offer_hold is not None:
        capacity_hold_release(hold=entry.offer_hold, reason=CapacityHold.ReleaseReason.CANCELLED)
    _end(
        entry,
        state=WaitlistEntry.State.DECLINED,
        actor=actor,
        now=now,
        body=f"Declined the place in {entry.program.name}.",
    )
    return entry


@transaction.atomic
def waitlist_offer_accept(*, entry: WaitlistEntry, actor: User) -> WaitlistEntry:
    """The person takes the place: the offer's hold becomes the inquiry's hold, and the inquiry
    leaves the other waitlists."""
    entry = _locked(entry, WaitlistEntry.State.OFFERED)
    now = timezone.now()
    hold = entry.offer_hold
    if hold is None or hold.released_at is not None or hold.held_until <= now:
        raise WaitlistError("The offer has lapsed; the place went back to the waitlist.")
    inquiry = Inquiry.objects.select_for_update().get(pk=entry.inquiry_id)
    if inquiry.capacity_hold_id and inquiry.capacity_hold_id != hold.pk:
        earlier = CapacityHold.objects.get(pk=inquiry.capacity_hold_id)
        capacity_hold_release(hold=earlier, reason=CapacityHold.ReleaseReason.CANCELLED)
    Inquiry.objects.filter(pk=inquiry.pk).update(capacity_hold=hold, approved_program=entry.program)
    _end(
        entry,
        state=WaitlistEntry.State.ACCEPTED,
        actor=actor,
        now=now,
        body=f"Accepted the place in {entry.program.name}.",
    )
    WaitlistEntry.objects.filter(inquiry_id=inquiry.pk, state=WaitlistEntry.State.WAITING).update(
        state=WaitlistEntry.State.REMOVED, ended_at=now, ended_by=actor
    )
    return entry


@transaction.atomic
def waitlist_remove(*, entry: WaitlistEntry, actor: User) -> WaitlistEntry:
    """Take a waiting inquiry off one program's waitlist."""
    entry = _locked(entry, WaitlistEntry.State.WAITING)
    _end(
        entry,
        state=WaitlistEntry.State.REMOVED,
        actor=actor,
        now=timezone.now(),
        body=f"Taken off the waitlist of {entry.program.name}.",
    )
    return entry


def waitlist_offers_lapse(*, now: datetime | None = None) -> int:
    """End offers whose time ran out (or whose hold went): the place goes to the next."""
    now = now or timezone.now()
    lapsed = 0
    with transaction.atomic():
        due = list(
            WaitlistEntry.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("inquiry", "program", "offer_hold")
            .filter(state=WaitlistEntry.State.OFFERED)
            .filter(
                Q(offer_expires_at__lte=now)
                | Q(offer_hold__isnull=True)
                | Q(offer_hold__released_at__isnull=False)
            )
        )
        for entry in due:
            hold = entry.offer_hold
            if hold is not None and hold.released_at is None:
                capacity_hold_release(hold=hold, reason=CapacityHold.ReleaseReason.EXPIRED)
            elif hold is None or hold.release_reason != CapacityHold.ReleaseReason.ADMITTED:
                capacity_freed(program_id=entry.program_id)  # released elsewhere: offer again
            _end(
                entry,
                state=WaitlistEntry.State.LAPSED,
                actor=None,
                now=now,
                body=f"The offer of a place in {entry.program.name} lapsed.",
            )
            lapsed += 1
    return lapsed


def waitlist_programs_waiting() -> list[int]:
    """Programs with someone waiting: the sweep offers their free places (a missed signal)."""
    return sorted(
        set(
            WaitlistEntry.objects.filter(state=WaitlistEntry.State.WAITING)
            .order_by()
            .values_list("program_id", flat=True)
            .distinct()
        )
    )
