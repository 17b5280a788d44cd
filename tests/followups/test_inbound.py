"""The SMS webhook: signatures, replays, STOP and free-text refusals, HELP, replies, status callbacks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admissions.followups import followup_deliver, followups_claim_due
from admissions.messaging.cadences import cadences_plan
from admissions.messaging.models import InboundMessage, OutboundMessage
from admissions.messaging.replies import inbound_meaning, inbound_resubscribes
from admissions.messaging.templates import RESUBSCRIBED_TEXT
from admissions.messaging.webhooks import webhook_signature
from admissions.models import ContactConsent, FollowUp, InquiryEvent, Person
from tests.followups.helpers import web_lead
from tests.followups.sinks import AUTH_TOKEN
from workers.channels import default_channels

STOP_VARIANTS = [
    "STOP", "stop", "Stop.", "  sToP!! ", "STOP ALL", "quit", "END", "Revoke", "OPT OUT", "opt-out", "optout",
    "Cancel", "UNSUBSCRIBE", "unsubscribe.", "S T O P", "Stop please",
    "don't text me", "Do not text me again", "stop texting me", "Please stop messaging me",
    "leave me alone", "Remove me from your list", "wrong number", "Don’t contact me",
    # width, accents, signs and slips
    "ＳＴＯＰ", "Stóp", "\N{OCTAGONAL SIGN}", "st0p", "stopp", "Stoppp", "Unsuscribe",
    "unsubcribe", "STOP ALL!!",
    # Spanish
    "ALTO", "PARAR", "BASTA", "CANCELAR", "BAJA", "No más mensajes", "Alto por favor",
    "Dejen de enviarme mensajes", "no me escriban", "darme de baja",
    # other refusals
    "REMOVE", "DNC", "I do not consent", "no longer interested", "go away", "I want out", "wrong #",
]  # fmt: skip
NOT_REFUSALS = [
    "Can you call me tomorrow?", "I stopped by yesterday", "Yes please call", "The end of the week works",
    "Is it OK to cancel the appointment on Monday and come Tuesday?", "thanks",
    "My mother has cancer", "Is there a remote option?", "Step one is done", "Can I shop around first?",
    "Top of the morning", "Es para mi hijo", "Gracias", "I want to start treatment", "Room 0 is fine",
]  # fmt: skip


def _post(client: Client, name: str, data: dict[str, str], *, token: str = AUTH_TOKEN) -> object:
    path = reverse(f"messaging:{name}")
    signature = webhook_signature(url=f"{settings.CRM_PUBLIC_URL}{path}", params=data, auth_token=token)
    return client.post(path, data, HTTP_X_TWILIO_SIGNATURE=signature)


def _inbound(client: Client, inquiry, body: str, sid: str = "SM1"):  # type: ignore[no-untyped-def]
    data = {"MessageSid": sid, "From": str(inquiry.person.phone), "To": "+18135550199", "Body": body}
    return _post(client, "sms-inbound", data)


@pytest.fixture
def lead(facility, sms_api, always_open):  # type: ignore[no-untyped-def]
    inquiry = web_lead(facility)
    cadences_plan()
    return inquiry


@pytest.mark.parametrize("text", STOP_VARIANTS)
def test_stop_variants_are_opt_outs(text):
    assert inbound_meaning(text) == InboundMessage.Meaning.OPT_OUT


@pytest.mark.parametrize("text", NOT_REFUSALS)
def test_ordinary_replies_are_not_opt_outs(text):
    assert inbound_meaning(text) == InboundMessage.Meaning.REPLY


@pytest.mark.parametrize("text", ["HELP", "help", " Help! ", "INFO"])
def test_help_variants(text):
    assert inbound_meaning(text) == InboundMessage.Meaning.HELP


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["STOP", "Stop texting me", "opt-out"])
def test_stop_reply_revokes_consent_cancels_pending_and_confirms_once(client, lead, text):
    pending = list(lead.followups.filter(channel__in=["sms", "email"]).values_list("pk", flat=True))
    assert len(pending) == 2
    response = _inbound(client, lead, text)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    consents = ContactConsent.objects.filter(person=lead.person)
    assert consents.count() == 2
    assert all(c.revoked_at is not None and c.revocation_source.startswith("text reply") for c in consents)
    lead.person.refresh_from_db()
    assert lead.person.ok_to_text is False
    assert set(FollowUp.objects.filter(pk__in=pending).values_list("state", flat=True)) == {"cancelled"}
    confirmations = lead.followups.filter(kind=FollowUp.Kind.OPT_OUT_CONFIRMATION)
    assert confirmations.count() == 1
    # a second STOP (or a resend) changes nothing and confirms nothing more
    assert _inbound(client, lead, "STOP", sid="SM2").status_code == 200
    assert confirmations.count() == 1
    # the single confirmation is sent even though consent is gone, and says nothing revealing
    confirmation = confirmations.get()
    followups_claim_due()
    assert followup_deliver(followup_id=confirmation.pk, channels=default_channels()) == FollowUp.State.DONE
    assert len(lead.person.outbound_messages.all()) == 1
    # the inbound texts are on the timeline
    inbound_events = InquiryEvent.objects.filter(inquiry=lead, kind="message", data__direction="inbound")
    assert [e.body for e in inbound_events.order_by("pk")] == [text, "STOP"]


@pytest.mark.django_db
def test_nothing_automated_goes_out_after_stop(client, lead, sms_api):
    ack = lead.followups.get(channel="sms")
    followups_claim_due()  # claimed before the STOP arrives: the send-time check under lock refuses it
    _inbound(client, lead, "STOP")
    assert followup_deliver(followup_id=ack.pk, channels=default_channels()) == "not queued"
    ack.refresh_from_db()
    assert ack.state == FollowUp.State.CANCELLED


@pytest.mark.django_db
def test_help_gets_a_help_reply(client, lead, sms_api):
    assert _inbound(client, lead, "HELP").status_code == 200
    reply = lead.followups.get(kind=FollowUp.Kind.HELP_REPLY)
    followups_claim_due()
    assert followup_deliver(followup_id=reply.pk, channels=default_channels()) == FollowUp.State.DONE
    bodies = [m["Body"] for m in sms_api.messages()]
    assert bodies == ["Harbor Health: for help call (813) 555-0100. Reply STOP to opt out of texts."]
    assert ContactConsent.objects.filter(person=lead.person, revoked_at__isnull=True).count() == 2


@pytest.mark.django_db
def test_a_reply_stops_the_cadence_and_alerts_the_coordinator(client, lead):
    assert _inbound(client, lead, "Yes, please call me after 5").status_code == 200
    acks = lead.followups.filter(kind=FollowUp.Kind.ACKNOWLEDGEMENT)
    assert set(acks.values_list("state", "outcome")) == {("cancelled", "the person replied")}
    alert = InquiryEvent.objects.get(inquiry=lead, kind="note", data__alert=True)
    assert alert.body == "The person replied by text: please follow up."
    assert ContactConsent.objects.filter(person=lead.person, revoked_at__isnull=True).count() == 2


@pytest.mark.django_db
def test_bad_signature_is_refused_and_changes_nothing(client, lead):
    data = {"MessageSid": "SM9", "From": str(lead.person.phone), "To": "+18135550199", "Body": "STOP"}
    forged = _post(client, "sms-inbound", data, token="not-the-token")
    assert forged.status_code == 403
    missing = client.post(reverse("messaging:sms-inbound"), data)
    assert missing.status_code == 403
    tampered_path = reverse("messaging:sms-inbound")
    signature = webhook_signature(
        url=f"{settings.CRM_PUBLIC_URL}{tampered_path}", params=data, auth_token=AUTH_TOKEN
    )
    tampered = client.post(tampered_path, {**data, "Body": "hello"}, HTTP_X_TWILIO_SIGNATURE=signature)
    assert tampered.status_code == 403
    assert not InboundMessage.objects.exists()
    assert ContactConsent.objects.filter(person=lead.person, revoked_at__isnull=True).count() == 2


@pytest.mark.django_db
def test_a_replayed_message_sid_is_refused(client, lead):
    assert _inbound(client, lead, "Yes call me", sid="SMreplay").status_code == 200
    events = InquiryEvent.objects.filter(inquiry=lead, kind="message").count()
    replay = _inbound(client, lead, "STOP", sid="SMreplay")
    assert replay.status_code == 409
    assert InboundMessage.objects.count() == 1
    assert InquiryEvent.objects.filter(inquiry=lead, kind="message").count() == events
    assert ContactConsent.objects.filter(person=lead.person, revoked_at__isnull=True).count() == 2


@pytest.mark.django_db
def test_unknown_sender_is_recorded_without_a_person(client, db, sms_api):
    data = {"MessageSid": "SMx", "From": "+12125550123", "To": "+18135550199", "Body": "STOP"}
    assert _post(client, "sms-inbound", data).status_code == 200
    inbound = InboundMessage.objects.get()
    assert (inbound.person, inbound.inquiry, inbound.meaning) == (None, None, "opt_out")


@pytest.mark.django_db
def test_webhook_query_budget(client, lead, django_assert_max_num_queries):
    # duplicate check, person lock, inquiry, inbound row (savepoint), timeline, revoke, stop texting,
    # cancel pending, confirmation row: a fixed number however many follow-ups or consents there are
    with django_assert_max_num_queries(14):
        assert _inbound(client, lead, "STOP").status_code == 200
    with django_assert_max_num_queries(12):  # the same, with a coordinator alert instead of the revocation
        assert _inbound(client, lead, "When can I come in?", sid="SM2").status_code == 200
    with django_assert_max_num_queries(4):  # a replay stops at the duplicate check
        assert _inbound(client, lead, "When can I come in?", sid="SM2").status_code == 409


@pytest.mark.django_db
def test_status_callback_records_delivery_and_never_goes_backwards(client, lead, sms_api):
    ack = lead.followups.get(channel="sms")
    followups_claim_due()
    followup_deliver(followup_id=ack.pk, channels=default_channels())
    message = OutboundMessage.objects.get(followup=ack)
    sid = message.provider_message_id
    assert _post(client, "sms-status", {"MessageSid": sid, "MessageStatus": "delivered"}).status_code == 204
    message.refresh_from_db()
    assert message.status == "delivered"
    assert _post(client, "sms-status", {"MessageSid": sid, "MessageStatus": "sent"}).status_code == 204
    message.refresh_from_db()
    assert message.status == "delivered"
    forged = client.post(reverse("messaging:sms-status"), {"MessageSid": sid, "MessageStatus": "failed"})
    assert forged.status_code == 403
    message.refresh_from_db()
    assert message.status == "delivered"


def _stamp(at):  # type: ignore[no-untyped-def]
    return str(int(at.timestamp()))


@pytest.mark.django_db
def test_a_replayed_request_is_refused_even_with_a_new_message_sid_check_bypassed(client, lead):
    data = {"MessageSid": "SM7", "From": str(lead.person.phone), "To": "+18135550199", "Body": "hello"}
    assert _post(client, "sms-inbound", data).status_code == 200
    InboundMessage.objects.all().delete()  # even if the durable MessageSid check were gone
    replay = _post(client, "sms-inbound", data)
    assert (replay.status_code, replay.content) == (409, b"replayed request")
    assert InboundMessage.objects.count() == 0


@pytest.mark.django_db
def test_a_replayed_status_callback_is_refused(client, lead):
    data = {"MessageSid": "SMnone", "MessageStatus": "delivered"}
    assert _post(client, "sms-status", data).status_code == 204
    assert _post(client, "sms-status", data).status_code == 409


@pytest.mark.django_db
def test_signed_timestamp_outside_the_window_is_refused(client, lead, settings):
    settings.SMS_WEBHOOK_REPLAY_WINDOW_SECONDS = 300
    base = {"From": str(lead.person.phone), "To": "+18135550199", "Body": "hello"}
    stale = _post(
        client,
        "sms-inbound",
        {**base, "MessageSid": "SM8", "Timestamp": _stamp(timezone.now() - timedelta(minutes=6))},
    )
    assert (stale.status_code, stale.content) == (403, b"Timestamp outside the replay window")
    future = _post(
        client,
        "sms-inbound",
        {**base, "MessageSid": "SM9", "Timestamp": _stamp(timezone.now() + timedelta(minutes=6))},
    )
    assert future.status_code == 403
    iso = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert _post(client, "sms-inbound", {**base, "MessageSid": "SM10", "Timestamp": iso}).status_code == 200
    assert list(InboundMessage.objects.values_list("provider_message_id", flat=True)) == ["SM10"]


@pytest.mark.django_db
def test_a_timestamp_cannot_be_changed_without_breaking_the_signature(client, lead):
    data = {"MessageSid": "SM11", "From": str(lead.person.phone), "To": "+18135550199", "Body": "hi"}
    data["Timestamp"] = _stamp(timezone.now() - timedelta(hours=1))
    path = reverse("messaging:sms-inbound")
    signature = webhook_signature(url=f"{settings.CRM_PUBLIC_URL}{path}", params=data, auth_token=AUTH_TOKEN)
    data["Timestamp"] = _stamp(timezone.now())  # freshened by someone replaying it
    assert client.post(path, data, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 403
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db
def test_timestamp_required_when_configured(client, lead, settings):
    settings.SMS_WEBHOOK_REQUIRE_TIMESTAMP = True
    response = _inbound(client, lead, "hello", sid="SM12")
    assert (response.status_code, response.content) == (403, b"missing Timestamp")
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db
def test_a_failed_request_can_be_retried_by_the_provider(client, lead, monkeypatch):
    from admissions.messaging import views

    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    monkeypatch.setattr(views, "sms_inbound_receive", broken)
    client.raise_request_exception = False
    assert _inbound(client, lead, "hello", sid="SM13").status_code == 500
    monkeypatch.undo()
    assert _inbound(client, lead, "hello", sid="SM13").status_code == 200  # the same signed request


@pytest.mark.parametrize("text", ["START", "start", " Start. ", "UNSTOP", "un stop", "Unstop!"])
def test_start_variants(text):
    assert inbound_resubscribes(text)
    assert inbound_meaning(text) == InboundMessage.Meaning.REPLY


@pytest.mark.parametrize("text", ["Can I start on Monday?", "stop", "start date?"])
def test_not_start(text):
    assert not inbound_resubscribes(text)


@pytest.mark.django_db
def test_start_after_stop_gives_back_text_consent_and_confirms_once(client, lead, sms_api):
    person = lead.person
    assert _inbound(client, lead, "STOP", sid="SM20").status_code == 200
    assert _inbound(client, lead, "START", sid="SM21").status_code == 200
    person.refresh_from_db()
    assert person.ok_to_text is True
    active = ContactConsent.objects.get(person=person, revoked_at__isnull=True)
    assert (active.medium, active.address) == ("sms", str(person.phone))
    assert active.consent_text.startswith('Texted "START" to +18135550199 to receive texts again.')
    assert "I agree to receive texts" in active.consent_text
    assert ContactConsent.objects.filter(person=person, medium="email", revoked_at__isnull=True).count() == 0
    confirmation = lead.followups.get(kind=FollowUp.Kind.OPT_OUT_CONFIRMATION, template_code="resubscribed")
    # a second START changes nothing and sends nothing
    assert _inbound(client, lead, "unstop", sid="SM22").status_code == 200
    assert ContactConsent.objects.filter(person=person, revoked_at__isnull=True).count() == 1
    assert lead.followups.filter(template_code="resubscribed").count() == 1
    followups_claim_due()
    assert followup_deliver(followup_id=confirmation.pk, channels=default_channels()) == FollowUp.State.DONE
    sent = [m["Body"] for m in sms_api.messages()]
    assert RESUBSCRIBED_TEXT.format(sender=lead.facility.neutral_sender_name) in sent


@pytest.mark.django_db
def test_start_without_an_earlier_text_consent_gives_none(client, facility, sms_api, always_open):
    inquiry = web_lead(facility, sms=False)
    assert _inbound(client, inquiry, "START", sid="SM30").status_code == 200
    assert not ContactConsent.objects.filter(person=inquiry.person, medium="sms").exists()
    assert not inquiry.followups.filter(kind=FollowUp.Kind.OPT_OUT_CONFIRMATION).exists()
    note = InquiryEvent.objects.get(inquiry=inquiry, kind=InquiryEvent.Kind.NOTE, data__resubscribed=0)
    assert "no earlier text consent" in note.body


@pytest.mark.django_db
def test_stop_gets_through_when_the_replay_memory_is_down(client, lead, monkeypatch):
    class Unreachable:
        def add(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise ConnectionError("cache unreachable")

        delete = add

    monkeypatch.setattr("admissions.messaging.webhooks.cache", Unreachable())
    assert _inbound(client, lead, "STOP", sid="SM40").status_code == 200
    assert not ContactConsent.objects.filter(person=lead.person, revoked_at__isnull=True).exists()
    assert _inbound(client, lead, "STOP", sid="SM40").status_code == 409  # the durable MessageSid check


@pytest.mark.django_db
def test_stop_from_a_consented_number_not_on_the_person_record_opts_out(client, lead):
    consented = str(lead.person.phone)
    Person.objects.filter(pk=lead.person_id).update(phone="+18135550177")  # a newer number on file
    data = {"MessageSid": "SM-other", "From": consented, "To": "+18135550199", "Body": "STOP"}
    assert _post(client, "sms-inbound", data).status_code == 200
    assert not ContactConsent.objects.filter(
        person=lead.person, medium="sms", revoked_at__isnull=True
    ).exists()
    assert InboundMessage.objects.get(provider_message_id="SM-other").inquiry_id == lead.pk
