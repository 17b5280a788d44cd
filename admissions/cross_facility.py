"""Possible duplicates across facilities: a lead of the API that joins another facility's
inquiry, and the pause of a user's intake after too many refused at a hidden match.

A lead whose phone, email or lead id matches an open inquiry at a facility other than its
source's default facility still joins that inquiry (a person keeps one open inquiry, and a lead
is never lost), but a ``CrossFacilityDuplicate`` names the source for a manager who works at
both facilities. The source is told the ordinary merge and cannot read the inquiry
(``GET /api/v1/leads/{id}/`` is scoped to the inquiries it created). Intake's refusal of the same
match lives in ``admissions.casework``, which imports the lead write; this module imports
neither, so the lead write can call it.

Each intake refused at a facility the coordinator cannot see tells them that something is open
elsewhere for that phone or email; repeated, it would be an oracle for who is in treatment where
(42 CFR Part 2). So a user with ``INTAKE_HIDDEN_MATCH_LIMIT`` such refusals in the last 24 hours
(the ``CrossFacilityDuplicate`` rows taken by them: durable, no cache) and one still unresolved
has intake paused: every intake and duplicate check of theirs is refused alike, match or not,
until a manager has settled all of their possible duplicates. Once at the limit, each further
refusal within the 24 hours pauses them again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from admissions.models import CrossFacilityDuplicate, Inquiry, LeadSource, Person
from crm.audit import audit_record
from crm.models import AuditEvent, User

if TYPE_CHECKING:
    from django.http import HttpRequest

    from admissions.leads import LeadData


def lead_joined_elsewhere(
    *,
    inquiry: Inquiry,
    lead: LeadData,
    source: LeadSource,
    person: Person | None,
    actor_label: str,
    request: HttpRequest | None = None,
) -> CrossFacilityDuplicate | None:
    """Record, once while unresolved, that a lead of ``source`` joined ``inquiry`` at another
    facility; audited as intake's record is. Runs only on that path, never for a lead that opens
    an inquiry or joins one at its own facility."""
    unresolved = CrossFacilityDuplicate.objects.filter(
        inquiry=inquiry, lead_source=source, resolved_at__isnull=True
    )
    if unresolved.exists():  # the same source sending the same person again: one row to settle
        return None
    duplicate = CrossFacilityDuplicate.objects.create(
        inquiry=inquiry,
        facility_id=source.default_facility_id,
        lead_source=source,
        matched_on=_matched_on(inquiry=inquiry, lead=lead, person=person),
    )
    audit_record(
        action=AuditEvent.Action.CREATE,
        obj=duplicate,
        actor_label=actor_label,
        fields=["matched_on"],
        request=request,
    )
    return duplicate


def _matched_on(*, inquiry: Inquiry, lead: LeadData, person: Person | None) -> str:
    """What the lead shares with the inquiry, from what the lead's lookup loaded (no query)."""
    of_person = person is not None and inquiry.person_id == person.pk
    if lead.phone and (
        str(inquiry.phone) == lead.phone
        or (of_person and person is not None and str(person.phone) == lead.phone)
    ):
        return CrossFacilityDuplicate.MatchedOn.PHONE
    if lead.email and (
        inquiry.email == lead.email or (of_person and person is not None and person.email == lead.email)
    ):
        return CrossFacilityDuplicate.MatchedOn.EMAIL
    return CrossFacilityDuplicate.MatchedOn.EXTERNAL_ID


HIDDEN_MATCH_WINDOW = timedelta(hours=24)

INTAKE_PAUSED = (
    "Intake is paused for you pending a manager's review of possible duplicates. Keep the "
    "caller's details, help them on this call, and ask a manager to review them."
)


def intake_paused_for(user: User) -> bool:
    """Whether the user's intake is paused: at the limit of hidden-match refusals in the last 24
    hours, with one of them (or an older one) not yet settled. One query on the user's rows."""
    counts = CrossFacilityDuplicate.objects.filter(taken_by=user).aggregate(
        recent=Count("pk", filter=Q(found_at__gte=timezone.now() - HIDDEN_MATCH_WINDOW)),
        unresolved=Count("pk", filter=Q(resolved_at__isnull=True)),
    )
    return counts["unresolved"] > 0 and counts["recent"] >= settings.INTAKE_HIDDEN_MATCH_LIMIT


def users_paused(*, among: QuerySet[CrossFacilityDuplicate]) -> list[User]:
    """The users whose intake is paused among those who took the unresolved rows ``among`` (the
    rows a manager may settle), by name; one query."""
    takers = among.filter(taken_by__isnull=False).values("taken_by_id")
    at_limit = (
        CrossFacilityDuplicate.objects.filter(
            taken_by_id__in=takers, found_at__gte=timezone.now() - HIDDEN_MATCH_WINDOW
        )
        .values("taken_by_id")
        .annotate(recent=Count("pk"))
        .filter(recent__gte=settings.INTAKE_HIDDEN_MATCH_LIMIT)
        .values("taken_by_id")
    )
    return list(User.objects.filter(pk__in=at_limit).order_by("first_name", "last_name", "username"))
