"""The template check: at save time (model clean and the admin) and again at send time."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from admissions.followups import followup_deliver, followups_claim_due
from admissions.messaging.cadences import cadences_plan
from admissions.messaging.content import content_problems
from admissions.messaging.models import MessageTemplate, OutboundMessage
from admissions.models import FollowUp
from tests.factories import ProgramFactory
from tests.followups.helpers import web_lead
from tests.signin import login_verified
from workers.channels import default_channels

REVEALING = [
    "Your detox bed is ready",
    "About your REHAB stay",
    "Questions about addiction?",
    "Our treatment center is open",
    "Help with substance use disorder",
    "alcoholism support",
    "Worried about an overdose?",
    "Withdrawal can be managed",
    "Stop drinking alcohol today",
    "Xanax taper",
    "alprazolam",
    "oxycodone",
    "Fentanyl test strips",
    "heroin",
    "Baclofen",
    "Soma",
    "gabapentin",
    "Lyrica",
    "Adderall",
    "meth",
    "cocaine",
    "Carisoprodol",
    "pregabalin",
    "benzodiazepines",
    "barbiturates",
    "cannabis",
    "d.e.t.o.x",
    "R E H A B",
]
NEUTRAL = [
    "{{ sender }}: Hi {{ first_name }}, thanks for reaching out. Reply STOP to opt out.",
    "Something came up: call us at {{ facility_phone }}",  # "something" contains "meth" but is fine
    "We are here for you. Reply STOP to opt out.",
]


@pytest.mark.parametrize("text", REVEALING)
def test_content_check_finds_revealing_words(text):
    assert content_problems(text) != []


@pytest.mark.parametrize("text", NEUTRAL)
def test_content_check_allows_neutral_words(text):
    assert content_problems(text) == []


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["Your detox bed is ready", "Xanax", "About your rehab stay"])
def test_sms_template_with_revealing_body_is_refused_on_save(facility, text):
    template = MessageTemplate(facility=facility, code="ack-sms", medium="sms", body=text)
    with pytest.raises(ValidationError) as error:
        template.full_clean()
    assert "body" in error.value.message_dict


@pytest.mark.django_db
def test_email_subject_and_preview_are_checked_but_not_only_the_body(facility):
    bad_subject = MessageTemplate(
        facility=facility, code="e1", medium="email", subject="Your rehab intake", body="Hi"
    )
    bad_preview = MessageTemplate(
        facility=facility, code="e2", medium="email", subject="Hello", preview="Detox info inside", body="Hi"
    )
    for template, field in ((bad_subject, "subject"), (bad_preview, "preview")):
        with pytest.raises(ValidationError) as error:
            template.full_clean()
        assert field in error.value.message_dict


@pytest.mark.django_db
def test_program_names_of_the_facility_are_refused(facility):
    ProgramFactory(facility=facility, name="Harborview Lodge")
    template = MessageTemplate(facility=facility, code="t", medium="sms", body="Welcome to Harborview Lodge!")
    with pytest.raises(ValidationError, match="harborview lodge"):
        template.full_clean()


@pytest.mark.django_db
def test_unknown_variables_are_refused(facility):
    template = MessageTemplate(facility=facility, code="t", medium="sms", body="Hi {{ diagnosis }}")
    with pytest.raises(ValidationError, match="Unknown variables: diagnosis"):
        template.full_clean()


@pytest.mark.django_db
def test_starter_templates_pass_the_check():
    starters = MessageTemplate.objects.filter(facility__isnull=True)
    assert set(starters.values_list("code", flat=True)) == {
        "ack-sms",
        "ack-email",
        "admission-reminder-sms",
        "nurture-email",
        "place-available-sms",
        "place-available-email",
    }
    for template in starters:
        template.full_clean()


@pytest.mark.django_db
def test_admin_refuses_a_revealing_template_and_saves_nothing(client, administrator, facility):
    administrator.is_superuser = True
    administrator.save()
    login_verified(client, administrator)
    before = MessageTemplate.objects.count()
    response = client.post(
        reverse("admin:admissions_messagetemplate_add"),
        {
            "facility": facility.pk,
            "code": "ack-sms",
            "medium": "sms",
            "body": "Your detox bed is ready",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "Must not reveal substance use or treatment; remove: detox." in response.content.decode()
    assert MessageTemplate.objects.count() == before
    ok = client.post(
        reverse("admin:admissions_messagetemplate_add"),
        {
            "facility": facility.pk,
            "code": "ack-sms",
            "medium": "sms",
            "body": "Hi {{ first_name }}",
            "is_active": "on",
        },
    )
    assert ok.status_code == 302
    assert MessageTemplate.objects.filter(facility=facility, code="ack-sms").exists()


@pytest.mark.django_db
def test_send_time_check_blocks_a_template_changed_behind_the_check(facility, sms_api, always_open):
    # an update() bypasses clean(): the send-time check still refuses
    MessageTemplate.objects.filter(code="ack-sms").update(body="{{ sender }}: your detox bed is ready")
    inquiry = web_lead(facility, email=False)
    cadences_plan()
    followup = inquiry.followups.get(channel="sms")
    assert followup.pk in followups_claim_due()
    assert followup_deliver(followup_id=followup.pk, channels=default_channels()) == FollowUp.State.BLOCKED
    followup.refresh_from_db()
    assert followup.outcome == "content check: detox"
    assert sms_api.ledger.raw == []
    assert not OutboundMessage.objects.filter(followup=followup).exists()


@pytest.mark.django_db
def test_a_facility_template_overrides_the_default(facility, sms_api, always_open):
    MessageTemplate.objects.create(
        facility=facility, code="ack-sms", medium="sms", body="{{ sender }} says hello"
    )
    inquiry = web_lead(facility, email=False)
    cadences_plan()
    followup = inquiry.followups.get(channel="sms")
    followups_claim_due()
    assert followup_deliver(followup_id=followup.pk, channels=default_channels()) == FollowUp.State.DONE
    assert sms_api.messages()[0]["Body"] == "Harbor Health says hello"
