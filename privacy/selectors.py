"""Reads for the consent, ledger and audit pages; joins and facility scoping are decided here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import BooleanField, CharField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from admissions.models import CrossFacilityDuplicate, Inquiry, InsurancePolicy, Person
from admissions.screening.models import Screening
from crm.models import AuditEvent, User
from crm.scoping import facility_ids_for, scope_to_user
from privacy.models import Disclosure, Part2Consent

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser


def _ids_as_text(queryset: QuerySet[models.Model]) -> QuerySet[models.Model]:
    """A subquery of primary keys as text, to match ``AuditEvent.object_id``."""
    return queryset.order_by().annotate(pk_text=Cast("pk", CharField())).values("pk_text")  # type: ignore[return-value]


def consents_for(*, inquiry: Inquiry, user: User | AnonymousUser) -> QuerySet[Part2Consent]:
    """The person's consents captured at the user's facilities, newest first."""
    rows = Part2Consent.objects.filter(person_id=inquiry.person_id)
    return (
        scope_to_user(rows, user, facility_field="inquiry__facility")
        .select_related("recipient_partner", "discloser", "captured_by")
        .order_by("-captured_at", "-pk")
    )


def consent_visible_to(user: User | AnonymousUser) -> QuerySet[Part2Consent]:
    return scope_to_user(Part2Consent.objects.all(), user, facility_field="inquiry__facility").select_related(
        "person", "inquiry__facility", "discloser", "recipient_partner", "captured_by", "revoked_by"
    )


def ledger_for(*, person_id: int, user: User | AnonymousUser) -> QuerySet[Disclosure]:
    """The disclosure ledger of a person, as far as the user's facilities made the disclosures."""
    rows = Disclosure.objects.filter(person_id=person_id)
    return (
        scope_to_user(rows, user, facility_field="inquiry__facility")
        .select_related("made_by", "discloser", "consent")
        .defer("document")
        .order_by("-made_at", "-pk")
    )


def disclosures_visible_to(user: User | AnonymousUser) -> QuerySet[Disclosure]:
    return scope_to_user(Disclosure.objects.all(), user, facility_field="inquiry__facility").select_related(
        "person", "inquiry__facility", "discloser", "consent", "made_by"
    )


def _listed_at(facility_ids: list[int]) -> RawSQL:
    """Audit rows of list pages that showed an inquiry of one of the facilities. (The ORM has no
    ``= ANY(array column)`` in a correlated subquery; the statement is small and lives here.)"""
    return RawSQL(
        'EXISTS (SELECT 1 FROM admissions_inquiry i WHERE i.id = ANY("crm_auditevent"."listed") '
        "AND i.facility_id = ANY(%s))",
        [facility_ids],
        output_field=BooleanField(),
    )


def audit_rows_for_inquiry(*, inquiry: Inquiry) -> QuerySet[AuditEvent]:
    """Every audit row about the inquiry, its person, screenings, policies, consents and
    disclosures, and every list page (queue, search, duplicate check) that showed it."""
    q = (
        Q(object_type="admissions.inquiry", object_id=str(inquiry.pk))
        | Q(object_type="admissions.inquiry", listed__contains=[inquiry.pk])
        | Q(
            object_type="admissions.crossfacilityduplicate",
            object_id__in=_ids_as_text(CrossFacilityDuplicate.objects.filter(inquiry_id=inquiry.pk)),
        )
        | Q(object_type="admissions.person", object_id=str(inquiry.person_id))
        | Q(
            object_type="admissions.screening",
            object_id__in=_ids_as_text(Screening.objects.filter(inquiry_id=inquiry.pk)),
        )
        | Q(
            object_type="admissions.insurancepolicy",
            object_id__in=_ids_as_text(InsurancePolicy.objects.filter(inquiry_id=inquiry.pk)),
        )
        | Q(
            object_type="privacy.part2consent",
            object_id__in=_ids_as_text(Part2Consent.objects.filter(inquiry_id=inquiry.pk)),
        )
        | Q(
            object_type="privacy.disclosure",
            object_id__in=_ids_as_text(Disclosure.objects.filter(inquiry_id=inquiry.pk)),
        )
    )
    return AuditEvent.objects.filter(q).select_related("actor").order_by("-at", "-pk")


def _facility_records(ids: list[int]) -> Q:
    """Audit rows whose record belongs to one of the facilities (patient records only)."""
    inquiries = Inquiry.objects.filter(facility_id__in=ids)
    return (
        Q(object_type="admissions.inquiry", object_id__in=_ids_as_text(inquiries))
        | Q(Q(object_type="admissions.inquiry", listed__isnull=False) & Q(_listed_at(ids)))
        | Q(
            object_type="admissions.person",
            object_id__in=_ids_as_text(Person.objects.filter(inquiries__facility_id__in=ids)),
        )
        | Q(
            object_type="admissions.screening",
            object_id__in=_ids_as_text(Screening.objects.filter(inquiry__facility_id__in=ids)),
        )
        | Q(
            object_type="admissions.insurancepolicy",
            object_id__in=_ids_as_text(InsurancePolicy.objects.filter(inquiry__facility_id__in=ids)),
        )
        | Q(
            object_type="privacy.part2consent",
            object_id__in=_ids_as_text(Part2Consent.objects.filter(inquiry__facility_id__in=ids)),
        )
        | Q(
            object_type="privacy.disclosure",
            object_id__in=_ids_as_text(Disclosure.objects.filter(inquiry__facility_id__in=ids)),
        )
    )


def audit_rows_for_user(
    *, viewer: User | AnonymousUser, subject: User, start: datetime, end: datetime
) -> QuerySet[AuditEvent]:
    """What ``subject`` read or changed in [start, end); a manager sees only their facilities' records."""
    rows = AuditEvent.objects.filter(actor=subject, at__gte=start, at__lt=end)
    ids = facility_ids_for(viewer)
    if ids is not None:
        rows = rows.filter(_facility_records(ids)) if ids else rows.none()
    return rows.select_related("actor").order_by("-at", "-pk")


def audit_rows_recent(*, viewer: User | AnonymousUser, limit: int) -> list[AuditEvent]:
    """The newest ``limit`` audit rows about the viewer's facilities' records (every row for a
    role that sees every facility), newest first; no count, so it stays one bounded query."""
    rows = AuditEvent.objects.all()
    ids = facility_ids_for(viewer)
    if ids is not None:
        rows = rows.filter(_facility_records(ids)) if ids else rows.none()
    return list(rows.select_related("actor").order_by("-at", "-pk")[:limit])


def audit_subjects_for(viewer: User | AnonymousUser) -> QuerySet[User]:
    """Staff whose activity the viewer may look up: colleagues at their facilities, or everyone."""
    ids = facility_ids_for(viewer)
    users = User.objects.all()
    if ids is not None:
        users = users.filter(facilities__in=ids).distinct() if ids else users.none()
    return users.order_by("username")
