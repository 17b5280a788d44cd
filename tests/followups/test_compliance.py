"""Issue 18: the recipient's real local time, every opt-out phrase, content checks on every part,
crisis holds. Leads come in through the real lead API, messages go through the planner and the
delivery code with the clock given, replies through the signed webhooks."""

from __future__ import annotations

import json
import time as time_module
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from admissions.api.keys import lead_source_key_create
from admissions.followups import followup_deliver
from admissions.messaging.cadences import cadences_plan
from admissions.messaging.content import content_problems
from admissions.messaging.coordinator_texts import coordinator_text_send
from admissions.messaging.models import (
    InboundMessage,
    MessageTemplate,
    MessagingHold,
    OutboundMessage,
    SendingRule,
)
from admissions.messaging.replies import inbound_meaning
from admissions.messaging.views import email_signature
from admissions.models import ContactConsent, FollowUp, Inquiry, InquiryEvent, Person
from admissions.pipeline import Stage
from admissions.services import inquiry_advance
from crm.time_zones import zone_words
from tests.factories import LeadSourceFactory
from tests.followups.test_inbound import _inbound
from workers.channels import default_channels

JUNE = datetime(2026, 6, 10, tzinfo=UTC)  # EDT (UTC-4), CDT (UTC-5), PDT (UTC-7)


def at(hour: int, minute: int = 0, day: datetime = JUNE) -> datetime:
    return day.replace(hour=hour, minute=minute)


@pytest.fixture
def lead_token(facility):  # type: ignore[no-untyped-def]
    source = LeadSourceFactory(name="Harbor Web Forms", default_facility=facility)
    return lead_source_key_create(lead_source=source, label="tests", rate_limit_per_minute=10_000)[1]


def api_lead(token: str, *, phone: str, state: str = "", postal_code: str = "", email: str = "") -> Inquiry:
    """A web lead with text and email consent, posted to the lead API."""
    body = {
        "first_name": "Sam",
        "last_name": "Lee",
        "phone": phone,
        "email": email or f"sam{phone[-4:]}@example.org",
        "state": state,
        "postal_code": postal_code,
        "caller_relationship": "self",
        "consent": {
            "sms": True,
            "email": True,
            "call": False,
            "text": "I agree to receive calls, texts and emails about my inquiry. Reply STOP to opt out.",
            "captured_at": "2026-06-01T12:00:00Z",
        },
    }
    body = {k: v for k, v in body.items() if v != ""}
    response = Client().post(
        "/api/v1/leads/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201, response.content
    return Inquiry.objects.get(pk=response.json()["id"])


def deliver(followup: FollowUp, now: datetime) -> str:
    """The worker's delivery of one row at ``now`` (the row made due at ``now`` if it is not yet)."""
    FollowUp.objects.filter(pk=followup.pk, due_at__gt=now).update(due_at=now)
    return followup_deliver(followup_id=followup.pk, channels=default_channels(), now=now)


def planned(inquiry: Inquiry, channel: str, template_code: str, key: str) -> FollowUp:
    """A nurture message planned for 12:00 in New York on the test day (as if planned earlier)."""
    return FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.NURTURE_TOUCH,
        channel=channel,
        template_code=template_code,
        due_at=at(16),
        dedupe_key=key,
    )


def ack_sms(inquiry: Inquiry) -> FollowUp:
    cadences_plan()
    return inquiry.followups.get(channel="sms", kind=FollowUp.Kind.ACKNOWLEDGEMENT)


# --- 1. no single time zone: never silently parked -------------------------------------------


@pytest.mark.django_db
def test_toll_free_number_without_a_state_is_handed_to_a_coordinator(lead_token, sms_api, statute_rules):
    inquiry = api_lead(lead_token, phone="(800) 555-0100")
    ack = ack_sms(inquiry)
    assert deliver(ack, at(16)) == "handed over"
    ack.refresh_from_db()
    assert ack.state == FollowUp.State.CANCELLED
    assert ack.outcome == (
        "handed to a coordinator: no allowed minute in 42 zones of a non-geographic number "
        "(42 possible zones)"
    )
    assert sms_api.ledger.raw == []
    review = inquiry.followups.get(kind=FollowUp.Kind.COORDINATOR_REVIEW)
    assert (review.channel, review.state, review.due_at) == ("task", "scheduled", at(16))
    assert deliver(review, at(16)) == "done"
    alert = InquiryEvent.objects.get(inquiry=inquiry, kind="note", data__followup=review.pk)
    assert alert.data["alert"] is True
    assert alert.body == (
        "Text not sent (acknowledge a new inquiry): no allowed minute in 42 zones of a non-geographic "
        "number (42 possible zones)"
    )


