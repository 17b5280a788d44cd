"""What the seeder writes satisfies the invariants of what the services write.

A few inquiries are driven through the real services (intake, calls, the pre-screen, VOB, the
clinician's sign-off, the hold, scheduling, admission, a crisis) inside a seeded demo center. Every
invariant below is checked on those inquiries first, which shows it is a property of the services,
and then on every seeded inquiry. Each check also asserts it saw cases on both sides, so none
passes vacuously.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Q
from django.utils import timezone

from admissions.casework import insurance_save
from admissions.messaging.models import MessagingHold
from admissions.models import FollowUp, Inquiry, InquiryEvent, InsurancePolicy, Person
from admissions.pipeline import OPEN_STAGES, STAGE_TIMESTAMP_FIELD, TERMINAL_STAGES, Stage
from admissions.screening.models import Screening
from admissions.screening.rules import evaluate
from admissions.screening.services import (
    screening_form_current,
    screening_levels,
    screening_matches,
    screening_save,
    screening_signoff,
)
from admissions.services import (
    TouchData,
    call_log,
    inquiry_admit,
    inquiry_advance,
    inquiry_create,
    inquiry_schedule_admission,
)
from crm.models import Facility, User
from crm.roles import Role
from demo.seed import seed_demo
from programs.models import CapacityHold, Census, LevelOfCare, Program
from tests.screening.builders import screen, use

pytestmark = pytest.mark.django_db
STAMP_FIELDS = sorted(set(STAGE_TIMESTAMP_FIELD.values()))
Problems = list[str]


# --- driving the services --------------------------------------------------------------------


def _new(facility: Facility, coordinator: User, n: int) -> Inquiry:
    person = Person.objects.create(
        first_name="Service", last_name=f"Walk{n}", phone=f"+1813555{9000 + n:04d}", state="FL"
    )
    return inquiry_create(
        person=person,
        facility=facility,
        touch=TouchData(channel="phone"),
        actor=coordinator,
        assign_to=coordinator,
    )


def _reach(inquiry: Inquiry, coordinator: User) -> Inquiry:
    call_log(
        inquiry=inquiry,
        actor=coordinator,
        direction=InquiryEvent.CallDirection.INBOUND,
        outcome=InquiryEvent.CallOutcome.CONNECTED,
    )
    return Inquiry.objects.get(pk=inquiry.pk)


def _program_at(inquiry: Inquiry) -> Program:
    screening = Screening.objects.filter(inquiry=inquiry).latest("created_at")
    matches = screening_matches(screening=screening).matches
    best = next(m for m in matches if not m.excluded and m.facility_id == inquiry.facility_id)
    return Program.objects.get(pk=best.program_id)


def _through_to(
    inquiry: Inquiry, answers: dict[str, Any], *, end: str, users: dict[str, User], payer_id: int
) -> Inquiry:
    """Pre-screen, VOB, clinical review, sign-off, approval, scheduling and admission, as far as ``end``."""
    coordinator, clinician, vob = users["coordinator"], users["clinician"], users["vob"]
    answers = {**answers, "insurance": {"payer_id": payer_id, "member_id": "XD000000123"}}
    screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    inquiry.refresh_from_db()
    if inquiry.stage == Stage.PRESCREENED:
        insurance_save(
            inquiry=inquiry, actor=coordinator, values={"vob_status": InsurancePolicy.VobStatus.REQUESTED}
        )
        inquiry.refresh_from_db()
        if end == Stage.INSURANCE_VERIFICATION:
            return inquiry
        # the result hands the inquiry on to clinical review
        insurance_save(inquiry=inquiry, actor=vob, values={"vob_status": InsurancePolicy.VobStatus.VIABLE})
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CLINICAL_REVIEW
    if end == Stage.CLINICAL_REVIEW:
        return inquiry
    screening = Screening.objects.select_related("provisional_level").get(inquiry=inquiry)
    # the sign-off approves an inquiry whose benefits are verified; one without a VOB yet waits for it
    screening_signoff(screening=screening, level=screening.provisional_level, actor=clinician)
    inquiry.refresh_from_db()
    if inquiry.stage == Stage.CLINICAL_REVIEW:
        insurance_save(
            inquiry=inquiry, actor=coordinator, values={"vob_status": InsurancePolicy.VobStatus.REQUESTED}
        )
        inquiry.refresh_from_db()
        insurance_save(inquiry=inquiry, actor=vob, values={"vob_status": InsurancePolicy.VobStatus.VIABLE})
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.APPROVED
    if end == Stage.APPROVED:
        return inquiry
    program = _program_at(inquiry)
    inquiry = inquiry_schedule_admission(
        inquiry=inquiry,
        program=program,
        admission_date=timezone.localdate() + timedelta(days=2),
        actor=coordinator,
    )
    if end == Stage.ADMISSION_SCHEDULED:
        return inquiry
    return inquiry_admit(inquiry=Inquiry.objects.get(pk=inquiry.pk), actor=coordinator)


CLEAR = screen(
    use("rx_opioids", 10, 20, "mg", drug="oxycodone", prescribed=False, route="oral"),
    readiness={"stage": "ready", "who_wants": ["self"]},
    environment={"living": "supportive", "safe_at_home": True, "sober_supports": True},
)
SEDATIVE = screen(use("benzodiazepines", 30, 6, "mg", drug="alprazolam", duration_months=24))
SUICIDE_PARTIAL = {"suicide": {"wish_dead": True, "thoughts": True, "method": True, "plan": True}}


@pytest.fixture
def center(db: Any) -> dict[str, Any]:
    """A seeded demo center, and inquiries walked through the services in it (by what they show)."""
    seed_demo(inquiries=400, password="demo-password-123", seed=5)
    seeded = set(Inquiry.objects.values_list("pk", flat=True))
    users = {name: User.objects.get(username=name) for name in ("coordinator", "clinician", "vob")}
    facility = Facility.objects.get(name="Harbor Point Tampa")
    payer = facility.programs.get(name="Outpatient Therapy").accepted_payers.filter(is_self_pay=False).first()
    assert payer is not None
    coordinator = users["coordinator"]
    walked = []
    _new(facility, coordinator, 1)  # new: the cadence waits
    attempted = _new(facility, coordinator, 2)
    call_log(
        inquiry=attempted,
        actor=coordinator,
        direction=InquiryEvent.CallDirection.OUTBOUND,
        outcome=InquiryEvent.CallOutcome.NO_ANSWER,
    )
    ends = (
        (CLEAR, Stage.INSURANCE_VERIFICATION),
        (CLEAR, Stage.APPROVED),
        (CLEAR, Stage.ADMISSION_SCHEDULED),
        (CLEAR, Stage.ADMITTED),
        (SEDATIVE, Stage.CLINICAL_REVIEW),
        (SEDATIVE, Stage.ADMITTED),
    )
    for n, (answers, end) in enumerate(ends, start=3):
        inquiry = _reach(_new(facility, coordinator, n), coordinator)
        walked.append(_through_to(inquiry, answers, end=end, users=users, payer_id=payer.pk))
    crisis = _reach(_new(facility, coordinator, 20), coordinator)
    screening_save(inquiry_id=crisis.pk, answers=SUICIDE_PARTIAL, actor=coordinator)
    lost = _reach(_new(facility, coordinator, 21), coordinator)
    lost = _through_to(lost, CLEAR, end=Stage.ADMISSION_SCHEDULED, users=users, payer_id=payer.pk)
    inquiry_advance(inquiry=lost, to=Stage.CLOSED, actor=coordinator, lost_reason="no_show")
    service = set(Inquiry.objects.values_list("pk", flat=True)) - seeded
    stages = set(Inquiry.objects.filter(pk__in=service).values_list("stage", flat=True))
    assert {Stage.NEW, Stage.CRISIS_ROUTED, Stage.ADMITTED, Stage.ADMISSION_SCHEDULED, Stage.CLOSED} <= stages
    return {"seeded": seeded, "service": service}


# --- the invariants -------------------------------------------------------------------------


def stage_timestamps(ids: Iterable[int]) -> tuple[Problems, int]:
    """The stage history on the timeline explains the stage and every stage timestamp."""
    problems: Problems = []
    inquiries = Inquiry.objects.filter(pk__in=list(ids)).order_by("pk")
    for inquiry in inquiries:
        seen: dict[str, Any] = {}
        current, at = Stage.NEW.value, inquiry.created_at
        events = inquiry.events.filter(kind=InquiryEvent.Kind.STAGE_CHANGED).order_by("at", "pk")
        for event in events:
            if event.data["from"] != current or event.at < at:
                problems.append(f"#{inquiry.pk}: stage history out of order at {event.data}")
            current, at = event.data["to"], event.at
            seen.setdefault(STAGE_TIMESTAMP_FIELD[current], event.at)
        if current != inquiry.stage or inquiry.stage_changed_at != at:
            problems.append(f"#{inquiry.pk}: stage {inquiry.stage} but the timeline ends at {current}")
        for field in STAMP_FIELDS:
            if getattr(inquiry, field) != seen.get(field):
                problems.append(
                    f"#{inquiry.pk}: {field} is {getattr(inquiry, field)}, timeline {seen.get(field)}"
                )
    return problems, inquiries.count()


def screenings_as_the_rules_say(ids: Iterable[int]) -> tuple[Problems, int]:
    """Every screening is of the current form and stores what the rules compute from its answers."""
    problems: Problems = []
    form = screening_form_current()
    definition = form.loaded()
    screenings = Screening.objects.filter(inquiry_id__in=list(ids)).select_related("form")
    for s in screenings:
        outcome = evaluate(answers=s.answers, form=definition, now=s.saved_at)
        expected = outcome.to_json()
        chosen = screening_levels(form=definition, outcome=outcome) if outcome.complete else None
        expected["levels"] = chosen.to_json() if chosen else None
        level = chosen.provisional.id if chosen and chosen.provisional else None
        if s.form_id != form.pk:
            problems.append(f"screening {s.pk}: form v{s.form.version}, not the current one")
        if s.result != expected or s.complete != outcome.complete or s.provisional_level_id != level:
            problems.append(f"screening {s.pk}: stored result is not what the rules compute")
        if s.safety_flags != [f.code for f in outcome.flags] or s.has_red_flag != bool(outcome.flags):
            problems.append(
                f"screening {s.pk}: flags {s.safety_flags}, rules {[f.code for f in outcome.flags]}"
            )
        if s.minimum_intensity != outcome.minimum_intensity:
            problems.append(
                f"screening {s.pk}: minimum {s.minimum_intensity}, rules {outcome.minimum_intensity}"
            )
    return problems, screenings.count()


def screenings_behind_flags(ids: Iterable[int]) -> tuple[Problems, int]:
    """A red flag on an inquiry comes from its screening's answers; at or past Pre-screened there is a
    complete screening; a flag routed the inquiry as it was saved; a crisis holds automated messages."""
    problems: Problems = []
    inquiries = Inquiry.objects.filter(pk__in=list(ids)).prefetch_related("screenings")
    checked = 0
    for inquiry in inquiries:
        screenings = list(inquiry.screenings.all())
        flagged = [s for s in screenings if s.safety_flags]
        if inquiry.has_red_flag != bool(flagged):
            problems.append(
                f"#{inquiry.pk}: red flag {inquiry.has_red_flag} with flagged screenings {flagged}"
            )
        if inquiry.prescreened_at is not None and not any(s.complete for s in screenings):
            problems.append(f"#{inquiry.pk}: pre-screened with no complete screening")
        if inquiry.prescreened_at is None and any(s.complete for s in screenings):
            problems.append(f"#{inquiry.pk}: a complete screening but never pre-screened")
        for s in flagged:
            checked += 1
            crisis = any(f["route_to"] == Stage.CRISIS_ROUTED for f in s.result["safety_flags"])
            moved_at = inquiry.crisis_routed_at if crisis else inquiry.clinical_review_at
            if moved_at is None or not s.saved_at - timedelta(
                seconds=1
            ) <= moved_at <= s.saved_at + timedelta(seconds=5):
                problems.append(f"#{inquiry.pk}: flag saved at {s.saved_at}, routed at {moved_at}")
        if (
            inquiry.stage == Stage.CRISIS_ROUTED
            and not MessagingHold.objects.filter(
                person_id=inquiry.person_id, reason=MessagingHold.Reason.CRISIS, released_at__isnull=True
            ).exists()
        ):
            problems.append(f"#{inquiry.pk}: crisis routed without a messaging hold")
    return problems, checked


def signoffs_behind_approvals(ids: Iterable[int]) -> tuple[Problems, int]:
    """Approved and later: a clinician signed the screen off at the approved level before approval."""
    problems: Problems = []
    approved = Inquiry.objects.filter(pk__in=list(ids), approved_at__isnull=False)
    clinicians = set(
        User.objects.filter(groups__name=Role.CLINICAL_REVIEWER.value).values_list("pk", flat=True)
    )
    for inquiry in approved:
        signed = inquiry.screenings.filter(signed_at__isnull=False).first()
        if signed is None or inquiry.approved_level_id is None:
            problems.append(f"#{inquiry.pk}: approved with no sign-off")
            continue
        if signed.final_level_id != inquiry.approved_level_id or signed.signed_by_id not in clinicians:
            problems.append(f"#{inquiry.pk}: approved level differs from the sign-off")
        if signed.signed_at > inquiry.approved_at:
            problems.append(f"#{inquiry.pk}: signed off after approval")
    return problems, approved.count()


def vob_behind_verification(ids: Iterable[int]) -> tuple[Problems, int]:
    """In verification: a policy waiting in the VOB queue; approved and later: a completed VOB."""
    problems: Problems = []
    inquiries = Inquiry.objects.filter(pk__in=list(ids), vob_started_at__isnull=False)
    for inquiry in inquiries:
        policy = InsurancePolicy.objects.filter(inquiry=inquiry, rank=InsurancePolicy.Rank.PRIMARY).first()
        if policy is None or policy.vob_requested_at is None:
            problems.append(f"#{inquiry.pk}: VOB started with no request on a policy")
            continue
        waiting = policy.vob_status in (
            InsurancePolicy.VobStatus.REQUESTED,
            InsurancePolicy.VobStatus.IN_PROGRESS,
        )
        if inquiry.stage == Stage.INSURANCE_VERIFICATION and not waiting:
            problems.append(f"#{inquiry.pk}: in verification, VOB {policy.vob_status}")
        if inquiry.approved_at is not None and policy.vob_status not in ("viable", "self_pay"):
            problems.append(f"#{inquiry.pk}: approved, VOB {policy.vob_status}")
        answers = (inquiry.screenings.first().answers if inquiry.screenings.exists() else {}).get(
            "insurance"
        ) or {}
        if answers.get("payer_id") and answers["payer_id"] != policy.payer_id:
            problems.append(f"#{inquiry.pk}: the pre-screen's payer is not the policy's")
    return problems, inquiries.count()


def holds_behind_admissions(ids: Iterable[int]) -> tuple[Problems, int]:
    """Scheduled: an active hold in the approved program until after the day; after it the hold is
    released (admitted, or cancelled when the inquiry closed); admitted: into a program."""
    problems: Problems = []
    now = timezone.now()
    inquiries = Inquiry.objects.filter(pk__in=list(ids), scheduled_at__isnull=False)
    for inquiry in inquiries:
        hold = CapacityHold.objects.filter(pk=inquiry.capacity_hold_id).first()
        if (
            hold is None
            or hold.reference != f"inquiry:{inquiry.pk}"
            or hold.program_id != inquiry.approved_program_id
        ):
            problems.append(f"#{inquiry.pk}: scheduled without its hold in the approved program")
            continue
        if inquiry.admission_date is None or hold.held_until.date() <= inquiry.admission_date - timedelta(
            days=1
        ):
            problems.append(f"#{inquiry.pk}: the hold ends before the admission day")
        if inquiry.stage == Stage.ADMISSION_SCHEDULED:
            if hold.released_at is not None or hold.held_until <= now:
                problems.append(f"#{inquiry.pk}: scheduled, hold not active")
        elif inquiry.stage == Stage.ADMITTED:
            if (
                hold.release_reason != CapacityHold.ReleaseReason.ADMITTED
                or inquiry.admitted_program_id is None
            ):
                problems.append(f"#{inquiry.pk}: admitted, hold {hold.release_reason}")
        elif inquiry.stage in TERMINAL_STAGES and hold.released_at is None:
            problems.append(f"#{inquiry.pk}: {inquiry.stage} with its hold still on")
    return problems, inquiries.count()


def followups_as_the_dispatcher_leaves_them(ids: Iterable[int]) -> tuple[Problems, int]:
    """Uncontacted inquiries carry the new-inquiry cadence; nothing waits on a closed inquiry, and no
    first-contact alert waits once someone tried."""
    problems: Problems = []
    pending = Q(state__in=[FollowUp.State.SCHEDULED, FollowUp.State.QUEUED])
    inquiries = Inquiry.objects.filter(pk__in=list(ids))
    uncontacted = inquiries.filter(stage__in=[Stage.NEW, Stage.CONTACT_ATTEMPTED])
    for inquiry in uncontacted:
        if inquiry.followups.filter(kind=FollowUp.Kind.CALL_TASK).count() != 4:
            problems.append(f"#{inquiry.pk}: uncontacted without its call tasks")
    closed = FollowUp.objects.filter(pending, inquiry__in=inquiries.exclude(stage__in=sorted(OPEN_STAGES)))
    problems += [f"#{f.inquiry_id}: {f.kind} waits on a closed inquiry" for f in closed]
    alerts = FollowUp.objects.filter(
        pending,
        inquiry__in=inquiries.filter(first_attempt_at__isnull=False),
        kind__in=[FollowUp.Kind.COORDINATOR_ALERT, FollowUp.Kind.MANAGER_ESCALATION],
    )
    problems += [f"#{f.inquiry_id}: a first-contact alert waits after an attempt" for f in alerts]
    return problems, uncontacted.count()


INVARIANTS: tuple[Callable[[Iterable[int]], tuple[Problems, int]], ...] = (
    stage_timestamps,
    screenings_as_the_rules_say,
    screenings_behind_flags,
    signoffs_behind_approvals,
    vob_behind_verification,
    holds_behind_admissions,
    followups_as_the_dispatcher_leaves_them,
)


@pytest.mark.parametrize("invariant", INVARIANTS, ids=lambda f: f.__name__)
def test_seeded_rows_keep_what_the_services_keep(center: dict[str, Any], invariant: Any) -> None:
    service_problems, service_cases = invariant(center["service"])
    assert service_problems == []  # the invariant is one the services keep
    assert service_cases > 0
    seeded_problems, seeded_cases = invariant(center["seeded"])
    assert seeded_problems == []
    assert seeded_cases > 0


def test_capacity_holds_fit_the_census(center: dict[str, Any]) -> None:
    """As ``capacity_hold_create`` refuses a hold in a full program: occupied plus held within capacity."""
    now = timezone.now()
    for program in Program.objects.all():
        census = Census.objects.get(program=program)
        held = CapacityHold.objects.filter(program=program).active(now).count()
        assert census.occupied + held <= program.capacity, program.name
        assert census.expected_discharges_7d <= census.occupied
    assert CapacityHold.objects.active(now).filter(reference__startswith="inquiry:").count() >= 2


def test_each_seeded_screening_level_is_a_level_of_the_form(center: dict[str, Any]) -> None:
    edition = screening_form_current().loaded().level_edition
    levels = Screening.objects.filter(inquiry_id__in=center["seeded"]).exclude(provisional_level=None)
    assert levels.exists()
    assert set(
        LevelOfCare.objects.filter(pk__in=levels.values("provisional_level")).values_list(
            "edition", flat=True
        )
    ) == {edition}
    assert Decimal("1.0") <= min(levels.values_list("minimum_intensity", flat=True))
