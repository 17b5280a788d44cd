"""No hint across facilities: the intake's duplicate check and the intake itself say nothing about
another facility's inquiries; a possible duplicate there is recorded for a manager of both."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admissions.api.keys import lead_source_key_create
from admissions.casework import HIDDEN_MATCH
from admissions.models import CrossFacilityDuplicate, Inquiry, Touch
from crm.models import AuditEvent
from crm.roles import Role
from tests.factories import InquiryFactory, LeadSourceFactory, PersonFactory, UserFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

CHECK = reverse("admissions:intake-duplicates")
INTAKE = reverse("admissions:intake")
DUPLICATES = reverse("admissions:cross-duplicates")


@pytest.fixture
def elsewhere(other_facility):  # type: ignore[no-untyped-def]
    person = PersonFactory(first_name="Secretia", phone="+18135550161", email="secretia@example.org")
    return InquiryFactory(facility=other_facility, person=person)


def _intake(facility, **values):  # type: ignore[no-untyped-def]
    data = {
        "facility": facility.pk,
        "first_name": "Dana",
        "last_name": "Caller",
        "phone": "",
        "email": "",
        "caller_relationship": "self",
    }
    data.update(values)
    return data


def test_the_duplicate_check_says_nothing_of_another_facility(coordinator_client, coordinator, elsewhere):
    for query in ({"phone": "813-555-0161"}, {"email": "Secretia@example.org"}):
        response = coordinator_client.get(CHECK, query, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert response.content.decode().strip() == ""
    rows = AuditEvent.objects.filter(actor=coordinator, action="list")
    assert [(r.fields[0], r.listed) for r in rows.order_by("pk")] == [
        ("list:duplicate check", []),
        ("list:duplicate check", []),
    ]


def test_the_duplicate_check_shows_and_audits_what_the_user_may_see(
    coordinator_client, coordinator, facility
):
    mine = InquiryFactory(facility=facility, person=PersonFactory(first_name="Visibla", phone="+18135550162"))

    body = coordinator_client.get(CHECK, {"phone": "(813) 555-0162"}).content.decode()

    assert f"#{mine.pk} Visibla" in body
    row = AuditEvent.objects.get(actor=coordinator, action="list")
    assert (row.object_type, row.listed, row.fields) == (
        "admissions.inquiry",
        [mine.pk],
        ["list:duplicate check", "by phone", "person.name", "stage"],
    )
    assert "5550162" not in str(row.fields)  # the number looked up is not recorded


def test_the_duplicate_check_is_throttled(coordinator_client, coordinator):
    statuses = [
        coordinator_client.get(CHECK, {"phone": f"813-555-{n:04d}"}).status_code for n in range(100, 140)
    ]
    assert statuses == [200] * 30 + [429] * 10
    throttled = coordinator_client.get(CHECK, {"phone": "813-555-0199"})
    assert throttled["Retry-After"] == "60"
    assert "Duplicate check paused" in throttled.content.decode()
    assert AuditEvent.objects.filter(actor=coordinator, action="list").count() == 30


def test_an_intake_matching_another_facility_is_refused_without_a_hint_and_recorded(
    coordinator_client, coordinator, facility, other_facility, elsewhere
):
    inquiries = Inquiry.objects.count()

    response = coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0161"))

    assert response.status_code == 200
    body = response.content.decode()
    assert HIDDEN_MATCH.split(":")[0] in body
    for hint in (f"#{elsewhere.pk}", other_facility.name, "Secretia"):
        assert hint not in body
    assert Inquiry.objects.count() == inquiries
    duplicate = CrossFacilityDuplicate.objects.get()
    assert (duplicate.inquiry, duplicate.facility, duplicate.taken_by, duplicate.matched_on) == (
        elsewhere,
        facility,
        coordinator,
        "phone",
    )
    assert AuditEvent.objects.filter(
        actor=coordinator, action="create", object_type="admissions.crossfacilityduplicate"
    ).exists()


def test_an_intake_whose_person_is_open_elsewhere_is_refused_without_a_hint(
    coordinator_client, facility, elsewhere
):
    """The new phone is unknown, but the email is the person's whose inquiry is open elsewhere."""
    elsewhere.email = ""
    elsewhere.save(update_fields=["email"])
    response = coordinator_client.post(
        INTAKE, _intake(facility, phone="(813) 555-0170", email="secretia@example.org")
    )
    body = response.content.decode()
    assert HIDDEN_MATCH.split(":")[0] in body
    assert f"#{elsewhere.pk}" not in body
    assert CrossFacilityDuplicate.objects.get().matched_on == "email"