@pytest.mark.django_db
def test_a_deferral_has_an_upper_bound(lead_token, sms_api, statute_rules):
    inquiry = api_lead(lead_token, phone="(212) 555-0100", state="NY")
    ack = ack_sms(inquiry)
    assert deliver(ack, at(3)) == "deferred"  # 23:00 in New York -> 09:00
    ack.refresh_from_db()
    assert (ack.due_at, ack.deferred_from, ack.deferrals) == (at(13), at(3), 1)
    # still not sent 47 hours after it first fell due (say the provider was down): the next
    # allowed minute would be past 48 hours, so a coordinator gets it instead
    FollowUp.objects.filter(pk=ack.pk).update(deferred_from=at(3) - timedelta(hours=47))
    assert deliver(ack, at(3)) == "handed over"
    assert inquiry.followups.filter(kind=FollowUp.Kind.COORDINATOR_REVIEW).count() == 1
    assert sms_api.ledger.raw == []


@pytest.mark.django_db
def test_deferrals_and_hand_overs_show_on_the_inquiry_page(
    lead_token, coordinator_client, sms_api, statute_rules
):
    deferred = api_lead(lead_token, phone="(212) 555-0101", state="NY")
    assert deliver(ack_sms(deferred), at(3)) == "deferred"
    page = coordinator_client.get(reverse("admissions:inquiry", args=[deferred.pk])).content.decode()
    eastern = zone_words("America/New_York")  # New York (EST), or (EDT) in summer
    assert f"Texts and calls go between <strong>9:00 and 20:00</strong> in {eastern}" in page
    assert "deferred 1× (quiet hours); to a coordinator if not sent by" in page
    parked = api_lead(lead_token, phone="(888) 555-0102")
    assert deliver(ack_sms(parked), at(16)) == "handed over"
    page = coordinator_client.get(reverse("admissions:inquiry", args=[parked.pk])).content.decode()
    assert "Handed to a coordinator" in page
    assert "a non-geographic number (42 possible zones)" in page


# --- 2. postal codes count -------------------------------------------------------------------


@pytest.mark.django_db
def test_los_angeles_postal_code_with_a_new_york_number_waits_for_pacific_morning(
    lead_token, sms_api, statute_rules
):
    inquiry = api_lead(lead_token, phone="(212) 555-0103", postal_code="90012")
    ack = ack_sms(inquiry)
    assert deliver(ack, at(13)) == "deferred"  # 09:00 in New York is 06:00 in Los Angeles
    ack.refresh_from_db()
    assert ack.due_at == at(16)  # 09:00 Pacific
    assert deliver(ack, at(16)) == "done"
    assert len(sms_api.ledger.raw) == 1


# --- 3. state rules by every signal, as data ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("phone", "state", "postal_code", "place"),
    [
        ("(813) 555-0104", "GA", "", "FL"),  # a Florida area code, another state on the form
        ("(404) 555-0105", "GA", "33602", "FL"),  # a Florida postal code
        ("(405) 555-0106", "TX", "", "OK"),  # an Oklahoma area code
        ("(214) 555-0107", "", "73102", "OK"),  # an Oklahoma postal code
    ],
)
def test_a_states_daily_cap_applies_by_area_code_or_postal_code(
    lead_token, coordinator, sms_api, statute_rules, phone, state, postal_code, place
):
    inquiry = api_lead(lead_token, phone=phone, state=state, postal_code=postal_code)
    start = at(17)  # 13:00 Eastern, 12:00 Central
    texts = [coordinator_text_send(inquiry=inquiry, actor=coordinator, body=f"Hello {n}") for n in range(4)]
    results = [deliver(m.followup, start + timedelta(minutes=30 * n)) for n, m in enumerate(texts)]
    assert results == ["done", "done", "done", "deferred"]  # four in 90 minutes: the fourth waits
    fourth = FollowUp.objects.get(pk=texts[3].followup_id)
    assert fourth.outcome == f"deferred: 3 texts in 24 hours ({place})"
    assert fourth.due_at == start + timedelta(hours=24, minutes=1)
    assert len(sms_api.ledger.raw) == 3


