"""The inquiry page's messaging panel in Chromium: a crisis hold only a clinician lifts, a text
deferred to the person's morning with the time it would go to a coordinator, and one handed over."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from admissions.followups import followup_deliver
from admissions.messaging.cadences import cadences_plan
from admissions.messaging.models import MessagingHold
from admissions.models import FollowUp, InquiryEvent
from admissions.pipeline import Stage
from admissions.services import inquiry_advance
from tests.browser.support import sign_in, snap
from tests.followups.helpers import web_lead
from workers.channels import default_channels

pytestmark = pytest.mark.browser


def test_clinician_lifts_a_crisis_hold_and_sees_deferrals_and_hand_overs(
    page: Page, facility, coordinator, clinician, settings
) -> None:
    settings.SMS_PROVIDER = "timeline"
    inquiry = web_lead(facility, email=False, first_name="Robin", state="NY", phone="+12125550177")
    cadences_plan()
    ack = inquiry.followups.get(channel="sms")
    night = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)  # 23:00 in New York
    FollowUp.objects.filter(pk=ack.pk).update(due_at=night)
    assert followup_deliver(followup_id=ack.pk, channels=default_channels(), now=night) == "deferred"
    parked = web_lead(facility, email=False, first_name="Alex", phone="+18005550177", state="", time_zone="")
    cadences_plan()
    parked_ack = parked.followups.get(channel="sms")
    FollowUp.objects.filter(pk=parked_ack.pk).update(due_at=night)
    assert (
        followup_deliver(followup_id=parked_ack.pk, channels=default_channels(), now=night) == "handed over"
    )
    inquiry_advance(inquiry=parked, to=Stage.CRISIS_ROUTED, actor=coordinator, reason="called 911")

    sign_in(page, "coordinator")
    page.goto(f"/inquiries/{inquiry.pk}/")
    panel = page.locator("#messaging")
    expect(panel).to_contain_text("Texts and calls go between 9:00 and 20:00 in New York (E")
    expect(panel).to_contain_text("deferred 1× (quiet hours); to a coordinator if not sent by")
    snap(page, "messaging-01-deferred")
    page.goto(f"/inquiries/{parked.pk}/")
    expect(panel).to_contain_text("Held: Crisis routing")
    expect(panel).to_contain_text("Only a clinician may allow them again.")
    expect(panel).to_contain_text("Handed to a coordinator")
    expect(panel.get_by_role("button", name="Allow automated messages again")).to_have_count(0)
    snap(page, "messaging-02-coordinator-sees-hold")

    page.context.clear_cookies()
    sign_in(page, "clinician")
    page.goto(f"/inquiries/{parked.pk}/")
    panel.get_by_label("Why messages may go again").fill("Safe at home; agreed to information by email.")
    panel.get_by_role("button", name="Allow automated messages again").click()
    expect(
        page.get_by_role("status").filter(has_text="Automated messages are allowed again.")
    ).to_be_visible()
    expect(page.locator("#messaging")).not_to_contain_text("Held: Crisis routing")
    expect(page.locator("#timeline")).to_contain_text("Automated messages allowed again (crisis routing)")
    snap(page, "messaging-03-clinician-released")
    hold = MessagingHold.objects.get(person_id=parked.person_id)
    assert (hold.released_by, hold.release_note) == (
        clinician,
        "Safe at home; agreed to information by email.",
    )
    assert InquiryEvent.objects.filter(inquiry=parked, actor=clinician, data__released=True).count() == 1
