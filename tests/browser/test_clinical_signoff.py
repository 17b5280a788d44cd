"""The clinical reviewer in Chromium: from the review queue to a signed-off level of care, with
the refusal of a level below what the red flag requires shown next to the field."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from admissions.pipeline import Stage
from admissions.screening.services import screening_save
from tests.browser.support import sign_in, snap
from tests.factories import InquiryFactory, LevelRef, PersonFactory, ProgramFactory
from tests.screening.builders import screen, use

pytestmark = pytest.mark.browser

# Daily baclofen, out since yesterday and shaky: sedative withdrawal risk, 3.7-WM at least.
BACLOFEN = screen(use("baclofen", 30, 80, "mg", prescribed=True), withdrawal={"symptoms_now": True})


def test_clinician_refuses_a_level_below_the_red_flag_then_signs_off(
    page: Page, facility, coordinator, clinician
) -> None:
    ProgramFactory(
        facility=facility,
        name="Harbor Medical Detox",
        setting="withdrawal",
        level_of_care=LevelRef.get("3.7-WM"),
    )
    inquiry = InquiryFactory(
        facility=facility, stage=Stage.CONTACTED, person=PersonFactory(first_name="Morgan", last_name="Reyes")
    )
    saved = screening_save(inquiry_id=inquiry.pk, answers=BACLOFEN, actor=coordinator)
    assert (saved.screening.complete, saved.screening.has_red_flag) == (True, True)
    wm, day_program = LevelRef.get("3.7-WM"), LevelRef.get("2.5")

    sign_in(page, "clinician")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Clinical review").click()
    expect(page.get_by_role("heading", name="Clinical review")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Morgan Reyes")
    expect(row).to_contain_text("Sedative withdrawal risk")
    expect(row).to_contain_text("3.7-WM")
    expect(row).to_contain_text("Complete")
    snap(page, "signoff-01-review-queue")

    row.get_by_role("link", name=f"Review inquiry {inquiry.pk}").click()
    expect(page.get_by_role("heading", name="Clinical sign-off: Morgan Reyes")).to_be_visible()
    expect(page.locator("#red-flag-banner [role=alert]")).to_contain_text("Sedative withdrawal risk")
    level = page.get_by_label("Final level")
    expect(level).to_have_value(str(wm.pk))  # the provisional level is proposed
    expect(level.locator(f"option[value='{day_program.pk}']")).to_contain_text(
        "below what the red flag requires"
    )

    # A day program is below the safety minimum: refused, next to the field, nothing recorded.
    level.select_option(str(day_program.pk))
    page.get_by_label("Note").fill("Day program; family can drive him.")
    page.get_by_role("button", name="Sign off").click()
    error = page.locator("#signoff-level-error")
    expect(error).to_contain_text("Level intensity 2.5 is below the minimum 3.7")
    expect(level).to_have_attribute("aria-describedby", "signoff-level-error")
    expect(level).to_have_value(str(day_program.pk))
    expect(page.get_by_label("Note")).to_have_value("Day program; family can drive him.")
    snap(page, "signoff-02-refused")

    level.select_option(str(wm.pk))
    page.get_by_label("Note").fill("Agree: medically managed withdrawal first.")
    page.get_by_role("button", name="Sign off").click()
    expect(page).to_have_url(re.compile(r"/review/$"))
    expect(page.get_by_role("status").filter(has_text="Signed off")).to_have_text("Signed off at 3.7-WM.")

    page.goto(f"/inquiries/{inquiry.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Morgan Reyes")
    expect(page.locator("#screening-title ~ p").filter(has_text="Signed off")).to_contain_text(
        "Signed off: 3.7-WM"
    )
    expect(page.locator("#program-title + dl dd").first).to_have_text("3.7-WM")
    expect(page.locator("#timeline .event-screening_signoff")).to_contain_text("Clinician sign-off")
    expect(page.get_by_role("link", name="Clinical sign-off")).to_have_count(0)
    snap(page, "signoff-03-inquiry-signed")
