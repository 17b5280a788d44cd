"""axe-core over every page of the site for every role: no serious or critical violation, and no
console error (the ``page`` fixture fails the test on one).

The pages come from the URL conf (``tests.browser.site_pages``), not from a list: a new route is
checked the day it lands, with the ids of the objects made here (``site_arguments``). Besides the
six roles, three states of signing in walk the same routes and land on the pages a redirect takes
them to: signed out (sign-in page), password only (authenticator set-up), device not yet verified
(code page). The administrator also walks every list, add form and first change form the admin
index links to, the TOTP device admin included. Each page is checked as a person would see it
with every ``<details>`` opened, and Swagger UI's operations and schemas.

axe-core comes from npm (``package.json`` and its lock file at the repository's root; ``run.py
test`` runs ``npm ci``) and is evaluated in the page through the DevTools protocol, which the
pages' Content-Security-Policy does not apply to. Each role writes what it found to
``<artifacts>/accessibility/<role>.txt``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import BrowserContext, Page, Response
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from crm.models import User
from crm.roles import Role
from tests.browser.site_pages import page_urls, site_arguments, site_routes
from tests.browser.support import ROOT, artifacts_dir
from tests.conftest import needs_service
from tests.factories import UserFactory
from tests.signin import confirmed_device, login_verified

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")), count: v.nodes.length,
    summary: (v.nodes[0] && v.nodes[0].failureSummary || "").split("\\n").slice(0, 3).join(" "),
  }));
}"""
OPEN_COLLAPSED = """() => {
  const collapsed = [...document.querySelectorAll("#swagger-ui button[aria-expanded='false']")]
    .filter((b) => b.offsetParent);
  collapsed.forEach((b) => b.click());
  return collapsed.length;
}"""
DRAWN_AFTER_LOAD = """() => Boolean(document.querySelector('#swagger-ui, [hx-trigger*="load"]'))"""
# A role, or a state of signing in: signed out, password given but no authenticator set up yet
# (every page leads to the set-up page), or set up but the code not yet given (the code page).
HALF_SIGNED_IN = ("enrolling", "verifying")
ROLES: dict[str, Role | None] = {
    "anonymous": None,
    "enrolling": None,
    "verifying": None,
    "coordinator": Role.COORDINATOR,
    "clinician": Role.CLINICAL_REVIEWER,
    "vob": Role.VOB_SPECIALIST,
    "manager": Role.MANAGER,
    "marketing": Role.MARKETING,
    "admin": Role.ADMINISTRATOR,
}


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.is_file():
        needs_service(f"axe-core at {AXE.relative_to(ROOT)} (npm ci; python3.11 run.py test runs it)")
    return AXE.read_text()


@dataclass
class Audit:
    """What one role's walk found."""

    role: str
    checked: list[str] = field(default_factory=list)
    not_pages: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    counted: dict[str, int] = field(default_factory=dict)  # rule (impact) -> pages, all impacts

    def report(self) -> Path:
        folder = artifacts_dir() / "accessibility"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.role}.txt"
        lines = [f"{len(self.checked)} pages checked as {self.role}", *self.checked, ""]
        lines += ["not pages (405, not HTML, or an HTML fragment):", *self.not_pages, ""]
        lines += ["violations by rule (pages), all impacts:", *(f"{k}: {v}" for k, v in self.counted.items())]
        lines += ["", "serious or critical:", *self.violations]
        path.write_text("\n".join(lines) + "\n")
        return path


