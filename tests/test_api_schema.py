"""The OpenAPI schema validates, the docs render, and the API keeps to its schema (schemathesis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from admissions.api.keys import lead_source_key_create
from tests.factories import InquiryFactory, LeadSourceFactory

# The responses keep to the schema, and the API refuses what the schema forbids (a number for a
# string, a state or postal code outside its pattern, a date outside its years).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def test_schema_is_valid_openapi_with_examples():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    validate_schema(schema)  # raises on an invalid OpenAPI document
    assert {
        "/api/v1/leads/",
        "/api/v1/leads/{lead_id}/",
        "/api/v1/sources/{source_ref}/stats/",
    } <= set(schema["paths"])
    post = schema["paths"]["/api/v1/leads/"]["post"]
    assert sorted(post["responses"]) == ["200", "201", "400", "401", "403", "409", "413", "415", "422", "429"]
    assert sorted(post["requestBody"]["content"]["application/json"]["examples"]) == [
        "AWebFormLead",
        "TheLeastALeadNeeds",
    ]
    assert schema["components"]["securitySchemes"]["leadSourceKey"]["scheme"] == "bearer"


def test_schema_and_docs_are_served(db):
    schema = Client().get("/api/schema/")
    docs = Client().get("/api/docs/")

    assert schema.status_code == 200
    assert b"openapi: 3.0.3" in schema.content
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"/api/schema/" in docs.content


# The real WSGI application. The schema is loaded when the module is collected (no database
# needed); schemathesis's fixture-based loader does not run on pytest 9.2 (it sets
# ``Node._nodeid``, which pytest 9.2 removed).
APPLICATION = WSGIHandler()
schema = schemathesis.openapi.from_wsgi("/api/schema/", APPLICATION)


@pytest.fixture
def same_connection(db) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Keep the WSGI requests on the test's connection and transaction (as Django's Client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(same_connection) -> str:  # type: ignore[no-untyped-def]
    source = LeadSourceFactory(name="Schema Check Source")
    InquiryFactory.create_batch(3, lead_source=source)
    _, token = lead_source_key_create(lead_source=source, rate_limit_per_minute=1_000_000)
    return token


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, bearer):  # type: ignore[no-untyped-def]
    case.call_and_validate(headers={"Authorization": f"Bearer {bearer}"}, checks=CHECKS)


def test_the_schema_states_the_rules_the_api_enforces():
    from admissions.api.serializers import BIRTH_DATE_PATTERN, POSTAL_CODE_PATTERN, STATE_PATTERN

    lead = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]["LeadRequest"]
    fields = lead["properties"]
    assert fields["external_id"]["type"] == "string"
    # blank is allowed too: drf-spectacular adds it as a second choice
    assert fields["postal_code"]["oneOf"][0]["pattern"] == POSTAL_CODE_PATTERN
    assert fields["state"]["oneOf"][0]["pattern"] == STATE_PATTERN
    assert (fields["date_of_birth"]["format"], fields["date_of_birth"]["pattern"]) == (
        "date",
        BIRTH_DATE_PATTERN,
    )
    assert fields["phone"]["maxLength"] == 40
    assert "valid number" in fields["phone"]["description"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("external_id", 12345, "Not a valid string."),
        ("first_name", 7, "Not a valid string."),
        ("state", "Florida", "Use a two-letter US state or territory code."),
        ("postal_code", "3", "Enter a postal code of 3 to 10 letters, digits, spaces or hyphens."),
        (
            "date_of_birth",
            "1990-4-12",
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        ),
        ("date_of_birth", "1899-12-31", "The date of birth is before 1900."),
        ("last_name", "x" * 81, "Ensure this field has no more than 80 characters."),
    ],
)
def test_the_api_refuses_what_the_schema_forbids(bearer, field, value, message):  # type: ignore[no-untyped-def]
    body = {"first_name": "Sam", "email": "sam@example.com", field: value}
    response = Client().post(
        "/api/v1/leads/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {bearer}"
    )
    assert (response.status_code, response.json()) == (400, {"errors": {field: [message]}})


def test_state_and_postal_code_are_taken_in_any_case_and_trimmed(bearer):  # type: ignore[no-untyped-def]
    from admissions.models import Person

    body = {"first_name": "Sam", "email": "sam@example.com", "state": " fl ", "postal_code": "k1a 0b1"}
    response = Client().post(
        "/api/v1/leads/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {bearer}"
    )
    assert response.status_code == 201, response.content
    person = Person.objects.get(email="sam@example.com")
    assert (person.state, person.postal_code) == ("FL", "K1A 0B1")


def test_api_docs_need_sign_in_unless_public(db, settings, coordinator):  # type: ignore[no-untyped-def]
    from tests.signin import login_verified

    settings.API_DOCS_PUBLIC = False
    assert Client().get("/api/schema/").status_code == 403
    docs = Client().get("/api/docs/")
    assert (docs.status_code, docs["Location"]) == (302, "/login/?next=/api/docs/")
    staff = Client()
    login_verified(staff, coordinator)
    assert staff.get("/api/schema/").status_code == 200
    assert staff.get("/api/docs/").status_code == 200
    settings.API_DOCS_PUBLIC = True
    assert Client().get("/api/schema/").status_code == 200
