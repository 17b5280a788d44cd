"""The pre-screen after an intake, in Chromium: what intake recorded is already there and marked,
the payer is picked by typing part of its name, the completeness panel shrinks as each safety
question is answered, and a last use in the future is refused next to its field."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from admissions.models import Caller, InsurancePolicy, Person
from admissions.screening.definition import FORMS, LATEST_VERSION, FormDefinition
from programs.models import Payer
from tests.browser.support import sign_in, snap
from tests.screening.builders import all_clear, intake_inquiry

pytestmark = pytest.mark.browser


def _missing(page: Page, count: int) -> None:
    noun = "question" if count == 1 else "questions"
    expect(page.locator("#missing-count")).to_have_text(f"{count} safety {noun} not answered yet")


def test_the_prescreen_after_an_intake_asks_nothing_twice(page: Page, facility, coordinator) -> None:
    Payer.objects.create(name="Aetna")
    blue = Payer.objects.create(name="Blue Mountain Health")
    Payer.objects.create(name="Blue Shore Plan")
    inquiry = intake_inquiry(
        facility,
        coordinator,
        None,
        relationship=Caller.Relationship.FAMILY,
        payer_name="Blue Mountain",
        member_id="BMH-44120",
    )
    total = len(FormDefinition(FORMS[LATEST_VERSION]).missing_safety({}))

    sign_in(page, "coordinator")
    page.goto(f"/inquiries/{inquiry.pk}/screening/")
    expect(page.locator("#from-intake")).to_contain_text("Dana Okafor (family member)")
    # What intake recorded is in the inputs, each marked as coming from intake.
    expect(page.locator("#q-logistics-state")).to_have_value("NC")
    expect(page.locator("#q-logistics-state-source")).to_have_text("From intake: confirm with the caller")
    expect(page.locator("#q-logistics-postal_code")).to_have_value("28801")
    expect(page.locator("#q-insurance-payer_name")).to_have_value("Blue Mountain")
    expect(page.locator("#q-insurance-member_id")).to_have_value("BMH-44120")
    expect(page.locator("#q-readiness-why_now")).to_have_value("Wants help before the holidays.")
    # a family caller could not agree to texts for the person: the question is left to ask them
    ok_to_text = page.locator("#q-logistics-ok_to_text")
    expect(ok_to_text.get_by_role("radio", name="Yes", exact=True)).not_to_be_checked()
    # The substances intake recorded are a hint; the safety question itself is left to ask.
    expect(page.locator("#q-use-substances_30d-hint")).to_contain_text("Intake recorded: Alcohol, Baclofen.")
    expect(page.locator("#q-use-substances_30d-alcohol")).not_to_be_checked()
    _missing(page, total)
    snap(page, "prefill-01-from-intake", full_page=False)

    # The payer, by typing part of its name (keyboard only).
    payer = page.locator("#q-insurance-payer_id")
    payer.click()
    payer.press_sequentially("mountain")
    payer.press("Tab")
    expect(page.locator("#save-status")).to_contain_text("Saved at")
    expect(page.locator("#err-insurance-payer_id")).to_have_text("")
    expect(page.locator("#q-insurance-payer_id-how")).to_have_text(
        "Payer on file: Blue Mountain Health. Type part of another name to change it."
    )

    # The completeness panel shrinks with each safety answer.
    for done, code in enumerate(all_clear()["emergency"], start=1):
        page.locator(f"#q-emergency-{code}").get_by_role("radio", name="No", exact=True).check()
        _missing(page, total - done)
    expect(page.locator("#missing-safety")).not_to_contain_text("hard to wake")
    expect(page.locator("#missing-safety")).to_contain_text(
        "In the past month, have they actually thought about killing themselves?"
    )
    snap(page, "prefill-02-completeness-shrinks", full_page=False)

    # A last use in the future is refused next to its field, and nothing of it is stored.
    page.locator("#q-use-substances_30d-alcohol").check()
    tomorrow = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.locator("#q-substances-alcohol-last_use").fill(tomorrow)
    expect(page.locator("#err-substances-alcohol-last_use")).to_contain_text("Must not be in the future.")
    snap(page, "prefill-03-future-last-use", full_page=False)

    policy = InsurancePolicy.objects.get(inquiry=inquiry)
    assert (policy.payer_id, policy.payer_name, policy.member_id) == (blue.pk, "Blue Mountain", "BMH-44120")
    person = Person.objects.get(pk=inquiry.person_id)
    assert (person.state, person.postal_code, person.ok_to_text) == ("NC", "28801", None)

    page.reload()
    expect(page.locator("#q-insurance-payer_id")).to_have_value("Blue Mountain Health")
    expect(page.locator("#q-logistics-state-source")).to_have_count(0)  # saved answers, no longer proposals