def test_an_intake_matching_the_users_own_facility_names_the_inquiry(coordinator_client, facility):
    mine = InquiryFactory(facility=facility, person=PersonFactory(phone="+18135550163"))
    body = coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0163")).content.decode()
    assert f"Inquiry #{mine.pk} is already open" in body
    assert not CrossFacilityDuplicate.objects.exists()


def test_a_manager_of_both_facilities_settles_it_and_nobody_else_sees_it(
    coordinator_client, coordinator, manager_client, facility, other_facility, elsewhere
):
    coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0161"))
    both = UserFactory(username="mgr-both", role=Role.MANAGER, facilities=[facility, other_facility])
    client = Client()
    login_verified(client, both)
    duplicate = CrossFacilityDuplicate.objects.get()

    page = client.get(DUPLICATES).content.decode()
    assert f"#{elsewhere.pk}" in page
    assert "Secretia" in page
    assert 'href="/duplicates/"' in page  # the navigation shows the page to such a manager
    for other in (coordinator_client, manager_client):  # one facility each: nothing shown
        body = other.get(DUPLICATES).content.decode()
        assert f"#{elsewhere.pk}" not in body
        assert "Nothing to settle." in body
        assert 'href="/duplicates/"' not in body
        assert other.post(DUPLICATES, {"duplicate": duplicate.pk, "resolution": "handled"}).status_code == 404

    response = client.post(DUPLICATES, {"duplicate": duplicate.pk, "resolution": "transferred"})

    assert response.status_code == 302
    duplicate.refresh_from_db()
    assert (duplicate.resolution, duplicate.resolved_by) == ("transferred", both)
    assert "Nothing to settle." in client.get(DUPLICATES).content.decode()
    assert AuditEvent.objects.filter(actor=both, action="update", object_id=str(duplicate.pk)).exists()
    assert AuditEvent.objects.filter(actor=both, action="list", listed=[elsewhere.pk]).exists()


# --- a lead of the API that matches an open inquiry at another facility ------------------------


LEADS = "/api/v1/leads/"


@pytest.fixture
def web_source(facility):  # type: ignore[no-untyped-def]
    return LeadSourceFactory(name="Tampa Web Forms", default_facility=facility)


@pytest.fixture
def web_token(web_source):  # type: ignore[no-untyped-def]
    return lead_source_key_create(lead_source=web_source, label="tests", rate_limit_per_minute=10_000)[1]


