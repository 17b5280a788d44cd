"""Waitlisting from the match list, and the offer appearing on the capacity board by itself."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from admissions.models import InsurancePolicy, WaitlistEntry
from admissions.pipeline import Stage
from admissions.screening.services import screening_save, screening_signoff
from programs.models import Census
from tests.browser.support import sign_in, snap
from tests.factories import InquiryFactory, LevelRef, PayerFactory, PersonFactory, ProgramFactory
from tests.screening.builders import all_clear
from workers.tasks import capacity_freed

pytestmark = pytest.mark.browser


def test_coordinator_waitlists_from_the_match_list_and_sees_the_offer_on_the_board(
    page: Page, live_server, console_errors, facility, coordinator, clinician
) -> None:
    payer = PayerFactory(name="Blue Shield")
    program = ProgramFactory(
        facility=facility, name="Harbor Residential", setting="residential", level_of_care=LevelRef.get("3.5")
    )
    program.accepted_payers.add(payer)
    Census.objects.filter(program=program).update(occupied=program.capacity)  # full
    inquiry = InquiryFactory(
        facility=facility,
        stage=Stage.CONTACTED,
        person=PersonFactory(first_name="Avery", last_name="Lindqvist"),
    )
    InsurancePolicy.objects.create(inquiry=inquiry, payer=payer)
    saved = screening_save(inquiry_id=inquiry.pk, answers=all_clear(), actor=coordinator)
    screening_signoff(
        screening=saved.screening, level=LevelRef.get("3.5"), actor=clinician, note="Residential."
    )

    sign_in(page, "coordinator")
    page.goto(f"/inquiries/{inquiry.pk}/screening/")
    full = page.locator(".sc-excluded")
    full.locator("summary").click()
    item = full.get_by_role("listitem").filter(has_text="Harbor Residential")
    expect(item).to_contain_text("no beds")
    item.get_by_role("link", name="Waitlist").click()

    expect(page.get_by_role("heading", name=re.compile("Hold or waitlist: Avery Lindqvist"))).to_be_visible()
    form = page.locator("form#waitlist")
    expect(form.get_by_label(re.compile("Harbor Residential"))).to_be_checked()
    form.get_by_label("When a place frees").select_option("sms")
    snap(page, "waitlist-01-place")
    form.get_by_role("button", name="Waitlist").click()

    expect(page).to_have_url(re.compile(r"/waitlist/(#.*)?$"))
    row = page.get_by_role("row").filter(has_text="Avery Lindqvist")
    expect(row).to_contain_text("Harbor Residential")
    expect(row).to_contain_text("Waiting")
    entry = WaitlistEntry.objects.get(inquiry=inquiry)
    assert (entry.program_id, entry.contact, entry.state) == (program.pk, "sms", "waiting")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Capacity board").click()
    board_row = page.locator(f"#program-{program.pk}")
    expect(board_row).to_contain_text("Harbor Residential")
    expect(board_row.locator("td.free")).to_have_text("0")

    # a bed frees; the worker's task offers it (run here in place of a worker process)
    Census.objects.filter(program=program).update(occupied=program.capacity - 1)
    assert capacity_freed(program.pk) == 1

    # no reload: the board's poll brings the offer in
    holder = board_row.get_by_role("link", name="Avery Lindqvist")
    expect(holder).to_be_visible(timeout=15_000)
    expect(board_row).to_contain_text("offer")
    expect(board_row.locator("td.free")).to_have_text("0")
    snap(page, "waitlist-02-board-offer")
    holder.click()
    expect(page).to_have_url(re.compile(rf"/inquiries/{inquiry.pk}/(#.*)?$"))
    expect(page.locator("#timeline")).to_contain_text("is offered and held until")
