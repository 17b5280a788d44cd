"""The call-tracking webhook end to end: each service's fixtures, signatures, replays, bad
payloads, duplicates, order, missed calls and what a coordinator then sees."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from admissions.calls.models import CallEvent, TrackedCall
from admissions.calls.services import call_tracking_source_revoke
from admissions.models import Channel, FollowUp, Inquiry, InquiryEvent, Touch
from admissions.pipeline import Stage
from crm.models import AuditEvent
from tests.calls.support import deliver, payload
from tests.factories import InquiryFactory, PersonFactory

pytestmark = pytest.mark.django_db

CALLRAIL_CALLER = "+18135550142"
CTM_CALLER = "+19415550177"


def _written() -> dict[str, int]:
    return {
        "inquiries": Inquiry.objects.count(),
        "events": InquiryEvent.objects.count(),
        "touches": Touch.objects.count(),
        "calls": TrackedCall.objects.count(),
        "call_events": CallEvent.objects.count(),
        "followups": FollowUp.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


# --- CallRail ----------------------------------------------------------------------------


def test_callrail_pre_call_opens_an_attributed_inquiry(callrail, google_ads, coordinator):
    coordinator.is_on_duty = True
    coordinator.save(update_fields=["is_on_duty"])

    response = deliver(callrail, "start", payload("callrail_pre_call"))

    assert response.status_code == 200
    assert response.json() == {"status": "created"}
    inquiry = Inquiry.objects.get()
    assert str(inquiry.phone) == CALLRAIL_CALLER
    assert inquiry.stage == Stage.NEW
    assert inquiry.channel == Channel.PHONE
    assert inquiry.lead_source == google_ads.lead_source  # the tracking number's source
    assert inquiry.campaign == google_ads.campaign  # and campaign, though it has no UTM name
    assert inquiry.facility == google_ads.lead_source.default_facility
    assert inquiry.assigned_to == coordinator  # routed like any lead
    assert inquiry.first_attempt_at is None  # the speed-to-lead clock runs
    touch = Touch.objects.get()
    assert (touch.call_tracking_id, touch.channel, touch.campaign_id) == (
        "CAL0f6e3b2a1c9d4e8fa7b6c5d4e3f2a1b0c9",
        Channel.PHONE,
        google_ads.campaign_id,
    )
    assert touch.utm_source == "Google Paid"
    assert (inquiry.person.first_name, inquiry.person.last_name) == ("JANE", "EXAMPLE")
    assert list(inquiry.events.values_list("kind", flat=True).order_by("pk")) == ["created", "assigned"]
    audit = AuditEvent.objects.get(object_type="admissions.inquiry", object_id=str(inquiry.pk))
    assert audit.action == AuditEvent.Action.API_WRITE
    assert audit.actor_label == f"call tracking: CallRail {callrail.ref}"


def test_callrail_post_call_adds_the_call_to_the_timeline(callrail, google_ads):
    deliver(callrail, "start", payload("callrail_pre_call"))
    response = deliver(callrail, "end", payload("callrail_post_call"))

    assert response.status_code == 200
    assert response.json() == {"status": "recorded"}
    inquiry = Inquiry.objects.get()
    call = inquiry.events.get(kind=InquiryEvent.Kind.CALL)
    assert call.call_direction == InquiryEvent.CallDirection.INBOUND
    assert call.call_outcome == InquiryEvent.CallOutcome.CONNECTED
    assert call.data["call_id"] == "CAL0f6e3b2a1c9d4e8fa7b6c5d4e3f2a1b0c9"
    assert call.data["duration_seconds"] == 184
    assert call.data["answered"] is True
    assert call.data["recording_url"].startswith("https://app.callrail.com/calls/")
    assert call.data["provider"] == "callrail"
    assert not FollowUp.objects.filter(kind=FollowUp.Kind.CALLBACK).exists()  # answered: no call-back
    assert list(CallEvent.objects.values_list("kind", flat=True).order_by("pk")) == ["start", "end"]
    assert CallEvent.objects.get(kind="end").timeline_event == call
    assert AuditEvent.objects.filter(object_id=str(inquiry.pk), fields__contains=["call:end"]).count() == 1


# --- CallTrackingMetrics -------------------------------------------------------------------


def test_ctm_missed_call_opens_a_callback_due_now(ctm, coordinator):
    before = timezone.now()
    assert deliver(ctm, "start", payload("ctm_start")).json() == {"status": "created"}
    response = deliver(ctm, "end", payload("ctm_end"))

    assert response.status_code == 200
    inquiry = Inquiry.objects.get()
    assert str(inquiry.phone) == CTM_CALLER
    assert inquiry.lead_source == ctm.lead_source  # the number is not on file: the account's source
    call = inquiry.events.get(kind=InquiryEvent.Kind.CALL)
    assert call.call_outcome == InquiryEvent.CallOutcome.NO_ANSWER
    assert call.data["answered"] is False
    assert call.data["duration_seconds"] == 41
    assert call.data["recording_url"].endswith("/audio.mp3")
    callback = FollowUp.objects.get(kind=FollowUp.Kind.CALLBACK)
    assert callback.inquiry == inquiry
    assert callback.channel == FollowUp.Channel.TASK
    assert callback.state == FollowUp.State.SCHEDULED
    assert before <= callback.due_at <= timezone.now()
    assert call.at < callback.due_at  # so the due list still shows it
    inquiry.refresh_from_db()
    assert inquiry.first_attempt_at is None  # the speed-to-lead clock keeps running


def test_missed_call_shows_in_the_owners_due_list(ctm, coordinator, coordinator_client):
    coordinator.is_on_duty = True
    coordinator.save(update_fields=["is_on_duty"])
    deliver(ctm, "start", payload("ctm_start"))
    deliver(ctm, "end", payload("ctm_end"))

    response = coordinator_client.get(reverse("admissions:queue"), {"tab": "due"})

    assert response.status_code == 200
    inquiry = Inquiry.objects.get()
    assert reverse("admissions:inquiry", args=[inquiry.pk]) in response.content.decode()
    assert "Call-back" in response.content.decode()


def test_ctm_answered_call_by_talk_time(ctm):
    deliver(ctm, "start", payload("ctm_start"))
    deliver(ctm, "end", payload("ctm_end", talk_time=95, dial_status="completed"))

    call = InquiryEvent.objects.get(kind=InquiryEvent.Kind.CALL)
    assert call.call_outcome == InquiryEvent.CallOutcome.CONNECTED
    assert not FollowUp.objects.filter(kind=FollowUp.Kind.CALLBACK).exists()


# --- duplicates and order ------------------------------------------------------------------


def test_the_same_event_twice_writes_once(callrail, google_ads):
    data = payload("callrail_pre_call")
    deliver(callrail, "start", data)
    written = _written()

    response = deliver(callrail, "start", data)

    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    assert _written() == written


def test_end_before_start_opens_one_inquiry_and_one_call_entry(ctm):
    started = timezone.now() - timedelta(minutes=2)
    first = deliver(ctm, "end", payload("ctm_end", started=started))
    late = deliver(ctm, "start", payload("ctm_start", started=started))
    again = deliver(ctm, "end", payload("ctm_end", started=started))

    assert [r.json()["status"] for r in (first, late, again)] == ["created", "recorded", "duplicate"]
    inquiry = Inquiry.objects.get()
    assert sorted(inquiry.events.values_list("kind", flat=True)) == ["call", "created"]
    assert Touch.objects.count() == 1
    assert FollowUp.objects.filter(kind=FollowUp.Kind.CALLBACK).count() == 1


def test_a_call_joins_the_callers_open_inquiry(callrail, google_ads, facility):
    person = PersonFactory(phone=CALLRAIL_CALLER)
    open_inquiry = InquiryFactory(person=person, facility=facility, stage=Stage.CONTACTED)

    response = deliver(callrail, "start", payload("callrail_pre_call"))

    assert response.json() == {"status": "merged"}
    assert Inquiry.objects.get() == open_inquiry
    touch = Touch.objects.get(inquiry=open_inquiry)
    assert touch.call_tracking_id == "CAL0f6e3b2a1c9d4e8fa7b6c5d4e3f2a1b0c9"
    assert open_inquiry.events.filter(kind=InquiryEvent.Kind.TOUCH).count() == 1
    open_inquiry.refresh_from_db()
    assert open_inquiry.channel == "web_form"  # first touch unchanged


def test_two_calls_from_one_caller_share_the_open_inquiry(callrail, google_ads):
    deliver(callrail, "start", payload("callrail_pre_call"))
    second = payload("callrail_pre_call", resource_id="CAL99999999999999999999999999999999999")

    assert deliver(callrail, "start", second).json() == {"status": "merged"}
    assert Inquiry.objects.count() == 1
    assert TrackedCall.objects.filter(inquiry__isnull=False).count() == 2


def test_outbound_calls_are_ignored(callrail):
    response = deliver(callrail, "end", payload("callrail_post_call", direction="outbound"))

    assert response.json() == {"status": "ignored"}
    assert TrackedCall.objects.count() == 0
    assert Inquiry.objects.count() == 0


# --- refusals: nothing written ---------------------------------------------------------------


def test_wrong_signature_is_401(callrail, ctm):
    written = _written()
    for source in (callrail, ctm):
        response = deliver(source, "start", payload("callrail_pre_call"), secret="not-the-secret")  # noqa: S106
        assert response.status_code == 401
        assert response.json()["code"] == "signature_invalid"
    assert _written() == written


def test_missing_signature_is_401(client, callrail):
    url = reverse("calls:webhook", kwargs={"ref": callrail.ref, "event": "start"})

    response = client.post(url, json.dumps(payload("callrail_pre_call")), content_type="application/json")

    assert response.status_code == 401
    assert TrackedCall.objects.count() == 0


def test_a_tampered_body_is_401(callrail):
    data = payload("callrail_pre_call")
    body = json.dumps(data).encode()
    from tests.calls.support import signed_headers

    headers = signed_headers(callrail, body)
    tampered = body.replace(CALLRAIL_CALLER.encode(), b"+18135550143")
    url = reverse("calls:webhook", kwargs={"ref": callrail.ref, "event": "start"})

    from django.test import Client

    response = Client().post(url, tampered, content_type="application/json", **headers)

    assert response.status_code == 401
    assert Inquiry.objects.count() == 0


def test_revoked_and_unknown_sources_are_401(client, callrail):
    call_tracking_source_revoke(source=callrail)
    callrail.refresh_from_db()

    assert deliver(callrail, "start", payload("callrail_pre_call")).status_code == 401
    callrail.ref = "cts_000000000000"
    assert deliver(callrail, "start", payload("callrail_pre_call")).status_code == 401
    assert TrackedCall.objects.count() == 0


def test_an_event_outside_the_window_is_409(callrail, google_ads):
    old = payload("callrail_pre_call", started=timezone.now() - timedelta(hours=2))

    response = deliver(callrail, "start", old)

    assert response.status_code == 409
    assert response.json()["code"] == "outside_replay_window"
    assert _written()["calls"] == 0


def test_a_ctm_delivery_signed_long_ago_is_409(ctm):
    response = deliver(ctm, "start", payload("ctm_start"), sent=timezone.now() - timedelta(hours=1))

    assert response.status_code == 409
    assert TrackedCall.objects.count() == 0


def test_a_body_that_is_not_json_is_400(callrail):
    response = deliver(callrail, "start", None, raw=b"{not json")

    assert response.status_code == 400
    assert response.json() == {"errors": {"non_field_errors": ["The body is not JSON."]}}
    assert TrackedCall.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"customer_phone_number": None, "start_time": "yesterday"},
            {
                "customer_phone_number": ["This field is required."],
                "start_time": ["An ISO 8601 time with its UTC offset."],
            },
        ),
        ({"customer_phone_number": "12"}, {"customer_phone_number": ["Not a valid phone number."]}),
        ({"resource_id": ""}, {"resource_id": ["This field is required."]}),
        ({"recording_player": "javascript:alert(1)"}, {"recording_player": ["Must be an https:// address."]}),
        ({"direction": "sideways"}, {"direction": ['Must be "inbound" or "outbound".']}),
        ({"resource_id": {"nested": True}}, {"resource_id": ["Must be text."]}),
    ],
)
def test_malformed_callrail_payloads_are_400_with_field_errors(callrail, changes, expected):
    written = _written()

    response = deliver(callrail, "end", payload("callrail_post_call", **changes))

    assert response.status_code == 400
    assert response.json() == {"errors": expected}
    assert _written() == written


def test_an_end_event_needs_its_duration_and_answer(callrail):
    data = payload("callrail_post_call", duration="three minutes")
    del data["answered"]

    response = deliver(callrail, "end", data)

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "duration": ["A whole number of seconds from 0 to 86400."],
        "answered": ["This field is required."],
    }


def test_a_json_array_is_400(ctm):
    response = deliver(ctm, "start", [1, 2, 3])

    assert response.status_code == 400
    assert response.json() == {"errors": {"non_field_errors": ["Send the call as a JSON object."]}}


def test_malformed_ctm_payload_is_400(ctm):
    data = payload("ctm_end", caller_number="not a number", duration=-5)
    del data["unix_time"]
    data["called_at"] = "soon"

    response = deliver(ctm, "end", data)

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "caller_number": ["Not a valid phone number."],
        "called_at": ["A time with its UTC offset."],
        "duration": ["A whole number of seconds from 0 to 86400."],
    }
    assert TrackedCall.objects.count() == 0


def test_get_is_not_allowed(client, callrail):
    url = reverse("calls:webhook", kwargs={"ref": callrail.ref, "event": "start"})
    assert client.get(url).status_code == 405


# --- privacy and storage ------------------------------------------------------------------------


def test_the_signing_secret_is_encrypted_at_rest(callrail):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM admissions_calltrackingsource WHERE id = %s", [callrail.pk])
        (stored,) = cursor.fetchone()
    assert stored.startswith("enc1:")
    assert "whsec" not in stored


def test_no_caller_details_in_the_logs(callrail, google_ads, caplog):
    caplog.set_level(logging.DEBUG)
    deliver(callrail, "start", payload("callrail_pre_call"))
    deliver(callrail, "end", payload("callrail_post_call", customer_phone_number="bad"))

    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    for secret in ("8135550142", "813-555-0142", "JANE", "EXAMPLE", "whsec"):
        assert secret not in logged


# --- query budget -------------------------------------------------------------------------------


def test_webhook_query_budget(callrail, google_ads, coordinator, django_assert_max_num_queries):
    # The start writes a lead (admissions.lead_write: a statement per table it writes); with no
    # coordinator free to take it, routing looks a second time for one held by another lead.
    with django_assert_max_num_queries(24):
        assert deliver(callrail, "start", payload("callrail_pre_call")).status_code == 200
    with django_assert_max_num_queries(14):
        assert deliver(callrail, "end", payload("callrail_post_call", answered=False)).status_code == 200
    with django_assert_max_num_queries(6):
        assert deliver(callrail, "end", payload("callrail_post_call")).json() == {"status": "duplicate"}


def test_an_unknown_event_is_404(client, callrail):
    url = reverse("calls:webhook", kwargs={"ref": callrail.ref, "event": "ringing"})

    response = client.post(url, "{}", content_type="application/json")

    assert response.status_code == 404
    assert response.json()["code"] == "unknown_event"


# --- what coordinators see ----------------------------------------------------------------------


def test_the_call_shows_on_the_inquiry_timeline(callrail, google_ads, coordinator_client):
    deliver(callrail, "start", payload("callrail_pre_call"))
    deliver(callrail, "end", payload("callrail_post_call"))
    inquiry = Inquiry.objects.get()

    html = coordinator_client.get(reverse("admissions:inquiry", args=[inquiry.pk])).content.decode()

    assert "Inbound call · Connected" in html
    assert "Answered · 3 min 04 s · CallRail call CAL0f6e3b2a1c9d4e8fa7b6c5d4e3f2a1b0c9" in html
    assert (
        'href="https://app.callrail.com/calls/CAL0f6e3b2a1c9d4e8fa7b6c5d4e3f2a1b0c9/recording?access_key=example"'
        in html
    )


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0 s"), (45, "45 s"), (184, "3 min 04 s"), (3720, "1 h 02 min"), (None, "")]
)
def test_call_duration_reads_as_a_coordinator_says_it(seconds, shown):
    from admissions.templatetags.calls_ui import call_duration

    assert call_duration(seconds) == shown


def test_an_administrator_adds_a_source_with_a_write_only_secret(administrator, call_lead_source):
    from django.test import Client

    from admissions.calls.models import CallTrackingSource
    from tests.signin import login_verified

    client = Client()
    login_verified(client, administrator)
    add = reverse("admin:admissions_calltrackingsource_add")
    assert client.get(add).status_code == 200

    refused = client.post(add, {"lead_source": call_lead_source.pk, "provider": "callrail", "label": "Main"})
    assert refused.status_code == 200  # the form again, with the error
    assert "Paste the service" in refused.content.decode()
    assert CallTrackingSource.objects.count() == 0

    response = client.post(
        add,
        {
            "lead_source": call_lead_source.pk,
            "provider": "callrail",
            "label": "Main",
            "signing_secret": "tok-123",
        },
    )
    assert response.status_code == 302
    source = CallTrackingSource.objects.get()
    assert source.ref.startswith("cts_")
    assert source.secret == "tok-123"
    assert source.created_by == administrator
    change = client.get(
        reverse("admin:admissions_calltrackingsource_change", args=[source.pk])
    ).content.decode()
    assert "tok-123" not in change  # never shown again
    assert source.ref in change