@pytest.mark.django_db
def test_an_administrator_adds_a_state_rule(lead_token, sms_api, statute_rules):
    SendingRule(
        place="tx", name="A narrower rule", starts_at="10:00", ends_at="18:00", statute="test"
    ).full_clean()
    SendingRule.objects.create(
        place="TX", name="A narrower rule", starts_at="10:00", ends_at="18:00", statute="test"
    )
    inquiry = api_lead(lead_token, phone="(212) 555-0108", postal_code="75201")  # Dallas
    ack = ack_sms(inquiry)
    assert deliver(ack, at(23, 30)) == "deferred"  # 18:30 in Dallas
    ack.refresh_from_db()
    assert ack.due_at == at(15, 0, JUNE + timedelta(days=1))  # 10:00 Central the next day
    with pytest.raises(ValidationError):
        SendingRule(place="NV", name="x", starts_at="20:00", ends_at="09:00", statute="x").full_clean()


# --- 4. staff call tasks wait for the person's hours -------------------------------------------


@pytest.mark.django_db
def test_call_tasks_wait_for_the_persons_calling_hours_but_staff_alerts_do_not(lead_token, statute_rules):
    inquiry = api_lead(lead_token, phone="(310) 555-0109", state="CA")
    alert = inquiry.followups.get(kind=FollowUp.Kind.COORDINATOR_ALERT)
    call = inquiry.followups.filter(kind=FollowUp.Kind.CALL_TASK).order_by("due_at").first()
    assert call is not None
    night = at(7, 30)  # 00:30 in Los Angeles
    assert deliver(alert, night) == "done"  # a new lead is waiting: staff hear of it at once
    assert deliver(call, night) == "deferred"
    call.refresh_from_db()
    assert (call.state, call.due_at, call.outcome) == (
        "scheduled",
        at(16),  # 09:00 Pacific
        "deferred: outside the person's calling hours",
    )
    assert not InquiryEvent.objects.filter(inquiry=inquiry, data__followup=call.pk).exists()
    assert deliver(call, at(16)) == "done"
    assert InquiryEvent.objects.get(inquiry=inquiry, data__followup=call.pk).body.startswith("Call task")


# --- 5. every way of saying stop ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I want to opt out", "please stop sending these", "Stop. Who is this?", "who is this?? STOP",
        "UnSubscribe me please", "I revoke my consent", "no more texts", "Quit texting me", "END", "cancel",
        "not interested", "take me off your list", "Please remove my number", "stop the messages please",
    ],
)  # fmt: skip
def test_fcc_words_and_free_text_refusals_are_opt_outs(text):
    assert inbound_meaning(text) == InboundMessage.Meaning.OPT_OUT


@pytest.mark.parametrize("text", ["Can we end early?", "Do I need to cancel?", "no", "will it end soon"])
def test_a_keyword_in_an_unclear_reply_is_unclear(text):
    assert inbound_meaning(text) == InboundMessage.Meaning.UNCLEAR


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["I want to opt out", "please stop sending these"])
def test_free_text_opt_out_through_the_webhook_revokes_and_confirms_once(
    client, lead_token, sms_api, always_open, text
):
    inquiry = api_lead(lead_token, phone="(813) 555-0110")
    cadences_plan()
    assert _inbound(client, inquiry, text).status_code == 200
    assert not ContactConsent.objects.filter(person=inquiry.person, revoked_at__isnull=True).exists()
    assert Person.objects.get(pk=inquiry.person_id).ok_to_text is False
    assert not inquiry.followups.filter(
        channel__in=["sms", "email"], kind="acknowledgement", state="scheduled"
    ).exists()
    confirmation = inquiry.followups.get(kind=FollowUp.Kind.OPT_OUT_CONFIRMATION)
    assert followup_deliver(followup_id=confirmation.pk, channels=default_channels()) == "done"
    assert "no more automated messages" in sms_api.messages()[-1]["Body"]


