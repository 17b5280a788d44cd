"""A coordinator's day with one caller, end to end in Chromium: from the work queue through a
quick intake on the call (with the keyboard only) for a baclofen user whose spouse calls, the
pre-screen it pre-fills, a clinician's sign-off and a VOB specialist's verification in browsers of
their own, to a held bed, a scheduled admission and an admission.

The walk is also the workflow's measure: every value is typed once (``Typed``), each stage shows
exactly one next step and it is the right one (``next_step``), each hand-off appears in the next
person's queue while it stays open (their page polls), and the coordinator's clicks and page loads
outside typing answers are counted against a budget.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect

from admissions.models import Inquiry
from admissions.pipeline import Stage
from admissions.selectors import QueueTab
from programs.models import Census
from tests.browser.support import focus_ring, screenshots_dir, second_user_page, sign_in, snap, tab_to
from tests.factories import InquiryFactory, LevelRef, PayerFactory, PersonFactory, ProgramFactory
from tests.screening.builders import all_clear

pytestmark = pytest.mark.browser

EXISTING_PHONE = "+17275550177"
NEW_PHONE = "+17275550142"


def tab_counts(page: Page) -> dict[str, int]:
    """The number on each work-queue tab, by tab."""
    badges = page.locator("[data-tab-count]")
    expect(badges).to_have_count(len(QueueTab))
    return {str(badge.get_attribute("data-tab-count")): int(badge.inner_text()) for badge in badges.all()}


def answer(page: Page, path: str, value: Any) -> None:
    """Answer one pre-screen item the way a coordinator does: a radio, a choice or a typed value."""
    item = page.locator("#q-" + path.replace(".", "-"))
    if isinstance(value, bool):
        item.get_by_role("radio", name="Yes" if value else "No", exact=True).check()
    elif item.evaluate("el => el.tagName") == "SELECT":
        item.select_option(str(value))
    else:
        item.fill(str(value))


def answer_all_clear(page: Page, *sections: str) -> None:
    """Every safety item of these sections answered "no" (as ``tests.screening.builders.all_clear``)."""
    clear = all_clear()
    for section in sections:
        for code, value in clear[section].items():
            answer(page, f"{section}.{code}", value)


# The coordinator's clicks from the work queue to Admitted, typing answers aside.
CLICK_BUDGET = 14


class Typed:
    """Every value typed into the CRM during the walk: none twice."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def __call__(self, value: str) -> str:
        assert value not in self.values, f"{value!r} was typed twice"
        self.values.append(value)
        return value


class Clicks:
    """The coordinator's clicks (and form submits by Enter) and page loads."""

    def __init__(self, page: Page) -> None:
        self.clicks, self.loads = 0, 0
        page.on("load", lambda _page: self._load())

    def _load(self) -> None:
        self.loads += 1

    def click(self, locator: Locator) -> None:
        self.clicks += 1
        locator.click()


def next_step(page: Page, code: str, *, mine: bool) -> Locator:
    """The inquiry page's one next step: ``code``, a primary button for whoever takes it, else who
    it waits for."""
    step = page.locator("#next-step")
    expect(step).to_have_attribute("data-step", code)
    expect(page.locator(".button.primary")).to_have_count(1 if mine else 0)
    if not mine:
        expect(step).to_contain_text("waiting for")
    return step


def action(page: Page, name: str) -> Locator:
    """Open an action of the inquiry page (a ``<details>`` with its form) and return its form."""
    details = page.locator(f"#action-{name}")
    details.locator("summary").click()
    expect(details).to_have_attribute("open", "")
    return details.locator("form")


