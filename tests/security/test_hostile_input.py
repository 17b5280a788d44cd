"""Hostile characters in every string position of every API route: a 4xx in JSON, never a 500.

Routes are the operations of the OpenAPI schema (a new operation without a base request here
fails the test). Each starts from a valid request; then every string in it (path parameters,
query parameters, the Idempotency-Key, every string leaf of the JSON body, and every object's
keys) is replaced by each hostile value in turn: NUL, lone surrogates (JSON escapes them, so
the server decodes them to unencodable text), and a path segment that is not UTF-8. The answer
must not be a server error, must be JSON the client can decode, and the audit row of the
request must have been written (no audit write fails on the text either). A route whose
credential is a signature of the body (the call-tracking webhook) gets each body signed, so the
hostile text reaches the code past the signature check.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from admissions.api.keys import lead_source_key_create
from admissions.api.views import LEAD_EXAMPLE
from admissions.calls.models import CallTrackingSource
from admissions.calls.services import call_tracking_source_create
from admissions.screening.api import SCREENING_EXAMPLE_REQUEST
from admissions.screening.services import screening_save
from crm.models import AuditEvent
from tests.calls.support import SECRET, payload, signed_headers
from tests.factories import InquiryFactory, LeadSourceFactory, ProgramFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

HOSTILE = {"nul": "a\x00b", "high surrogate": "\ud800", "low surrogate": "x\udfffy"}
# A path segment that no decoder turns into text: a UTF-8 encoded surrogate, and a stray byte.
HOSTILE_PATH = {"nul": "%00", "encoded surrogate": "%ED%A0%80", "stray byte": "%FF"}


def _operations() -> list[tuple[str, str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method.upper(), spec["operationId"])
        for path, methods in schema["paths"].items()
        for method, spec in methods.items()
    ]


def _strings(value: Any, trail: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every place a string can go: ("leaf", path) for string values, ("key", path) for object keys."""
    if isinstance(value, dict):
        yield trail, "key"
        for key, inner in value.items():
            yield from _strings(inner, (*trail, key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield from _strings(inner, (*trail, n))
    elif isinstance(value, str):
        yield trail, "leaf"


def _replaced(body: Any, trail: tuple[Any, ...], kind: str, hostile: str) -> Any:
    body = copy.deepcopy(body)
    if kind == "key":
        target = body
        for step in trail:
            target = target[step]
        target[hostile] = "x"
        return body
    target = body
    for step in trail[:-1]:
        target = target[step]
    target[trail[-1]] = hostile
    return body


@pytest.fixture
def world(facility, coordinator, clinician):  # type: ignore[no-untyped-def]
    source = LeadSourceFactory(name="Hostile Input Source", default_facility=facility)
    _, token = lead_source_key_create(lead_source=source, rate_limit_per_minute=1_000_000)
    lead = InquiryFactory(facility=facility, lead_source=source)
    screened = InquiryFactory(facility=facility, stage="contacted")
    saved = screening_save(
        inquiry_id=screened.pk, answers=SCREENING_EXAMPLE_REQUEST["answers"], actor=coordinator
    )
    level = saved.screening.provisional_level
    program = ProgramFactory(facility=facility, level_of_care=level, setting=level.setting)
    calls = call_tracking_source_create(
        lead_source=LeadSourceFactory(name="Hostile Call Source", default_facility=facility),
        provider=CallTrackingSource.Provider.CALLRAIL,
        secret=SECRET,
        label="CallRail",
    )
    staff = {}
    for name, user in (("coordinator", coordinator), ("clinician", clinician)):
        staff[name] = Client()
        login_verified(staff[name], user)
    return {
        "key": Client(HTTP_AUTHORIZATION=f"Bearer {token}"),
        "staff": staff,
        "source": source,
        "lead": lead,
        "screened": screened,
        "program": program,
        "level": level,
        "calls": calls,
    }


def _screening_body() -> dict[str, Any]:
    """The documented example, with the free-text answers filled in too."""
    body = copy.deepcopy(SCREENING_EXAMPLE_REQUEST)
    body["answers"]["medical"]["medications"] = "Baclofen 20 mg four times a day"
    body["answers"]["psychiatric"]["diagnoses"] = "Anxiety"
    return body


def _base(operation: str, w: dict[str, Any]) -> tuple[Client, dict[str, str], dict[str, str], Any]:
    """(client, path parameters, query parameters, JSON body) of a valid request; a client with a
    ``sign`` attribute has the headers it returns for a body added to each request."""
    screened = {"inquiry_id": str(w["screened"].pk)}
    bases = {
        "lead_create": (w["key"], {}, {}, LEAD_EXAMPLE),
        "lead_status": (w["key"], {"lead_id": str(w["lead"].pk)}, {}, None),
        "source_stats": (
            w["key"],
            {"source_ref": str(w["source"].pk)},
            {"from": "2026-01-01", "to": "2026-01-31"},
            None,
        ),
        "inquiry_screening_read": (w["staff"]["coordinator"], screened, {}, None),
        "inquiry_screening_save": (w["staff"]["coordinator"], screened, {}, _screening_body()),
        "inquiry_screening_signoff": (
            w["staff"]["clinician"],
            screened,
            {},
            {"level": w["level"].pk, "note": "Agree with the provisional level."},
        ),
        "inquiry_screening_match_override": (
            w["staff"]["coordinator"],
            screened,
            {},
            {"program": w["program"].pk, "reason": "Closer to home."},
        ),
        "call_webhook": (
            _signing_client(w["calls"]),
            {"ref": w["calls"].ref, "event": "end"},
            {},
            payload("callrail_post_call"),
        ),
    }
    return bases[operation]


def _signing_client(source: CallTrackingSource) -> Client:
    client = Client()
    client.sign = lambda body: signed_headers(source, body)  # type: ignore[attr-defined]
    return client


def _variants(
    path: str, method: str, params: dict[str, str], query: dict[str, str], body: Any
) -> Iterator[tuple[str, str, dict[str, str], Any, dict[str, str]]]:
    """(what, url, query, body, headers) for every hostile value in every string position."""
    headers = {"HTTP_IDEMPOTENCY_KEY": "hostile-base"} if method == "POST" else {}

    def url(values: dict[str, str]) -> str:
        out = path
        for name, value in values.items():
            out = out.replace("{" + name + "}", value)
        return out

    safe = {k: quote(v, safe="") for k, v in params.items()}
    for name in params:
        for label, raw in HOSTILE_PATH.items():
            yield f"path {name}: {label}", url({**safe, name: raw}), query, body, headers
    for name in query:
        for label, hostile in HOSTILE.items():
            yield f"query {name}: {label}", url(safe), {**query, name: hostile}, body, headers
    if method == "POST":
        for label, hostile in HOSTILE.items():
            yield f"Idempotency-Key: {label}", url(safe), query, body, {"HTTP_IDEMPOTENCY_KEY": hostile}
    if body is not None:
        for trail, kind in _strings(body):
            for label, hostile in HOSTILE.items():
                where = ".".join(str(step) for step in trail) or "(body)"
                yield (
                    f"{kind} {where}: {label}",
                    url(safe),
                    query,
                    _replaced(body, trail, kind, hostile),
                    headers,
                )


def _send(client: Client, method: str, url: str, query: dict[str, str], body: Any, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    if query:
        url += "?" + "&".join(
            f"{quote(k)}={quote(v, safe='', errors='surrogatepass')}" for k, v in query.items()
        )
    if method == "GET":
        return client.get(url, **headers)
    # json.dumps escapes the surrogates and NUL: the server's JSON parser turns them back into text
    data = json.dumps(body)
    if hasattr(client, "sign"):
        headers = {**headers, **client.sign(data.encode())}
    return client.generic(method, url, data, content_type="application/json", **headers)


@pytest.mark.parametrize(("path", "method", "operation"), _operations())
def test_hostile_text_in_every_string_position_is_a_client_error(world, path, method, operation):
    client, params, query, body = _base(operation, world)
    baseline = _send(client, method, path.format(**params), query, body, {"HTTP_IDEMPOTENCY_KEY": "valid-1"})
    assert baseline.status_code < 300, (operation, baseline.status_code, baseline.content[:300])

    failures = []
    for n, (what, url, hostile_query, hostile_body, headers) in enumerate(
        _variants(path, method, params, query, body)
    ):
        if "HTTP_IDEMPOTENCY_KEY" in headers and headers["HTTP_IDEMPOTENCY_KEY"] == "hostile-base":
            headers = {"HTTP_IDEMPOTENCY_KEY": f"hostile-{n}"}
        audit_rows = AuditEvent.objects.count()
        try:
            response = _send(client, method, url, hostile_query, hostile_body, headers)
        except Exception as exc:  # noqa: BLE001 - an exception out of the app is a 500 to the client
            failures.append(f"{what}: raised {type(exc).__name__}: {exc!s:.120}")
            continue
        if response.status_code >= 500:
            failures.append(f"{what}: {response.status_code}")
            continue
        if response.status_code >= 400:
            if not response["Content-Type"].startswith("application/json"):
                failures.append(f"{what}: {response.status_code} as {response['Content-Type']}")
                continue
            json.loads(response.content.decode("utf-8"))  # strict UTF-8: no surrogate escaped through
        if operation.startswith("lead_") or operation == "source_stats":
            if AuditEvent.objects.count() <= audit_rows and response.status_code not in (404,):
                failures.append(f"{what}: {response.status_code} without its audit row")
    assert failures == []
