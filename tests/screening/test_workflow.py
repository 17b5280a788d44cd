"""The workflow between the pages: one next step per stage, hand-offs that move the work on, the
program a place is held in, and an admission that departs from the plan only on purpose."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admissions.casework import insurance_save
from admissions.followups import followup_deliver, followups_claim_due
from admissions.models import FollowUp, InquiryEvent, InsurancePolicy
from admissions.next_step import StepFacts, next_step
from admissions.pipeline import Stage
from admissions.screening.services import screening_save, screening_signoff
from admissions.selectors import followups_due_for, inquiries_visible_to
from programs.models import CapacityHold
from tests.factories import InquiryFactory, LevelRef
from tests.screening.builders import all_clear, screen, use
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

BENZOS = screen(use("benzodiazepines", 30, 6, "mg", drug="alprazolam"))  # sedative withdrawal flag
VOB = InsurancePolicy.VobStatus


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    login_verified(client, user)
    return client


def _page(client: Client, inquiry) -> str:  # type: ignore[no-untyped-def]
    response = client.get(reverse("admissions:inquiry", args=[inquiry.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _vob(inquiry, status, actor):  # type: ignore[no-untyped-def]
    insurance_save(inquiry=inquiry, actor=actor, values={"payer_name": "Aetna", "vob_status": status})
    inquiry.refresh_from_db()


# --- one next step per stage -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "changes", "vob", "code"),
    [
        (Stage.NEW, {}, None, "call"),
        (Stage.CONTACT_ATTEMPTED, {}, None, "call"),
        (Stage.CONTACTED, {}, None, "prescreen"),
        (Stage.PRESCREENED, {}, None, "request_vob"),
        (Stage.PRESCREENED, {}, VOB.SELF_PAY, "review"),
        (Stage.INSURANCE_VERIFICATION, {}, VOB.REQUESTED, "complete_vob"),
        (Stage.INSURANCE_VERIFICATION, {}, VOB.NOT_VIABLE, "vob_not_viable"),
        (Stage.CLINICAL_REVIEW, {}, VOB.VIABLE, "signoff"),
        (Stage.CLINICAL_REVIEW, {"approved_level": "3.5"}, None, "request_vob"),
        (Stage.CLINICAL_REVIEW, {"approved_level": "3.5"}, VOB.VIABLE, "approve"),
        (Stage.APPROVED, {}, VOB.VIABLE, "hold"),
        (Stage.ADMISSION_SCHEDULED, {"admission_date": 1}, VOB.VIABLE, "arrival"),
        (Stage.ADMISSION_SCHEDULED, {"admission_date": 0}, VOB.VIABLE, "admit"),
        (Stage.CRISIS_ROUTED, {}, None, "crisis"),
        (Stage.NURTURE, {}, None, "call"),
        (Stage.ADMITTED, {}, None, None),
        (Stage.CLOSED, {}, None, None),
    ],
)
def test_each_stage_has_one_next_step(facility, stage, changes, vob, code):
    today = timezone.localdate()
    inquiry = InquiryFactory.build(facility=facility, stage=stage)
    if "approved_level" in changes:
        inquiry.approved_level = LevelRef.get(changes["approved_level"])
    if "admission_date" in changes:
        inquiry.admission_date = today + timedelta(days=changes["admission_date"])
    policy = InsurancePolicy(inquiry=inquiry, vob_status=vob) if vob else None
    step = next_step(inquiry, today=today, facts=StepFacts(screening=None, policy=policy))
    assert (step.code if step else None) == code
    # a queue row decides from the inquiry's columns alone: a step wherever the page has one
    assert (next_step(inquiry, today=today) is None) == (step is None)


def test_the_inquiry_page_shows_the_step_to_whoever_takes_it_and_waiting_to_others(
    catalogue, inquiry, coordinator, clinician
):
    screening_save(inquiry_id=inquiry.pk, answers=BENZOS, actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CLINICAL_REVIEW
    as_coordinator = _page(_client(coordinator), inquiry)
    assert 'data-step="signoff"' in as_coordinator
    assert "waiting for a clinical reviewer since" in as_coordinator
    as_clinician = _page(_client(clinician), inquiry)
    signoff = reverse("screening_ui:signoff", args=[inquiry.pk])
    primary = f'<a class="button primary" href="{signoff}">Clinical sign-off of the level of care</a>'
    assert primary in as_clinician


def test_a_step_without_a_form_reads_as_the_task_to_whoever_takes_it(
    catalogue, inquiry, coordinator, clinician
):
    answers = screen(suicide={"thoughts": True, "method": True, "intent": True, "plan": True})
    screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    as_clinician = _page(_client(clinician), inquiry)
    assert 'data-step="crisis"' in as_clinician
    assert "<strong>Crisis follow-up by a clinician</strong>, since" in as_clinician
    assert "waiting for a clinical reviewer" in _page(_client(coordinator), inquiry)


def test_the_queue_shows_each_rows_next_step(coordinator_client, facility):
    InquiryFactory(facility=facility, stage=Stage.INSURANCE_VERIFICATION)
    InquiryFactory(facility=facility, stage=Stage.NEW)
    response = coordinator_client.get(reverse("admissions:queue") + "?tab=open")
    body = response.content.decode()
    assert '<th scope="col">Next step</th>' in body
    assert 'Verify benefits</span> <span class="muted">· a VOB specialist' in body
    assert '<span class="step step-call">Call now</span>' in body


# --- hand-offs -----------------------------------------------------------------------------------


def test_sign_off_with_benefits_verified_approves_and_alerts_the_owner(
    catalogue, facility, inquiry, coordinator, clinician
):
    inquiry.assigned_to = coordinator
    inquiry.save()
    _vob(inquiry, VOB.VIABLE, coordinator)
    saved = screening_save(inquiry_id=inquiry.pk, answers=BENZOS, actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CLINICAL_REVIEW
    screening_signoff(screening=saved.screening, level=LevelRef.get("3.7-WM"), actor=clinician)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.APPROVED
    [handoff] = FollowUp.objects.filter(inquiry=inquiry, kind=FollowUp.Kind.HANDOFF)
    assert handoff.outcome.startswith("Signed off at 3.7-WM")
    due = followups_due_for(coordinator, base=inquiries_visible_to(coordinator), now=timezone.now())
    assert list(due.values_list("pk", flat=True))[:1] == [handoff.pk]
    # its alert posts the words on the timeline, and the due list keeps showing them
    assert handoff.pk in followups_claim_due()
    assert followup_deliver(followup_id=handoff.pk) == FollowUp.State.DONE
    alert = InquiryEvent.objects.filter(inquiry=inquiry, data__followup=handoff.pk).get()
    assert alert.body == handoff.outcome
    row = _client(coordinator).get(reverse("admissions:queue") + "?tab=due").content.decode()
    assert handoff.outcome.replace("&", "&amp;") in row
    # the step taken (a stage change after it fell due) takes it off the due list
    InquiryEvent.objects.filter(inquiry=inquiry).delete()
    type(inquiry).objects.filter(pk=inquiry.pk).update(stage_changed_at=timezone.now() + timedelta(seconds=1))
    due = followups_due_for(coordinator, base=inquiries_visible_to(coordinator), now=timezone.now())
    assert handoff.pk not in set(due.values_list("pk", flat=True))


def test_sign_off_while_the_vob_is_pending_hands_to_the_vob_queue_then_approval(
    catalogue, inquiry, coordinator, clinician, vob_specialist
):
    saved = screening_save(inquiry_id=inquiry.pk, answers=BENZOS, actor=coordinator)
    _vob(inquiry, VOB.REQUESTED, coordinator)
    assert inquiry.stage == Stage.CLINICAL_REVIEW  # unsigned: the clinician is still reviewing
    screening_signoff(screening=saved.screening, level=LevelRef.get("3.7-WM"), actor=clinician)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.INSURANCE_VERIFICATION
    _vob(inquiry, VOB.VIABLE, vob_specialist)
    assert inquiry.stage == Stage.APPROVED


def test_benefits_verified_before_the_clinician_sends_the_inquiry_to_clinical_review(
    catalogue, inquiry, coordinator, vob_specialist
):
    inquiry.assigned_to = coordinator
    inquiry.save()
    screening_save(inquiry_id=inquiry.pk, answers=all_clear(), actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.PRESCREENED
    _vob(inquiry, VOB.REQUESTED, coordinator)
    assert inquiry.stage == Stage.INSURANCE_VERIFICATION
    _vob(inquiry, VOB.VIABLE, vob_specialist)
    assert inquiry.stage == Stage.CLINICAL_REVIEW
    _vob(inquiry, VOB.NOT_VIABLE, vob_specialist)  # not at the VOB stage any more: no alert
    assert not FollowUp.objects.filter(inquiry=inquiry, kind=FollowUp.Kind.HANDOFF).exists()


def test_benefits_not_viable_alert_the_owner(catalogue, inquiry, coordinator, vob_specialist):
    inquiry.assigned_to = coordinator
    inquiry.save()
    screening_save(inquiry_id=inquiry.pk, answers=all_clear(), actor=coordinator)
    inquiry.refresh_from_db()
    _vob(inquiry, VOB.REQUESTED, coordinator)
    _vob(inquiry, VOB.NOT_VIABLE, vob_specialist)
    assert inquiry.stage == Stage.INSURANCE_VERIFICATION
    [handoff] = FollowUp.objects.filter(inquiry=inquiry, kind=FollowUp.Kind.HANDOFF)
    assert "not viable" in handoff.outcome


# --- where a place is held, and admission ---------------------------------------------------------


def _approved(catalogue, inquiry, coordinator, clinician, level="3.7-WM"):  # type: ignore[no-untyped-def]
    _vob(inquiry, VOB.VIABLE, coordinator)
    saved = screening_save(inquiry_id=inquiry.pk, answers=BENZOS, actor=coordinator)
    screening_signoff(screening=saved.screening, level=LevelRef.get(level), actor=clinician)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.APPROVED
    return inquiry


def test_the_hold_starts_from_the_top_match_and_refuses_a_program_below_the_screen(
    catalogue, inquiry, coordinator, clinician
):
    _approved(catalogue, inquiry, coordinator, clinician)
    client = _client(coordinator)
    response = client.get(reverse("admissions:inquiry", args=[inquiry.pk]))
    assert response.context["step"].code == "hold"
    assert response.context["step_form"].initial["program"] == catalogue.programs["Tampa Medical Detox"].pk
    until = (timezone.localtime() + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M")
    outpatient = catalogue.programs["Tampa Outpatient"]
    act = reverse("admissions:inquiry-act", args=[inquiry.pk, "hold"])
    refused = client.post(act, {"program": outpatient.pk, "until": until})
    assert refused.status_code == 200
    assert "below" in " ".join(refused.context["step_form"].errors["program"])
    assert not CapacityHold.objects.filter(program=outpatient).exists()


def test_admitting_off_the_plan_asks_for_a_tick_and_a_reason(catalogue, inquiry, coordinator, clinician):
    _approved(catalogue, inquiry, coordinator, clinician)
    client = _client(coordinator)
    detox = catalogue.programs["Tampa Medical Detox"]
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    schedule = reverse("admissions:inquiry-act", args=[inquiry.pk, "schedule"])
    assert client.post(schedule, {"program": detox.pk, "admission_date": tomorrow}).status_code == 302
    assert (
        _client(coordinator).get(reverse("admissions:inquiry", args=[inquiry.pk])).context["step"].code
        == "arrival"
    )
    admit = reverse("admissions:inquiry-act", args=[inquiry.pk, "admit"])
    asked = client.post(admit, {"program": detox.pk})
    assert asked.status_code == 200
    form = {name: f for name, _t, f in asked.context["actions"]}["admit"]
    assert "scheduled for" in " ".join(form.errors["confirm"])
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.ADMISSION_SCHEDULED
    done = client.post(admit, {"program": detox.pk, "confirm": "on", "reason": "Arrived a day early."})
    assert done.status_code == 302
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.ADMITTED
    moved = InquiryEvent.objects.filter(inquiry=inquiry, kind="stage_changed").order_by("-at", "-pk").first()
    assert moved is not None
    assert moved.data.get("reason") == "Arrived a day early."


# --- red flags that read right ---------------------------------------------------------------------


def test_the_flag_banner_names_the_action_and_becomes_a_note_after_sign_off(
    catalogue, inquiry, coordinator, clinician
):
    saved = screening_save(inquiry_id=inquiry.pk, answers=BENZOS, actor=coordinator)
    page = _page(_client(coordinator), inquiry)
    assert 'id="red-flag"' in page
    assert "A clinical reviewer must sign off the level of care" in page
    assert "crisis protocol" not in page
    screening_signoff(screening=saved.screening, level=LevelRef.get("3.7-WM"), actor=clinician)
    page = _page(_client(coordinator), inquiry)
    assert 'id="red-flag"' not in page
    assert "Safety flag reviewed:" in page


def test_a_crisis_flag_keeps_the_crisis_protocol(catalogue, inquiry, coordinator):
    answers = screen(suicide={"thoughts": True, "method": True, "intent": True, "plan": True})
    screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    page = _page(_client(coordinator), inquiry)
    assert "Crisis:" in page
    assert "Follow the crisis protocol now" in page
