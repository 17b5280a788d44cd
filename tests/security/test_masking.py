"""Clinical answers and insurance ids are masked for roles without their view permission."""

from __future__ import annotations

import pytest
from django.test import Client

from admissions.models import InquiryEvent, InsurancePolicy
from crm.roles import Role, role_permission_codenames
from crm.templatetags.masking import MASK
from tests.factories import InquiryFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

MEMBER_ID = "MEMB-4417-XYZ"
CALLER_WORDS = "Marker-words-8812 withdrawal shakes"


def _holders(codename: str) -> set[Role]:
    return {r for r in Role if ("admissions", codename) in role_permission_codenames(r)}


def test_the_permission_table_names_who_sees_what():
    assert _holders("view_clinical_answers") == {Role.COORDINATOR, Role.CLINICAL_REVIEWER, Role.MANAGER}
    assert _holders("view_insurance_ids") == {Role.COORDINATOR, Role.VOB_SPECIALIST, Role.MANAGER}
    assert _holders("export_person") == {Role.MANAGER}


@pytest.fixture
def inquiry(facility):  # type: ignore[no-untyped-def]
    inquiry = InquiryFactory(facility=facility)
    InsurancePolicy.objects.create(inquiry=inquiry, member_id=MEMBER_ID, vob_status="requested")
    InquiryEvent.objects.create(inquiry=inquiry, kind="touch", body=CALLER_WORDS)
    return inquiry


def _page(user, url):  # type: ignore[no-untyped-def]
    client = Client()
    login_verified(client, user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_vob_sees_insurance_ids_but_not_the_callers_words(inquiry, vob_specialist):  # type: ignore[no-untyped-def]
    page = _page(vob_specialist, f"/inquiries/{inquiry.pk}/")
    assert MEMBER_ID in page
    assert CALLER_WORDS not in page
    assert MASK in page
    assert MEMBER_ID in _page(vob_specialist, "/vob/")


def test_clinician_sees_the_callers_words_but_not_insurance_ids(inquiry, clinician):  # type: ignore[no-untyped-def]
    page = _page(clinician, f"/inquiries/{inquiry.pk}/")
    assert CALLER_WORDS in page
    assert MEMBER_ID not in page
    assert MASK in page


def test_coordinator_sees_both_and_the_insurance_form(inquiry, coordinator):  # type: ignore[no-untyped-def]
    page = _page(coordinator, f"/inquiries/{inquiry.pk}/")
    assert CALLER_WORDS in page
    assert MEMBER_ID in page
    assert 'id="action-insurance"' in page


def test_mask_filter():
    from crm.templatetags.masking import mask

    assert mask("x", True) == "x"
    assert mask("x", False) == MASK
    assert mask("", False) == ""
