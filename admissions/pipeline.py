"""The admissions pipeline as a state machine: every stage and every legal move, in one place."""

from __future__ import annotations

from django.db import models


class Stage(models.TextChoices):
    NEW = "new", "New"
    CONTACT_ATTEMPTED = "contact_attempted", "Contact attempted"
    CONTACTED = "contacted", "Contacted"
    PRESCREENED = "prescreened", "Pre-screened"
    INSURANCE_VERIFICATION = "vob", "Insurance verification"
    CLINICAL_REVIEW = "clinical_review", "Clinical review"
    APPROVED = "approved", "Approved"
    ADMISSION_SCHEDULED = "scheduled", "Admission scheduled"
    ADMITTED = "admitted", "Admitted"
    REFERRED_OUT = "referred_out", "Referred out"
    CLOSED = "closed", "Closed not admitted"
    CRISIS_ROUTED = "crisis_routed", "Crisis routed"
    NURTURE = "nurture", "Nurture"
    DUPLICATE = "duplicate", "Duplicate"
    INVALID = "invalid", "Invalid"


class LostReason(models.TextChoices):
    UNREACHABLE = "unreachable", "Unreachable after the cadence"
    DECLINED = "declined", "Declined / not ready"
    NEEDS_OTHER_LEVEL = "needs_other_level", "Clinically needs a different level of care"
    EXCLUSION = "exclusion", "Exclusion criteria"
    OUT_OF_NETWORK = "out_of_network", "Insurance out of network"
    NOT_COVERED = "not_covered", "Insurance does not cover"
    AUTH_DENIED = "auth_denied", "Authorisation denied"
    CANNOT_AFFORD = "cannot_afford", "Cannot afford self-pay"
    CHOSE_OTHER = "chose_other", "Chose another facility"
    NO_CAPACITY = "no_capacity", "No capacity"
    NO_SHOW = "no_show", "No-show for scheduled admission"
    LEGAL = "legal", "Legal or custody conflict"


# The working stages in pipeline order; an inquiry in one of them is "open".
WORKING_STAGES: tuple[Stage, ...] = (
    Stage.NEW,
    Stage.CONTACT_ATTEMPTED,
    Stage.CONTACTED,
    Stage.PRESCREENED,
    Stage.INSURANCE_VERIFICATION,
    Stage.CLINICAL_REVIEW,
    Stage.APPROVED,
    Stage.ADMISSION_SCHEDULED,
)
OPEN_STAGES: frozenset[str] = frozenset(WORKING_STAGES)
# Nurture keeps the person (with consent) but is not in active work.
TERMINAL_STAGES: frozenset[str] = frozenset(
    {Stage.ADMITTED, Stage.REFERRED_OUT, Stage.CLOSED, Stage.CRISIS_ROUTED, Stage.DUPLICATE, Stage.INVALID}
)
# Never counted in conversion denominators.
EXCLUDED_FROM_CONVERSION: frozenset[str] = frozenset({Stage.DUPLICATE, Stage.INVALID})

# Exits every open stage may take; each needs what REQUIRES says.
_EXITS = (
    Stage.REFERRED_OUT,
    Stage.CLOSED,
    Stage.CRISIS_ROUTED,
    Stage.NURTURE,
    Stage.DUPLICATE,
    Stage.INVALID,
)

TRANSITIONS: dict[str, tuple[Stage, ...]] = {
    Stage.NEW: (Stage.CONTACT_ATTEMPTED, Stage.CONTACTED, *_EXITS),
    Stage.CONTACT_ATTEMPTED: (Stage.CONTACTED, *_EXITS),
    Stage.CONTACTED: (Stage.PRESCREENED, *_EXITS),
    Stage.PRESCREENED: (Stage.INSURANCE_VERIFICATION, Stage.CLINICAL_REVIEW, *_EXITS),
    Stage.INSURANCE_VERIFICATION: (Stage.CLINICAL_REVIEW, Stage.APPROVED, *_EXITS),
    Stage.CLINICAL_REVIEW: (Stage.INSURANCE_VERIFICATION, Stage.APPROVED, *_EXITS),
    Stage.APPROVED: (Stage.ADMISSION_SCHEDULED, Stage.CLINICAL_REVIEW, *_EXITS),
    Stage.ADMISSION_SCHEDULED: (Stage.ADMITTED, Stage.APPROVED, *_EXITS),
    # Someone in nurture who calls back is worked again from a live conversation.
    Stage.NURTURE: (Stage.CONTACTED, Stage.CLOSED, Stage.CRISIS_ROUTED, Stage.REFERRED_OUT, Stage.DUPLICATE),
    # After the emergency is handled a clinician may clear the person to resume admission.
    Stage.CRISIS_ROUTED: (Stage.CLINICAL_REVIEW, Stage.CLOSED, Stage.REFERRED_OUT),
    Stage.ADMITTED: (),
    Stage.REFERRED_OUT: (),
    Stage.CLOSED: (),
    Stage.DUPLICATE: (),
    Stage.INVALID: (),
}

# Target stage -> what must accompany the move.
REQUIRES: dict[str, str] = {
    Stage.REFERRED_OUT: "destination",
    Stage.CLOSED: "lost_reason",
    Stage.CRISIS_ROUTED: "reason",
    Stage.DUPLICATE: "duplicate_of",
    Stage.INVALID: "reason",
}

# The timestamp field set the first time an inquiry reaches a stage.
STAGE_TIMESTAMP_FIELD: dict[str, str] = {
    Stage.CONTACT_ATTEMPTED: "first_attempt_at",
    Stage.CONTACTED: "contacted_at",
    Stage.PRESCREENED: "prescreened_at",
    Stage.INSURANCE_VERIFICATION: "vob_started_at",
    Stage.CLINICAL_REVIEW: "clinical_review_at",
    Stage.APPROVED: "approved_at",
    Stage.ADMISSION_SCHEDULED: "scheduled_at",
    Stage.ADMITTED: "admitted_at",
    Stage.REFERRED_OUT: "closed_at",
    Stage.CLOSED: "closed_at",
    Stage.CRISIS_ROUTED: "crisis_routed_at",
    Stage.NURTURE: "nurture_at",
    Stage.DUPLICATE: "closed_at",
    Stage.INVALID: "closed_at",
}


class TransitionError(ValueError):
    """An illegal stage change; the message names the moves that are allowed."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def allowed_targets(current: str) -> tuple[Stage, ...]:
    return TRANSITIONS[current]


def check_transition(current: str, to: str, *, provided: dict[str, object] | None = None) -> None:
    """Raise TransitionError unless ``current -> to`` is legal and carries what it needs."""
    provided = provided or {}
    if to not in TRANSITIONS:
        raise TransitionError(f"{to!r} is not a pipeline stage.", field="stage")
    allowed = TRANSITIONS[current]
    if to not in allowed:
        label = Stage(current).label
        if not allowed:
            raise TransitionError(
                f"{label} is final; the inquiry cannot move to {Stage(to).label}.", field="stage"
            )
        names = ", ".join(s.label for s in allowed)
        raise TransitionError(
            f"Cannot move from {label} to {Stage(to).label}. Allowed: {names}.", field="stage"
        )
    needed = REQUIRES.get(to)
    if needed and not provided.get(needed):
        raise TransitionError(
            f"Moving to {Stage(to).label} needs a {needed.replace('_', ' ')}.", field=needed
        )
    if to == Stage.CLOSED and provided.get("lost_reason") not in LostReason.values:
        raise TransitionError(f"{provided.get('lost_reason')!r} is not a lost reason.", field="lost_reason")
