"""Fixtures of the Part 2 consent, disclosure and audit page tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from admissions.models import Inquiry, ReferralPartner
from crm.models import User
from crm.roles import Role
from privacy.models import (
    DEFAULT_RIGHT_TO_REVOKE,
    Information,
    Part2Consent,
    Purpose,
    RecipientType,
    SignatureMethod,
)
from tests.factories import InquiryFactory, PersonFactory, ReferralPartnerFactory, UserFactory
from tests.signin import login_verified


def client_for(user: User) -> Client:
    client = Client()
    login_verified(client, user)
    return client


@pytest.fixture
def inquiry(facility, coordinator) -> Inquiry:  # type: ignore[no-untyped-def]
    person = PersonFactory(first_name="Riley", last_name="Marsh", date_of_birth=dt.date(1990, 4, 2))
    return InquiryFactory(person=person, facility=facility, assigned_to=coordinator)


@pytest.fixture
def other_inquiry(other_facility) -> Inquiry:  # type: ignore[no-untyped-def]
    return InquiryFactory(facility=other_facility)


@pytest.fixture
def partner() -> ReferralPartner:
    return ReferralPartnerFactory(organisation="Bayview Hospital", kind=ReferralPartner.Kind.HOSPITAL)


@pytest.fixture
def court() -> ReferralPartner:
    return ReferralPartnerFactory(organisation="County Drug Court", kind=ReferralPartner.Kind.LEGAL)


@pytest.fixture
def vob_client(vob_specialist) -> Client:  # type: ignore[no-untyped-def]
    return client_for(vob_specialist)


@pytest.fixture
def clinician_client(clinician) -> Client:  # type: ignore[no-untyped-def]
    return client_for(clinician)


@pytest.fixture
def administrator_client(administrator) -> Client:  # type: ignore[no-untyped-def]
    return client_for(administrator)


@pytest.fixture
def other_manager(other_facility) -> User:  # type: ignore[no-untyped-def]
    return UserFactory(username="manager-nc", role=Role.MANAGER, facilities=[other_facility])


def make_consent(inquiry: Inquiry, captured_by: User, **values: Any) -> Part2Consent:
    """A valid consent (VOB company "Apex Benefits", benefits purpose) unless ``values`` say otherwise."""
    fields: dict[str, Any] = {
        "person_id": inquiry.person_id,
        "inquiry": inquiry,
        "discloser_id": inquiry.facility_id,
        "information": [Information.DEMOGRAPHICS, Information.INSURANCE],
        "recipient_type": RecipientType.VOB_COMPANY,
        "recipient_name": "Apex Benefits",
        "purpose": Purpose.BENEFITS,
        "right_to_revoke": DEFAULT_RIGHT_TO_REVOKE,
        "expires_on": timezone.localdate() + dt.timedelta(days=90),
        "signature_method": SignatureMethod.E_SIGNATURE,
        "signer_name": "Riley Marsh",
        "signed_on": timezone.localdate(),
        "captured_by": captured_by,
    }
    fields.update(values)
    return Part2Consent.objects.create(**fields)
