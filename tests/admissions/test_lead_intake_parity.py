"""A lead from the API and a coordinator's intake write people, consents and insurance through
the same functions (``admissions.lead_write``): the same details give the same rows."""

from __future__ import annotations

from datetime import date

import pytest

from admissions.casework import IntakeData, intake_create
from admissions.lead_write import lead_ingest
from admissions.leads import LeadConsent, LeadData
from admissions.models import ContactConsent, InsurancePolicy, LeadSource, Person
from tests.factories import LeadSourceFactory, PersonFactory

pytestmark = pytest.mark.django_db

PERSON_FIELDS = ("first_name", "last_name", "phone", "email", "date_of_birth", "state", "postal_code")


def _by_lead(source: LeadSource, *, phone: str, email: str, last_name: str = "Rivera") -> Person:
    result = lead_ingest(
        lead=LeadData(
            first_name="Jordan",
            last_name=last_name,
            phone=phone,
            email=email,
            date_of_birth=date(1990, 4, 12),
            state="fl",
            postal_code="33602",
            insurance_payer="Florida Blue",
            insurance_member_id="XJH123",
            consent=LeadConsent(sms=True, email=True, text="I agree."),
        ),
        source=source,
        actor_label="test",
    )
    return Person.objects.get(pk=result.inquiry.person_id)


def _by_intake(facility, coordinator, *, phone: str, email: str, last_name: str = "Rivera") -> Person:  # type: ignore[no-untyped-def]
    inquiry = intake_create(
        data=IntakeData(
            facility=facility,
            first_name="Jordan",
            last_name=last_name,
            phone=phone,
            email=email,
            date_of_birth=date(1990, 4, 12),
            state="FL",
            postal_code="33602",
            payer_name="Florida Blue",
            member_id="XJH123",
            consent_sms=True,
            consent_email=True,
            consent_text="I agree.",
        ),
        actor=coordinator,
    )
    return Person.objects.get(pk=inquiry.person_id)


def _rows(person: Person) -> tuple[object, ...]:
    consents = sorted(person.consents.values_list("medium", "consent_text", "revoked_at"))
    addresses = sorted(
        (medium, address.replace(person.email, "<email>").replace(str(person.phone), "<phone>"))
        for medium, address in person.consents.values_list("medium", "address")
    )
    policies = list(
        InsurancePolicy.objects.filter(inquiry__person=person).values_list("rank", "payer_name", "member_id")
    )
    # Phone and email differ between the two people (one open inquiry per address): compare the rest.
    fields = tuple(getattr(person, f) for f in PERSON_FIELDS if f not in ("phone", "email"))
    return fields, consents, addresses, policies


def test_a_lead_and_an_intake_with_the_same_details_write_the_same_rows(facility, coordinator):  # type: ignore[no-untyped-def]
    source = LeadSourceFactory(default_facility=facility)

    from_lead = _by_lead(source, phone="+18135550141", email="a@example.com")
    from_intake = _by_intake(facility, coordinator, phone="+18135550142", email="b@example.com")

    assert _rows(from_lead) == _rows(from_intake)
    assert sorted(ContactConsent.objects.values_list("medium", flat=True)) == ["email", "email", "sms", "sms"]


def test_both_fill_in_a_known_persons_blanks_and_overwrite_nothing(facility, coordinator):  # type: ignore[no-untyped-def]
    source = LeadSourceFactory(default_facility=facility)
    known = [
        PersonFactory(
            first_name="Jo", last_name="", phone=f"+1813555015{n}", email="", state="GA", postal_code=""
        )
        for n in range(2)
    ]

    by_lead = _by_lead(source, phone=str(known[0].phone), email="c@example.com", last_name="Rivera")
    by_intake = _by_intake(facility, coordinator, phone=str(known[1].phone), email="d@example.com")

    assert [by_lead.pk, by_intake.pk] == [p.pk for p in known]  # the known people, not new ones
    for person, email in ((by_lead, "c@example.com"), (by_intake, "d@example.com")):
        assert (person.first_name, person.last_name, person.email, person.state, person.postal_code) == (
            "Jo",  # never overwritten
            "Rivera",  # blank: filled
            email,
            "GA",
            "33602",
        )
    assert Person.objects.count() == 2
