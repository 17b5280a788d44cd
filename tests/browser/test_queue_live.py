"""The work queue in Chromium updates itself when a call or a lead arrives: no reload, the new
row marked, and the missed call's call-back in the due tab."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from admissions.calls.models import CallTrackingSource
from admissions.calls.services import call_tracking_source_create
from admissions.lead_write import lead_ingest
from admissions.leads import LeadData
from admissions.models import Inquiry, LeadSource
from tests.browser.support import sign_in, snap
from tests.calls.support import SECRET, payload, signed_headers
from tests.factories import InquiryFactory, LeadSourceFactory

pytestmark = pytest.mark.browser


def _post_webhook(base_url: str, source: CallTrackingSource, event: str, data: dict) -> int:  # type: ignore[type-arg]
    """Through the live server, as the service would send it."""
    body = json.dumps(data).encode()
    headers = {"Content-Type": "application/json"}
    for meta, value in signed_headers(source, body).items():
        headers[meta.removeprefix("HTTP_").replace("_", "-").title().replace("Ctm", "CTM")] = value
    request = urllib.request.Request(  # noqa: S310 - the live server's own http URL
        f"{base_url}/api/v1/calls/{source.ref}/{event}/", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return int(response.status)


def test_calls_and_leads_appear_in_the_open_queue_without_a_reload(
    page: Page, live_server, facility, coordinator
):
    coordinator.is_on_duty = True
    coordinator.save(update_fields=["is_on_duty"])
    source = LeadSourceFactory(
        name="Call tracking", kind=LeadSource.Kind.CALL_TRACKING, default_facility=facility
    )
    ctm = call_tracking_source_create(
        lead_source=source, provider=CallTrackingSource.Provider.CALLTRACKINGMETRICS, secret=SECRET
    )
    waiting = InquiryFactory(facility=facility)
    sign_in(page, "coordinator")
    page.goto("/")
    rows = page.locator("#queue-results tbody tr")
    expect(rows).to_have_count(1)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    expect(page.locator("#queue-pulse[hx-trigger='every 1s']")).to_have_count(1)  # the pulse has its marker

    assert _post_webhook(live_server.url, ctm, "start", payload("ctm_start")) == 200
    called = Inquiry.objects.get(phone="+19415550177")
    new_row = page.locator(
        "#queue-results tbody tr.row-new", has=page.locator(f'a[href="/inquiries/{called.pk}/"]')
    )
    expect(new_row).to_have_count(1)
    expect(new_row).to_contain_text("John Sample")
    expect(page.locator("#queue-results tbody tr.row-new")).to_have_count(1)  # the old row is not marked
    expect(
        page.locator(f'#queue-results tbody tr:not(.row-new) a[href="/inquiries/{waiting.pk}/"]')
    ).to_have_count(2)
    snap(page, "queue-live-01-call-arrived")

    web = LeadSourceFactory(name="Website form", kind=LeadSource.Kind.WEBSITE, default_facility=facility)
    lead = lead_ingest(
        lead=LeadData(first_name="Avery", last_name="Webform", phone="+18135550166"),
        source=web,
        actor_label="test",
    )
    lead_row = page.locator(
        "#queue-results tbody tr.row-new", has=page.locator(f'a[href="/inquiries/{lead.inquiry.pk}/"]')
    )
    expect(lead_row).to_have_count(1)
    expect(page.locator("#queue-results tbody tr")).to_have_count(3)
    expect(page.locator("#queue-results tbody tr.row-new")).to_have_count(2)  # both arrivals, for a minute
    assert page.evaluate("window.__sameDocument") is True
    snap(page, "queue-live-02-lead-arrived")

    assert _post_webhook(live_server.url, ctm, "end", payload("ctm_end")) == 200
    page.get_by_role("link", name="Follow-ups due").click()
    due = page.locator("#queue-results tbody tr", has=page.locator(f'a[href="/inquiries/{called.pk}/"]'))
    expect(due.filter(has_text="Call-back")).to_have_count(1)  # beside the new inquiry's own call task
    snap(page, "queue-live-03-missed-call-callback")
