"""Email one-click unsubscribe, end to end: the link in a real email works (RFC 8058)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from admissions.followups import followup_deliver, followups_claim_due
from admissions.messaging.cadences import cadences_plan
from admissions.messaging.models import MessageTemplate
from admissions.models import ContactConsent, FollowUp
from tests.followups.helpers import web_lead
from tests.followups.sinks import header
from workers.channels import default_channels


@pytest.mark.django_db
def test_unsubscribe_link_in_the_email_revokes_email_consent(client, facility, smtp, always_open):
    inquiry = web_lead(facility, sms=True, email=True)
    cadences_plan()
    email = inquiry.followups.get(channel="email")
    followups_claim_due()
    assert followup_deliver(followup_id=email.pk, channels=default_channels()) == FollowUp.State.DONE
    mail = smtp.raw[0]["message"]
    url = re.fullmatch(r"<(.+)>", header(mail, "List-Unsubscribe")).group(1)
    assert url in mail.get_payload(decode=True).decode()  # the same link is in the body
    path = url.removeprefix(settings.CRM_PUBLIC_URL)
    # GET (what a link scanner or a click does) only shows a confirmation page
    page = client.get(path)
    assert page.status_code == 200
    assert "Stop these emails?" in page.content.decode()
    assert "treatment" not in page.content.decode().lower()
    assert ContactConsent.objects.filter(
        person=inquiry.person, medium="email", revoked_at__isnull=True
    ).exists()
    # later touches are pending, then the one-click POST (no session, no CSRF token)
    pending = FollowUp.objects.create(
        inquiry=inquiry,
        kind="nurture_touch",
        channel="email",
        template_code="nurture-email",
        due_at=email.due_at,
        dedupe_key="pending-email",
    )
    done = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "You are unsubscribed" in done.content.decode()
    consent = ContactConsent.objects.get(person=inquiry.person, medium="email")
    assert consent.revoked_at is not None
    assert consent.revocation_source == "email unsubscribe link"
    pending.refresh_from_db()
    assert (pending.state, pending.outcome) == ("cancelled", "person unsubscribed")
    # text consent is a different channel and stays
    assert ContactConsent.objects.get(person=inquiry.person, medium="sms").revoked_at is None
    # posting again is harmless
    assert client.post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200


@pytest.mark.django_db
def test_a_forged_token_shows_nothing_and_changes_nothing(client, facility):
    inquiry = web_lead(facility, sms=False)
    response = client.post("/messaging/unsubscribe/1:forged:token", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404
    assert ContactConsent.objects.get(person=inquiry.person).revoked_at is None


@pytest.mark.django_db
def test_after_unsubscribing_no_email_is_sent(client, facility, smtp, always_open):
    inquiry = web_lead(facility, sms=False)
    MessageTemplate.objects.filter(code="ack-email").update(is_active=True)
    cadences_plan()
    email = inquiry.followups.get(channel="email")
    consent = ContactConsent.objects.get(person=inquiry.person)
    from admissions.messaging.unsubscribe import unsubscribe_url

    followups_claim_due()
    client.post(unsubscribe_url(consent_id=consent.pk).removeprefix(settings.CRM_PUBLIC_URL))
    assert followup_deliver(followup_id=email.pk, channels=default_channels()) == "not queued"
    assert smtp.raw == []