@pytest.mark.django_db
def test_unclear_reply_holds_messages_and_asks_a_coordinator(
    client, coordinator, lead_token, sms_api, always_open
):
    inquiry = api_lead(lead_token, phone="(813) 555-0111")
    cadences_plan()
    assert _inbound(client, inquiry, "Can we end early?", sid="SM-unclear").status_code == 200
    assert InboundMessage.objects.get(provider_message_id="SM-unclear").meaning == "unclear"
    assert ContactConsent.objects.filter(person=inquiry.person, revoked_at__isnull=True).count() == 2  # kept
    hold = MessagingHold.objects.get(person=inquiry.person, released_at__isnull=True)
    assert hold.reason == "unclear_reply"
    assert not inquiry.followups.filter(channel__in=["sms", "email"], state="scheduled").exists()
    assert inquiry.followups.filter(kind=FollowUp.Kind.COORDINATOR_REVIEW).exists()
    # a message planned now is held at send time too
    text = planned(inquiry, "sms", "ack-sms", "t-held")
    assert deliver(text, at(16)) == "cancelled"
    # the coordinator asked: messages may go again, and the decision is on the timeline
    staff = Client()
    from tests.signin import login_verified

    login_verified(staff, coordinator)
    response = staff.post(reverse("messaging:hold-release", args=[hold.pk]), {"note": "Asked: wants texts."})
    assert response.status_code == 302
    hold.refresh_from_db()
    assert (hold.released_by, hold.release_note) == (coordinator, "Asked: wants texts.")
    assert InquiryEvent.objects.filter(
        inquiry=inquiry, data__messaging_hold=hold.pk, data__released=True
    ).exists()


def _email_post(client: Client, payload: dict[str, str], *, secret: str, stamp: str | None = None):  # type: ignore[no-untyped-def]
    body = json.dumps(payload).encode()
    stamp = stamp or str(int(time_module.time()))
    return client.post(
        reverse("messaging:email-inbound"),
        data=body,
        content_type="application/json",
        HTTP_X_WEBHOOK_TIMESTAMP=stamp,
        HTTP_X_WEBHOOK_SIGNATURE="sha256=" + email_signature(secret=secret, timestamp=stamp, body=body),
    )


@pytest.mark.django_db
def test_email_reply_opt_out_through_the_signed_webhook(client, settings, lead_token, always_open):
    settings.EMAIL_WEBHOOK_SECRET = "email-secret"
    inquiry = api_lead(lead_token, phone="(813) 555-0112", email="pat@example.org")
    cadences_plan()
    reply = {
        "message_id": "<r1@example.org>",
        "from": "Pat@Example.org",
        "subject": "Re: We received your message",
        "text": "Please stop sending these.\n\nOn Tue, Harbor Health wrote:\n> Someone will call you",
    }
    assert _email_post(client, reply, secret="wrong").status_code == 403
    assert (
        _email_post(
            client, reply, secret="email-secret", stamp=str(int(time_module.time()) - 3600)
        ).status_code
        == 403
    )
    assert ContactConsent.objects.filter(person=inquiry.person, revoked_at__isnull=True).count() == 2
    assert _email_post(client, reply, secret="email-secret").status_code == 204
    assert not ContactConsent.objects.filter(person=inquiry.person, revoked_at__isnull=True).exists()
    assert not inquiry.followups.filter(channel__in=["sms", "email"], state="scheduled").exists()
    inbound = InboundMessage.objects.get(channel="email")
    assert (inbound.meaning, inbound.person_id) == ("opt_out", inquiry.person_id)
    assert _email_post(client, reply, secret="email-secret").status_code == 409  # the same message id


