"""The screening API: bodies, errors, the role matrix, facility scoping, audit, query budgets, schema."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import include, path, resolve
from drf_spectacular.generators import SchemaGenerator

from admissions.models import Inquiry
from admissions.pipeline import Stage
from admissions.screening.models import Screening
from admissions.screening.services import screening_save
from crm.models import AuditEvent
from tests.factories import FacilityFactory, LevelRef
from tests.screening.builders import all_clear, screen, use
from tests.screening.conftest import bulk_programs
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

BACLOFEN = screen(use("baclofen", 30, 80, "mg", prescribed=True))


def _url(inquiry_id: int, tail: str = "") -> str:
    return f"/api/v1/inquiries/{inquiry_id}/screening/{tail}"


def _post(client: Client, url: str, body: object):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def _audits(action: str) -> int:
    return AuditEvent.objects.filter(object_type="admissions.screening", action=action).count()


def test_post_saves_and_returns_the_result(catalogue, inquiry, coordinator_client, coordinator):
    response = _post(coordinator_client, _url(inquiry.pk), {"answers": BACLOFEN})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {"complete", "ratings", "provisional_level", "modifiers", "safety_flags", "matches"}
    assert body["complete"] is True
    assert body["provisional_level"]["code"] == "3.7-WM"
    assert body["modifiers"] == ["withdrawal_management"]
    assert [(f["code"], f["route_to"]) for f in body["safety_flags"]] == [
        ("sedative_withdrawal", "clinical_review")
    ]
    assert body["safety_flags"][0]["reason"].startswith(
        "Daily baclofen 80 mg; stopping abruptly can cause seizures"
    )
    assert [r["dimension"] for r in body["ratings"]] == [1, 2, 3, 4, 5, 6]
    assert len(body["matches"]) == len(catalogue.programs)
    top = body["matches"][0]
    assert (top["program_name"], top["level"], top["rank"], top["excluded"]) == (
        "Tampa Medical Detox",
        "3.7-WM",
        1,
        False,
    )
    php = next(m for m in body["matches"] if m["program_name"] == "Tampa PHP")
    assert php["excluded"]
    assert php["exclusion_reasons"] == ["level 2.5 below required 3.7"]
    assert php["reasons"] == []
    assert body["refer_out"] == {"proposed": False, "reason": ""}
    screening = Screening.objects.get(inquiry=inquiry)
    assert body["id"] == screening.pk
    assert screening.saved_by == coordinator
    assert Inquiry.objects.get(pk=inquiry.pk).stage == Stage.CLINICAL_REVIEW
    assert _audits("create") == 1


def test_second_post_updates_and_get_returns_the_latest(catalogue, inquiry, coordinator_client):
    assert (
        _post(
            coordinator_client, _url(inquiry.pk), {"answers": {"emergency": all_clear()["emergency"]}}
        ).status_code
        == 201
    )
    response = _post(coordinator_client, _url(inquiry.pk), {"answers": {"medical": {"pregnant": "no"}}})
    assert response.status_code == 200
    assert response.json()["complete"] is False
    assert "medical.pregnant" not in response.json()["missing_safety_items"]

    read = coordinator_client.get(_url(inquiry.pk))

    assert read.status_code == 200
    assert read.json()["id"] == response.json()["id"]
    assert read.json()["answers"]["medical"] == {"pregnant": "no"}
    assert Screening.objects.count() == 1
    assert _audits("api_read") == 1
    assert _audits("update") == 1


def test_get_without_a_screening_is_404(inquiry, coordinator_client):
    response = coordinator_client.get(_url(inquiry.pk))
    assert response.status_code == 404
    assert _audits("api_read") == 0


@pytest.mark.parametrize(
    ("answers", "errors"),
    [
        (
            {"medical": {"pregnant": "maybe"}},
            {
                "medical.pregnant": [
                    "Choose one of: yes, no, unsure, not_applicable. "
                    'Or "unknown" when they refuse or do not know.'
                ]
            },
        ),
        (
            {"substances": {"alcohol": {"days_used_30": "lots"}}},
            {
                "substances.alcohol.days_used_30": [
                    'Must be a whole number. Or "unknown" when they refuse or do not know.'
                ]
            },
        ),
        ({"substances": {"glue": {}}}, {"substances.glue": ["Unknown substance."]}),
        (
            {"emergency": {"overdose_now": "no"}},
            {
                "emergency.overdose_now": [
                    'Must be true or false. Or "unknown" when they refuse or do not know.'
                ]
            },
        ),
        ({"emergency": ["x"]}, {"emergency": ["Send this section as an object of answers."]}),
        (
            {"substances": {"alcohol": {"last_use": "yesterday"}}},
            {
                "substances.alcohol.last_use": [
                    "Must be a date and time as YYYY-MM-DDTHH:MM (ISO 8601). "
                    'Or "unknown" when they refuse or do not know.'
                ]
            },
        ),
        ({"insurance": {"payer_id": 987654}}, {"insurance.payer_id": ["No payer with id 987654."]}),
    ],
)
def test_bad_answers_are_400_with_field_errors(answers, errors, catalogue, inquiry, coordinator_client):
    response = _post(coordinator_client, _url(inquiry.pk), {"answers": answers})
    assert response.status_code == 400
    assert response.json() == {"answers": errors}
    assert not Screening.objects.exists()


@pytest.mark.parametrize("body", [{"answers": "all fine"}, {}, [], {"answers": None}])
def test_malformed_bodies_are_400(body, inquiry, coordinator_client):
    response = _post(coordinator_client, _url(inquiry.pk), body)
    assert response.status_code == 400
    assert not Screening.objects.exists()


def test_invalid_json_is_400(inquiry, coordinator_client):
    response = coordinator_client.post(_url(inquiry.pk), data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert not Screening.objects.exists()


# --- role matrix and scoping -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["vob_client", "marketing_client", "outsider_client"])
def test_roles_without_clinical_access_are_refused(who, request, catalogue, inquiry, coordinator):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    client = request.getfixturevalue(who)
    before = Screening.objects.get().answers

    assert client.get(_url(inquiry.pk)).status_code == 403
    assert _post(client, _url(inquiry.pk), {"answers": {"medical": {"pregnant": "yes"}}}).status_code == 403

    assert Screening.objects.get().answers == before
    assert _audits("api_read") == 0


def test_anonymous_is_refused(inquiry):
    assert Client().get(_url(inquiry.pk)).status_code == 403
    assert _post(Client(), _url(inquiry.pk), {"answers": {}}).status_code == 403


def test_coordinator_of_another_facility_gets_404(catalogue, inquiry, coordinator, other_coordinator_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    assert other_coordinator_client.get(_url(inquiry.pk)).status_code == 404
    response = _post(
        other_coordinator_client, _url(inquiry.pk), {"answers": {"medical": {"pregnant": "yes"}}}
    )
    assert response.status_code == 404
    assert Screening.objects.get().answers["medical"]["pregnant"] == "no"
    assert _audits("api_read") == 0


@pytest.mark.parametrize("who", ["clinician_client", "manager_client"])
def test_clinicians_and_managers_can_read_and_save(who, request, catalogue, inquiry):
    client = request.getfixturevalue(who)
    assert _post(client, _url(inquiry.pk), {"answers": BACLOFEN}).status_code == 201
    assert client.get(_url(inquiry.pk)).status_code == 200


def test_clinician_signs_off_through_the_api(catalogue, inquiry, coordinator, clinician, clinician_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    level = LevelRef.get("3.7-WM")
    response = _post(clinician_client, _url(inquiry.pk, "signoff/"), {"level": level.pk, "note": "Agree."})
    assert response.status_code == 200, response.content
    assert response.json()["signoff"]["final_level"]["code"] == "3.7-WM"
    assert response.json()["signoff"]["signed_by"] == clinician.pk
    assert Screening.objects.get().final_level == level


def test_sign_off_below_the_flag_is_400_and_changes_nothing(
    catalogue, inquiry, coordinator, clinician_client
):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    response = _post(
        clinician_client,
        _url(inquiry.pk, "signoff/"),
        {"level": LevelRef.get("2.5").pk, "note": "Day program."},
    )
    assert response.status_code == 400
    [message] = response.json()["level"]
    assert message.startswith(
        "Level intensity 2.5 is below the minimum 3.7 required by: Daily baclofen 80 mg"
    )
    assert Screening.objects.get().signed_at is None


@pytest.mark.parametrize("who", ["coordinator_client", "manager_client", "vob_client", "marketing_client"])
def test_only_clinical_reviewers_sign_off(who, request, catalogue, inquiry, coordinator):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    client = request.getfixturevalue(who)
    response = _post(client, _url(inquiry.pk, "signoff/"), {"level": LevelRef.get("3.7-WM").pk})
    assert response.status_code == 403
    assert Screening.objects.get().signed_at is None


def test_other_facility_clinician_gets_404_on_sign_off(catalogue, inquiry, coordinator, other_facility):
    from crm.roles import Role
    from tests.factories import UserFactory

    nurse = UserFactory(username="nurse-elsewhere", role=Role.CLINICAL_REVIEWER, facilities=[other_facility])
    client = Client()
    login_verified(client, nurse)
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    response = _post(client, _url(inquiry.pk, "signoff/"), {"level": LevelRef.get("3.7-WM").pk})
    assert response.status_code == 404
    assert Screening.objects.get().signed_at is None


def test_coordinator_overrides_the_match(catalogue, inquiry, coordinator, coordinator_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    program = catalogue.programs["Asheville Detox"]
    response = _post(
        coordinator_client,
        _url(inquiry.pk, "match-override/"),
        {"program": program.pk, "reason": "Family lives in Asheville."},
    )
    assert response.status_code == 200, response.content
    assert response.json()["match_override"]["program"] == program.pk
    assert Screening.objects.get().override_reason == "Family lives in Asheville."


def test_override_without_a_reason_is_400(catalogue, inquiry, coordinator, coordinator_client):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    program = catalogue.programs["Asheville Detox"]
    response = _post(
        coordinator_client, _url(inquiry.pk, "match-override/"), {"program": program.pk, "reason": "x"}
    )
    assert response.status_code == 400
    assert "reason" in response.json()
    assert Screening.objects.get().override_program is None


@pytest.mark.parametrize("who", ["clinician_client", "vob_client", "marketing_client"])
def test_override_is_refused_to_other_roles(who, request, catalogue, inquiry, coordinator):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    client = request.getfixturevalue(who)
    program = catalogue.programs["Asheville Detox"]
    response = _post(
        client, _url(inquiry.pk, "match-override/"), {"program": program.pk, "reason": "Closer to family."}
    )
    assert response.status_code == 403
    assert Screening.objects.get().override_program is None


# --- query budgets ---------------------------------------------------------------------------


def _many_programs(catalogue, count):
    facilities = [FacilityFactory(name=f"Budget site {i}") for i in range(4)]
    bulk_programs(
        count,
        facilities=facilities,
        payers=list(catalogue.payers.values()),
        specialties=list(catalogue.specialties.values()),
    )


@pytest.mark.parametrize("count", [30, 300])
def test_get_query_budget_does_not_grow_with_programs(
    count, catalogue, inquiry, coordinator, coordinator_client, django_assert_max_num_queries
):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    _many_programs(catalogue, count)
    # session read + save (3), user, groups, facilities, inquiry scope, screening, insurance policy,
    # payer name, 3 matching, audit insert
    with django_assert_max_num_queries(15):
        response = coordinator_client.get(_url(inquiry.pk))
    assert response.status_code == 200
    assert len(response.json()["matches"]) == count + len(catalogue.programs)


@pytest.mark.parametrize("count", [30, 300])
def test_post_query_budget_does_not_grow_with_programs(
    count, catalogue, inquiry, coordinator, coordinator_client, django_assert_max_num_queries
):
    screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    _many_programs(catalogue, count)
    with django_assert_max_num_queries(22):
        response = _post(coordinator_client, _url(inquiry.pk), {"answers": {"readiness": {"stage": "ready"}}})
    assert response.status_code == 200
    assert len(response.json()["matches"]) == count + len(catalogue.programs)


# --- OpenAPI ---------------------------------------------------------------------------------


def test_openapi_documents_the_screening_endpoints():
    generator = SchemaGenerator(patterns=[path("api/v1/", include("admissions.screening.urls"))])
    schema = generator.get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/inquiries/{inquiry_id}/screening/"]
    assert operation["post"]["operationId"] == "inquiry_screening_save"
    assert "examples" in operation["post"]["requestBody"]["content"]["application/json"]
    assert set(operation["post"]["responses"]) >= {"200", "201", "400", "403", "404"}
    output = schema["components"]["schemas"]["ScreeningOutput"]["properties"]
    assert {"complete", "ratings", "provisional_level", "modifiers", "safety_flags", "matches"} <= set(output)
    assert "/api/v1/inquiries/{inquiry_id}/screening/signoff/" in schema["paths"]


def test_the_project_urls_route_to_the_screening_api():
    assert resolve("/api/v1/inquiries/5/screening/").view_name == "screening:inquiry-screening"
