"""The pre-screen's safety gaps, one class of caller story per numbered item of the issue, through
the screening API and (for an incomplete screen, an emergency and a family caller) the pages.

1 recent cessation after long regular use; 2 refused or unanswered safety follow-ups; 3 an
incomplete screen recommends nothing; 4 clinical needs steer the ranking; 5 an emergency shows
no program list; 6 withdrawal and treatment levels run concurrently; 7 distance; 8 family
callers; 9 two gabapentinoids; 10 bad input is a 400 naming the field and stores nothing.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from admissions.followups import followup_deliver
from admissions.models import Caller, FollowUp, Inquiry, InquiryEvent, Person
from admissions.pipeline import Stage
from admissions.screening.definition import FORMS, UNKNOWN
from admissions.screening.models import Screening
from admissions.screening.services import screening_save
from crm.models import Facility
from privacy.models import Part2Consent
from programs.models import Census, Specialty
from tests.factories import CallerFactory, FacilityFactory, LevelRef, ProgramFactory
from tests.screening.builders import ago, all_clear, screen, use
from workers.channels import default_channels

pytestmark = pytest.mark.django_db

SUPPORTIVE = {"environment": {"living": "supportive", "safe_at_home": True, "sober_supports": True}}


def _url(inquiry_id: int, tail: str = "") -> str:
    return f"/api/v1/inquiries/{inquiry_id}/screening/{tail}"


def _post(client: Client, url: str, body: object):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def _save(client: Client, inquiry: Inquiry, answers: dict[str, Any]) -> dict[str, Any]:
    response = _post(client, _url(inquiry.pk), {"answers": answers})
    assert response.status_code in (200, 201), response.content
    return response.json()


def _flags(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in body["safety_flags"]}


def _top(body: dict[str, Any]) -> str | None:
    return next((m["program_name"] for m in body["matches"] if not m["excluded"]), None)


def _pending_followup(inquiry: Inquiry, key: str, kind: str = FollowUp.Kind.CALL_TASK) -> FollowUp:
    return FollowUp.objects.create(
        inquiry=inquiry,
        kind=kind,
        channel=FollowUp.Channel.SMS if kind == FollowUp.Kind.ACKNOWLEDGEMENT else FollowUp.Channel.TASK,
        due_at=timezone.now() + timedelta(hours=2),
        dedupe_key=key,
    )


# --- 1. recent cessation after long regular use ------------------------------------------------

WINDOWS = FORMS[2]["withdrawal_windows"]


def _stopped(code: str, days_ago: int, *, symptoms: bool, drug: str = "", **row: Any) -> dict[str, Any]:
    # Used every day until the stop: the days of the last 30 before it.
    used = max(0, 30 - days_ago)
    amount, unit = (3600, "mg") if code == "gabapentinoids" else (4, "mg")
    extra = {"agent": "gabapentin"} if code == "gabapentinoids" else {}
    return screen(
        use(code, used, amount, unit, drug=drug, duration_months=48, last=ago(days=days_ago), **extra, **row),
        withdrawal={"symptoms_now": symptoms},
        **SUPPORTIVE,
    )


# Windows of more than 10 days: a stop at the end of a shorter one leaves 20 or more days of use in
# the last 30, which the daily rule covers already.
WINDOW_CASES = [
    (code, symptoms)
    for code in sorted(WINDOWS)
    for symptoms in (False, True)
    if WINDOWS[code]["days_with_symptoms" if symptoms else "days"] > 10
]


@pytest.mark.parametrize(("code", "symptoms"), WINDOW_CASES)
def test_stopping_within_the_class_window_after_months_of_daily_use_raises_the_flag(
    code, symptoms, catalogue, inquiry, coordinator_client
):
    window = WINDOWS[code]["days_with_symptoms" if symptoms else "days"]
    body = _save(coordinator_client, inquiry, _stopped(code, window, symptoms=symptoms))

    flag = _flags(body)["sedative_withdrawal"]
    assert f"up to {window} days after the last dose" in flag["reason"]
    assert body["provisional_level"]["code"] == "3.7-WM"
    assert _top(body) == "Tampa Medical Detox"
    assert Inquiry.objects.get(pk=inquiry.pk).stage == Stage.CLINICAL_REVIEW


@pytest.mark.parametrize("code", sorted(WINDOWS))
def test_stopping_before_the_window_raises_no_withdrawal_flag(code, catalogue, inquiry, coordinator_client):
    window = WINDOWS[code].get("long_acting_days_with_symptoms", WINDOWS[code]["days_with_symptoms"])
    body = _save(coordinator_client, inquiry, _stopped(code, window + 2, symptoms=True))
    assert "sedative_withdrawal" not in _flags(body)
    assert body["provisional_level"]["code"] != "3.7-WM"


def test_long_acting_benzodiazepines_have_the_longer_window(catalogue, inquiry, other_inquiry, coordinator):
    days = WINDOWS["benzodiazepines"]["long_acting_days"]
    assert days > WINDOWS["benzodiazepines"]["days"]
    long_acting = screening_save(
        inquiry_id=inquiry.pk,
        answers=_stopped("benzodiazepines", days, symptoms=False, drug="diazepam"),
        actor=coordinator,
    )
    assert "sedative_withdrawal" in long_acting.screening.safety_flags
    assert "long-acting" in long_acting.screening.result["safety_flags"][0]["reason"]
    short_acting = screening_save(
        inquiry_id=inquiry.pk,
        answers={"substances": {"benzodiazepines": {"drug": "alprazolam"}}},
        actor=coordinator,
    )
    assert "sedative_withdrawal" not in short_acting.screening.safety_flags  # 21 days > 14 for alprazolam


LONG_ACTING_CASES = [
    (code, spec["long_acting"][0], spec[key])
    for code, spec in sorted(WINDOWS.items())
    if spec.get("long_acting")
    for key in ("long_acting_days", "long_acting_days_with_symptoms")
]


@pytest.mark.parametrize(("code", "drug", "window"), LONG_ACTING_CASES)
def test_daily_use_of_a_long_acting_drug_flags_on_every_day_of_its_window(
    code, drug, window, catalogue, inquiry, coordinator
):
    symptoms = window == WINDOWS[code]["long_acting_days_with_symptoms"]
    for days_ago in range(1, window + 1):
        saved = screening_save(
            inquiry_id=inquiry.pk,
            answers=_stopped(code, days_ago, symptoms=symptoms, drug=drug),
            actor=coordinator,
        )
        assert "sedative_withdrawal" in saved.screening.safety_flags, (drug, days_ago, symptoms)


def test_a_short_history_before_stopping_is_not_dependence(catalogue, inquiry, coordinator_client):
    answers = _stopped("benzodiazepines", 12, symptoms=False)
    answers["substances"]["benzodiazepines"]["duration_months"] = 0
    assert "sedative_withdrawal" not in _flags(_save(coordinator_client, inquiry, answers))


# --- 2. refused or unanswered safety follow-ups ------------------------------------------------


@pytest.mark.parametrize(
    ("followups", "said"),
    [
        ({}, "method, intent and plan not answered"),
        ({"method": None, "intent": None, "plan": None}, "method, intent and plan not answered"),
        (
            {"method": UNKNOWN, "intent": UNKNOWN, "plan": UNKNOWN},
            "method, intent and plan refused or not known",
        ),
        ({"method": False, "intent": UNKNOWN, "plan": False}, "intent refused or not known"),
    ],
)
def test_thoughts_of_suicide_with_follow_ups_refused_or_unanswered_is_the_full_flag(
    followups,
    said,
    catalogue,
    inquiry,
    coordinator,
    clinician,
    coordinator_client,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    clinician.email = "nurse@example.org"
    clinician.save()
    pending = _pending_followup(inquiry, "call-1")
    answers = screen(
        use("cannabis", 12, 1, "joints"), suicide={"wish_dead": True, "thoughts": True, **followups}
    )

    with django_capture_on_commit_callbacks(execute=True):
        body = _save(coordinator_client, inquiry, answers)

    flag = _flags(body)["suicide_risk"]
    assert said in flag["reason"]
    assert "counted as yes until a clinician decides" in flag["reason"]
    assert flag["action"].startswith("Call or text 988")
    assert body["minimum_intensity"] == "4.0"
    refreshed = Inquiry.objects.get(pk=inquiry.pk)
    assert (refreshed.stage, refreshed.has_red_flag) == (Stage.CRISIS_ROUTED, True)
    pending.refresh_from_db()
    assert pending.state == FollowUp.State.CANCELLED
    [alert] = InquiryEvent.objects.filter(inquiry=inquiry, kind=InquiryEvent.Kind.RED_FLAG)
    assert said in alert.body
    assert [m.subject for m in mailoutbox] == ["Urgent: an inquiry needs clinical review now"]
    # Unanswered is still missing (the screen is not complete); refused counts as answered.
    unanswered = [i for i in ("method", "intent", "plan") if followups.get(i) is None]
    assert [p for p in body["missing_safety_items"] if p.startswith("suicide.")] == [
        f"suicide.{i}" for i in unanswered
    ]


def test_all_follow_ups_answered_no_raises_no_suicide_flag(catalogue, inquiry, coordinator_client):
    answers = screen(suicide={"thoughts": True, "method": False, "intent": False, "plan": False})
    body = _save(coordinator_client, inquiry, answers)
    assert "suicide_risk" not in _flags(body)
    assert body["complete"] is True


def test_a_pump_whose_state_is_not_answered_counts_as_failing(catalogue, inquiry, coordinator_client):
    answers = screen(use("cannabis", 10, 1, "joints"), medical={"pregnant": "no", "baclofen_pump": True})
    body = _save(coordinator_client, inquiry, answers)
    assert "not answered; counted as yes" in _flags(body)["baclofen_pump"]["reason"]
    assert Inquiry.objects.get(pk=inquiry.pk).stage == Stage.CRISIS_ROUTED


@pytest.mark.parametrize(
    ("answers", "flag", "said"),
    [
        (
            screen(emergency={"overdose_now": UNKNOWN}),
            "emergency_now",
            "Not known whether the person may have",
        ),
        (
            screen(psychiatric={"psychosis_now": UNKNOWN}),
            "severe_psychiatric",
            "not known whether the person",
        ),
        (
            screen(use("alcohol", 4, 2, "drinks"), withdrawal={"past_seizures": UNKNOWN}),
            "sedative_withdrawal",
            "Not known whether stopping ever caused a seizure",
        ),
        (
            screen(use("alcohol", UNKNOWN, 6, "drinks")),  # how often they drink: refused
            "sedative_withdrawal",
            "Days of use not known (counted as daily)",
        ),
        (
            screen(use("gabapentinoids", 30, UNKNOWN, "mg", agent="gabapentin")),
            "sedative_withdrawal",
            "not known",
        ),
        (
            screen(suicide={"recent_behaviour": UNKNOWN}),
            "suicide_risk",
            "recent behaviour refused or not known",
        ),
        (
            screen(medical={"pregnant": UNKNOWN}, **{"use": {"substances_30d": UNKNOWN}}),
            "pregnancy_withdrawal",
            "not known",
        ),
    ],
)
def test_a_refused_or_unknown_safety_answer_counts_as_the_risk(
    answers, flag, said, catalogue, inquiry, coordinator_client
):
    body = _save(coordinator_client, inquiry, answers)
    assert said in _flags(body)[flag]["reason"]


def test_refused_answers_show_on_the_page_as_refused(catalogue, inquiry, coordinator, coordinator_client):
    screening_save(
        inquiry_id=inquiry.pk,
        answers=screen(use("alcohol", UNKNOWN, 6, "drinks"), suicide={"thoughts": True, "method": UNKNOWN}),
        actor=coordinator,
    )
    body = coordinator_client.get(
        reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk})
    ).content.decode()
    assert 'name="suicide.method" value="unknown" checked' in body
    assert 'name="substances.alcohol.days_used_30" value="unknown" checked' in body
    # posting the page back keeps them
    data = {"suicide.method": "unknown", "substances.alcohol.days_used_30": ["", "unknown"]}
    assert (
        coordinator_client.post(
            reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk}), data
        ).status_code
        == 302
    )
    saved = Screening.objects.get(inquiry=inquiry).answers
    assert (saved["suicide"]["method"], saved["substances"]["alcohol"]["days_used_30"]) == (UNKNOWN, UNKNOWN)


# --- 3. an incomplete screen recommends nothing ------------------------------------------------


@pytest.mark.parametrize(
    "answers",
    [
        {"logistics": {"ok_to_text": True}},
        {"emergency": all_clear()["emergency"]},
        {k: v for k, v in all_clear().items() if k != "suicide"},
    ],
)
def test_an_incomplete_screen_has_no_level_and_no_programs(answers, catalogue, inquiry, coordinator_client):
    body = _save(coordinator_client, inquiry, answers)

    assert body["complete"] is False
    assert body["provisional_level"] is None
    assert body["levels"] is None
    assert body["matches"] == []
    assert body["recommendation_withheld"]["why"] == "incomplete"
    assert body["refer_out"] == {"proposed": False, "reason": ""}
    assert Screening.objects.get(inquiry=inquiry).provisional_level is None
    read = coordinator_client.get(_url(inquiry.pk)).json()
    assert (read["matches"], read["recommendation_withheld"]["why"]) == ([], "incomplete")


def test_override_on_an_incomplete_screen_is_refused(catalogue, inquiry, coordinator, coordinator_client):
    screening_save(inquiry_id=inquiry.pk, answers={"emergency": all_clear()["emergency"]}, actor=coordinator)
    response = _post(
        coordinator_client,
        _url(inquiry.pk, "match-override/"),
        {"program": catalogue.programs["Tampa Outpatient"].pk, "reason": "Closest to where she works."},
    )
    assert response.status_code == 400
    assert "safety questions not answered yet" in response.json()["program"][0]
    screening = Screening.objects.get(inquiry=inquiry)
    assert (screening.override_program, screening.override_reason) == (None, "")


def test_override_below_a_raised_minimum_is_refused(catalogue, inquiry, coordinator, coordinator_client):
    # Complete, no flag, but homeless with thoughts of suicide (no method, intent or plan): at least 3.5.
    answers = screen(
        use("stimulants", 12, 1, "grams"),
        suicide={"wish_dead": True, "thoughts": True, "method": False, "intent": False, "plan": False},
        environment={"living": "unstable"},
    )
    saved = screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)
    assert (saved.screening.safety_flags, saved.screening.result["minimum_intensity"]) == ([], "3.5")
    response = _post(
        coordinator_client,
        _url(inquiry.pk, "match-override/"),
        {"program": catalogue.programs["Tampa Outpatient"].pk, "reason": "She wants evenings only."},
    )
    assert response.status_code == 400
    assert response.json()["program"] == ["Level 1 is below the minimum 3.5 the answers require."]
    assert Screening.objects.get(inquiry=inquiry).override_program is None


def test_an_earlier_override_is_set_aside_when_new_answers_raise_the_minimum(
    catalogue, inquiry, coordinator, coordinator_client
):
    plain = screen(use("stimulants", 12, 1, "grams"))
    saved = screening_save(inquiry_id=inquiry.pk, answers=plain, actor=coordinator)
    assert Decimal(saved.screening.result["minimum_intensity"]) < Decimal("3.5")
    outpatient = catalogue.programs["Tampa Outpatient"]
    response = _post(
        coordinator_client,
        _url(inquiry.pk, "match-override/"),
        {"program": outpatient.pk, "reason": "Evenings only."},
    )
    assert response.status_code == 200, response.content
    raised = {
        "suicide": {"wish_dead": True, "thoughts": True, "method": False, "intent": False, "plan": False},
        "environment": {"living": "unstable"},
    }
    screening_save(inquiry_id=inquiry.pk, answers=raised, actor=coordinator)
    screening = Screening.objects.get(inquiry=inquiry)
    assert screening.override_program is None
    cleared = InquiryEvent.objects.filter(inquiry=inquiry, data__cleared=True).get()
    assert "Tampa Outpatient set aside" in cleared.body


def test_incomplete_screen_pages_show_what_is_missing_instead_of_a_level(
    catalogue, inquiry, coordinator, coordinator_client
):
    screening_save(inquiry_id=inquiry.pk, answers={"emergency": all_clear()["emergency"]}, actor=coordinator)

    page = coordinator_client.get(reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk}))
    body = page.content.decode()
    assert "No level yet" in body
    assert "safety questions not answered yet" in body
    assert 'id="matches-withheld"' in body
    assert 'id="program-matches"' not in body
    assert 'class="sc-level-code"' not in body
    assert "Override the match" not in body
    inquiry_page = coordinator_client.get(
        reverse("admissions:inquiry", kwargs={"pk": inquiry.pk})
    ).content.decode()
    assert 'id="screening-withheld"' in inquiry_page
    assert "no level and no program until every safety question is answered" in inquiry_page
    assert "Recommended:" not in inquiry_page


# --- 4. clinical needs steer the ranking -------------------------------------------------------


def test_pregnant_daily_opioid_use_ranks_the_perinatal_unit_first_without_asking(
    catalogue, inquiry, coordinator_client
):
    perinatal = Specialty.objects.create(code="pregnancy", name="Pregnancy")
    unit = ProgramFactory(
        facility=catalogue.programs["Tampa Medical Detox"].facility,
        name="Tampa Perinatal Detox",
        setting="withdrawal",
        level_of_care=LevelRef.get("3.7-WM"),
        capacity_kind="beds",
        capacity=6,
        gender="women",
    )
    unit.specialties.set([perinatal])
    unit.accepted_payers.set([catalogue.payers["cigna"]])
    answers = screen(
        use("heroin_fentanyl", 30, 1, "grams", route="smoked"),
        medical={"pregnant": "yes"},
        logistics={"gender": "woman"},
        insurance={"payer_id": catalogue.payers["cigna"].pk},
    )
    body = _save(coordinator_client, inquiry, answers)

    assert "specialties_wanted" not in answers.get("logistics", {})
    # pregnant with daily use also needs enhanced medical care; the pregnancy need comes first
    assert [n["code"] for n in body["needs"]] == ["pregnancy", "opioid_medication", "medical"]
    assert _top(body) == "Tampa Perinatal Detox"
    top = body["matches"][0]
    assert "offers pregnancy: care in pregnancy (pregnant, or may be)" in top["reasons"]


@pytest.mark.parametrize(
    ("answers", "specialty", "why"),
    [
        (screen(use("rx_opioids", 30, 60, "mg")), "mat", "medication for opioid use disorder"),
        (
            screen(use("cannabis", 30, 3, "joints"), psychiatric={"history": True, "hospitalised_12m": True}),
            "co-occurring",
            "co-occurring mental-health care",
        ),
        (
            screen(use("cannabis", 30, 3, "joints"), medical={"pregnant": "no", "heart": True, "lung": True}),
            "medical",
            "enhanced medical care",
        ),
    ],
)
def test_needs_from_the_answers_rank_the_matching_specialty_first_at_the_level(
    answers, specialty, why, catalogue, inquiry, coordinator, coordinator_client
):
    first = screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator).matches.top
    # A twin of the top program, the same in every way but the specialty the answers call for.
    top = catalogue.programs[first.program_name]
    spec = Specialty.objects.get_or_create(code=specialty, defaults={"name": specialty})[0]
    twin = ProgramFactory(
        facility=top.facility,
        name="Twin with the specialty",
        setting=top.setting,
        level_of_care=top.level_of_care,
        capacity_kind=top.capacity_kind,
        capacity=top.capacity,
    )
    twin.specialties.set([*top.specialties.all(), spec])
    twin.accepted_payers.set(top.accepted_payers.all())
    Census.objects.filter(program=twin).update(occupied=5)  # fewer free places: only the need lifts it

    body = _save(coordinator_client, inquiry, {"readiness": {"stage": "ready"}})

    assert _top(body) == "Twin with the specialty"
    assert any(r.startswith(f"offers {specialty}: {why}") for r in body["matches"][0]["reasons"])
    assert next(m for m in body["matches"] if m["program_name"] == first.program_name)["excluded"] is False


# --- 5. an emergency shows the action and no program list -------------------------------------


def test_emergency_shows_the_action_and_no_programs(catalogue, inquiry, coordinator, coordinator_client):
    answers = screen(use("alcohol", 30, 12, "drinks"), emergency={"seizure_now": True})
    body = _save(coordinator_client, inquiry, answers)

    assert body["matches"] == []
    assert body["recommendation_withheld"]["why"] == "emergency"
    assert body["recommendation_withheld"]["reason"].startswith("Emergency now: call 911")
    assert _flags(body)["emergency_now"]["action"].startswith("Call 911 now")
    assert body["refer_out"]["proposed"] is False
    assert Screening.objects.get(inquiry=inquiry).refer_out_proposed_at is None

    page = coordinator_client.get(
        reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk})
    ).content.decode()
    assert 'id="emergency-action"' in page
    assert "Call 911 now" in page
    assert 'id="program-matches"' not in page
    assert "Programs are matched after the emergency is handled." in page
    assert "Override the match" not in page
    inquiry_page = coordinator_client.get(
        reverse("admissions:inquiry", kwargs={"pk": inquiry.pk})
    ).content.decode()
    assert "Call 911 now" in inquiry_page
    assert "Programs are matched after the emergency is handled." in inquiry_page
    assert "Recommended:" not in inquiry_page
    response = _post(
        coordinator_client,
        _url(inquiry.pk, "match-override/"),
        {"program": catalogue.programs["Tampa Medical Detox"].pk, "reason": "Bed free today at detox."},
    )
    assert response.status_code == 400
    assert Screening.objects.get(inquiry=inquiry).override_program is None


# --- 6. withdrawal and treatment levels run concurrently --------------------------------------


OXYCODONE_AT_HOME = screen(
    use("rx_opioids", 30, 60, "mg", drug="oxycodone", prescribed=False),
    withdrawal={"symptoms_now": True},
    **SUPPORTIVE,
)


def test_opioid_withdrawal_at_home_is_ambulatory_management_alongside_iop(
    catalogue, inquiry, coordinator_client
):
    body = _save(coordinator_client, inquiry, OXYCODONE_AT_HOME)

    assert (body["treatment_minimum"], body["withdrawal_minimum"], body["withdrawal_first"]) == (
        "2.1",
        "2.0",
        False,
    )
    assert body["levels"]["withdrawal"]["code"] == "2-WM"
    assert body["levels"]["treatment"]["code"] == "2.1"
    assert body["levels"]["integrated"]["code"] == "2.7"
    assert body["provisional_level"]["code"] == "2.1"
    assert _top(body) == "Tampa IOP"
    iop = next(m for m in body["matches"] if m["program_name"] == "Tampa IOP")
    assert iop["provides"] == "treatment"
    assert "withdrawal management (at least 2.0, ambulatory) alongside" in iop["reasons"]
    detox = next(m for m in body["matches"] if m["program_name"] == "Tampa Medical Detox")
    assert (detox["excluded"], detox["provides"]) == (False, "withdrawal")


def test_a_fourth_edition_integrated_level_provides_both_and_ranks_first(
    catalogue, inquiry, other_facility, coordinator_client
):
    integrated = ProgramFactory(
        facility=other_facility,
        name="Asheville Medically Managed IOP",
        setting="php",
        level_of_care=LevelRef.get("2.7", edition="ASAM 4"),
        capacity_kind="slots",
        capacity=12,
    )
    integrated.accepted_payers.set([catalogue.payers["cigna"]])
    body = _save(coordinator_client, inquiry, OXYCODONE_AT_HOME)
    assert _top(body) == "Asheville Medically Managed IOP"
    assert body["matches"][0]["provides"] == "both"
    assert (
        "level 2.7 above required 2.1 (more intensive than needed): "
        "withdrawal management and treatment in one" in body["matches"][0]["reasons"]
    )


def test_a_safety_flag_puts_withdrawal_management_first_and_excludes_treatment_only_programs(
    catalogue, inquiry, coordinator_client
):
    body = _save(coordinator_client, inquiry, screen(use("benzodiazepines", 30, 6, "mg", drug="alprazolam")))
    assert body["withdrawal_first"] is True
    iop = next(m for m in body["matches"] if m["program_name"] == "Tampa IOP")
    assert iop["excluded"]
    assert iop["exclusion_reasons"] == ["level 2.1 below required 3.7"]


# --- 7. distance ------------------------------------------------------------------------------


def _person(inquiry: Inquiry, **values: str) -> None:
    Person.objects.filter(pk=inquiry.person_id).update(**values)


BENZOS = screen(use("benzodiazepines", 30, 2, "mg", drug="lorazepam"), insurance={"self_pay": True})


def test_the_leads_postal_code_ranks_the_nearer_program_first(catalogue, inquiry, coordinator_client):
    _person(inquiry, postal_code="33606", state="")  # Tampa; no state on the lead
    body = _save(coordinator_client, inquiry, BENZOS)
    fits = [m for m in body["matches"] if not m["excluded"]]
    assert [m["program_name"] for m in fits] == ["Tampa Medical Detox", "Asheville Detox"]
    assert fits[0]["distance_miles"] < 10
    assert 450 < fits[1]["distance_miles"] < 600
    assert any(r.endswith("miles away") for r in fits[1]["reasons"])


def test_the_screens_zip_code_wins_over_the_lead_and_fills_the_person(catalogue, inquiry, coordinator_client):
    _person(inquiry, postal_code="", state="", time_zone="")
    body = _save(coordinator_client, inquiry, {**BENZOS, "logistics": {"postal_code": "28801"}})  # Asheville
    assert _top(body) == "Asheville Detox"
    person = Person.objects.get(pk=inquiry.person_id)
    assert (person.postal_code, person.state, person.time_zone) == ("28801", "NC", "America/New_York")


def test_a_maximum_travel_distance_excludes_programs_beyond_it(catalogue, inquiry, coordinator_client):
    _person(inquiry, postal_code="33606")
    body = _save(coordinator_client, inquiry, {**BENZOS, "logistics": {"max_travel_miles": 100}})
    asheville = next(m for m in body["matches"] if m["program_name"] == "Asheville Detox")
    assert asheville["excluded"]
    assert asheville["exclusion_reasons"][-1].endswith("miles away, beyond the 100 miles they can travel")


def test_a_facility_without_coordinates_is_placed_by_its_postal_code(catalogue, inquiry, coordinator_client):
    far = FacilityFactory(name="Desert Site", state="AZ", city="Scottsdale", postal_code="85251")
    assert far.latitude is None
    ProgramFactory(
        facility=far, name="Desert Detox", setting="withdrawal", level_of_care=LevelRef.get("3.7-WM")
    )
    _person(inquiry, postal_code="33606")
    body = _save(coordinator_client, inquiry, BENZOS)
    desert = next(m for m in body["matches"] if m["program_name"] == "Desert Detox")
    assert 1700 < desert["distance_miles"] < 2000


def test_the_admin_fills_facility_coordinates_from_the_postal_code(administrator_client):
    response = administrator_client.post(
        "/admin/crm/facility/add/",
        {
            "name": "Gulf Site",
            "neutral_sender_name": "Gulf Health",
            "street": "1 Example Way",
            "city": "Tampa",
            "state": "FL",
            "postal_code": "33606",
            "time_zone": "America/New_York",
            "phone": "+18135550111",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    facility = Facility.objects.get(name="Gulf Site")
    assert abs(facility.latitude - Decimal("27.93")) < 1
    assert abs(facility.longitude - Decimal("-82.48")) < 1


def test_the_demo_facilities_take_their_coordinates_from_their_postal_codes():
    from demo.catalogue import FACILITIES
    from demo.reference import facility_coordinates

    for spec in FACILITIES:
        place = facility_coordinates(spec.postal_code)
        assert set(place) == {"latitude", "longitude"}, spec.name
        assert not hasattr(spec, "latitude")


@pytest.fixture
def administrator_client(administrator):  # type: ignore[no-untyped-def]
    from tests.signin import login_verified

    client = Client()
    login_verified(client, administrator)
    return client


# --- 8. family callers ------------------------------------------------------------------------


@pytest.fixture
def mother(inquiry):  # type: ignore[no-untyped-def]
    caller = CallerFactory(
        relationship=Caller.Relationship.FAMILY, relationship_detail="mother", name="Dana Reyes"
    )
    Inquiry.objects.filter(pk=inquiry.pk).update(caller=caller)
    return caller


def _consent_to(inquiry: Inquiry, name: str, actor) -> Part2Consent:  # type: ignore[no-untyped-def]
    return Part2Consent.objects.create(
        person_id=inquiry.person_id,
        inquiry=inquiry,
        discloser_id=inquiry.facility_id,
        information=["screening", "treatment_status"],
        recipient_type="individual",
        recipient_name=name,
        purpose="patient_request",
        right_to_revoke="You may revoke this consent at any time.",
        expires_on=timezone.localdate() + timedelta(days=90),
        signature_method="verbal",
        signer_name="Jordan Reyes",
        signature_reference="call recording 42",
        signed_on=timezone.localdate(),
        captured_by=actor,
    )


PREFILL = "recipient_type=individual&purpose=patient_request&recipient_name=Dana+Reyes"


def test_a_family_caller_is_told_consent_is_needed_on_both_pages(
    catalogue, inquiry, mother, coordinator_client
):
    for url in (
        reverse("admissions:inquiry", kwargs={"pk": inquiry.pk}),
        reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk}),
    ):
        body = coordinator_client.get(url).content.decode()
        assert 'id="caller-consent"' in body, url
        assert "Dana Reyes (mother) is calling about Jordan." in body
        assert "Jordan's own consent is needed before their details are shared with the caller" in body
        link = f"/privacy/inquiries/{inquiry.pk}/consents/new/?{PREFILL.replace('&', '&amp;')}"
        assert link in body, url
    form = coordinator_client.get(f"/privacy/inquiries/{inquiry.pk}/consents/new/?{PREFILL}").content.decode()
    assert '<option value="individual" selected>' in form
    assert 'value="Dana Reyes"' in form


def test_a_clinician_sees_the_notice_without_the_consent_action(catalogue, inquiry, mother, clinician_client):
    body = clinician_client.get(
        reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk})
    ).content.decode()
    assert 'id="caller-consent"' in body
    assert "A coordinator records the person's consent." in body
    assert "/consents/new/" not in body


def test_the_screen_stops_automated_messages_to_a_family_caller_without_consent(
    catalogue, inquiry, mother, coordinator, coordinator_client
):
    ack = _pending_followup(inquiry, "ack-1", kind=FollowUp.Kind.ACKNOWLEDGEMENT)
    call = _pending_followup(inquiry, "call-1")
    _save(coordinator_client, inquiry, screen(use("cannabis", 12, 1, "joints")))

    ack.refresh_from_db()
    call.refresh_from_db()
    assert ack.state == FollowUp.State.CANCELLED
    assert ack.outcome == "caller is not the person; no consent to share"
    assert call.state == FollowUp.State.SCHEDULED  # a coordinator's call task is not a message to the caller
    [note] = InquiryEvent.objects.filter(inquiry=inquiry, kind=InquiryEvent.Kind.NOTE)
    assert note.data == {"followups_cancelled": 1, "why": "caller_consent"}


def test_with_the_persons_consent_to_the_caller_messages_carry_on(
    catalogue, inquiry, mother, coordinator, coordinator_client
):
    _consent_to(inquiry, "dana  reyes", coordinator)
    ack = _pending_followup(inquiry, "ack-1", kind=FollowUp.Kind.ACKNOWLEDGEMENT)
    _save(coordinator_client, inquiry, screen(use("cannabis", 12, 1, "joints")))
    ack.refresh_from_db()
    assert ack.state == FollowUp.State.SCHEDULED
    body = coordinator_client.get(
        reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk})
    ).content.decode()
    assert "The person's consent to share their details with Dana Reyes (mother) is on file." in body
    assert "The caller is not the person" not in body


def test_a_revoked_or_other_recipient_consent_does_not_count(
    catalogue, inquiry, mother, coordinator, coordinator_client
):
    revoked = _consent_to(inquiry, "Dana Reyes", coordinator)
    Part2Consent.objects.filter(pk=revoked.pk).update(
        revoked_at=timezone.now(), revoked_by=coordinator, revocation_method="verbal"
    )
    _consent_to(inquiry, "Sam Reyes", coordinator)
    ack = _pending_followup(inquiry, "ack-1", kind=FollowUp.Kind.ACKNOWLEDGEMENT)
    _save(coordinator_client, inquiry, screen())
    ack.refresh_from_db()
    assert ack.state == FollowUp.State.CANCELLED


def test_a_consent_to_someone_does_not_cover_a_caller_who_gave_no_name(
    catalogue, inquiry, coordinator, coordinator_client
):
    caller = CallerFactory(
        relationship=Caller.Relationship.FAMILY, relationship_detail="mother", name="", organisation=""
    )
    Inquiry.objects.filter(pk=inquiry.pk).update(caller=caller)
    _consent_to(inquiry, "Dr Sam Smith", coordinator)
    ack = _pending_followup(inquiry, "ack-1", kind=FollowUp.Kind.ACKNOWLEDGEMENT)
    _save(coordinator_client, inquiry, screen())
    ack.refresh_from_db()
    assert ack.state == FollowUp.State.CANCELLED
    body = coordinator_client.get(reverse("admissions:inquiry", kwargs={"pk": inquiry.pk})).content.decode()
    assert 'id="caller-consent"' in body


def test_messages_planned_after_the_screen_still_do_not_go_to_the_caller(
    catalogue, inquiry, mother, coordinator_client
):
    _save(coordinator_client, inquiry, screen())
    Inquiry.objects.filter(pk=inquiry.pk).update(stage=Stage.NURTURE, stage_changed_at=timezone.now())
    touch = FollowUp.objects.create(
        inquiry=inquiry,
        kind=FollowUp.Kind.NURTURE_TOUCH,
        channel=FollowUp.Channel.SMS,
        due_at=timezone.now(),
        dedupe_key="nurture-later",
    )
    followup_deliver(followup_id=touch.pk, channels=default_channels())
    touch.refresh_from_db()
    assert touch.state == FollowUp.State.CANCELLED
    assert "no consent to share" in touch.outcome


def test_the_person_calling_for_themselves_needs_no_notice(catalogue, inquiry, coordinator_client):
    Inquiry.objects.filter(pk=inquiry.pk).update(caller=CallerFactory(relationship=Caller.Relationship.SELF))
    ack = _pending_followup(inquiry, "ack-1", kind=FollowUp.Kind.ACKNOWLEDGEMENT)
    _save(coordinator_client, inquiry, screen())
    ack.refresh_from_db()
    assert ack.state == FollowUp.State.SCHEDULED
    body = coordinator_client.get(reverse("admissions:inquiry", kwargs={"pk": inquiry.pk})).content.decode()
    assert 'id="caller-consent"' not in body


# --- 9. two gabapentinoids ----------------------------------------------------------------------


def test_both_gabapentinoids_are_recorded_each_with_its_dose(catalogue, inquiry, coordinator_client):
    answers = screen(use("gabapentinoids", 30, 6, "pills", agent="both"))
    body = _save(coordinator_client, inquiry, answers)
    assert body["missing_safety_items"] == [
        "substances.gabapentinoids.gabapentin_mg_per_day",
        "substances.gabapentinoids.pregabalin_mg_per_day",
    ]
    body = _save(
        coordinator_client,
        inquiry,
        {"substances": {"gabapentinoids": {"gabapentin_mg_per_day": 900, "pregabalin_mg_per_day": 100}}},
    )
    assert body["complete"] is True
    assert body["answers"]["substances"]["gabapentinoids"]["gabapentin_mg_per_day"] == 900
    # 900/1800 + 100/300 is below one high-dose line: no flag
    assert "sedative_withdrawal" not in _flags(body)
    body = _save(
        coordinator_client, inquiry, {"substances": {"gabapentinoids": {"pregabalin_mg_per_day": 150}}}
    )
    reason = _flags(body)["sedative_withdrawal"]["reason"]
    assert "gabapentin 900 mg and pregabalin 150 mg a day (together at or above" in reason


def test_a_seizure_disorder_is_named_in_the_withdrawal_flag(catalogue, inquiry, coordinator_client):
    answers = screen(use("alcohol", 30, 8, "drinks"), medical={"pregnant": "no", "seizure_disorder": True})
    body = _save(coordinator_client, inquiry, answers)
    assert (
        "Has a seizure disorder: withdrawal can trigger seizures."
        in _flags(body)["sedative_withdrawal"]["reason"]
    )


# --- 10. bad input: 400 with the field named, nothing stored -----------------------------------

BIG = int("9" * 400)
BAD_ANSWERS = [
    (
        {"substances": {"alcohol": {"amount_per_day": BIG}}},
        "substances.alcohol.amount_per_day",
        "Must be at most",
    ),
    (
        {"substances": {"alcohol": {"days_used_30": BIG}}},
        "substances.alcohol.days_used_30",
        "Must be at most 30",
    ),
    ({"logistics": {"latitude": BIG}}, "logistics.latitude", "Must be at most 90"),
    ({"logistics": {"longitude": -BIG}}, "logistics.longitude", "Must be at least -180"),
    ({"logistics": {"latitude": "1e400"}}, "logistics.latitude", "Must be a finite number"),
    ({"logistics": {"age": BIG}}, "logistics.age", "Must be at most 120"),
    ({"logistics": {"max_travel_miles": BIG}}, "logistics.max_travel_miles", "Must be at most 3000"),
    ({"insurance": {"payer_id": BIG}}, "insurance.payer_id", "Must be at most 2147483647"),
    ({"relapse": {"prior_treatment": BIG}}, "relapse.prior_treatment", "Must be at most 100"),
    (
        {"substances": {"alcohol": {"drug": "wine\x00"}}},
        "substances.alcohol.drug",
        "control characters such as NUL",
    ),
    ({"medical": {"medications": "a\x00b"}}, "medical.medications", "control characters such as NUL"),
    ({"readiness": {"why_now": "\x00"}}, "readiness.why_now", "control characters such as NUL"),
    ({"logistics": {"preferred_language": "es\x00"}}, "logistics.preferred_language", "NUL"),
    ({"insurance": {"member_id": "X\x001"}}, "insurance.member_id", "NUL"),
    ({"insurance": {"subscriber_name": "Ann\ud800"}}, "insurance.subscriber_name", "surrogate"),
    ({"medical": {"pregn\x00ant": "yes"}}, "medical.pregn\\x00ant", "Unknown item."),
    ({"substances": {"alcohol": {"last_use": ago(days=-2)}}}, "substances.alcohol.last_use", "in the future"),
    (
        {"substances": {"alcohol": {"last_use": "0001-01-01T00:00"}}},
        "substances.alcohol.last_use",
        "1900-01-01",
    ),
    (
        {"substances": {"alcohol": {"last_use": "2026-02-30T10:00"}}},
        "substances.alcohol.last_use",
        "ISO 8601",
    ),
    ({"insurance": {"subscriber_dob": "2999-01-01"}}, "insurance.subscriber_dob", "in the future"),
    (
        {"substances": {"alcohol": {"amount_per_day": 201, "unit": "drinks"}}},
        "substances.alcohol.amount_per_day",
        "More than 200 standard drinks a day cannot be right",
    ),
    (
        {"substances": {"benzodiazepines": {"amount_per_day": 20001, "unit": "mg"}}},
        "substances.benzodiazepines.amount_per_day",
        "Must be at most 20000",
    ),
    (
        {"substances": {"stimulants": {"amount_per_day": 101, "unit": "grams"}}},
        "substances.stimulants.amount_per_day",
        "More than 100 grams a day",
    ),
    (
        {"substances": {"gabapentinoids": {"gabapentin_mg_per_day": 50000}}},
        "substances.gabapentinoids.gabapentin_mg_per_day",
        "Must be at most 20000",
    ),
    ({"logistics": {"postal_code": "00000"}}, "logistics.postal_code", "not a US ZIP code we know"),
    ({"logistics": {"postal_code": "9" * 400}}, "logistics.postal_code", "five-digit ZIP code"),
    ({"medical": {"baclofen_pump": "maybe"}}, "medical.baclofen_pump", "true or false"),
]


@pytest.mark.parametrize(("answers", "path", "message"), BAD_ANSWERS)
def test_bad_answers_are_400_with_the_field_named_and_store_nothing(
    answers, path, message, catalogue, inquiry, coordinator, coordinator_client
):
    saved = screening_save(
        inquiry_id=inquiry.pk, answers=screen(use("alcohol", 4, 2, "drinks")), actor=coordinator
    )
    before = Screening.objects.get(pk=saved.screening.pk)

    response = _post(coordinator_client, _url(inquiry.pk), {"answers": answers})

    assert response.status_code == 400, response.content
    errors = response.json()["answers"]
    assert list(errors) == [path]
    assert message in errors[path][0]
    after = Screening.objects.get(pk=saved.screening.pk)
    assert (after.answers, after.result, after.saved_at) == (before.answers, before.result, before.saved_at)


def test_an_amount_beyond_its_unit_saved_earlier_is_refused(
    catalogue, inquiry, coordinator, coordinator_client
):
    screening_save(inquiry_id=inquiry.pk, answers=screen(use("alcohol", 4, 2, "drinks")), actor=coordinator)
    response = _post(
        coordinator_client,
        _url(inquiry.pk),
        {"answers": {"substances": {"alcohol": {"amount_per_day": 250}}}},
    )
    assert response.status_code == 400
    assert list(response.json()["answers"]) == ["substances.alcohol.amount_per_day"]
    assert Screening.objects.get(inquiry=inquiry).answers["substances"]["alcohol"]["amount_per_day"] == 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"answers": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),
        (b'{"answers": {"medical": {"medications": "caf\xe9"}}}', "application/json"),  # not UTF-8
        (b"answers=1", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_are_4xx_not_500(body, content_type, catalogue, inquiry, coordinator_client):
    response = coordinator_client.generic("POST", _url(inquiry.pk), body, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert not Screening.objects.exists()


PAGE_BAD_INPUTS = [
    ({"substances.alcohol.drug": "wine\x00"}, "err-substances-alcohol-drug", "NUL"),
    ({"logistics.latitude": "9" * 400}, "err-logistics-latitude", "Must be a finite number"),
    ({"logistics.age": "9" * 400}, "err-logistics-age", "Must be at most 120"),
    ({"substances.alcohol.last_use": "2999-01-01T10:00"}, "err-substances-alcohol-last_use", "in the future"),
    (
        {"substances.alcohol.amount_per_day": "201", "substances.alcohol.unit": "drinks"},
        "err-substances-alcohol-amount_per_day",
        "More than 200 standard drinks",
    ),
]


@pytest.mark.parametrize(("data", "slot", "message"), PAGE_BAD_INPUTS)
def test_bad_input_on_the_page_is_shown_at_its_field_and_stores_nothing(
    data, slot, message, catalogue, inquiry, coordinator_client
):
    import re

    response = coordinator_client.post(
        reverse("screening_ui:screening", kwargs={"inquiry_id": inquiry.pk}),
        {"use.substances_30d": ["", "alcohol"]} | data,
    )
    assert response.status_code == 200
    found = re.search(rf'id="{re.escape(slot)}">([^<]*)<', response.content.decode())
    assert found
    assert message in found.group(1)
    assert not Screening.objects.exists()


@pytest.mark.parametrize(
    ("tail", "who", "body", "field"),
    [
        ("signoff/", "clinician", {"level": BIG}, "level"),
        ("signoff/", "clinician", {"level": "3.7-WM"}, "level"),
        ("signoff/", "clinician", {"level": 1, "note": "ok\x00"}, "note"),
        ("match-override/", "coordinator", {"program": BIG, "reason": "Closer to her family."}, "program"),
        ("match-override/", "coordinator", {"program": -1, "reason": "Closer to her family."}, "program"),
        ("match-override/", "coordinator", {"program": 1, "reason": "Closer to\x00 family."}, "reason"),
        ("match-override/", "coordinator", {"program": 1, "reason": "Closer \ud800 family."}, "reason"),
    ],
)
def test_sign_off_and_override_refuse_bad_input_with_the_field_named(
    tail, who, body, field, request, catalogue, inquiry, coordinator
):
    screening_save(inquiry_id=inquiry.pk, answers=screen(use("alcohol", 30, 4, "drinks")), actor=coordinator)
    client = request.getfixturevalue(f"{who}_client")
    response = client.generic(
        "POST", _url(inquiry.pk, tail), json.dumps(body).encode(), content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert field in response.json()
    screening = Screening.objects.get(inquiry=inquiry)
    assert (screening.signed_at, screening.override_program) == (None, None)
