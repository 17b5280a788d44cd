"""Cadences as data, and how they stop: advance, close, crisis, red flag, reply, opt-out, consent, caps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from admissions.followups import followup_deliver, followups_claim_due
from admissions.messaging.cadences import cadences_plan
from admissions.messaging.coordinator_texts import coordinator_text_send
from admissions.messaging.models import CadenceStep, OutboundMessage
from admissions.messaging.opt_out import optout_apply
from admissions.models import ContactConsent, FollowUp, Inquiry, InquiryEvent
from admissions.pipeline import Stage
from admissions.services import call_log, inquiry_advance, inquiry_schedule_admission
from tests.factories import ProgramFactory
from tests.followups.conftest import consent
from tests.followups.helpers import web_lead
from workers.channels import default_channels


def _deliver(followup: FollowUp, now: datetime | None = None) -> str:
    assert followup.pk in followups_claim_due(now=now or timezone.now())
    return followup_deliver(followup_id=followup.pk, channels=default_channels(), now=now)


@pytest.mark.django_db
def test_new_web_lead_plans_acknowledgements_only_for_consented_channels(facility):
    with_both, sms_only, neither = (
        web_lead(facility),
        web_lead(facility, email=False),
        web_lead(facility, sms=False, email=False),
    )
    assert cadences_plan() == 3
    assert cadences_plan() == 0  # each trigger plans once
    assert sorted(with_both.followups.exclude(channel="task").values_list("channel", flat=True)) == [
        "email",
        "sms",
    ]
    assert list(sms_only.followups.exclude(channel="task").values_list("channel", flat=True)) == ["sms"]
    assert not neither.followups.exclude(channel="task").exists()
    # the staff cadence is there too: alert at 5 min, escalation at 15, calls at 1 h, 1, 3 and 7 days
    offsets = sorted(f.due_at - with_both.created_at for f in with_both.followups.filter(channel="task"))
    assert offsets == [
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(days=1),
        timedelta(days=3),
        timedelta(days=7),
    ]
    ack = with_both.followups.get(channel="sms")
    assert ack.due_at == with_both.created_at


@pytest.mark.django_db
def test_only_web_leads_get_the_acknowledgement(facility):
    inquiry = web_lead(facility)
    Inquiry.objects.filter(pk=inquiry.pk).update(channel="phone")
    cadences_plan()
    assert not inquiry.followups.exclude(channel="task").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        ("advance", "cancelled"),
        ("close", "cancelled"),
        ("crisis", "cancelled"),
        ("red_flag", "cancelled"),
        ("opt_out", "cancelled"),
        ("consent_revoked", "blocked"),
        ("not_ok_to_text", "blocked"),
        ("number_changed", "blocked"),
    ],
)
def test_cadence_stops_by_itself(facility, coordinator, sms_api, always_open, stop, expected):
    inquiry = web_lead(facility, email=False)
    cadences_plan()
    ack = inquiry.followups.get(channel="sms")
    followups_claim_due()  # queued before the change: the send-time check must catch it
    if stop == "advance":
        call_log(inquiry=inquiry, actor=coordinator, direction="outbound", outcome="connected")
    elif stop == "close":
        inquiry_advance(inquiry=inquiry, to=Stage.CLOSED, actor=coordinator, lost_reason="declined")
    elif stop == "crisis":
        inquiry_advance(inquiry=inquiry, to=Stage.CRISIS_ROUTED, actor=coordinator, reason="called 988")
    elif stop == "red_flag":
        Inquiry.objects.filter(pk=inquiry.pk).update(has_red_flag=True)
    elif stop == "opt_out":
        optout_apply(person_ids=[inquiry.person_id], source="phone call", now=timezone.now())
    elif stop == "consent_revoked":
        ContactConsent.objects.filter(person=inquiry.person).update(
            revoked_at=timezone.now(), revocation_source="call"
        )
    elif stop == "not_ok_to_text":
        type(inquiry.person).objects.filter(pk=inquiry.person_id).update(ok_to_text=False)
    elif stop == "number_changed":
        type(inquiry.person).objects.filter(pk=inquiry.person_id).update(phone="+13055550111")
    result = followup_deliver(followup_id=ack.pk, channels=default_channels())
    ack.refresh_from_db()
    assert ack.state == expected, (result, ack.outcome)
    assert sms_api.ledger.raw == []
    assert not OutboundMessage.objects.filter(status__in=["sent", "delivered"]).exists()


@pytest.mark.django_db
def test_quiet_hours_defer_the_message_to_the_next_allowed_minute(facility, sms_api):
    # a Manhattan number: every signal names Eastern time (a Florida one would add Central)
    inquiry = web_lead(facility, email=False, state="NY", time_zone="America/New_York", phone="+12125550142")
    cadences_plan()
    ack = inquiry.followups.get(channel="sms")
    night = datetime(2026, 3, 8, 5, 30, tzinfo=UTC)  # 00:30 EST on the spring-forward day
    FollowUp.objects.filter(pk=ack.pk).update(due_at=night)
    assert _deliver(ack, now=night) == "deferred"
    ack.refresh_from_db()
    assert (ack.state, ack.due_at, ack.deferrals, ack.attempts) == (
        "scheduled",
        datetime(2026, 3, 8, 13, 0, tzinfo=UTC),
        1,
        0,
    )
    assert ack.outcome == "deferred: quiet hours"
    assert sms_api.ledger.raw == []
    morning = datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    assert _deliver(ack, now=morning) == FollowUp.State.DONE
    assert len(sms_api.ledger.raw) == 1


@pytest.mark.django_db
def test_florida_caps_three_messages_per_day_on_one_subject(facility, coordinator, sms_api, statute_rules):
    inquiry = web_lead(facility, email=False, state="FL", time_zone="America/New_York")
    noon = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in Tampa
    texts = [coordinator_text_send(inquiry=inquiry, actor=coordinator, body=f"Hello {n}") for n in range(4)]
    FollowUp.objects.filter(pk__in=[m.followup_id for m in texts]).update(due_at=noon)
    assert sorted(followups_claim_due(now=noon)) == sorted(m.followup_id for m in texts)
    results = [
        followup_deliver(
            followup_id=m.followup_id, channels=default_channels(), now=noon + timedelta(minutes=n)
        )
        for n, m in enumerate(texts)
    ]
    assert results == ["done", "done", "done", "deferred"]
    fourth = FollowUp.objects.get(pk=texts[3].followup_id)
    # 24 h after the first (+1 min), inside Florida's 8:00-20:00
    assert fourth.due_at == noon + timedelta(hours=24, minutes=1)
    assert fourth.outcome == "deferred: 3 texts in 24 hours (FL)"
    assert len(sms_api.ledger.raw) == 3


@pytest.mark.django_db
def test_coordinator_text_passes_the_same_checks_and_lands_on_the_timeline(
    facility, coordinator, sms_api, always_open
):
    inquiry = web_lead(facility, email=False)
    with pytest.raises(ValidationError, match="detox"):
        coordinator_text_send(inquiry=inquiry, actor=coordinator, body="About your detox bed")
    message = coordinator_text_send(inquiry=inquiry, actor=coordinator, body="Hi, it's Sam. Call me back?")
    assert _deliver(message.followup) == FollowUp.State.DONE
    event = InquiryEvent.objects.get(inquiry=inquiry, kind="message")
    assert (event.actor, event.body, event.data["direction"]) == (
        coordinator,
        "Hi, it's Sam. Call me back?",
        "outbound",
    )
    assert sms_api.messages()[0]["Body"] == "Hi, it's Sam. Call me back?"
    unconsented = web_lead(facility, sms=False, email=False)
    with pytest.raises(ValidationError, match="not consented"):
        coordinator_text_send(inquiry=unconsented, actor=coordinator, body="Hello")


@pytest.mark.django_db
def test_nurture_touch_is_monthly_and_stops_when_the_person_is_worked_again(
    facility, coordinator, smtp, always_open
):
    inquiry = web_lead(facility, sms=False)
    cadences_plan()
    inquiry.followups.all().delete()
    inquiry_advance(inquiry=inquiry, to=Stage.NURTURE, actor=coordinator, reason="not ready")
    cadences_plan()
    touch = inquiry.followups.get(kind=FollowUp.Kind.NURTURE_TOUCH)
    moved = InquiryEvent.objects.filter(inquiry=inquiry, kind="stage_changed").latest("at").at
    assert touch.due_at == moved + timedelta(days=30)
    later = touch.due_at + timedelta(minutes=1)
    assert _deliver(touch, now=later) == FollowUp.State.DONE
    assert len(smtp.raw) == 1
    second = inquiry.followups.get(kind=FollowUp.Kind.NURTURE_TOUCH, sequence=1)
    assert second.due_at == touch.due_at + timedelta(days=30)
    inquiry_advance(inquiry=inquiry, to=Stage.CONTACTED, actor=coordinator)
    second.refresh_from_db()
    assert second.state == FollowUp.State.SCHEDULED  # not a terminal move: the send-time check stops it
    assert _deliver(second, now=second.due_at) == FollowUp.State.CANCELLED
    assert len(smtp.raw) == 1


@pytest.mark.django_db
def test_referral_out_gets_a_check_in_task(facility, coordinator):
    inquiry = web_lead(facility, sms=False, email=False, state="NY", postal_code="10001")
    inquiry_advance(inquiry=inquiry, to=Stage.REFERRED_OUT, actor=coordinator, destination="Bayview Hospital")
    cadences_plan()
    check_in = inquiry.followups.get(kind=FollowUp.Kind.REFERRAL_CHECK_IN)
    assert check_in.channel == "task"
    midday = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in New York: inside the calling hours
    FollowUp.objects.filter(pk=check_in.pk).update(due_at=midday)
    assert followup_deliver(followup_id=check_in.pk, channels=default_channels(), now=midday) == "done"
    note = InquiryEvent.objects.get(inquiry=inquiry, kind="note", data__followup=check_in.pk)
    assert note.body.startswith("Check in:")


@pytest.mark.django_db
def test_admission_reminder_the_day_before(facility, coordinator, sms_api):
    inquiry = web_lead(facility, email=False)
    program = ProgramFactory(facility=facility)
    for stage in (Stage.CONTACTED, Stage.PRESCREENED, Stage.CLINICAL_REVIEW, Stage.APPROVED):
        inquiry_advance(inquiry=inquiry, to=stage, actor=coordinator)
    day = timezone.localdate() + timedelta(days=5)
    inquiry_schedule_admission(inquiry=inquiry, program=program, admission_date=day, actor=coordinator)
    cadences_plan()
    reminders = inquiry.followups.filter(kind=FollowUp.Kind.ADMISSION_REMINDER)
    assert sorted(reminders.values_list("channel", flat=True)) == ["sms", "task"]
    sms = reminders.get(channel="sms")
    assert sms.due_at.astimezone(timezone.get_current_timezone()).date() == day - timedelta(days=1)
    at = sms.due_at + timedelta(hours=3)  # 12:00 in Tampa
    assert _deliver(sms, now=at) == FollowUp.State.DONE
    assert "a reminder of your appointment on" in sms_api.messages()[0]["Body"]
    assert f"{day:%B} {day.day}" in sms_api.messages()[0]["Body"]


@pytest.mark.django_db
def test_cadence_steps_are_data_an_admin_can_change(facility):
    CadenceStep.objects.filter(key="ack-sms").update(is_active=False)
    inquiry = web_lead(facility)
    cadences_plan()
    assert list(inquiry.followups.exclude(channel="task").values_list("channel", flat=True)) == ["email"]


@pytest.mark.django_db
def test_consent_for_another_number_does_not_count(facility, sms_api, always_open):
    inquiry = web_lead(facility, sms=False, email=False)
    consent(inquiry.person, "sms", address="+13055550999")
    cadences_plan()
    assert not inquiry.followups.filter(channel="sms").exists()


def test_admission_date_formatting_is_plain():
    assert f"{date(2026, 3, 10):%A, %B} {date(2026, 3, 10).day}" == "Tuesday, March 10"
