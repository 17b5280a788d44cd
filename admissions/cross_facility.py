"""Possible duplicates across facilities that come in through the lead API.

A lead whose phone, email or lead id matches an open inquiry at a facility other than its
source's default facility still joins that inquiry (a person keeps one open inquiry, and a lead
is never lost), but a ``CrossFacilityDuplicate`` names the source for a manager who works at
both facilities. The source is told the ordinary merge and cannot read the inquiry
(``GET /api/v1/leads/{id}/`` is scoped to the inquiries it created). Intake's refusal of the same
match lives in ``admissions.casework``, which imports the lead write; this module imports
neither, so the lead write can call it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from admissions.models import CrossFacilityDuplicate, Inquiry, LeadSource, Person
from crm.audit import audit_record
from crm.models import AuditEvent

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
