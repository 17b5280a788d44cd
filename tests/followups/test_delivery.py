"""End to end on a real Celery worker: a web lead gets its acknowledgement by text and email.

The SMS provider is a local HTTP server speaking the Twilio-compatible protocol,
email goes to a real SMTP server on loopback. Nothing of ours is mocked.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import timezone

from admissions.followups import followup_deliver, followup_start, followups_claim_due, retry_delay
from admissions.messaging.models import OutboundMessage
from admissions.models import FollowUp, InquiryEvent
from crm.celery import app
from tests.followups.helpers import message_rows, wait_for, web_lead
from tests.followups.sinks import ACCOUNT_SID, AUTH_TOKEN, header
from workers.channels import default_channels


@pytest.fixture
def celery_worker():  # type: ignore[no-untyped-def]
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        yield


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_web_lead_gets_one_text_and_one_email_through_the_worker(
    facility, sms_api, smtp, always_open, celery_worker
):
    inquiry = web_lead(facility, first_name="Robin")

    def sent() -> bool:
        return (
            all(f.state == FollowUp.State.DONE for f in message_rows(inquiry))
            and len(message_rows(inquiry)) == 2
        )

    assert wait_for(sent), [(f.kind, f.channel, f.state, f.outcome) for f in message_rows(inquiry)]
    # the SMS provider got one form post, with basic auth, the idempotency key and a status callback
    assert len(sms_api.ledger.raw) == 1
    form = sms_api.messages()[0]
    assert form["To"] == str(inquiry.person.phone)
    assert form["From"] == "+18135550199"
    assert form["Body"].startswith("Harbor Health: Hi Robin, thanks for reaching out.")
    assert form["StatusCallback"] == f"{settings.CRM_PUBLIC_URL}/messaging/sms/status"
    sms = OutboundMessage.objects.get(inquiry=inquiry, medium="sms")
    assert next(iter(sms_api.ledger.unique)) == sms.idempotency_key == f"fu-{sms.followup_id}"
    assert sms.provider_message_id.startswith("SM")
    assert sms.status == OutboundMessage.Status.SENDING or sms.status == OutboundMessage.Status.SENT
    # the email: neutral sender, stable Message-ID, one-click unsubscribe headers, postal address
    assert len(smtp.raw) == 1
    mail = smtp.raw[0]["message"]
    email = OutboundMessage.objects.get(inquiry=inquiry, medium="email")
    assert header(mail, "Message-ID") == f"<{email.idempotency_key}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"
    assert header(mail, "From") == f"Harbor Health <{settings.DEFAULT_FROM_EMAIL}>"
    assert header(mail, "Subject") == "We received your message"
    assert header(mail, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert header(mail, "List-Unsubscribe").startswith(f"<{settings.CRM_PUBLIC_URL}/messaging/unsubscribe/")
    text = mail.get_payload(decode=True).decode()
    assert "100 Main Street, Tampa, FL 33602" in text
    # both land on the timeline
    events = InquiryEvent.objects.filter(inquiry=inquiry, kind=InquiryEvent.Kind.MESSAGE)
    assert sorted(e.data["channel"] for e in events) == ["email", "sms"]


def _due_ack(facility, **kw):  # type: ignore[no-untyped-def]
    from admissions.messaging.cadences import cadences_plan

    inquiry = web_lead(facility, email=False, **kw)
    cadences_plan()
    inquiry.followups.filter(channel=FollowUp.Channel.TASK).delete()  # only the text is under test
    return inquiry, inquiry.followups.get(channel="sms")


@pytest.mark.django_db
def test_transient_provider_errors_back_off_then_succeed_once(facility, sms_api, always_open):
    inquiry, followup = _due_ack(facility)
    sms_api.fail_with = [503, 429]
    now = timezone.now()
    assert followups_claim_due(now=now) == [followup.pk]
    assert followup_deliver(followup_id=followup.pk, channels=default_channels(), now=now) == "retry"
    followup.refresh_from_db()
    assert followup.state == FollowUp.State.SCHEDULED
    assert followup.attempts == 1
    assert "503" in followup.error
    first_wait = followup.due_at - now
    assert timedelta(seconds=15) <= first_wait <= timedelta(seconds=30)
    # the second attempt waits longer (exponential, with jitter)
    now = followup.due_at
    assert followups_claim_due(now=now) == [followup.pk]
    assert followup_deliver(followup_id=followup.pk, channels=default_channels(), now=now) == "retry"
    followup.refresh_from_db()
    assert timedelta(seconds=30) <= followup.due_at - now <= timedelta(seconds=60)
    now = followup.due_at
    assert followups_claim_due(now=now) == [followup.pk]
    assert followup_deliver(followup_id=followup.pk, channels=default_channels(), now=now) == "done"
    assert len(sms_api.ledger.raw) == 1  # the failures created nothing at the provider
    message = OutboundMessage.objects.get(followup=followup)
    assert message.status in (OutboundMessage.Status.SENT, OutboundMessage.Status.SENDING)
    assert message.idempotency_key == sms_api.ledger.raw[0]["key"]


@pytest.mark.django_db
def test_retries_end_in_a_visible_failed_state(facility, sms_api, always_open, settings):
    settings.FOLLOWUP_MAX_ATTEMPTS = 3
    inquiry, followup = _due_ack(facility)
    sms_api.fail_with = [500] * 10
    now = timezone.now()
    results = []
    for _ in range(3):
        assert followups_claim_due(now=now) == [followup.pk]
        results.append(followup_deliver(followup_id=followup.pk, channels=default_channels(), now=now))
        followup.refresh_from_db()
        now = followup.due_at if followup.state == FollowUp.State.SCHEDULED else now
    assert results == ["retry", "retry", FollowUp.State.FAILED]
    assert followup.state == FollowUp.State.FAILED
    assert followup.outcome == "gave up after 3 attempts"
    assert OutboundMessage.objects.get(followup=followup).status == OutboundMessage.Status.FAILED
    assert followup.pk not in followups_claim_due(now=now + timedelta(days=1))
    assert sms_api.ledger.raw == []


@pytest.mark.django_db
def test_a_crash_loop_ends_failed_without_sending_more(facility, always_open, settings):
    """A task that never finishes (worker killed each time) is given up after the attempt budget."""
    settings.FOLLOWUP_MAX_ATTEMPTS = 2
    inquiry, followup = _due_ack(facility)
    now = timezone.now()
    for _ in range(2):
        assert followups_claim_due(now=now) == [followup.pk]
        assert followup_start(followup_id=followup.pk, now=now)  # a worker took it, then was killed
        now += timedelta(seconds=settings.FOLLOWUP_LEASE_SECONDS + 1)  # the lease runs out: no one finished
    assert followups_claim_due(now=now) == []
    followup.refresh_from_db()
    assert (followup.state, followup.attempts) == (FollowUp.State.FAILED, 2)


@pytest.mark.django_db
def test_provider_refusal_fails_at_once(facility, sms_api, always_open):
    inquiry, followup = _due_ack(facility)
    sms_api.fail_with = [400]
    followups_claim_due()
    assert followup_deliver(followup_id=followup.pk, channels=default_channels()) == FollowUp.State.FAILED
    followup.refresh_from_db()
    assert followup.outcome == "provider refused the message"
    assert OutboundMessage.objects.get(followup=followup).status == OutboundMessage.Status.FAILED


def test_backoff_grows_and_is_capped(settings):
    settings.FOLLOWUP_RETRY_BASE_SECONDS, settings.FOLLOWUP_RETRY_MAX_SECONDS = 30, 600
    assert all(timedelta(seconds=15) <= retry_delay(1) <= timedelta(seconds=30) for _ in range(50))
    assert all(timedelta(seconds=60) <= retry_delay(3) <= timedelta(seconds=120) for _ in range(50))
    assert all(timedelta(seconds=300) <= retry_delay(12) <= timedelta(seconds=600) for _ in range(50))
    assert len({retry_delay(2) for _ in range(20)}) > 1  # jitter


def test_basic_auth_of_the_sink_matches_the_provider_protocol():
    token = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert token
