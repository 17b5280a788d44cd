"""The queue's live-refresh poll: empty while nothing arrives, a trigger when a call or lead does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.calls.support import deliver, payload
from tests.factories import InquiryFactory

pytestmark = pytest.mark.django_db

URL = "admissions:queue-pulse"


def test_first_poll_gives_a_marker_without_a_refresh(coordinator_client, facility):
    InquiryFactory(facility=facility, created_at=timezone.now() - timedelta(minutes=5))
    drawn = int(timezone.now().timestamp()) - 1

    response = coordinator_client.get(reverse(URL), {"since": f"t{drawn}"})

    assert response.status_code == 200
    assert "HX-Trigger" not in response
    assert 'hx-trigger="every 1s"' in response.content.decode()


def test_an_arrival_between_drawing_the_page_and_the_first_poll_refreshes(
    coordinator_client, callrail, google_ads
):
    drawn = int(timezone.now().timestamp()) - 1
    deliver(callrail, "start", payload("callrail_pre_call"))

    response = coordinator_client.get(reverse(URL), {"since": f"t{drawn}"})

    assert response["HX-Trigger"] == "queue-changed"


def _marker(client) -> str:  # type: ignore[no-untyped-def]
    html = client.get(reverse(URL)).content.decode()
    return html.split("since=")[1].split('"')[0]


def test_unchanged_queue_answers_204(coordinator_client, facility):
    InquiryFactory(facility=facility)
    marker = _marker(coordinator_client)

    response = coordinator_client.get(reverse(URL), {"since": marker})

    assert response.status_code == 204
    assert response.content == b""


def test_a_call_moves_the_marker_and_triggers_a_refresh(coordinator_client, callrail, google_ads):
    marker = _marker(coordinator_client)
    deliver(callrail, "start", payload("callrail_pre_call"))

    response = coordinator_client.get(reverse(URL), {"since": marker})

    assert response.status_code == 200
    assert response["HX-Trigger"] == "queue-changed"
    assert f"since={marker}" not in response.content.decode()


def test_a_call_joining_an_open_inquiry_triggers_a_refresh(
    coordinator_client, callrail, google_ads, facility
):
    deliver(callrail, "start", payload("callrail_pre_call"))
    marker = _marker(coordinator_client)
    repeat = payload("callrail_pre_call", resource_id="CAL11111111111111111111111111111111111")
    assert deliver(callrail, "start", repeat).json() == {"status": "merged"}

    assert coordinator_client.get(reverse(URL), {"since": marker})["HX-Trigger"] == "queue-changed"


def test_arrivals_at_other_facilities_do_not_move_the_marker(coordinator_client, other_facility):
    marker = _marker(coordinator_client)
    InquiryFactory(facility=other_facility)

    assert coordinator_client.get(reverse(URL), {"since": marker}).status_code == 204


def test_pulse_needs_a_signed_in_queue_user(client, outsider_client):
    assert client.get(reverse(URL)).status_code == 302
    assert outsider_client.get(reverse(URL)).status_code == 403


def test_pulse_query_budget_is_flat(coordinator_client, facility, django_assert_max_num_queries):
    InquiryFactory.create_batch(30, facility=facility)
    marker = _marker(coordinator_client)
    # session, user, device, roles and permissions, facility scope, then the two aggregates
    with django_assert_max_num_queries(7):
        assert coordinator_client.get(reverse(URL), {"since": marker}).status_code == 204


def test_queue_page_carries_the_pulse(coordinator_client):
    html = coordinator_client.get(reverse("admissions:queue")).content.decode()

    assert 'id="queue-pulse"' in html
    assert "/queue/pulse/?since=t" in html  # the first poll names when the page was drawn
    assert 'hx-trigger="every 30s, queue-changed from:body"' in html