def _lead(token, **values):  # type: ignore[no-untyped-def]
    body = {"first_name": "Dana", "message": "Please call back.", **values}
    return Client().post(LEADS, data=json.dumps(body), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip


def test_a_lead_joining_another_facilitys_inquiry_is_recorded_for_a_manager_of_both(
    web_token, web_source, facility, other_facility, elsewhere
):
    inquiries, touches = Inquiry.objects.count(), Touch.objects.filter(inquiry=elsewhere).count()

    response = _lead(web_token, phone="(813) 555-0161")

    assert (response.status_code, response.json()) == (200, {"id": elsewhere.pk, "status": "merged"})
    assert Inquiry.objects.count() == inquiries  # one open inquiry per person: the lead joined it
    assert Touch.objects.filter(inquiry=elsewhere).count() == touches + 1
    duplicate = CrossFacilityDuplicate.objects.get()
    assert (duplicate.inquiry, duplicate.facility, duplicate.taken_by, duplicate.lead_source) == (
        elsewhere,
        facility,
        None,
        web_source,
    )
    assert (duplicate.matched_on, duplicate.resolved_at) == ("phone", None)
    audit = AuditEvent.objects.get(object_type="admissions.crossfacilityduplicate")
    assert (audit.action, audit.object_id, audit.actor, audit.fields) == (
        "create",
        str(duplicate.pk),
        None,
        ["matched_on"],
    )
    assert audit.actor_label.endswith("/ Tampa Web Forms")

    # The same source sending the same person again: still merged, still one row to settle.
    assert _lead(web_token, email="secretia@example.org").status_code == 200
    assert CrossFacilityDuplicate.objects.count() == 1


def test_a_lead_joining_another_facilitys_inquiry_cannot_read_it(web_token, elsewhere):
    assert _lead(web_token, phone="(813) 555-0161").json()["status"] == "merged"

    response = Client().get(f"{LEADS}{elsewhere.pk}/", HTTP_AUTHORIZATION=f"Bearer {web_token}")

    assert response.status_code == 404
    assert "Secretia" not in response.content.decode()


def test_a_lead_joining_its_own_facilitys_inquiry_records_nothing(web_token, facility):
    mine = InquiryFactory(facility=facility, person=PersonFactory(phone="+18135550163"))
    assert _lead(web_token, phone="(813) 555-0163").json() == {"id": mine.pk, "status": "merged"}
    assert not CrossFacilityDuplicate.objects.exists()


def test_a_lead_matched_by_email_or_its_lead_id_says_so(web_token, web_source, elsewhere, other_facility):
    _lead(web_token, email="Secretia@Example.org")
    assert CrossFacilityDuplicate.objects.get().matched_on == "email"
    CrossFacilityDuplicate.objects.all().delete()
    InquiryFactory(
        facility=other_facility, lead_source=web_source, external_id="form-7", person=PersonFactory(phone="")
    )
    _lead(web_token, email="someone.else@example.org", external_id="form-7")
    assert CrossFacilityDuplicate.objects.get().matched_on == "external_id"


def test_the_manager_of_both_facilities_sees_the_lead_source(web_token, facility, other_facility, elsewhere):
    _lead(web_token, phone="(813) 555-0161")
    both = UserFactory(username="mgr-both", role=Role.MANAGER, facilities=[facility, other_facility])
    client = Client()
    login_verified(client, both)

    page = client.get(DUPLICATES).content.decode()

    assert f"#{elsewhere.pk}" in page
    assert "Lead API: Tampa Web Forms" in page
    duplicate = CrossFacilityDuplicate.objects.get()
    assert client.post(DUPLICATES, {"duplicate": duplicate.pk, "resolution": "handled"}).status_code == 302
    duplicate.refresh_from_db()
    assert (duplicate.resolution, duplicate.resolved_by) == ("handled", both)


def test_a_lead_joining_another_facility_costs_three_statements_more(
    web_token, elsewhere, django_assert_max_num_queries
):
    # The merge's 14 (tests/admissions/test_lead_api.py), then: is one unresolved already, the
    # possible duplicate, its audit row.
    with django_assert_max_num_queries(17):
        assert _lead(web_token, phone="(813) 555-0161").status_code == 200


# --- intake paused after too many refusals at a hidden match -----------------------------------


def _refused_elsewhere(client, facility, times):  # type: ignore[no-untyped-def]
    for _ in range(times):
        body = client.post(INTAKE, _intake(facility, phone="(813) 555-0161")).content.decode()
        assert HIDDEN_MATCH.split(":")[0] in body


def _paused(body: str) -> bool:
    return "Intake is paused for you pending a manager&#x27;s review of possible duplicates." in body


def test_intake_pauses_at_the_limit_for_every_attempt_and_audits_each(
    coordinator_client, coordinator, facility, elsewhere
):
    _refused_elsewhere(coordinator_client, facility, 4)
    # Below the limit an intake with no match opens its inquiry.
    assert coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0180")).status_code == 302
    _refused_elsewhere(coordinator_client, facility, 1)  # the fifth: now at the limit
    inquiries = Inquiry.objects.count()

    with_match = coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0161"))
    without_match = coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0181"))

    for response in (with_match, without_match):
        assert response.status_code == 200
        body = response.content.decode()
        assert _paused(body)
        assert '<div class="error" role="alert">' in body  # form-level, not on a field
        assert HIDDEN_MATCH.split(":")[0] not in body
    assert Inquiry.objects.count() == inquiries
    assert CrossFacilityDuplicate.objects.filter(taken_by=coordinator).count() == 5
    rows = AuditEvent.objects.filter(actor=coordinator, action="list", fields__0="list:intake paused")
    assert [(r.object_type, r.listed) for r in rows] == [("admissions.inquiry", [])] * 2


def test_the_limit_is_a_setting(coordinator_client, facility, elsewhere, settings):
    settings.INTAKE_HIDDEN_MATCH_LIMIT = 2
    _refused_elsewhere(coordinator_client, facility, 2)
    assert _paused(
        coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0181")).content.decode()
    )


def test_refusals_older_than_a_day_do_not_count(coordinator_client, coordinator, facility, elsewhere):
    _refused_elsewhere(coordinator_client, facility, 4)
    CrossFacilityDuplicate.objects.update(found_at=timezone.now() - timedelta(hours=25))
    _refused_elsewhere(coordinator_client, facility, 1)
    assert coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0181")).status_code == 302


def test_the_duplicate_check_follows_the_pause(coordinator_client, coordinator, facility, elsewhere):
    mine = InquiryFactory(facility=facility, person=PersonFactory(first_name="Visibla", phone="+18135550162"))
    assert f"#{mine.pk}" in coordinator_client.get(CHECK, {"phone": "813-555-0162"}).content.decode()
    _refused_elsewhere(coordinator_client, facility, 5)

    response = coordinator_client.get(CHECK, {"phone": "813-555-0162"})

    assert response.status_code == 200
    body = response.content.decode()
    assert "Intake paused." in body
    assert f"#{mine.pk}" not in body
    assert "Visibla" not in body
    row = AuditEvent.objects.filter(actor=coordinator, action="list").order_by("pk").last()
    assert (row.fields, row.listed) == (["list:duplicate check paused"], [])


def test_settling_all_of_a_users_duplicates_lifts_the_pause(
    coordinator_client, coordinator, facility, other_facility, elsewhere
):
    _refused_elsewhere(coordinator_client, facility, 5)
    both = UserFactory(username="mgr-both", role=Role.MANAGER, facilities=[facility, other_facility])
    manager = Client()
    login_verified(manager, both)
    name = coordinator.get_full_name() or coordinator.username

    page = manager.get(DUPLICATES).content.decode()
    assert f"<strong>Intake paused</strong> for {name}:" in page

    duplicates = list(CrossFacilityDuplicate.objects.order_by("pk"))
    for duplicate in duplicates[:-1]:
        manager.post(DUPLICATES, {"duplicate": duplicate.pk, "resolution": "handled"})
    assert _paused(
        coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0181")).content.decode()
    )
    assert "Intake paused" in manager.get(DUPLICATES).content.decode()

    manager.post(DUPLICATES, {"duplicate": duplicates[-1].pk, "resolution": "handled"})

    assert "Intake paused" not in manager.get(DUPLICATES).content.decode()
    response = coordinator_client.post(INTAKE, _intake(facility, phone="(813) 555-0181"))
    assert response.status_code == 302
    assert Inquiry.objects.filter(phone="+18135550181", facility=facility).exists()
