"""Security headers, the Content-Security-Policy and the absence of trackers, on every page.

The pages are found from the URL conf (and the admin's registry), so a new route is checked
without anyone adding it here. Every response must carry the CSP and the other headers; every
HTML page must run under that policy as it is: no inline script without the request's nonce, no
``style`` attribute or ``<style>`` element, no asset or link to another host, no tracker.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.contrib import admin
from django.contrib.admindocs.views import extract_views_from_urlpatterns
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import NoReverseMatch, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from admissions.api.keys import lead_source_key_create
from admissions.pipeline import Stage
from admissions.screening.services import screening_save
from tests.factories import InquiryFactory, LeadSourceFactory, PersonFactory, ProgramFactory
from tests.screening.builders import all_clear
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

# POST-only endpoints answer GET with 405, and routes with arguments this file does not know get
# placeholder values (often a 404): their headers are still checked.

# Sources a directive may list: our own origin, 'none' and the request's nonce. No host, no scheme
# wildcard, no 'unsafe-*'; data: is checked on its own (the API docs' images only).
ALLOWED_SOURCES = re.compile(r"^(?:'self'|'none'|'nonce-[A-Za-z0-9+/=]+')$")
REQUIRED_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
TRACKERS = re.compile(
    r"googletagmanager|google-analytics|gtag\(|\bga\(|doubleclick|facebook|fbq\(|fbevents|"
    r"connect\.facebook|hotjar|segment\.(?:com|io)|cdn\.segment|analytics\.js|\banalytics\b|"
    r"\bpixel\b|mixpanel|clarity\.ms|tiktok|snap\.licdn|linkedin|bing\.com/bat|heap(?:analytics)?\.|"
    r"fullstory|intercom|amplitude|plausible|matomo|piwik|newrelic|nr-data|sentry",
    re.IGNORECASE,
)
# Any attribute that makes the browser fetch or go to another origin.
OFFSITE = re.compile(
    r"""\b(?:src|href|action|srcset|data|poster|formaction|xlink:href)\s*=\s*["']?\s*(?:[a-z]+:)?//""",
    re.IGNORECASE,
)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def policy_of(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def check_headers(url: str, response) -> None:  # type: ignore[no-untyped-def]
    header = response.get("Content-Security-Policy")
    assert header, f"{url}: no Content-Security-Policy header"
    lowered = header.lower()
    for banned in ("unsafe-inline", "unsafe-eval", "unsafe-hashes", "http:", "https:", "*"):
        assert banned not in lowered, f"{url}: CSP allows {banned}: {header}"
    policy = policy_of(header)
    data_allowed = {d for d, sources in policy.items() if "data:" in sources}
    # Swagger UI draws icons as data: images: its page alone allows them, for images only.
    assert data_allowed <= ({"img-src"} if url.startswith("/api/docs/") else set()), f"{url}: {header}"
    for directive, source in REQUIRED_DIRECTIVES.items():
        assert source in policy.get(directive, []), f"{url}: {directive} lacks {source}: {header}"
    for directive, sources in policy.items():
        for source in sources:
            assert ALLOWED_SOURCES.match(source) or source == "data:", f"{url}: {directive} allows {source}"
    assert response.get("X-Content-Type-Options") == "nosniff", url
    assert response.get("X-Frame-Options") == "DENY", url
    assert response.get("Referrer-Policy") in {"same-origin", "no-referrer", "strict-origin"}, url
    assert response.get("Cross-Origin-Opener-Policy") == "same-origin", url


def check_html(url: str, response) -> None:  # type: ignore[no-untyped-def]
    if not response.get("Content-Type", "").startswith("text/html"):
        return
    html = response.content.decode()
    nonces = [
        s[len("'nonce-") : -1] for s in policy_of(response["Content-Security-Policy"]).get("script-src", [])
    ]
    nonces = [n for n in nonces if n and not n.startswith("'")]
    for attributes, body in SCRIPT_TAG.findall(html):
        if re.search(r"\bsrc\s*=", attributes):
            assert not body.strip(), f"{url}: a script with src also has inline code"
            continue
        nonce = re.search(r"""\bnonce\s*=\s*["']([^"']+)["']""", attributes)
        assert nonce, f"{url}: inline <script> without a nonce: {attributes} {body[:120]!r}"
        assert nonce.group(1) in nonces, f"{url}: inline <script> nonce is not the header's"
    for pattern, what in (
        (STYLE_ATTRIBUTE, "a style attribute"),
        (STYLE_ELEMENT, "a <style> element"),
        (EVENT_HANDLER, "an inline event handler (on...=)"),
        (JAVASCRIPT_URL, "a javascript: URL"),
        (OFFSITE, "an asset or link on another host"),
        (TRACKERS, "a tracker"),
    ):
        found = pattern.search(html)
        assert not found, f"{url}: {what}: {html[max(found.start() - 80, 0) : found.end() + 80]!r}"


@pytest.fixture
def pages_data(facility, coordinator, administrator):  # type: ignore[no-untyped-def]
    """One of each thing a page can show: an inquiry with a screen, a program, a lead source key."""
    ProgramFactory(facility=facility, name="Tampa Residential")
    person = PersonFactory(first_name="Avery", last_name="Stone", email="avery.stone@example.org")
    inquiry = InquiryFactory(facility=facility, person=person, stage=Stage.CONTACTED)
    screening_save(inquiry_id=inquiry.pk, answers=all_clear(), actor=coordinator)
    source = LeadSourceFactory(name="Sunrise Web Forms", default_facility=facility)
    lead_source_key_create(lead_source=source, label="headers test")
    return {
        "pk": inquiry.pk,
        "inquiry_id": inquiry.pk,
        "name": "call",
        "lead_id": str(inquiry.pk),
        "source_ref": str(source.pk),
        "token": "not-a-token",
        "uidb64": urlsafe_base64_encode(force_bytes(coordinator.pk)),
        "reset_token": default_token_generator.make_token(coordinator),
    }


def site_urls(values: dict[str, object]) -> Iterator[str]:
    """Every named route outside the admin, its arguments filled in."""
    for _view, route, namespace, name in extract_views_from_urlpatterns(get_resolver().url_patterns):
        namespaces = namespace or []
        if not name or "admin" in namespaces:
            continue
        kwargs: dict[str, object] = {}
        for converter, argument in re.findall(r"<(?:(\w+):)?(\w+)>", route):
            if argument in values:
                kwargs[argument] = values[argument]
            else:  # a route this test does not know yet: any well-formed value (a 404 is checked too)
                kwargs[argument] = {"int": values["pk"], "uuid": uuid.uuid4()}.get(converter, "x")
        if name == "password_reset_confirm":
            kwargs["token"] = values["reset_token"]
        try:
            yield reverse(":".join([*namespaces, name]), kwargs=kwargs)
        except NoReverseMatch:  # the same name under another prefix (the queue is also "home")
            continue


def admin_urls() -> Iterator[str]:
    yield reverse("admin:index")
    for model in admin.site._registry:
        meta = model._meta
        yield reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        yield reverse("admin:app_list", args=[meta.app_label])
        yield reverse(f"admin:{meta.app_label}_{meta.model_name}_add")  # 403 where adding is refused
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            yield reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            yield reverse(f"admin:{meta.app_label}_{meta.model_name}_history", args=[first.pk])


def visit(client: Client, urls) -> dict[int, int]:  # type: ignore[no-untyped-def]
    statuses: dict[int, int] = {}
    for url in dict.fromkeys(urls):
        response = client.get(url, follow=True)
        check_headers(url, response)
        if response.status_code == 200:
            check_html(url, response)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return statuses


@pytest.mark.parametrize("role", ["coordinator", "clinician", "vob_specialist", "manager", "administrator"])
def test_every_page_of_every_role_runs_under_the_policy(role, request, pages_data):  # type: ignore[no-untyped-def]
    user = request.getfixturevalue(role)
    client = Client()
    login_verified(client, user)
    urls = list(site_urls(pages_data))
    if user.is_staff:
        urls += list(admin_urls())
    statuses = visit(client, urls)
    assert statuses.get(200, 0) >= 8, statuses  # the role reached real pages, not only refusals
    assert statuses.get(500, 0) == 0, statuses


def test_pages_for_anyone_signed_out(pages_data):  # type: ignore[no-untyped-def]
    statuses = visit(Client(), [*site_urls(pages_data), reverse("admin:login")])
    assert statuses.get(200, 0) >= 5, statuses


def test_the_api_docs_page_runs_its_one_inline_script_with_the_nonce(administrator):  # type: ignore[no-untyped-def]
    client = Client()
    login_verified(client, administrator)
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    check_headers("/api/docs/", response)
    check_html("/api/docs/", response)
    html = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert nonce, "the docs page needs its nonce in the header"
    assert f'<script nonce="{nonce.group(1)}">' in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert '"validatorUrl": null' in html  # no badge fetched from the public validator


def test_each_response_gets_its_own_nonce(coordinator_client):  # type: ignore[no-untyped-def]
    first = coordinator_client.get("/")["Content-Security-Policy"]
    second = coordinator_client.get("/")["Content-Security-Policy"]
    assert "'nonce-" in first
    assert first != second


def test_htmx_is_configured_to_inject_no_style_and_run_no_eval(coordinator_client):  # type: ignore[no-untyped-def]
    html = coordinator_client.get("/").content.decode()
    config = re.search(r"""<meta name="htmx-config" content='([^']+)'>""", html)
    assert config, "htmx reads its configuration from the htmx-config meta element"
    assert '"includeIndicatorStyles": false' in config.group(1)
    assert '"allowEval": false' in config.group(1)


def test_static_assets_carry_the_policy_too(client):  # type: ignore[no-untyped-def]
    """An SVG or HTML file opened directly is a document of its own: it must not run script either."""
    response = client.get("/static/crm/favicon.svg")
    if response.status_code == 200:  # served by WhiteNoise or the development static view
        assert "default-src 'self'" in response.get("Content-Security-Policy", "")


def test_cookies_are_http_only_and_same_site(coordinator, client):  # type: ignore[no-untyped-def]
    client.get(reverse("login"))
    response = client.post(reverse("login"), {"username": "coordinator", "password": "x"})
    assert response.status_code == 200
    for name in ("csrftoken",):
        if name in client.cookies:
            morsel = client.cookies[name]
            assert morsel["httponly"], name
            assert morsel["samesite"].lower() in {"lax", "strict"}, name


def _production(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "CRM_ENV": "production",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "crm.example.org",
            "SECRET_KEY": "p" * 20 + "-headers-test-secret-" + "q" * 30,
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
    )
    command = [sys.executable, "-c", code]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_production_settings_set_hsts_and_secure_cookies():
    result = _production(
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY, "
        "s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE, s.SECURE_CONTENT_TYPE_NOSNIFF, "
        "s.SECURE_REFERRER_POLICY, s.X_FRAME_OPTIONS, s.SECURE_CROSS_ORIGIN_OPENER_POLICY, "
        "'csp.middleware.CSPMiddleware' in s.MIDDLEWARE)"
    )
    assert result.returncode == 0, result.stderr
    hsts, *rest = result.stdout.split()
    assert int(hsts) >= 31_536_000
    assert rest == [
        "True", "True", "True", "True", "True", "True", "Lax", "Lax", "True",
        "same-origin", "DENY", "same-origin", "True",
    ]  # fmt: skip
