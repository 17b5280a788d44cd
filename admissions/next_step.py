"""The one next step of an inquiry: what should happen now, who does it, and since when it waits.

One function decides it from the inquiry's stage and the few facts that refine a stage (the
pre-screen, the VOB, the hold, the admission date). The inquiry page shows it as its primary
button (or as "waiting for ..." to someone who cannot take it); the work queue shows its short
form on every row from the row's own columns, so a queue page costs no query per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from admissions.casework import VOB_DONE
from admissions.models import Inquiry, InsurancePolicy
from admissions.pipeline import Stage
from admissions.screening.models import Screening
from crm.roles import Role

COORDINATING = (Role.COORDINATOR, Role.MANAGER)
VOB = InsurancePolicy.VobStatus


@dataclass(frozen=True)
class NextStep:
    """``label`` is the primary button (or the status, while someone else acts); ``action`` names the
    inquiry page's form that does it, ``page`` another page that does ("screening", "signoff")."""

    code: str
    label: str
    who: str
    roles: tuple[Role, ...]
    action: str = ""
    page: str = ""
    since: datetime | None = None
    # Set where the step needs no one now (an admission on a later day).
    until: date | None = None
    prefill: tuple[tuple[str, object], ...] = ()

    def taken_by(self, roles: frozenset[Role]) -> bool:
        return bool(roles & set(self.roles))


def _coordinator(code: str, label: str, **kwargs: object) -> NextStep:
    return NextStep(code, label, "the coordinator", COORDINATING, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StepFacts:
    """What refines a stage's step, where the page has it loaded: the open or latest pre-screen and
    the primary insurance policy (None: there is none)."""

    screening: Screening | None
    policy: InsurancePolicy | None


def next_step(inquiry: Inquiry, *, today: date, facts: StepFacts | None = None) -> NextStep | None:
    """The next step of ``inquiry``, or None for a closed one.

    Without ``facts`` (a queue row) the step is decided from the inquiry's own columns alone and
    named more broadly ("Pre-screen" rather than "Resume the pre-screen")."""
    stage = inquiry.stage
    policy = facts.policy if facts else None
    vob = policy.vob_status if policy else None
    if stage in (Stage.NEW, Stage.CONTACT_ATTEMPTED):
        return _coordinator("call", "Call now", action="call", since=inquiry.stage_changed_at)
    if stage == Stage.NURTURE:
        return _coordinator("call", "Call when they are ready", action="call")
    if stage == Stage.CONTACTED:
        if facts is None:
            return _coordinator("prescreen", "Pre-screen", page="screening")
        label = "Resume the pre-screen" if facts.screening is not None else "Start the pre-screen"
        return _coordinator("prescreen", label, page="screening")
    if stage == Stage.PRESCREENED:
        if vob in VOB_DONE:
            return _coordinator(
                "review", "Send to clinical review", action="stage", prefill=(("to", Stage.CLINICAL_REVIEW),)
            )
        return _coordinator(
            "request_vob", "Request the VOB", action="insurance", prefill=(("vob_status", VOB.REQUESTED),)
        )
    if stage == Stage.INSURANCE_VERIFICATION:
        if vob == VOB.NOT_VIABLE:
            return _coordinator(
                "vob_not_viable", "VOB not viable: talk through self-pay or a referral", action="insurance"
            )
        return NextStep(
            "complete_vob",
            "Verify benefits",
            "a VOB specialist",
            (Role.VOB_SPECIALIST,),
            action="insurance",
            since=(policy.vob_requested_at if policy else None) or inquiry.stage_changed_at,
        )
    if stage == Stage.CLINICAL_REVIEW:
        if inquiry.approved_level_id is None:
            return NextStep(
                "signoff",
                "Clinical sign-off of the level of care",
                "a clinical reviewer",
                (Role.CLINICAL_REVIEWER,),
                page="signoff",
                since=inquiry.stage_changed_at,
            )
        if facts is not None and vob not in VOB_DONE:
            return _coordinator(
                "request_vob", "Request the VOB", action="insurance", prefill=(("vob_status", VOB.REQUESTED),)
            )
        return _coordinator("approve", "Approve", action="stage", prefill=(("to", Stage.APPROVED),))
    if stage == Stage.APPROVED:
        if inquiry.capacity_hold_id is None:
            return _coordinator("hold", "Hold a bed or slot", action="hold")
        return _coordinator("schedule", "Schedule the admission", action="schedule")
    if stage == Stage.ADMISSION_SCHEDULED:
        if inquiry.admission_date is not None and inquiry.admission_date > today:
            return NextStep(
                "arrival",
                f"Admission on {inquiry.admission_date:%b %-d}",
                "the person's arrival",
                COORDINATING,
                until=inquiry.admission_date,
            )
        return _coordinator("admit", "Admit", action="admit")
    if stage == Stage.CRISIS_ROUTED:
        return NextStep(
            "crisis",
            "Crisis follow-up by a clinician",
            "a clinical reviewer",
            (Role.CLINICAL_REVIEWER,),
            since=inquiry.crisis_routed_at or inquiry.stage_changed_at,
        )
    return None