@pytest.mark.django_db
def test_an_email_reply_with_only_an_html_part_is_read(client, settings, lead_token, always_open):
    settings.EMAIL_WEBHOOK_SECRET = "email-secret"
    inquiry = api_lead(lead_token, phone="(813) 555-0114", email="lee@example.org")
    reply = {
        "message_id": "r3",
        "from": "lee@example.org",
        "subject": "Re: Checking in",
        "html": "<div>Please <b>un</b>subscribe&nbsp;me</div><blockquote>Reply to chat</blockquote>",
    }
    assert _email_post(client, reply, secret="email-secret").status_code == 204
    assert InboundMessage.objects.get(channel="email").meaning == "opt_out"
    assert not ContactConsent.objects.filter(person=inquiry.person, revoked_at__isnull=True).exists()
    quoted = {**reply, "message_id": "r4", "html": "<p>Friday works</p><blockquote>Reply STOP</blockquote>"}
    assert _email_post(client, quoted, secret="email-secret").status_code == 204
    assert InboundMessage.objects.get(provider_message_id="email:r4").meaning == "reply"


@pytest.mark.django_db
def test_quoted_text_in_an_email_reply_is_not_read_as_the_persons_words(
    client, settings, lead_token, always_open
):
    settings.EMAIL_WEBHOOK_SECRET = "email-secret"
    inquiry = api_lead(lead_token, phone="(813) 555-0113", email="kim@example.org")
    reply = {"message_id": "r2", "from": "kim@example.org", "subject": "Re: Checking in",
             "text": "Thanks, call me Friday.\n> Reply STOP to opt out"}  # fmt: skip
    assert _email_post(client, reply, secret="email-secret").status_code == 204
    assert InboundMessage.objects.get(channel="email").meaning == "reply"
    assert ContactConsent.objects.filter(person=inquiry.person, revoked_at__isnull=True).count() == 2


# --- 6. content checks on every part -----------------------------------------------------------


@pytest.mark.django_db
def test_template_save_checks_every_part_and_the_facilitys_clinical_name(facility):
    email = MessageTemplate(code="x-email", medium="email", subject="Checking in", preview="We are here",
                            body="About detox and alcohol withdrawal, {{ first_name }}.")  # fmt: skip
    with pytest.raises(ValidationError) as error:
        email.full_clean()
    assert "detox" in str(error.value.message_dict["body"])
    sms = MessageTemplate(
        code="x-sms", medium="sms", facility=facility, body="Harbor Point Tampa: call us back"
    )
    with pytest.raises(ValidationError) as error:
        sms.full_clean()
    assert "harbor point tampa" in str(error.value.message_dict["body"])
    MessageTemplate(
        code="x-ok", medium="sms", facility=facility, body="{{ sender }}: call us back"
    ).full_clean()


@pytest.mark.parametrize(
    "text",
    [
        "détox", "de\u200btox", "Ｄｅｔｏｘ", "de<b></b>tox", "&#100;etox", "de-tox", "re-hab", "detoxing",
        "detoxed", "relapsed", "overdosed", "withdrawing", "Visit freedomdetox.com",
        "mail intake@tampadetox.com",
        "recovery", "behavioral health", "mental health", "AA meeting", "drunk", "pills", "oxy", "liquor",
    ],
)  # fmt: skip
def test_the_content_check_reads_what_a_reader_would(text):
    assert content_problems(f"Hi, {text} today") != []