def test_coordinator_takes_a_caller_from_intake_to_admission(
    page: Page,
    browser: Browser,
    live_server,
    console_errors,
    facility,
    coordinator,
    clinician,
    vob_specialist,
) -> None:
    payer = PayerFactory(name="Aetna")
    residential = ProgramFactory(
        facility=facility,
        name="Harbor Residential",
        setting="residential",
        level_of_care=LevelRef.get("3.5"),
        census=6,
    )
    detox = ProgramFactory(
        facility=facility,
        name="Harbor Medical Detox",
        setting="withdrawal",
        level_of_care=LevelRef.get("3.7-WM"),
        census=3,
    )
    for program in (residential, detox):
        program.accepted_payers.add(payer)
    existing = InquiryFactory(
        facility=facility, person=PersonFactory(first_name="Quinn", last_name="Oakes", phone=EXISTING_PHONE)
    )

    # --- the work queue ------------------------------------------------------------------------
    sign_in(page, "coordinator")
    expect(page.get_by_role("heading", name="Work queue")).to_be_visible()
    expect(page.locator("#queue-results")).to_contain_text("Quinn Oakes")
    before = tab_counts(page)
    assert (before["new"], before["open"]) == (1, 1)
    snap(page, "flow-01-queue")
    typed, count = Typed(), Clicks(page)

    # --- quick intake, with the keyboard only ----------------------------------------------------
    count.click(page.get_by_role("main").get_by_role("link", name="New intake"))
    expect(page.get_by_role("heading", name="Quick intake")).to_be_visible()
    tab_to(page, "#id_caller_relationship")
    assert focus_ring(page), "the focused field shows no focus outline"
    page.keyboard.type("F")
    expect(page.get_by_label("Who is calling?")).to_have_value("family")
    tab_to(page, "#id_caller_name")
    page.keyboard.type(typed("Dana Marsh"))
    tab_to(page, "#id_caller_phone")
    page.keyboard.type(typed("813 555 0199"))
    tab_to(page, "#id_first_name")
    page.keyboard.type(typed("Riley"))
    tab_to(page, "#id_last_name")
    page.keyboard.type(typed("Marsh"))
    tab_to(page, "#id_phone")
    assert focus_ring(page)
    page.keyboard.type("(727) 555-0177")  # the open inquiry's number, in another format
    duplicates = page.locator("#duplicates")
    expect(duplicates).to_contain_text("Possible duplicate")
    expect(duplicates.get_by_role("link", name=f"#{existing.pk} Quinn Oakes")).to_be_visible()
    snap(page, "flow-02-intake-duplicate-warning")
    page.keyboard.press("Control+A")
    page.keyboard.type(typed("727.555.0142"))
    expect(duplicates).not_to_contain_text("Possible duplicate")
    tab_to(page, "#id_state")
    page.keyboard.type(typed("FL"))
    tab_to(page, "#id_message")
    page.keyboard.type(typed("His wife is calling: he ran out of baclofen yesterday and is shaky."))
    baclofen_box = str(page.get_by_label("Baclofen", exact=True).get_attribute("id"))
    tab_to(page, f"#{baclofen_box}")
    assert focus_ring(page), "a focused checkbox shows no focus outline"
    page.keyboard.press("Space")
    expect(page.get_by_label("Baclofen", exact=True)).to_be_checked()
    # His wife cannot agree to texts or calls for him: the consent boxes stay empty.
    tab_to(page, "#id_payer")
    page.keyboard.type("Aet")  # a select: the first letters pick the payer
    expect(page.get_by_label("Insurance")).to_have_value(str(payer.pk))
    tab_to(page, "#id_member_id")
    page.keyboard.type(typed("AET445566"))
    tab_to(page, "form.intake button[type=submit]")
    assert focus_ring(page), "the submit button shows no focus outline"
    count.clicks += 1  # Enter submits
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/inquiries/\d+/$"))
    pk = int(re.findall(r"\d+", page.url)[-1])
    expect(page.get_by_role("status").filter(has_text="opened")).to_contain_text(f"Inquiry #{pk} opened")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Riley Marsh")
    expect(page.locator(".caller")).to_contain_text("Family member")
    expect(page.locator(".caller")).to_contain_text("Dana Marsh")
    expect(page.locator("a.tel").first).to_have_attribute("href", f"tel:{NEW_PHONE}")
    expect(page.locator("#consent-title + ul")).to_contain_text("No consent recorded")
    timeline = page.locator("#timeline")
    expect(timeline.locator(".event-call")).to_contain_text("Inbound call · Connected")
    expect(timeline.locator(".event-call")).to_contain_text("Quick intake on the call.")
    assert Inquiry.objects.get(pk=pk).assigned_to == coordinator
    step = next_step(page, "prescreen", mine=True)
    snap(page, "flow-03-inquiry")

    # The clinician keeps the review queue open meanwhile, in a browser of their own.
    clinician_context, clin = second_user_page(browser, live_server.url, console_errors)
    sign_in(clin, "clinician")
    clin.get_by_role("navigation", name="Main").get_by_role("link", name="Clinical review").click()
    expect(clin.get_by_role("heading", name="Clinical review")).to_be_visible()
    expect(clin.get_by_role("row").filter(has_text="Riley Marsh")).to_have_count(0)

    # --- the pre-screen: what intake recorded, a live recommendation and a red flag -------------
    count.click(step.get_by_role("link", name="Start the pre-screen"))
    expect(page.get_by_role("heading", name="Pre-screen: Riley Marsh")).to_be_visible()
    expect(page.locator("#screening-panel")).to_contain_text("Nothing saved yet")
    expect(page.locator("#red-flag-banner [role=alert]")).to_have_count(0)
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    answer_all_clear(page, "emergency")
    level = page.locator("#provisional-level")
    expect(page.locator("#save-status")).to_contain_text("Saved at")
    expect(level).to_be_visible()
    expect(level).not_to_contain_text("3.7-WM")

    page.locator("#q-use-substances_30d-baclofen").check()
    answer(page, "substances.baclofen.days_used_30", typed("30"))
    answer(page, "substances.baclofen.amount_per_day", typed("80"))
    answer(page, "substances.baclofen.unit", "mg")
    last_use = timezone.localtime(timezone.now() - timedelta(hours=20))
    answer(page, "substances.baclofen.last_use", last_use.strftime("%Y-%m-%dT%H:%M"))
    answer(page, "substances.baclofen.prescribed", True)
    answer(page, "withdrawal.symptoms_now", True)
    expect(level).to_have_text("No level yet")  # incomplete: what is missing shows, not a level
    banner = page.locator("#red-flag-banner [role=alert]")
    expect(banner).to_contain_text("Sedative withdrawal risk")
    expect(banner).to_contain_text("baclofen")

    for code in ("past_seizures", "past_dts", "past_hallucinations"):
        answer(page, f"withdrawal.{code}", False)
    answer_all_clear(page, "medical", "psychiatric", "suicide")
    expect(page.locator("#screening-panel")).to_contain_text("Complete: every safety question is answered.")
    expect(level).to_contain_text("3.7-WM")
    expect(page.locator("#program-matches li").first).to_contain_text("Harbor Medical Detox")
    expect(page.locator("#program-matches")).not_to_contain_text(residential.name)
    assert page.evaluate("window.sameDocument === true"), "the page reloaded instead of updating in place"
    # The banner cannot be dismissed: nothing to press, Escape does nothing.
    expect(banner.locator("button, [role=button], a")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(banner).to_be_visible()
    # The top of the page: the banner, and the recommendation panel that stays in view.
    page.evaluate("window.scrollTo(0, 0)")
    snap(page, "flow-04-prescreen-red-flag", full_page=False)

    count.click(page.get_by_role("link", name="Open the inquiry"))
    expect(page.locator("#red-flag")).to_contain_text("Safety flag: Sedative withdrawal risk.")
    expect(page.locator("#red-flag")).to_contain_text("A clinical reviewer must sign off")
    # The flag was raised while the screen was still partial; completing it hands the inquiry
    # to the clinicians, and the coordinator sees who acts and since when.
    expect(page.locator(".inquiry-head .stage")).to_have_text("Clinical review")
    next_step(page, "signoff", mine=False)
    expect(page.locator("#next-step")).to_contain_text("waiting for a clinical reviewer since")

    # --- the clinician signs off the level, in a browser of their own ----------------------------
    try:
        # the hand-off reached the review queue the clinician had open, without a reload
        row = clin.get_by_role("row").filter(has_text="Riley Marsh")
        expect(row).to_have_count(1, timeout=20_000)
        expect(row).to_contain_text("Sedative withdrawal risk")
        expect(row).to_contain_text("3.7-WM")
        snap(clin, "flow-05-review-queue")
        row.get_by_role("link", name=f"Review inquiry {pk}").click()
        expect(clin.get_by_role("heading", name="Clinical sign-off: Riley Marsh")).to_be_visible()
        expect(clin.get_by_label("Final level")).to_have_value(str(LevelRef.get("3.7-WM").pk))
        clin.get_by_label("Note").fill("Agree: medically managed withdrawal first.")
        snap(clin, "flow-06-signoff")
        clin.get_by_role("button", name="Sign off").click()
        expect(clin).to_have_url(re.compile(r"/review/$"))
        expect(clin.get_by_role("status").filter(has_text="Signed off")).to_have_text("Signed off at 3.7-WM.")
    finally:
        clinician_context.close()

    # --- back with the coordinator: the hand-off is first in their due list --------------------
    count.click(page.get_by_role("navigation", name="Main").get_by_role("link", name="Work queue"))
    count.click(
        page.get_by_role("navigation", name="Queue tabs").get_by_role(
            "link", name=re.compile("^Follow-ups due")
        )
    )
    handoff = page.locator("#queue-results tbody tr").first
    expect(handoff).to_contain_text("Riley Marsh")
    expect(handoff).to_contain_text("Signed off at 3.7-WM")
    expect(handoff).to_contain_text("Request the VOB")
    snap(page, "flow-07-due-handoff")

    # The VOB specialist keeps the VOB queue open meanwhile.
    vob_context, vob = second_user_page(browser, live_server.url, console_errors)
    try:
        sign_in(vob, "vob")
        vob.goto("/vob/")
        expect(vob.get_by_role("link", name=f"#{pk}")).to_have_count(0)

        count.click(handoff.get_by_role("link", name="Riley Marsh"))
        expect(page.locator("#red-flag-reviewed")).to_contain_text("Safety flag reviewed")
        expect(page.locator("#red-flag")).to_have_count(0)
        step = next_step(page, "request_vob", mine=True)
        # what intake recorded is there: nothing to type again
        expect(step.get_by_label("Payer", exact=True)).to_have_value(str(payer.pk))
        expect(step.get_by_label("Member ID")).to_have_value("AET445566")
        expect(step.get_by_label("VOB status")).to_have_value("requested")
        count.click(step.get_by_role("button", name="Request the VOB"))
        expect(page.locator(".inquiry-head .stage")).to_have_text("Insurance verification")
        next_step(page, "complete_vob", mine=False)

        # --- the VOB specialist: the request appears in their queue; benefits verified ----------
        request = vob.get_by_role("link", name=f"#{pk}")
        expect(request).to_have_count(1, timeout=20_000)
        snap(vob, "flow-08-vob-queue")
        request.click()
        verify = next_step(vob, "complete_vob", mine=True)
        verify.get_by_label("VOB status").select_option("viable")
        verify.get_by_label("In network").select_option("true")
        verify.get_by_role("button", name="Verify benefits").click()
        expect(vob.locator(".inquiry-head .stage")).to_have_text("Approved")
    finally:
        vob_context.close()

    # --- the coordinator: hold, schedule and admit, each the next step, pre-filled ---------------
    page.reload()
    expect(page.locator(".inquiry-head .stage")).to_have_text("Approved")
    step = next_step(page, "hold", mine=True)
    expect(step.get_by_label("Program")).to_have_value(str(detox.pk))  # the top match
    count.click(step.get_by_role("button", name="Hold a bed or slot"))
    expect(page.get_by_role("status").filter(has_text="held")).to_have_text(f"Bed held in {detox.name}.")

    step = next_step(page, "schedule", mine=True)
    expect(step.get_by_label("Program")).to_have_value(str(detox.pk))  # the held one
    step.get_by_label("Admission date").fill(typed(timezone.localdate().isoformat()))
    count.click(step.get_by_role("button", name="Schedule the admission"))
    expect(page.locator(".inquiry-head .stage")).to_have_text("Admission scheduled")

    step = next_step(page, "admit", mine=True)
    expect(step.get_by_label("Program")).to_have_value(str(detox.pk))
    count.click(step.get_by_role("button", name="Admit"))
    expect(page.get_by_role("status").filter(has_text="Admitted")).to_have_text("Admitted.")
    expect(page.locator(".inquiry-head .stage")).to_have_text("Admitted")
    expect(page.locator("#program-title + dl")).to_contain_text(f"to {detox.name}")
    expect(page.locator("#next-step")).to_have_count(0)
    snap(page, "flow-09-admitted")

    # The timeline tells the whole story.
    timeline = page.locator("#timeline")
    expect(timeline.locator(".event-call")).to_contain_text("Inbound call · Connected")
    expect(timeline.locator(".event-red_flag").first).to_be_visible()
    expect(timeline.locator(".event-screening_signoff")).to_be_visible()
    stages = timeline.locator(".event-stage_changed")
    for move in (
        "New → Contacted",
        "Clinical review → Insurance verification",
        "Insurance verification → Approved",
        "Approved → Admission scheduled",
        "Admission scheduled → Admitted",
    ):
        expect(stages.filter(has_text=move)).to_have_count(1)

    # The measure of the walk, kept with the screenshots.
    measure = (
        f"coordinator: {count.clicks} clicks, {count.loads} page loads; {len(typed.values)} values typed once"
    )
    (screenshots_dir() / "flow-measure.txt").write_text(measure + "\n")
    assert count.clicks <= CLICK_BUDGET, f"{count.clicks} clicks"

    inquiry = Inquiry.objects.get(pk=pk)
    assert (inquiry.stage, inquiry.admitted_program_id) == (Stage.ADMITTED, detox.pk)
    assert Census.objects.get(program=detox).occupied == 4
    assert Census.objects.get(program=residential).occupied == 6
