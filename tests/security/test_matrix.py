# ruff: noqa: E501  (the expectation table reads best one route per line)
"""Role x endpoint matrix over every route of the URL conf and every operation of the OpenAPI schema.

Routes are found by walking ``get_resolver().url_patterns``; path parameters are filled with
ids of a seeded inquiry (facility A). Every role sends GET and an empty POST to every route,
and the status must be the one in ``EXPECT``. A route or schema operation that is not in the
table fails the test until someone writes down who may do what on it.

Nothing changes on denial, nor on an empty POST: the row counts of the PHI tables stay the
same and no audit row of a write is added. Every answer, to every role, says
``Cache-Control: no-store``.

Reading a row of ``EXPECT``: one status per role, in ``ROLES`` order, for GET then POST. The
rules behind the rows: a staff page sends the anonymous visitor to sign in (302), refuses a
role without the permission (403), and answers 404 for another facility's record (nothing
leaks); the lead API answers 401 to anything but a key; 405 where the method is not served.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from admissions.api.keys import lead_source_key_create
from admissions.models import ContactConsent, InsurancePolicy
from admissions.screening.models import Screening, ScreeningForm
from crm.models import AuditEvent
from crm.roles import Role
from tests.factories import FacilityFactory, InquiryFactory, LeadSourceFactory, PersonFactory, UserFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "coordinator", "clinician", "vob", "manager", "marketing", "admin", "other_facility")
# Routes outside the matrix, with the reason.
SKIPPED_PREFIXES = {
    "admin/": "Django admin: is_staff plus model permissions, covered by Django; index checked below",
    "static/": "static files",
}

# route -> "GET s s s s s s s s | POST s s s s s s s s"   (statuses in ROLES order)
EXPECT: dict[str, str] = {
    #                                         anon coord clin vob mgr mkt admin other
    # staff pages: sign-in for the anonymous, 403 without the role or permission, 404 (no leak)
    # for another facility's record; a list page of another facility's user shows their own rows
    # the start page: roles that work no inquiries are sent to their own (dashboards, admin, docs)
    "": "GET 302 200 200 200 200 302 302 200 | POST 302 405 405 405 405 403 403 405",
    "queue/pulse/": "GET 302 200 200 200 200 403 403 200 | POST 302 405 405 405 405 403 403 405",
    "inquiries/new/": "GET 302 200 403 403 200 403 403 200 | POST 302 200 403 403 200 403 403 200",
    "inquiries/new/duplicates/": "GET 302 200 403 403 200 403 403 200 | POST 302 405 403 403 405 403 403 405",
    # possible duplicates across facilities: roles that change inquiries (each sees only pairs of
    # facilities that are both theirs); an empty POST names no pair (400)
    "duplicates/": "GET 302 200 200 403 200 403 403 200 | POST 302 400 400 403 400 403 403 400",
    "inquiries/<int:pk>/": "GET 302 200 200 200 200 403 403 404 | POST 302 405 405 405 405 403 403 405",
    "inquiries/<int:pk>/act/<slug:name>/": "GET 302 405 405 405 405 405 405 405 | POST 302 200 200 200 200 403 403 404",
    "vob/": "GET 302 200 403 200 200 403 403 200 | POST 302 405 403 405 405 403 403 405",
    "people/<int:pk>/export/": "GET 302 403 403 403 200 403 403 403 | POST 302 405 405 405 405 405 405 405",
    "inquiries/<int:inquiry_id>/screening/": "GET 302 200 200 403 200 403 403 404 | POST 302 200 200 403 200 403 403 404",
    "inquiries/<int:inquiry_id>/screening/signoff/": "GET 302 403 200 403 403 403 403 403 | POST 302 403 200 403 403 403 403 403",
    "inquiries/<int:inquiry_id>/screening/override/": "GET 302 405 405 405 405 405 405 405 | POST 302 200 403 403 200 403 403 404",
    "review/": "GET 302 403 200 403 200 403 403 403 | POST 302 405 405 405 405 405 405 405",
    "dashboards/": "GET 302 403 403 403 200 403 200 403 | POST 405 405 405 405 405 405 405 405",
    "dashboards/speed/": "GET 302 403 403 403 200 403 200 403 | POST 405 405 405 405 405 405 405 405",
    "dashboards/sources/": "GET 302 403 403 403 200 403 200 403 | POST 405 405 405 405 405 405 405 405",
    "dashboards/outcomes/": "GET 302 403 403 403 200 403 200 403 | POST 405 405 405 405 405 405 405 405",
    "dashboards/census/": "GET 302 403 403 403 200 403 200 403 | POST 405 405 405 405 405 405 405 405",
    "dashboards/coordinators/": "GET 302 403 403 403 200 403 200 403 | POST 405 405 405 405 405 405 405 405",
    "dashboards/trends/": "GET 302 403 403 403 200 403 200 403 | POST 405 405 405 405 405 405 405 405",
    "privacy/inquiries/<int:pk>/consents/new/": "GET 302 200 403 403 200 403 403 404 | POST 302 200 403 403 200 403 403 404",
    # "referral" is not a disclosure path of the privacy app: every signed-in role gets 404
    "privacy/inquiries/<int:pk>/disclose/<slug:path>/": "GET 302 404 404 404 404 404 404 404 | POST 302 404 404 404 404 404 404 404",
    "privacy/inquiries/<int:pk>/ledger/": "GET 302 200 403 200 200 403 403 404 | POST 302 405 403 405 405 403 403 405",
    # filled with an inquiry id, which is no Part 2 consent or disclosure: 404 where permitted
    "privacy/consents/<int:pk>/": "GET 302 404 403 404 404 403 403 404 | POST 302 405 403 405 405 403 403 405",
    "privacy/consents/<int:pk>/revoke/": "GET 302 405 403 403 405 403 403 405 | POST 302 404 403 403 404 403 403 404",
    "privacy/disclosures/<int:pk>/": "GET 302 404 403 404 404 403 403 404 | POST 302 405 403 405 405 403 403 405",
    "audit/inquiries/<int:pk>/": "GET 302 403 403 403 200 403 200 403 | POST 302 405 405 405 405 405 405 405",
    "audit/users/": "GET 302 403 403 403 200 403 200 403 | POST 302 405 405 405 405 405 405 405",
    # public pages (no PHI)
    "login/": "GET 200 302 302 302 302 302 302 302 | POST 200 302 302 302 302 302 302 302",
    "logout/": "GET 405 405 405 405 405 405 405 405 | POST 302 302 302 302 302 302 302 302",
    # the second factor: sign-in first; a verified session is sent on to where it was going
    "mfa/": "GET 302 302 302 302 302 302 302 302 | POST 302 302 302 302 302 302 302 302",
    "mfa/setup/": "GET 302 302 302 302 302 302 302 302 | POST 302 302 302 302 302 302 302 302",
    "password-reset/": "GET 200 200 200 200 200 200 200 200 | POST 200 200 200 200 200 200 200 200",
    "password-reset/sent/": "GET 200 200 200 200 200 200 200 200 | POST 405 405 405 405 405 405 405 405",
    "password-reset/<uidb64>/<token>/": "GET 200 200 200 200 200 200 200 200 | POST 200 200 200 200 200 200 200 200",
    "password-reset/done/": "GET 200 200 200 200 200 200 200 200 | POST 405 405 405 405 405 405 405 405",
    "healthz": "GET 200 200 200 200 200 200 200 200 | POST 405 405 405 405 405 405 405 405",
    # provider webhooks: signed requests only; unsubscribe links: a valid signed token only
    "messaging/sms/inbound": "GET 405 405 405 405 405 405 405 405 | POST 403 403 403 403 403 403 403 403",
    "messaging/sms/status": "GET 405 405 405 405 405 405 405 405 | POST 403 403 403 403 403 403 403 403",
    "messaging/email/inbound": "GET 405 405 405 405 405 405 405 405 | POST 403 403 403 403 403 403 403 403",
    "messaging/unsubscribe/<str:token>": "GET 404 404 404 404 404 404 404 404 | POST 404 404 404 404 404 404 404 404",
    # releasing a messaging hold: staff who see inquiries; filled with an inquiry id, no such hold: 404
    "messaging/holds/<int:pk>/release": "GET 302 405 405 405 405 403 403 405 | POST 302 404 404 404 404 403 403 404",
    # the API description is public (no data); the lead API needs a key (401 for everyone else,
    # staff sessions included); marketing is the key here
    "api/schema/": "GET 200 200 200 200 200 200 200 200 | POST 405 405 405 405 405 405 405 405",
    "api/docs/": "GET 200 200 200 200 200 200 200 200 | POST 405 405 405 405 405 405 405 405",
    "api/v1/leads/": "GET 401 401 401 401 401 405 401 401 | POST 401 401 401 401 401 415 401 401",
    "api/v1/leads/<str:lead_id>/": "GET 401 401 401 401 401 200 401 401 | POST 401 401 401 401 401 405 401 401",
    "api/v1/sources/<str:source_ref>/stats/": "GET 401 401 401 401 401 200 401 401 | POST 401 401 401 401 401 405 401 401",
    # call-tracking webhooks: a source's signature is the only credential (no session, no key)
    "api/v1/calls/<str:ref>/<str:event>/": "GET 405 405 405 405 405 405 405 405 | POST 401 401 401 401 401 401 401 401",
    # the screening API is session-authenticated: DRF answers 403 (not 401) without a session
    "api/v1/inquiries/<int:inquiry_id>/screening/": "GET 403 200 200 403 200 403 403 404 | POST 403 400 400 403 400 403 403 404",
    "api/v1/inquiries/<int:inquiry_id>/screening/signoff/": "GET 403 403 405 403 403 403 403 403 | POST 403 403 400 403 403 403 403 403",
    "api/v1/inquiries/<int:inquiry_id>/screening/match-override/": "GET 403 405 403 403 405 403 403 405 | POST 403 400 403 403 400 403 403 404",
    # capacity: the board, the waitlist and discharges are for those who admit (coordinators, managers, administrators)
    "inquiries/<int:pk>/place/": "GET 302 200 403 403 200 403 200 404 | POST 302 404 403 403 404 403 404 404",
    "board/": "GET 302 200 403 403 200 403 200 200 | POST 302 405 403 403 405 403 405 405",
    "waitlist/": "GET 302 200 403 403 200 403 403 200 | POST 302 405 403 403 405 403 403 405",
    "waitlist/<int:pk>/<slug:name>/": "GET 302 405 403 403 405 403 403 405 | POST 302 404 403 403 404 403 403 404",
    "board/discharges/": "GET 302 200 403 403 200 403 200 200 | POST 302 200 403 403 200 403 200 200",
    "board/discharges/<int:pk>/": "GET 302 405 403 403 405 403 405 405 | POST 302 404 403 403 404 403 404 404",
    "api/v1/discharges/": "GET 403 405 405 405 405 403 405 405 | POST 403 415 403 403 415 403 415 415",
    # imports: managers and administrators; filled with an inquiry id, no such import: 404
    "imports/": "GET 302 403 403 403 200 403 200 403 | POST 302 403 403 403 400 403 400 403",
    "imports/<int:pk>/": "GET 302 403 403 403 404 403 404 403 | POST 302 403 403 403 405 403 405 403",
    "imports/<int:pk>/map/": "GET 302 403 403 403 404 403 404 403 | POST 302 403 403 403 404 403 404 403",
    "imports/<int:pk>/progress/": "GET 302 403 403 403 404 403 404 403 | POST 302 403 403 403 405 403 405 403",
    "imports/<int:pk>/report.csv": "GET 302 403 403 403 404 403 404 403 | POST 302 403 403 403 405 403 405 403",
    "imports/<int:pk>/<slug:action>/": "GET 302 403 403 403 405 403 405 403 | POST 302 403 403 403 404 403 404 403",
    # manager and administrator pages: the waitlist dashboard, the audit start page
    "dashboards/waitlist/": "GET 302 403 403 403 200 403 200 403 | POST 405 405 405 405 405 405 405 405",
    "audit/": "GET 302 403 403 403 200 403 200 403 | POST 302 405 405 405 405 405 405 405",
}

PHI_MODELS = (
    "admissions.Person",
    "admissions.Caller",
    "admissions.Inquiry",
    "admissions.InquiryEvent",
    "admissions.Touch",
    "admissions.InsurancePolicy",
    "admissions.ContactConsent",
    "admissions.Screening",
    "admissions.FollowUp",
    "admissions.OutboundMessage",
    "admissions.InboundMessage",
)
WRITE_ACTIONS = ("create", "update", "api_write", "disclose", "export")


# --- the routes ------------------------------------------------------------------------------


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), f"{namespace}{p.name or ''}"


def routes() -> list[str]:
    out = []
    for route, _name in _walk(get_resolver().url_patterns):
        if any(route.startswith(prefix) for prefix in SKIPPED_PREFIXES):
            continue
        if route.startswith("^") or "(?P" in route:
            continue  # regex routes (admin internals) are covered by the prefix rule
        if route not in out:
            out.append(route)
    return out


def schema_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method.upper())
        for path, ops in schema["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def schema_path_to_route(path: str) -> str:
    """``/api/v1/leads/{lead_id}/`` -> the URL conf route it comes from."""
    pattern = re.sub(r"\{[^}]+\}", "<>", path.lstrip("/"))
    for route in routes():
        if re.sub(r"<[^>]+>", "<>", route) == pattern:
            return route
    raise AssertionError(f"schema path {path} matches no route of the URL conf")


# --- the seeded world ------------------------------------------------------------------------


@pytest.fixture
def world(facility, other_facility):  # type: ignore[no-untyped-def]
    source = LeadSourceFactory(default_facility=facility)
    person = PersonFactory()
    inquiry = InquiryFactory(facility=facility, person=person, lead_source=source, message="needs help")
    InsurancePolicy.objects.create(inquiry=inquiry, member_id="M123", vob_status="requested")
    ContactConsent.objects.create(
        person=person,
        medium="sms",
        address="+13055550100",
        source="web form",
        consent_text="ok",
        captured_at=inquiry.created_at,
    )
    Screening.objects.create(inquiry=inquiry, form=ScreeningForm.objects.get(version=1), answers={"a": 1})
    InquiryFactory(facility=other_facility)
    _, token = lead_source_key_create(lead_source=source)
    users = {
        "coordinator": UserFactory(username="m-coord", role=Role.COORDINATOR, facilities=[facility]),
        "clinician": UserFactory(username="m-clin", role=Role.CLINICAL_REVIEWER, facilities=[facility]),
        "vob": UserFactory(username="m-vob", role=Role.VOB_SPECIALIST, facilities=[facility]),
        "manager": UserFactory(username="m-mgr", role=Role.MANAGER, facilities=[facility]),
        "marketing": UserFactory(username="m-mkt", role=Role.MARKETING, facilities=[facility]),
        "admin": UserFactory(username="m-admin", role=Role.ADMINISTRATOR, is_staff=True),
        "other_facility": UserFactory(
            username="m-other", role=Role.COORDINATOR, facilities=[FacilityFactory(name="Elsewhere")]
        ),
    }
    values = {
        "pk": inquiry.pk,
        "inquiry_id": inquiry.pk,
        "lead_id": inquiry.pk,
        "source_ref": source.pk,
        "person_pk": person.pk,
        "name": "note",
        "path": "referral",
        "token": "not-a-token",
        "uidb64": "MQ",
        "ref": "cts_000000000000",
        "event": "start",
        "action": "check",
    }
    return {"users": users, "token": token, "values": values, "person": person}


def _url(route: str, values: dict[str, Any]) -> str:
    if route.startswith("people/"):  # person routes take the person's key, not the inquiry's
        values = {**values, "pk": values["person_pk"]}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[-1]
        return str(values[name])

    return "/" + re.sub(r"<([^>]+)>", fill, route)


def _client(role: str, world: dict[str, Any], route: str) -> Client:
    client = Client()
    if role == "anonymous":
        return client
    if role == "marketing" and route.startswith("api/"):
        return Client(HTTP_AUTHORIZATION=f"Bearer {world['token']}")
    login_verified(client, world["users"][role])
    return client


def _counts() -> dict[str, int]:
    counts = {label: apps.get_model(label).objects.count() for label in PHI_MODELS}
    # The lead API logs every keyed request against the key itself, refused ones included
    # (``status:4xx`` in its fields): an attempt, not a write of a record.
    writes = AuditEvent.objects.filter(action__in=WRITE_ACTIONS).exclude(
        object_type="admissions.leadsourcekey"
    )
    counts["audit writes"] = writes.count()
    return counts


def _observe(route: str, world: dict[str, Any]) -> str:
    url = _url(route, world["values"])
    parts = []
    for method in ("GET", "POST"):
        statuses = []
        for role in ROLES:
            client = _client(role, world, route)
            before = _counts()
            response = client.get(url) if method == "GET" else client.post(url, {})
            assert response.get("Cache-Control") in (
                "no-store",
                "max-age=0, no-cache, no-store, must-revalidate, private",
            ), f"{method} {url} as {role}: Cache-Control {response.get('Cache-Control')!r}"
            if method == "POST" or response.status_code >= 300:
                after = _counts()
                # the view export is the one read that is a write to the audit trail by design
                assert after == before or (route.startswith("people/") and response.status_code == 200), (
                    f"{method} {url} as {role} ({response.status_code}) changed {before} -> {after}"
                )
            statuses.append(str(response.status_code))
        parts.append(f"{method} {' '.join(statuses)}")
    return " | ".join(parts)


def test_every_route_has_its_expected_status_per_role(world):  # type: ignore[no-untyped-def]
    observed = {route: _observe(route, world) for route in routes()}
    unknown = sorted(set(observed) - set(EXPECT))
    stale = sorted(set(EXPECT) - set(observed))
    table = "\n".join(f'    "{r}": "{observed[r]}",' for r in observed)
    assert not unknown, f"routes with no expectation (add them to EXPECT):\n{table}"
    assert not stale, f"expectations for routes that no longer exist: {stale}"
    wrong = {r: (EXPECT[r], observed[r]) for r in observed if EXPECT[r] != observed[r]}
    assert not wrong, "\n".join(f"{r}\n  expected {e}\n  observed {o}" for r, (e, o) in wrong.items())


def test_every_schema_operation_is_in_the_matrix():
    for path, method in schema_operations():
        route = schema_path_to_route(path)
        assert route in EXPECT, f"{method} {path}: route {route} has no expectation"
        assert method in EXPECT[route], f"{method} {path}: no {method} expectation for {route}"


def test_admin_index_needs_staff(world):  # type: ignore[no-untyped-def]
    statuses = {role: _client(role, world, "admin/").get("/admin/").status_code for role in ROLES}
    assert statuses == {**dict.fromkeys(ROLES, 302), "admin": 200}


# Routes a session that has passed the password but not the second factor may use as anyone can.
BEFORE_SECOND_FACTOR = {
    "login/",
    "logout/",
    "mfa/",
    "mfa/setup/",
    "password-reset/",
    "password-reset/sent/",
    "password-reset/<uidb64>/<token>/",
    "password-reset/done/",
    "healthz",
}


def test_no_route_serves_a_session_without_its_second_factor(world):  # type: ignore[no-untyped-def]
    """Every other route, GET and POST: the MFA pages (HTML) or 403 (JSON API), nothing changed."""
    user = world["users"]["coordinator"]
    wrong = []
    for route in [*routes(), "admin/"]:
        if route in BEFORE_SECOND_FACTOR:
            continue
        url = _url(route, world["values"])
        for method in ("GET", "POST"):
            client = Client()
            client.force_login(user)  # the password step only: no device verified this session
            before = _counts()
            response = client.get(url) if method == "GET" else client.post(url, {})
            assert _counts() == before, f"{method} {url} without the second factor changed data"
            if route.startswith("api/"):
                ok = response.status_code == 403 and "Multi-factor" in response.json()["detail"]
            else:
                ok = response.status_code == 302 and response["Location"].startswith("/mfa/")
            if not ok:
                wrong.append(f"{method} {url}: {response.status_code} {response.get('Location', '')}")
    assert not wrong, "\n".join(wrong)
