"""Mediums are a registry on both sides (addressing and consent in admissions, sending in workers),
and a medium neither knows fails loudly instead of going out as a text."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q

from admissions.followups import followups_claim_due, followups_deliver
from admissions.messaging.envelope import Envelope, UnknownMedium
from admissions.messaging.mediums import MEDIUMS, medium_for
from admissions.messaging.models import MessageTemplate, OutboundMessage
from admissions.models import ContactConsent, FollowUp
from tests.followups.helpers import web_lead
from workers.channels import TRANSPORTS, default_channels


def test_every_message_channel_has_one_medium_and_one_transport():
    messages = {c.value for c in FollowUp.Channel} - {FollowUp.Channel.TASK.value}
    assert set(MEDIUMS) == set(TRANSPORTS) == messages == {m.value for m in MessageTemplate.Medium}
    assert set(MEDIUMS) <= {m.value for m in ContactConsent.Medium}


def test_an_unknown_medium_is_refused_by_the_registry():
    with pytest.raises(UnknownMedium, match="'fax'"):
        medium_for("fax")


def test_an_unknown_medium_is_refused_by_the_channels(sms_api):
    envelope = Envelope(
        message_id=1,
        inquiry_id=None,
        medium="fax",
        to="+18135550100",
        sender_name="Harbor Health",
        body="Hello",
        idempotency_key="fu-unknown",
    )
    with default_channels() as channels, pytest.raises(UnknownMedium, match="'fax'"):
        channels.send(envelope)
    assert sms_api.ledger.raw == []


@pytest.mark.django_db
def test_a_follow_up_of_an_unknown_medium_is_never_sent_as_a_text(facility, sms_api, always_open):
    inquiry = web_lead(facility, email=False)
    followup = FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.ACKNOWLEDGEMENT,
        channel=FollowUp.Channel.SMS,
        template_code="ack-sms",
        due_at=inquiry.created_at,
        dedupe_key="unknown-medium",
    )
    FollowUp.objects.filter(pk=followup.pk).update(channel="fax")  # past the field's choices
    assert followups_claim_due() == [followup.pk]
    with default_channels() as channels, pytest.raises(UnknownMedium):
        followups_deliver(ids=[followup.pk], channels=channels)
    assert sms_api.ledger.raw == []
    assert not OutboundMessage.objects.exists()


def test_addresses_and_consent_follow_the_medium():
    texts, emails = medium_for("sms"), medium_for("email")
    assert (texts.noun, texts.capped, texts.own_words) == ("text", True, True)
    assert (emails.noun, emails.capped, emails.own_words) == ("email", False, False)
    assert texts.consent_covers("+18135550100") == Q(medium="sms", address="+18135550100")
    assert emails.consent_covers("a@example.com") == Q(medium="email", address__iexact="a@example.com")
    assert emails.finish({"body": "Hi"}, consent_id=None) == {"body": "Hi"}
    assert set(emails.finish({"body": "Hi"}, consent_id=7)) == {"body", "unsubscribe_url"}
    assert texts.finish({"body": "Hi"}, consent_id=7) == {"body": "Hi"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("medium", "fields", "errors"),
    [
        ("sms", {"subject": "Hello", "body": "Hi"}, {"subject": ["Texts have no subject."]}),
        ("email", {"body": "Hi"}, {"subject": ["Emails need a subject."]}),
        ("email", {"subject": "Hello", "preview": "More", "body": "Hi"}, {}),
    ],
)
def test_a_template_carries_the_parts_of_its_medium(medium, fields, errors):
    template = MessageTemplate(code="check", medium=medium, **fields)
    if errors:
        with pytest.raises(ValidationError) as raised:
            template.clean()
        assert raised.value.message_dict == errors
    else:
        template.clean()
        assert template.parts() == {"subject": "Hello", "preview": "More", "body": "Hi"}
