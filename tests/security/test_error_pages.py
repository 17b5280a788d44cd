"""Error answers: JSON on the API, pages elsewhere; an outage is a 503 with Retry-After."""

from __future__ import annotations

import json

import pytest
import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.test import Client, RequestFactory, override_settings

from crm.outage import is_outage
from crm.views import server_error

pytestmark = pytest.mark.django_db


def _handled(path: str, exc: Exception):  # type: ignore[no-untyped-def]
    """``handler500`` as Django calls it: while the exception is being handled."""
    request = RequestFactory().get(path)
    try:
        raise exc
    except Exception:  # noqa: BLE001
        return server_error(request)


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("connection refused"),
        InterfaceError("connection already closed"),
        redis.exceptions.ConnectionError("Connection refused"),
    ],
    ids=["database down", "connection closed", "redis down"],
)
@override_settings(OUTAGE_RETRY_AFTER_SECONDS=12)
def test_an_outage_is_a_503_with_retry_after(exc):
    api = _handled("/api/v1/leads/", exc)
    page = _handled("/inquiries/4/", exc)

    assert (api.status_code, api["Retry-After"], api["Content-Type"]) == (503, "12", "application/json")
    assert json.loads(api.content) == {
        "detail": "The service is briefly unavailable; retry after the number of seconds in Retry-After.",
        "code": "service_unavailable",
    }
    assert (page.status_code, page["Retry-After"]) == (503, "12")
    assert page["Content-Type"].startswith("text/html")
    body = page.content.decode()
    assert "Briefly unavailable" in body
    assert "Try again in 12 seconds" in body
    assert 'href="/static/crm/app.css"' in body


def test_an_error_raised_from_an_outage_counts_as_one():
    outer = RuntimeError("while saving")
    outer.__cause__ = OperationalError("server closed the connection unexpectedly")
    assert is_outage(outer)
    assert not is_outage(ValueError("bad input"))


def test_other_errors_stay_500_in_the_shape_of_their_side():
    api = _handled("/api/v1/leads/", ValueError("bug"))
    page = _handled("/inquiries/4/", ValueError("bug"))

    assert (api.status_code, json.loads(api.content)) == (
        500,
        {"detail": "Server error.", "code": "server_error"},
    )
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


def test_unknown_api_paths_are_json_404s_and_pages_html():
    api = Client().get("/api/v1/nothing-here/")
    page = Client().get("/nothing-here/")

    assert (api.status_code, api.json()) == (404, {"detail": "Not found.", "code": "not_found"})
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    assert Client().get("/api/docs/nothing/")["Content-Type"].startswith("text/html")
