"""The pre-screen's safety refinements in Chromium, as a coordinator and as a clinical reviewer:
a mother calling about her son who stopped clonazepam two weeks ago, a caller who says yes to
thoughts of suicide and will not answer the follow-ups, and an emergency on the line."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from admissions.models import Caller
from admissions.pipeline import Stage
from admissions.screening.services import screening_save
from tests.browser.support import sign_in, sign_out, snap
from tests.factories import CallerFactory, InquiryFactory, LevelRef, PersonFactory, ProgramFactory
from tests.screening.builders import all_clear, screen, use

pytestmark = pytest.mark.browser


def answer(page: Page, path: str, value: Any) -> None:
    """Answer one item as a coordinator does: a radio, a choice or a typed value."""
    item = page.locator("#q-" + path.replace(".", "-"))
    if value == "refused":
        item.get_by_role("radio", name="Refused / not known").check()
    elif isinstance(value, bool):
        item.get_by_role("radio", name="Yes" if value else "No", exact=True).check()
    elif item.evaluate("el => el.tagName") == "SELECT":
        item.select_option(str(value))
    else:
        item.fill(str(value))


def answer_all_clear(page: Page, *sections: str) -> None:
    clear = all_clear()
    for section in sections:
        for code, value in clear[section].items():
            answer(page, f"{section}.{code}", value)


@pytest.fixture
def programs(facility):  # type: ignore[no-untyped-def]
    return [
        ProgramFactory(
            facility=facility,
            name="Harbor Medical Detox",
            setting="withdrawal",
            level_of_care=LevelRef.get("3.7-WM"),
        ),
        ProgramFactory(
            facility=facility,
            name="Harbor Evening IOP",
            setting="iop",
            level_of_care=LevelRef.get("2.1"),
            capacity_kind="slots",
        ),
        ProgramFactory(
            facility=facility,
            name="Harbor Outpatient",
            setting="op",
            level_of_care=LevelRef.get("1"),
            capacity_kind="slots",
        ),
    ]


def test_coordinator_screens_a_mother_calling_about_a_recent_clonazepam_stop(
    page: Page, facility, coordinator, programs
) -> None:
    mother = CallerFactory(
        relationship=Caller.Relationship.FAMILY, relationship_detail="mother", name="Dana Reyes"
    )
    inquiry = InquiryFactory(
        facility=facility,
        stage=Stage.CONTACTED,
        caller=mother,
        person=PersonFactory(first_name="Morgan", last_name="Reyes", postal_code="33606"),
    )
    sign_in(page, "coordinator")
    page.goto(f"/inquiries/{inquiry.pk}/")
    notice = page.locator("#caller-consent")
    expect(notice).to_contain_text("Dana Reyes (mother) is calling about Morgan.")
    expect(
        notice.get_by_role("link", name="Record the person's consent to share with the caller")
    ).to_be_visible()
    snap(page, "safety-01-inquiry-family-caller")

    page.get_by_role("link", name="Start the pre-screen").click()
    expect(page.get_by_role("heading", name="Pre-screen: Morgan Reyes")).to_be_visible()
    expect(page.locator("#caller-consent")).to_contain_text("Morgan's own consent is needed")
    answer_all_clear(page, "emergency")
    panel = page.locator("#screening-panel")
    expect(page.locator("#save-status")).to_contain_text("Saved at")
    expect(panel.locator("#provisional-level")).to_have_text("No level yet")
    expect(panel.locator("#matches-withheld")).to_contain_text("safety questions not answered yet")
    expect(panel.locator("#program-matches")).to_have_count(0)
    snap(page, "safety-02-incomplete-no-level", full_page=False)

    page.locator("#q-use-substances_30d-benzodiazepines").check()
    answer(page, "substances.benzodiazepines.days_used_30", 16)
    answer(page, "substances.benzodiazepines.amount_per_day", 4)
    answer(page, "substances.benzodiazepines.unit", "mg")
    answer(page, "substances.benzodiazepines.drug", "clonazepam")
    answer(page, "substances.benzodiazepines.duration_months", 72)
    stopped = timezone.localtime(timezone.now() - timedelta(days=14))
    answer(page, "substances.benzodiazepines.last_use", stopped.strftime("%Y-%m-%dT%H:%M"))
    answer(page, "withdrawal.symptoms_now", True)
    banner = page.locator("#red-flag-banner [role=alert]")
    expect(banner).to_contain_text("Sedative withdrawal risk")
    expect(banner).to_contain_text("up to 28 days after the last dose")
    expect(panel.locator("#provisional-level")).to_have_text("No level yet")

    for code in ("past_seizures", "past_dts", "past_hallucinations"):
        answer(page, f"withdrawal.{code}", False)
    answer_all_clear(page, "medical", "psychiatric", "suicide")
    expect(panel).to_contain_text("Complete: every safety question is answered.")
    expect(panel.locator("#provisional-level")).to_contain_text("3.7-WM")
    expect(page.locator("#program-matches li").first).to_contain_text("Harbor Medical Detox")
    expect(page.locator("#program-matches")).not_to_contain_text("Harbor Evening IOP")
    snap(page, "safety-03-recent-cessation-flag", full_page=False)

    page.goto(f"/inquiries/{inquiry.pk}/")
    expect(page.locator("#red-flag")).to_contain_text(
        "Medically managed withdrawal (3.7-WM) or hospital only."
    )
    snap(page, "safety-04-inquiry-after-screen")

    page.locator("#caller-consent").get_by_role(
        "link", name="Record the person's consent to share with the caller"
    ).click()
    expect(page.get_by_role("heading", name="Record a Part 2 consent")).to_be_visible()
    expect(page.get_by_label("To whom")).to_have_value("individual")
    expect(page.get_by_label("Recipient's name")).to_have_value("Dana Reyes")
    snap(page, "safety-05-consent-form-prefilled")


def test_a_refused_suicide_follow_up_and_an_emergency_as_coordinator_then_clinician(
    page: Page, facility, coordinator, clinician, programs
) -> None:
    casey = InquiryFactory(
        facility=facility, stage=Stage.CONTACTED, person=PersonFactory(first_name="Casey", last_name="Lee")
    )
    rest = screen(use("alcohol", 6, 4, "drinks"))
    del rest["suicide"]
    screening_save(inquiry_id=casey.pk, answers=rest, actor=coordinator)

    sign_in(page, "coordinator")
    page.goto(f"/inquiries/{casey.pk}/screening/")
    answer(page, "suicide.wish_dead", True)
    answer(page, "suicide.thoughts", True)
    banner = page.locator("#red-flag-banner [role=alert]")
    expect(banner).to_contain_text("Suicide risk")
    expect(banner).to_contain_text("method, intent and plan not answered")
    snap(page, "safety-06-thoughts-yes-follow-ups-unanswered", full_page=False)
    for item in ("method", "intent", "plan"):
        answer(page, f"suicide.{item}", "refused")
    answer(page, "suicide.recent_behaviour", False)
    panel = page.locator("#screening-panel")
    expect(panel).to_contain_text("Complete: every safety question is answered.")
    expect(banner).to_contain_text("method, intent and plan refused or not known")
    expect(panel.locator("#provisional-level")).to_contain_text("4")
    snap(page, "safety-07-follow-ups-refused", full_page=False)

    drew = InquiryFactory(
        facility=facility, stage=Stage.CONTACTED, person=PersonFactory(first_name="Drew", last_name="Park")
    )
    screening_save(
        inquiry_id=drew.pk,
        answers=screen(use("alcohol", 30, 12, "drinks"), emergency={"seizure_now": True}),
        actor=coordinator,
    )
    page.goto(f"/inquiries/{drew.pk}/screening/")
    expect(page.locator("#emergency-action")).to_contain_text("Call 911 now")
    expect(page.locator("#matches-withheld")).to_contain_text(
        "Programs are matched after the emergency is handled."
    )
    expect(page.locator("#program-matches")).to_have_count(0)
    snap(page, "safety-08-emergency-no-programs", full_page=False)
    page.goto(f"/inquiries/{drew.pk}/")
    expect(page.locator("#screening-withheld")).to_contain_text("Emergency now")
    snap(page, "safety-09-inquiry-emergency")

    sign_out(page)
    sign_in(page, "clinician")
    page.goto("/review/")
    expect(page.get_by_role("row").filter(has_text="Casey Lee")).to_contain_text("Suicide risk")
    snap(page, "safety-10-review-queue")
    page.goto(f"/inquiries/{casey.pk}/screening/signoff/")
    expect(page.locator("#red-flag-banner [role=alert]")).to_contain_text("refused or not known")
    snap(page, "safety-11-signoff-refused-follow-ups", full_page=False)
    expect(page).to_have_url(re.compile(rf"/inquiries/{casey.pk}/screening/signoff/$"))