@pytest.mark.parametrize(
    "text",
    [
        "A follow-up from your care team",
        "Something to look forward to at example.com",
        "Reply STOP to opt out",
    ],
)
def test_the_content_check_lets_plain_words_through(text):
    assert content_problems(text) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "medium", "fields"),
    [
        ("ack-email", "email", {"body": "Your alcohol withdrawal plan is ready."}),
        ("ack-email", "email", {"preview": "Detox beds open"}),
        ("ack-sms", "sms", {"body": "Harbor Point Tampa: we got your message."}),
    ],
)
def test_every_part_is_checked_again_at_send_time(
    lead_token, sms_api, smtp, always_open, code, medium, fields
):
    MessageTemplate.objects.filter(code=code, facility__isnull=True).update(
        **fields
    )  # as if saved around the check
    inquiry = api_lead(lead_token, phone="(813) 555-0114")
    cadences_plan()
    row = inquiry.followups.get(channel=medium, kind="acknowledgement")
    assert followup_deliver(followup_id=row.pk, channels=default_channels()) == "blocked"
    row.refresh_from_db()
    assert row.outcome.startswith("content check: ")
    assert sms_api.ledger.raw == []
    assert smtp.raw == []
    assert not OutboundMessage.objects.filter(status__in=["sent", "delivered"]).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("medium", "envelope"),
    [
        ("sms", {"sender": "Tampa Detox"}),
        ("email", {"sender": "Tampa Detox"}),
        ("email", {"from": "intake@tampadetox.com"}),
        ("email", {"links": "https://crm.harborrehab.com"}),
    ],
)
def test_the_envelope_around_the_words_is_checked_at_send_time(
    lead_token, sms_api, smtp, always_open, settings, medium, envelope
):
    if "from" in envelope:
        settings.DEFAULT_FROM_EMAIL = envelope["from"]
    if "links" in envelope:
        settings.CRM_PUBLIC_URL = envelope["links"]
    inquiry = api_lead(lead_token, phone="(813) 555-0116", email="sam@example.org")
    if "sender" in envelope:
        type(inquiry.facility).objects.filter(pk=inquiry.facility_id).update(
            neutral_sender_name=envelope["sender"]
        )
    cadences_plan()
    row = inquiry.followups.get(channel=medium, kind="acknowledgement")
    assert followup_deliver(followup_id=row.pk, channels=default_channels()) == "blocked"
    row.refresh_from_db()
    assert row.outcome.startswith("content check: ")
    assert sms_api.ledger.raw == []
    assert smtp.raw == []


# --- 7. a crisis stops marketing for good ------------------------------------------------------


@pytest.mark.django_db
def test_coordinator_crisis_routing_stops_nurture_until_a_clinician_allows_it(
    lead_token, coordinator, clinician, smtp, always_open
):
    inquiry = api_lead(lead_token, phone="(813) 555-0115")
    inquiry_advance(
        inquiry=inquiry, to=Stage.CRISIS_ROUTED, actor=coordinator, reason="caller in danger; 911"
    )
    inquiry_advance(inquiry=inquiry, to=Stage.CLINICAL_REVIEW, actor=clinician)
    inquiry_advance(inquiry=inquiry, to=Stage.NURTURE, actor=coordinator, reason="not ready")
    cadences_plan()
    assert not inquiry.followups.filter(kind=FollowUp.Kind.NURTURE_TOUCH, channel="email").exists()
    # one planned before the hold, or by any other path, is cancelled at send time
    nurture = planned(inquiry, "email", "nurture-email", "n-held")
    assert deliver(nurture, at(16)) == "cancelled"
    nurture.refresh_from_db()
    assert nurture.outcome.startswith("crisis routing")
    assert smtp.raw == []
    hold = MessagingHold.objects.get(person=inquiry.person, reason="crisis", released_at__isnull=True)
    staff = Client()
    from tests.signin import login_verified

    login_verified(staff, coordinator)
    staff.post(reverse("messaging:hold-release", args=[hold.pk]), {"note": "fine"})
    hold.refresh_from_db()
    assert hold.released_at is None  # a coordinator may not
    login_verified(staff, clinician)
    staff.post(reverse("messaging:hold-release", args=[hold.pk]), {"note": "Safe now; wants information."})
    hold.refresh_from_db()
    assert hold.released_by == clinician
    decision = InquiryEvent.objects.get(inquiry=inquiry, data__messaging_hold=hold.pk, data__released=True)
    assert (decision.actor, decision.body) == (
        clinician,
        "Automated messages allowed again (crisis routing): Safe now; wants information.",
    )
    again = planned(inquiry, "email", "nurture-email", "n-after")
    assert deliver(again, at(16)) == "done"


@pytest.mark.django_db
def test_a_crisis_routing_made_around_the_pipeline_still_holds(lead_token, smtp, always_open):
    inquiry = api_lead(lead_token, phone="(813) 555-0116")
    Inquiry.objects.filter(pk=inquiry.pk).update(crisis_routed_at=at(12), stage=Stage.NURTURE)
    nurture = planned(inquiry, "email", "nurture-email", "n-bypass")
    assert deliver(nurture, at(16)) == "cancelled"
    assert smtp.raw == []
