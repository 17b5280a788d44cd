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
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from admissions.leads import lead_source_key_create
from tests.factories import InquiryFactory, LeadSourceFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
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
