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


# --- every page, every role: the one definition (crm.masking) holds everywhere ------------------


def test_no_page_or_api_answer_shows_a_role_a_category_it_may_not_see(facility):
    """Every page and API answer that shows an inquiry, read by every role, with marker values
    planted in every category: a marker of a category the role lacks is a failure."""
    from crm.masking import Category, sees_for
    from tests.security.planted import ROLES, build, client_for, shown

    world = build(facility)
    leaks = []
    for role in ROLES:
        sees = sees_for(world.users[role])
        hidden = [category for category in Category if category not in sees]
        for what, url in world.urls:
            body = client_for(world, role, url).get(url).content.decode("utf-8", "replace")
            for category in hidden:
                if found := shown(body, category, url):
                    leaks.append(f"{role} sees {category} on {url} ({what}): {found}")
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("role", ["coordinator", "clinician", "vob", "manager"])
def test_the_inquiry_page_shows_each_role_what_the_definition_gives_it(facility, role):
    from crm.masking import Category, sees_for
    from tests.security.planted import MARKERS, build, client_for

    world = build(facility)
    url = f"/inquiries/{world.inquiry.pk}/"
    body = client_for(world, role, url).get(url).content.decode()
    sees = sees_for(world.users[role])
    # the header's name, the contact line, the caller's words and the flag reasons, the member id
    probes = {
        Category.NAME: "Quillonaire",
        Category.CONTACT: "zephyr.marker@example.org",
        Category.CLINICAL: "baclofen 77 mg",
        Category.INSURANCE_IDS: "MEMBMARK4417",
    }
    assert {c: probes[c] in body for c in Category} == {c: c in sees for c in Category}
    assert all(marker in MARKERS[c] for c, marker in probes.items())
    assert 'id="red-flag"' in body  # the banner itself shows to every role


def test_an_export_masks_what_its_author_may_not_see(facility):
    """The person export applies the same definition (only managers export, and see everything;
    a user given the export permission alone gets every category masked)."""
    from django.contrib.auth.models import Permission

    from admissions.export import person_export
    from crm.masking import MASK
    from tests.factories import UserFactory
    from tests.security.planted import build

    world = build(facility)
    full = person_export(person=world.person, actor=world.users["manager"])
    assert full["person"]["first_name"] == "Quillonaire"
    exporter = UserFactory(username="exporter", facilities=[facility])
    exporter.user_permissions.add(
        Permission.objects.get(codename="export_person"), Permission.objects.get(codename="view_inquiry")
    )
    masked = person_export(person=world.person, actor=exporter)
    assert masked["person"]["first_name"] == MASK
    assert masked["person"]["phone"] == MASK
    assert masked["inquiries"][0]["message"] == MASK
    assert {row["member_id"] for row in masked["related"]["admissions.InsurancePolicy"]} == {MASK}
    assert {row["answers"] for row in masked["related"]["admissions.Screening"]} == {MASK}
    assert masked["inquiries"][0]["stage"] == world.inquiry.stage  # not a masked category
