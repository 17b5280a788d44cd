"""The pages in Chromium with the Content-Security-Policy on: nothing is refused.

The ``page`` fixture fails a test on any console error, and Chromium reports each CSP refusal
(an inline style htmx or a page injects, an inline script, a third-party fetch) as one. On top of
that every page records ``securitypolicyviolation`` events, checked after each step, so a refusal
that does not reach the console is caught too.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from admissions.pipeline import Stage
from tests.browser.support import PASSWORD, second_factor, sign_in
from tests.factories import InquiryFactory, PersonFactory, ProgramFactory

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile);
});
"""


def no_violations(page: Page) -> None:
    page.wait_for_load_state("load")
    violations = page.evaluate("window.__cspViolations || []")
    assert violations == [], f"{page.url}: {violations}"


def visit(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("body")).to_be_visible()
    no_violations(page)


def test_coordinator_pages_and_htmx_updates(page: Page, coordinator, facility) -> None:  # type: ignore[no-untyped-def]
    page.add_init_script(RECORD_VIOLATIONS)
    person = PersonFactory(first_name="Quinn", phone="+17275550177")
    inquiry = InquiryFactory(facility=facility, person=person, stage=Stage.CONTACTED)
    sign_in(page, "coordinator")
    no_violations(page)
    visit(page, reverse("admissions:inquiry", args=[inquiry.pk]))

    # Intake: typing a phone asks htmx for the duplicate warning.
    visit(page, reverse("admissions:intake"))
    with page.expect_response(re.compile(r"/inquiries/new/duplicates/")):
        page.locator("#id_phone").fill("727-555-0177")
    expect(page.locator("#duplicates")).to_contain_text("Possible duplicate")
    no_violations(page)

    # Pre-screen: a change posts the form and htmx swaps the live panel and the status.
    visit(page, reverse("screening_ui:screening", args=[inquiry.pk]))
    with page.expect_response(re.compile(r"/screening/$")):
        page.locator("#q-emergency-overdose_now").get_by_role("radio", name="No", exact=True).check()
    expect(page.locator("#save-status")).to_contain_text(re.compile(r"Saved|Not saved"))
    no_violations(page)
    htmx_styles = page.evaluate("document.querySelectorAll('style').length")
    assert htmx_styles == 0, "a <style> element was injected (htmx indicator styles?)"


def test_manager_dashboards(page: Page, manager, facility) -> None:  # type: ignore[no-untyped-def]
    page.add_init_script(RECORD_VIOLATIONS)
    ProgramFactory(facility=facility, name="Tampa Residential")
    InquiryFactory(facility=facility)
    sign_in(page, "manager")
    for name in ("funnel", "speed", "sources", "outcomes", "census", "coordinators", "trends"):
        visit(page, reverse(f"dashboards:{name}"))


def test_admin_and_api_docs(page: Page, administrator, facility) -> None:  # type: ignore[no-untyped-def]
    page.add_init_script(RECORD_VIOLATIONS)
    InquiryFactory(facility=facility)
    page.goto(reverse("login") + "?next=" + reverse("admin:index"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/mfa/setup/"))
    no_violations(page)  # the enrolment page and its QR code
    second_factor(page, "admin")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    no_violations(page)
    # Every list the administrator's role may open, and the add form of the first of them.
    lists = page.locator("#content-main a[href$='/']:not([href*='/add/'])")
    hrefs = [h for h in (a.get_attribute("href") for a in lists.all()) if h and h.count("/") >= 4]
    assert hrefs, "the admin index lists no model"
    for href in hrefs:
        visit(page, href)
    visit(page, reverse("admin:index"))
    add_links = [a.get_attribute("href") for a in page.locator("#content-main a.addlink").all()]
    if add_links:
        visit(page, str(add_links[0]))

    # Swagger UI: its one inline script runs (with the nonce) and draws the operations.
    visit(page, reverse("api-docs"))
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    page.locator(".swagger-ui .opblock-summary").first.click()
    no_violations(page)


def test_signed_out_pages(page: Page) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    visit(page, reverse("login"))
    visit(page, reverse("password_reset"))
    page.get_by_label("Email").fill("nobody@example.org")
    page.get_by_role("button").last.click()
    no_violations(page)
    visit(page, reverse("admin:login"))
