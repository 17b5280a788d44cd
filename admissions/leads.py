"""The lead's vocabulary: a lead as a source sent it, its result, and the stages a source sees.

The lead API (``admissions.api``) validates a request into a ``LeadData`` and hands it to
``admissions.lead_write.lead_ingest``, which owns every statement of the write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import models

from admissions.models import Inquiry
from admissions.pipeline import Stage

# --- what marketing may see of an inquiry ----------------------------------------------


class PublicStage(models.TextChoices):
    """The stage as a lead source sees it: coarse, so it never reveals clinical detail."""

    NEW = "new", "New"
    CONTACT_ATTEMPTED = "contact_attempted", "Contact attempted"
    CONTACTED = "contacted", "Contacted"
    IN_PROGRESS = "in_progress", "In progress"
    ADMITTED = "admitted", "Admitted"
    NURTURE = "nurture", "Nurture"
    CLOSED = "closed", "Closed"
    DUPLICATE = "duplicate", "Duplicate"
    INVALID = "invalid", "Invalid"


# Pre-screen, VOB, clinical review, approval and scheduling are one "in progress";
# referred out, closed and crisis routed are one "closed" (a crisis is clinical data).
PUBLIC_STAGE: dict[str, PublicStage] = {
    Stage.NEW: PublicStage.NEW,
    Stage.CONTACT_ATTEMPTED: PublicStage.CONTACT_ATTEMPTED,
    Stage.CONTACTED: PublicStage.CONTACTED,
    Stage.PRESCREENED: PublicStage.IN_PROGRESS,
    Stage.INSURANCE_VERIFICATION: PublicStage.IN_PROGRESS,
    Stage.CLINICAL_REVIEW: PublicStage.IN_PROGRESS,
    Stage.APPROVED: PublicStage.IN_PROGRESS,
    Stage.ADMISSION_SCHEDULED: PublicStage.IN_PROGRESS,
    Stage.ADMITTED: PublicStage.ADMITTED,
    Stage.NURTURE: PublicStage.NURTURE,
    Stage.REFERRED_OUT: PublicStage.CLOSED,
    Stage.CLOSED: PublicStage.CLOSED,
    Stage.CRISIS_ROUTED: PublicStage.CLOSED,
    Stage.DUPLICATE: PublicStage.DUPLICATE,
    Stage.INVALID: PublicStage.INVALID,
}


def public_stage(stage: str) -> str:
    return PUBLIC_STAGE[stage].value


# --- the lead --------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadConsent:
    """Consent to be contacted, per channel, with the exact wording shown."""

    sms: bool = False
    email: bool = False
    call: bool = False
    text: str = ""
    captured_at: datetime | None = None
    ip: str | None = None
    page_url: str = ""


@dataclass(frozen=True)
class LeadData:
    """One lead as a source sent it (phone and email already normalised)."""

    first_name: str
    last_name: str = ""
    phone: str = ""
    email: str = ""
    date_of_birth: date | None = None
    postal_code: str = ""
    state: str = ""
    caller_relationship: str = ""
    substances: tuple[str, ...] = ()
    message: str = ""
    insurance_payer: str = ""
    insurance_member_id: str = ""
    consent: LeadConsent | None = None
    attribution: dict[str, str] = field(default_factory=dict)
    external_id: str = ""
    # True when ``phone`` and ``email`` were already normalised and validated (the API serializer
    # does both), so ingestion does not parse them a second time.
    contact_checked: bool = False

    def given_fields(self) -> list[str]:
        """Names (never values) of the fields the lead carried, for the audit trail."""
        names = [
            name
            for name in (
                "first_name",
                "last_name",
                "phone",
                "email",
                "date_of_birth",
                "postal_code",
                "state",
                "caller_relationship",
                "substances",
                "message",
                "external_id",
                "attribution",
            )
            if getattr(self, name)
        ]
        if self.insurance_payer or self.insurance_member_id:
            names.append("insurance")
        if self.consent is not None:
            names.append("consent")
        return names


class UnknownSubstances(ValueError):  # noqa: N818 - named for what the lead carried
    """The lead named substance codes that are not in the catalogue; nothing was written."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


@dataclass(frozen=True)
class LeadResult:
    inquiry: Inquiry
    created: bool

    @property
    def status(self) -> str:
        return "created" if self.created else "merged"

    @property
    def response_status(self) -> int:
        return 201 if self.created else 200
