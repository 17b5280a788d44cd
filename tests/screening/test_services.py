"""Screening services: partial saves, red-flag routing, alerts, refer-out, sign-off and override."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from admissions.models import FollowUp, Inquiry, InquiryEvent, InsurancePolicy
from admissions.pipeline import Stage
from admissions.screening.definition import AnswersInvalid
from admissions.screening.models import Screening
from admissions.screening.services import (
    EVENT_MATCH_OVERRIDE,
    EVENT_RED_FLAG,
    EVENT_REFER_OUT,
    EVENT_SIGNOFF,
    ScreeningError,
    SignoffRefused,
    match_override,
    screening_save,
    screening_signoff,
)
from crm.models import AuditEvent
from crm.roles import Role
from tests.factories import InquiryFactory, LevelRef, PayerFactory, UserFactory
from tests.screening.builders import all_clear, screen, use

pytestmark = pytest.mark.django_db

BENZOS = screen(use("benzodiazepines", 30, 6, "mg", drug="alprazolam"))
SUICIDE_PLAN = screen(suicide={"thoughts": True, "method": True, "intent": True, "plan": True})


def _events(inquiry, kind):
    return list(InquiryEvent.objects.filter(inquiry=inquiry, kind=kind))


def _followup(inquiry, key):
    return FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.CALL_TASK,
        due_at=timezone.now() + timedelta(hours=1),
        dedupe_key=key,
    )


def test_partial_screen_saves_and_resumes_on_the_same_row(catalogue, inquiry, coordinator):
    first = screening_save(
        inquiry_id=inquiry.pk, answers={"emergency": all_clear()["emergency"]}, actor=coordinator
    )
    assert not first.screening.complete
    assert "suicide.wish_dead" in first.screening.result["missing_safety"]
    assert "emergency.overdose_now" not in first.screening.result["missing_safety"]
    assert Inquiry.objects.get(pk=inquiry.pk).stage == Stage.CONTACTED

    rest = all_clear()
    del rest["emergency"]
    second = screening_save(inquiry_id=inquiry.pk, answers=rest, actor=coordinator)

    assert second.screening.pk == first.screening.pk
    assert second.screening.complete
    assert second.screening.answers["emergency"]["overdose_now"] is False
    assert Screening.objects.filter(inquiry=inquiry).count() == 1
    assert Inquiry.objects.get(pk=inquiry.pk).stage == Stage.PRESCREENED
    assert AuditEvent.objects.filter(object_type="admissions.screening", action="create").count() == 1
    assert AuditEvent.objects.filter(object_type="admissions.screening", action="update").count() == 1


def test_follow_up_questions_become_required_when_their_trigger_is_yes(catalogue, inquiry, coordinator):
    answers = screen(suicide={"thoughts": True})
    saved = screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    assert not saved.screening.complete
    assert saved.screening.result["missing_safety"] == ["suicide.method", "suicide.intent", "suicide.plan"]


def test_each_substance_used_needs_its_safety_items(catalogue, inquiry, coordinator):
    answers = screen()
    answers["use"]["substances_30d"] = ["gabapentinoids"]
    saved = screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    assert saved.screening.result["missing_safety"] == [
        "substances.gabapentinoids.days_used_30",
        "substances.gabapentinoids.amount_per_day",
        "substances.gabapentinoids.unit",
        "substances.gabapentinoids.last_use",
        "substances.gabapentinoids.agent",
    ]


def test_null_clears_an_answer(catalogue, inquiry, coordinator):
    screening_save(inquiry_id=inquiry.pk, answers=screen(), actor=coordinator)
    saved = screening_save(inquiry_id=inquiry.pk, answers={"medical": {"pregnant": None}}, actor=coordinator)
    assert "pregnant" not in saved.screening.answers["medical"]
    assert saved.screening.result["missing_safety"] == ["medical.pregnant"]
    assert not saved.screening.complete


def test_bad_answers_change_nothing(catalogue, inquiry, coordinator):
    with pytest.raises(AnswersInvalid) as exc:
        screening_save(
            inquiry_id=inquiry.pk,
            answers={"substances": {"alcohol": {"days_used_30": 45}}, "insurance": {"payer_id": 999999}},
            actor=coordinator,
        )
    assert exc.value.errors == {
        "substances.alcohol.days_used_30": [
            'Must be at most 30. Or "unknown" when they refuse or do not know.'
        ]
    }
    with pytest.raises(AnswersInvalid) as exc:
        screening_save(inquiry_id=inquiry.pk, answers={"insurance": {"payer_id": 999999}}, actor=coordinator)
    assert exc.value.errors == {"insurance.payer_id": ["No payer with id 999999."]}
    assert not Screening.objects.exists()


def test_red_flag_moves_a_prescreened_inquiry_to_clinical_review_and_stops_followups(
    catalogue, inquiry, coordinator, clinician, mailoutbox, django_capture_on_commit_callbacks
):
    clinician.email = "nurse@example.org"
    clinician.save()
    elsewhere = UserFactory(
        username="far-nurse",
        role=Role.CLINICAL_REVIEWER,
        facilities=[catalogue.programs["Asheville Detox"].facility],
    )
    elsewhere.email = "far@example.org"
    elsewhere.save()
    pending = _followup(inquiry, "call-1")

    with django_capture_on_commit_callbacks(execute=True):
        saved = screening_save(inquiry_id=inquiry.pk, answers=BENZOS, actor=coordinator)

    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CLINICAL_REVIEW
    assert inquiry.has_red_flag
    assert [f.code for f in saved.new_flags] == ["sedative_withdrawal"]
    pending.refresh_from_db()
    assert pending.state == FollowUp.State.CANCELLED
    [alert] = _events(inquiry, EVENT_RED_FLAG)
    assert alert.data["route_to"] == "clinical_review"
    assert alert.data["stage_moved"] is True
    assert alert.data["alert"] == "clinical_reviewers"
    assert "Daily alprazolam 6 mg" in alert.body
    [mail] = mailoutbox
    assert mail.to == ["nurse@example.org"]
    assert mail.subject == "An inquiry needs clinical review"
    assert f"{settings.CRM_PUBLIC_URL}/inquiries/{inquiry.pk}/" in mail.body
    for secret in (
        "alprazolam",
        "benzo",
        "withdrawal",
        "detox",
        inquiry.person.first_name,
        inquiry.person.last_name,
    ):
        assert secret.lower() not in (mail.subject + mail.body).lower()


def test_saving_again_does_not_alert_twice(catalogue, inquiry, coordinator):
    screening_save(inquiry_id=inquiry.pk, answers=BENZOS, actor=coordinator)
    screening_save(inquiry_id=inquiry.pk, answers={"readiness": {"stage": "ready"}}, actor=coordinator)
    assert len(_events(inquiry, EVENT_RED_FLAG)) == 1


def test_suicide_risk_routes_to_crisis_from_a_new_inquiry(
    catalogue, facility, coordinator, mailoutbox, clinician, django_capture_on_commit_callbacks
):
    clinician.email = "nurse@example.org"
    clinician.save()
    inquiry = InquiryFactory(facility=facility, stage=Stage.NEW)
    with django_capture_on_commit_callbacks(execute=True):
        saved = screening_save(inquiry_id=inquiry.pk, answers=SUICIDE_PLAN, actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CRISIS_ROUTED
    assert inquiry.crisis_routed_at is not None
    assert inquiry.close_note == "Red flag: suicide_risk"
    [flag] = saved.screening.result["safety_flags"]
    assert flag["action"].startswith("Call or text 988")
    assert mailoutbox[0].subject == "Urgent: an inquiry needs clinical review now"


def test_a_self_pay_answer_and_a_new_red_flag_in_one_save_move_the_inquiry_once(
    catalogue, inquiry, coordinator
):
    # The self-pay answer completes the VOB, which hands a pre-screened inquiry to clinical review;
    # the red flag raised by the same save then finds it there instead of moving it again.
    screening_save(inquiry_id=inquiry.pk, answers=all_clear(), actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.PRESCREENED
    answers = screen(use("benzodiazepines", 30, 6, "mg", drug="alprazolam"))
    answers["insurance"] = {**answers.get("insurance", {}), "self_pay": True}

    saved = screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)

    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CLINICAL_REVIEW
    assert inquiry.has_red_flag
    assert [f.code for f in saved.new_flags] == ["sedative_withdrawal"]
    moves = sorted(_events(inquiry, InquiryEvent.Kind.STAGE_CHANGED), key=lambda e: e.pk)
    assert [e.data["to"] for e in moves] == ["prescreened", "clinical_review"]
    [alert] = _events(inquiry, EVENT_RED_FLAG)
    assert alert.data["stage_moved"] is False
    assert alert.data["stage_note"] == ""
    assert InsurancePolicy.objects.get(inquiry=inquiry).vob_status == InsurancePolicy.VobStatus.SELF_PAY


def test_red_flag_on_an_illegal_move_is_recorded_and_flagged_anyway(catalogue, inquiry, coordinator):
    """A partial screen at Contacted cannot move to Clinical review; the flag still lands."""
    answers = {
        "use": {"substances_30d": ["baclofen"]},
        "substances": {"baclofen": {"days_used_30": 30, "amount_per_day": 80, "unit": "mg"}},
    }
    screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CONTACTED
    assert inquiry.has_red_flag
    [alert] = _events(inquiry, EVENT_RED_FLAG)
    assert alert.data["stage_moved"] is False
    assert alert.data["stage_note"].startswith(
        "Stage left at Contacted: Cannot move from Contacted to Clinical review"
    )


def test_a_closed_inquiry_keeps_its_stage_but_gets_the_flag(catalogue, facility, coordinator):
    inquiry = InquiryFactory(facility=facility, stage=Stage.CLOSED, lost_reason="declined")
    screening_save(inquiry_id=inquiry.pk, answers=SUICIDE_PLAN, actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CLOSED
    assert inquiry.has_red_flag
    assert "is final" in _events(inquiry, EVENT_RED_FLAG)[0].data["stage_note"]


def test_a_later_clinical_flag_never_steps_back_from_crisis(catalogue, facility, coordinator):
    inquiry = InquiryFactory(facility=facility, stage=Stage.NEW)
    screening_save(inquiry_id=inquiry.pk, answers=SUICIDE_PLAN, actor=coordinator)
    screening_save(inquiry_id=inquiry.pk, answers=BENZOS, actor=coordinator)
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CRISIS_ROUTED
    assert len(_events(inquiry, EVENT_RED_FLAG)) == 2


def test_refer_out_is_proposed_once_on_the_timeline(catalogue, inquiry, coordinator):
    answers = screen(use("cannabis", 30, 2, "joints"), logistics={"age": 16})
    inquiry.person.date_of_birth = None
    inquiry.person.save()
    saved = screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    screening_save(inquiry_id=inquiry.pk, answers={"readiness": {"stage": "ready"}}, actor=coordinator)
    assert saved.matches.refer_out
    [event] = _events(inquiry, EVENT_REFER_OUT)
    assert event.body.startswith("No internal program fits (level 2.1)")
    assert Screening.objects.get().refer_out_proposed_at is not None


def _signed_ready(inquiry, coordinator, answers=BENZOS):
    return screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator).screening


def test_clinician_signs_off_the_final_level(catalogue, inquiry, coordinator, clinician):
    screening = _signed_ready(inquiry, coordinator)
    level = LevelRef.get("3.7-WM")
    signed = screening_signoff(screening=screening, level=level, actor=clinician, note="Agree, detox first.")
    assert (signed.final_level, signed.signed_by, signed.signoff_note) == (
        level,
        clinician,
        "Agree, detox first.",
    )
    inquiry.refresh_from_db()
    assert inquiry.approved_level == level
    [event] = _events(inquiry, EVENT_SIGNOFF)
    assert event.data["final_level"] == "3.7-WM"
    assert AuditEvent.objects.filter(
        object_type="admissions.screening", actor=clinician, action="update"
    ).exists()


def test_hospital_level_is_allowed_for_a_withdrawal_flag(catalogue, inquiry, coordinator, clinician):
    screening = _signed_ready(inquiry, coordinator)
    signed = screening_signoff(screening=screening, level=LevelRef.get("4"), actor=clinician)
    assert signed.final_level.code == "4"


@pytest.mark.parametrize("code", ["3.5", "2.5", "1", "3.2-WM"])
def test_sign_off_below_the_safety_minimum_is_refused(code, catalogue, inquiry, coordinator, clinician):
    screening = _signed_ready(inquiry, coordinator)
    with pytest.raises(SignoffRefused) as exc:
        screening_signoff(
            screening=screening, level=LevelRef.get(code), actor=clinician, note="I think it is fine"
        )
    assert "Daily alprazolam 6 mg" in str(exc.value)
    screening.refresh_from_db()
    assert screening.signed_at is None
    assert screening.final_level is None
    assert Inquiry.objects.get(pk=inquiry.pk).approved_level is None


def test_non_withdrawal_level_is_refused_even_at_the_same_intensity(
    catalogue, inquiry, coordinator, clinician
):
    screening = _signed_ready(inquiry, coordinator)
    with pytest.raises(SignoffRefused, match="withdrawal-management level"):
        screening_signoff(screening=screening, level=LevelRef.get("3.7"), actor=clinician, note="x")


def test_coordinator_cannot_sign_off(catalogue, inquiry, coordinator):
    screening = _signed_ready(inquiry, coordinator)
    with pytest.raises(ScreeningError, match="Only a clinical reviewer"):
        screening_signoff(screening=screening, level=LevelRef.get("3.7-WM"), actor=coordinator)
    assert Screening.objects.get().signed_at is None


def test_incomplete_screen_cannot_be_signed(catalogue, inquiry, coordinator, clinician):
    screening = screening_save(
        inquiry_id=inquiry.pk, answers={"emergency": all_clear()["emergency"]}, actor=coordinator
    ).screening
    with pytest.raises(ScreeningError, match="not complete"):
        screening_signoff(screening=screening, level=LevelRef.get("3.7-WM"), actor=clinician)


def test_lowering_the_provisional_level_needs_a_note(catalogue, inquiry, coordinator, clinician):
    screening = _signed_ready(inquiry, coordinator, screen(use("cannabis", 30, 4, "joints")))
    assert screening.provisional_level.code == "2.1"
    with pytest.raises(ScreeningError, match="needs a note"):
        screening_signoff(screening=screening, level=LevelRef.get("1"), actor=clinician)
    signed = screening_signoff(
        screening=screening, level=LevelRef.get("1"), actor=clinician, note="Works days; OP fits."
    )
    assert signed.final_level.code == "1"


def test_a_new_screen_after_sign_off_starts_from_the_last_answers(catalogue, inquiry, coordinator, clinician):
    screening = _signed_ready(inquiry, coordinator)
    screening_signoff(screening=screening, level=LevelRef.get("3.7-WM"), actor=clinician)
    again = screening_save(
        inquiry_id=inquiry.pk, answers={"readiness": {"stage": "ready"}}, actor=coordinator
    )
    assert again.screening.pk != screening.pk
    assert again.screening.answers["substances"]["benzodiazepines"]["amount_per_day"] == 6
    assert Screening.objects.filter(inquiry=inquiry).count() == 2


def test_coordinator_overrides_the_match_with_a_reason(catalogue, inquiry, coordinator):
    screening = _signed_ready(inquiry, coordinator)
    program = catalogue.programs["Asheville Detox"]
    done = match_override(
        screening=screening,
        program=program,
        reason="Closer to her sister, who will drive her.",
        actor=coordinator,
    )
    assert (done.override_program, done.override_by) == (program, coordinator)
    [event] = _events(inquiry, EVENT_MATCH_OVERRIDE)
    assert event.body == "Closer to her sister, who will drive her."
    assert AuditEvent.objects.filter(
        object_type="admissions.screening", actor=coordinator, fields=["override_program", "override_reason"]
    ).exists()


def test_override_needs_a_reason_and_respects_the_safety_minimum(catalogue, inquiry, coordinator, clinician):
    screening = _signed_ready(inquiry, coordinator)
    with pytest.raises(ScreeningError, match="Say why"):
        match_override(
            screening=screening, program=catalogue.programs["Asheville Detox"], reason="  ", actor=coordinator
        )
    with pytest.raises(ScreeningError, match="below the minimum 3.7"):
        match_override(
            screening=screening,
            program=catalogue.programs["Tampa IOP"],
            reason="Wants evenings only.",
            actor=coordinator,
        )
    with pytest.raises(ScreeningError, match="Only an admissions coordinator or manager"):
        match_override(
            screening=screening,
            program=catalogue.programs["Asheville Detox"],
            reason="Closer to home.",
            actor=clinician,
        )
    screening.refresh_from_db()
    assert screening.override_program is None
    assert not _events(inquiry, EVENT_MATCH_OVERRIDE)


def test_contact_and_insurance_answers_update_the_person_and_the_policy(catalogue, inquiry, coordinator):
    payer = PayerFactory(name="Blue Plan")
    screening_save(
        inquiry_id=inquiry.pk,
        answers={
            "logistics": {"ok_to_text": False, "ok_to_voicemail": True},
            "insurance": {"payer_id": payer.pk, "member_id": "ZX998877", "subscriber_name": "R. Doe"},
        },
        actor=coordinator,
    )
    inquiry.person.refresh_from_db()
    assert (inquiry.person.ok_to_text, inquiry.person.ok_to_voicemail) == (False, True)
    policy = InsurancePolicy.objects.get(inquiry=inquiry, rank="primary")
    assert (policy.payer, policy.member_id, policy.subscriber_name) == (payer, "ZX998877", "R. Doe")
    [event] = _events(inquiry, InquiryEvent.Kind.INSURANCE)
    assert "ZX998877" not in str(event.data)
    screening_save(inquiry_id=inquiry.pk, answers={"insurance": {"member_id": "ZX998877"}}, actor=coordinator)
    assert len(_events(inquiry, InquiryEvent.Kind.INSURANCE)) == 1  # nothing changed, nothing logged


def test_a_flag_raised_on_a_partial_screen_reaches_clinical_review_when_the_screen_completes(
    catalogue, inquiry, coordinator
):
    Inquiry.objects.filter(pk=inquiry.pk).update(stage=Stage.CONTACTED)
    partial = {key: value for key, value in BENZOS.items() if key != "emergency"}
    first = screening_save(inquiry_id=inquiry.pk, answers=partial, actor=coordinator)
    assert not first.screening.complete
    assert [f.code for f in first.new_flags] == ["sedative_withdrawal"]
    inquiry.refresh_from_db()
    assert (inquiry.stage, inquiry.has_red_flag) == (Stage.CONTACTED, True)  # no move from Contacted
    saved = screening_save(
        inquiry_id=inquiry.pk, answers={"emergency": BENZOS["emergency"]}, actor=coordinator
    )
    assert saved.screening.complete
    inquiry.refresh_from_db()
    assert inquiry.stage == Stage.CLINICAL_REVIEW