def sign_in_as(context: BrowserContext, user: User) -> None:
    """A session with both factors verified, handed to the browser as its cookie (the sign-in
    pages themselves are checked in the signed-out walk and in test_signin.py)."""
    client = login_verified(Client(), user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": context.pages[0].url}])


def half_signed_in(context: BrowserContext, user: User, *, with_device: bool) -> None:
    """A session past the password but not the second factor."""
    if with_device:
        confirmed_device(user)
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": context.pages[0].url}])


def _expected_load_errors(console_errors: list[str], response: Response) -> None:
    """A 403 or 404 page is what the walk asked for: drop Chromium's console line about it."""
    if response.status < 400:
        return
    line = f"the server responded with a status of {response.status}"
    console_errors[:] = [e for e in console_errors if not (line in e and response.url in e)]


def reveal(page: Page) -> None:
    """Open what a person would open, so that axe sees it too: every ``<details>`` (the inquiry
    page's actions), and Swagger UI's collapsed operations and schemas."""
    # Scripts that draw the page after it loads (Swagger UI fetches the schema first, an htmx
    # section loads itself) finish before axe looks; every other page is whole at its load event,
    # and waiting for the network to idle would add half a second to each of about 350 pages.
    if page.evaluate(DRAWN_AFTER_LOAD):
        try:
            page.wait_for_load_state("networkidle", timeout=2_000)
        except PlaywrightTimeout:
            pass
    page.evaluate("() => document.querySelectorAll('details:not([open])').forEach((d) => { d.open = true; })")
    for _ in range(6):  # opening one level shows the next (an operation, then its schemas)
        opened = page.evaluate(OPEN_COLLAPSED)
        if not opened:
            return
        page.wait_for_timeout(200)


def check_page(
    page: Page, url: str, axe: str, audit: Audit, console_errors: list[str], seen: set[str]
) -> None:
    # First asked outside the browser (same cookies): Chromium shows no document for an empty 405.
    probe = page.request.get(url)
    kind = probe.headers.get("content-type", "")
    if probe.status == 405 or "text/html" not in kind:
        audit.not_pages.append(f"{url} ({probe.status} {kind})")
        return
    if "<html" not in probe.text()[:2000].lower():
        audit.not_pages.append(f"{url} (an HTML fragment)")
        return
    response = page.goto(url)
    assert response is not None, url
    _expected_load_errors(console_errors, response)
    final = urlsplit(page.url).path
    key = f"{final} {response.status}"
    if key in seen:
        return  # the same page reached again (a redirect to the sign-in page, say)
    seen.add(key)
    started = time.monotonic()
    before = len(console_errors)
    reveal(page)
    page.evaluate(axe)
    found = page.evaluate(RUN_AXE)
    # While the admin's forms are checked, Chromium reports inline styles refused by the CSP that the
    # same pages do not report when only opened (test_csp.py holds the pages to the CSP): they come
    # from the checking, so they are dropped here.
    console_errors[before:] = [
        e for e in console_errors[before:] if "Applying inline style violates" not in e
    ]
    audit.checked.append(f"{url} -> {final} {response.status} ({time.monotonic() - started:.1f} s)")
    for violation in found:
        name = f"{violation['id']} ({violation['impact']})"
        audit.counted[name] = audit.counted.get(name, 0) + 1
        if violation["impact"] in BLOCKING:
            audit.violations.append(
                f"{url} [{audit.role}] {name}: {violation['help']}; {violation['count']} nodes, "
                f"e.g. {json.dumps(violation['targets'])}: {violation['summary']}"
            )


def admin_pages(page: Page) -> Iterator[str]:
    """The admin index, every app index, list and add form it links to, the first change form
    of each list, and the password change page."""
    page.goto("/admin/")
    links = page.locator("#content-main a, #user-tools a[href*='password']")
    hrefs = [h for h in (a.get_attribute("href") for a in links.all()) if h and h.startswith("/admin/")]
    yield "/admin/"
    lists = []
    for href in dict.fromkeys(hrefs):
        yield href
        if href.count("/") == 4 and "/add/" not in href:
            lists.append(href)
    for href in lists:
        page.goto(href)
        first = page.locator("#result_list tbody tr a[href^='/admin/']").first
        if first.count():
            yield str(first.get_attribute("href"))


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_passes_axe(  # type: ignore[no-untyped-def]
    role,
    page: Page,
    context: BrowserContext,
    console_errors,
    axe_source,
    facility,
    coordinator,
    settings,
    tmp_path,
) -> None:
    settings.IMPORT_FILES_DIR = tmp_path
    arguments = site_arguments(facility, coordinator)
    page.goto("/healthz")  # a URL on the live server for the session cookie
    if role in HALF_SIGNED_IN:
        half_signed_in(context, coordinator, with_device=role == "verifying")
    elif ROLES[role] is not None:
        user = (
            coordinator
            if role == "coordinator"
            else UserFactory(
                username=role,
                role=ROLES[role],
                facilities=[] if role == "admin" else [facility],
                is_staff=role == "admin",
            )
        )
        sign_in_as(context, user)
    audit = Audit(role)
    seen: set[str] = set()
    for route in site_routes():
        for url in page_urls(route, arguments):
            check_page(page, url, axe_source, audit, console_errors, seen)
    if role == "admin":
        for url in list(admin_pages(page)):
            check_page(page, url, axe_source, audit, console_errors, seen)
    report = audit.report()
    assert len(audit.checked) >= 5, f"only {len(audit.checked)} pages checked; see {report}"
    if ROLES[role] is not None:  # signed in with both factors: no page led back to the sign-in pages
        assert not [line for line in audit.checked if "/mfa/" in line or "/login/" in line], report
    assert audit.violations == [], "\n".join([f"axe-core (see {report}):", *audit.violations])
