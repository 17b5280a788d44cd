"""Clinical vignettes, as callers describe themselves, against a fixed catalogue of programs.

Each row: what the caller said, the answers a coordinator records, and what the screen
must conclude: provisional level, safety flags, top program (None = refer out), stage.
The catalogue (tests/screening/conftest.py): Tampa Medical Detox 3.7-WM, Tampa
Residential 3.5, Tampa Co-occurring Residential 3.5, Tampa PHP 2.5, Tampa IOP 2.1,
Tampa Outpatient 1, Asheville Detox 3.7-WM, Asheville Women's Residential 3.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest

from admissions.models import Inquiry, Person
from admissions.pipeline import Stage
from admissions.screening.services import screening_save
from tests.screening.builders import THIS_MORNING, ago, screen, use

pytestmark = pytest.mark.django_db

CRISIS, REVIEW, PRESCREENED = Stage.CRISIS_ROUTED, Stage.CLINICAL_REVIEW, Stage.PRESCREENED
SEDATIVE, SUICIDE, EMERGENCY = "sedative_withdrawal", "suicide_risk", "emergency_now"
PREGNANCY, PUMP, PSYCH = "pregnancy_withdrawal", "baclofen_pump", "severe_psychiatric"
MAN = {"logistics": {"gender": "man"}}
WOMAN = {"logistics": {"gender": "woman"}}
SUPPORTIVE = {"environment": {"living": "supportive", "safe_at_home": True, "sober_supports": True}}


@dataclass
class Vignette:
    said: str
    answers: dict[str, Any]
    level: str
    flags: set[str]
    top: str | None
    stage: str
    full: list[str] = field(default_factory=list)
    born: date | None = date(1990, 5, 1)
    reason_contains: str = ""
    # The concurrent levels, when the vignette is about them: withdrawal ("" = none) and treatment.
    withdrawal: str | None = None
    treatment: str = ""


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        for section, items in part.items():
            out.setdefault(section, {}).update(items)
    return out


VIGNETTES: dict[str, Vignette] = {
    "alprazolam_6mg_two_years": Vignette(
        "I take 6 mg of Xanax every day, for two years now; last dose this morning.",
        screen(use("benzodiazepines", 30, 6, "mg", drug="alprazolam", duration_months=24, last=THIS_MORNING)),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="Daily alprazolam 6 mg; stopping suddenly can cause seizures.",
    ),
    "baclofen_80_ran_out": Vignette(
        "I take baclofen, 80 mg a day, and I ran out yesterday. I'm shaky.",
        screen(use("baclofen", 30, 80, "mg", prescribed=True), withdrawal={"symptoms_now": True}),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="Daily baclofen 80 mg; stopping abruptly can cause seizures, delirium",
    ),
    "mother_son_fifth_a_day_seizure": Vignette(
        "My son drinks a fifth a day and had a seizure the last time he stopped.",
        screen(use("alcohol", 30, 17, "drinks"), withdrawal={"past_seizures": True}, **MAN),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="Had a seizure when stopping before",
    ),
    "stable_oxycodone_supportive_home": Vignette(
        "I use oxycodone a few days a week, 20 mg, not prescribed; I live with my supportive wife and work.",
        screen(
            use("rx_opioids", 10, 20, "mg", drug="oxycodone", prescribed=False, route="oral"),
            readiness={"stage": "ready", "who_wants": ["self"]},
            relapse={"prior_treatment": 0, "longest_abstinence_months": 12},
            **SUPPORTIVE,
        ),
        "1",
        set(),
        "Tampa Outpatient",
        PRESCREENED,
    ),
    "suicidal_thoughts_with_plan": Vignette(
        "I keep thinking about ending it and I know how I'd do it; I've planned it.",
        screen(
            use("cannabis", 30, 3, "joints"),
            suicide={"wish_dead": True, "thoughts": True, "method": True, "intent": False, "plan": True},
        ),
        "4",
        {SUICIDE},
        None,
        CRISIS,
    ),
    "pregnant_fentanyl_daily": Vignette(
        "I'm four months pregnant and I use fentanyl every day.",
        screen(use("heroin_fentanyl", 30, 1, "grams", route="smoked"), medical={"pregnant": "yes"}, **WOMAN),
        "3.7-WM",
        {PREGNANCY},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="Pregnant, with withdrawal risk from daily",
    ),
    "cocaine_binges_supportive_home": Vignette(
        "Cocaine binges most weekends; my family is behind me. Longest I've stopped is two months.",
        screen(
            use("stimulants", 10, 2, "grams", route="snorted"),
            relapse={"longest_abstinence_months": 2},
            **SUPPORTIVE,
        ),
        "2.1",
        set(),
        "Tampa IOP",
        PRESCREENED,
    ),
    "gabapentin_600_prescribed": Vignette(
        "My doctor prescribes gabapentin 600 mg a day; I'm calling about my weed use.",
        screen(
            use("gabapentinoids", 30, 600, "mg", agent="gabapentin", prescribed=True),
            use("cannabis", 12, 2, "joints"),
            **SUPPORTIVE,
        ),
        "1",
        set(),
        "Tampa Outpatient",
        PRESCREENED,
    ),
    "gabapentin_3600_misused": Vignette(
        "I take about 3600 mg of gabapentin a day, bought off the street.",
        screen(use("gabapentinoids", 30, 3600, "mg", agent="gabapentin", prescribed=False)),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="gabapentin 3600 mg a day (at or above 1800 mg)",
    ),
    "pregabalin_600_daily": Vignette(
        "Lyrica, 600 mg every day, more than I'm prescribed.",
        screen(use("gabapentinoids", 30, 600, "mg", agent="pregabalin", prescribed=True)),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
    ),
    "pregabalin_150_prescribed": Vignette(
        "I take pregabalin 150 mg for nerve pain as prescribed; my problem is drinking on weekends.",
        screen(
            use("gabapentinoids", 30, 150, "mg", agent="pregabalin", prescribed=True),
            use("alcohol", 6, 6, "drinks"),
            **SUPPORTIVE,
        ),
        "1",
        set(),
        "Tampa Outpatient",
        PRESCREENED,
    ),
    "gabapentin_daily_dose_unknown": Vignette(
        "She takes a handful of gabapentin pills every day, I don't know the dose.",
        screen(use("gabapentinoids", 30, 8, "pills", agent="gabapentin"), **WOMAN),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="dose in mg not known",
    ),
    "overdose_now": Vignette(
        "My brother took a lot of pills and I can't wake him up.",
        screen(use("rx_opioids", 20, 60, "mg"), emergency={"overdose_now": True}),
        "4-WM",
        {EMERGENCY},
        None,
        CRISIS,
    ),
    "seizure_now_while_drinking": Vignette(
        "He's shaking on the floor right now, he stopped drinking two days ago.",
        screen(use("alcohol", 30, 12, "drinks"), emergency={"seizure_now": True}),
        "4-WM",
        {EMERGENCY, SEDATIVE},
        None,
        CRISIS,
    ),
    "chest_pain_meth": Vignette(
        "I've been up three days on meth and my chest hurts.",
        screen(use("stimulants", 25, 1, "grams", route="smoked"), emergency={"chest_pain": True}),
        "4",
        {EMERGENCY},
        None,
        CRISIS,
    ),
    "fever_rigidity_baclofen": Vignette(
        "My husband ran out of baclofen; he's burning up and stiff as a board.",
        screen(use("baclofen", 30, 60, "mg"), emergency={"fever_rigidity": True}, **MAN),
        "4-WM",
        {EMERGENCY, SEDATIVE},
        None,
        CRISIS,
    ),
    "baclofen_pump_alarm": Vignette(
        "Her spinal baclofen pump is beeping and she missed the refill; she's itchy and confused-ish.",
        screen(
            use("cannabis", 10, 1, "joints"),
            medical={"baclofen_pump": True, "baclofen_pump_problem": True},
            **WOMAN,
        ),
        "4-WM",
        {PUMP},
        None,
        CRISIS,
    ),
    "dts_history_weekly_drinking": Vignette(
        "I drink on weekends now, but years ago I had the DTs when I stopped.",
        screen(use("alcohol", 6, 10, "drinks"), withdrawal={"past_dts": True}),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="Had DTs or delirium when stopping before",
    ),
    "glass_of_wine_every_night": Vignette(
        "A glass of wine every night; I'm calling about pills I buy sometimes.",
        screen(use("alcohol", 30, 1, "drinks"), use("rx_opioids", 4, 10, "mg"), **SUPPORTIVE),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="Daily drinking (1 drink a day)",
    ),
    "carisoprodol_daily": Vignette(
        "Soma, four a day, every day for a year.",
        screen(use("carisoprodol", 30, 4, "pills", drug="carisoprodol")),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
    ),
    "butalbital_daily": Vignette(
        "I take butalbital for headaches every day, more than I should.",
        screen(use("barbiturates", 28, 300, "mg", drug="butalbital")),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
    ),
    "heroin_on_methadone": Vignette(
        "I'm on methadone but still use heroin most days, injecting.",
        # Ambulatory withdrawal management (2-WM) alongside a day program: not residential detox.
        screen(
            use("heroin_fentanyl", 25, 0.5, "grams", route="injected"),
            withdrawal={"mat_now": ["methadone"]},
        ),
        "2.5",
        set(),
        "Tampa PHP",
        PRESCREENED,
        withdrawal="2-WM",
        treatment="2.5",
    ),
    "oxycodone_withdrawal_home_and_job": Vignette(
        "I take oxycodone every day, I'm sick when I miss it; my wife supports me and I work.",
        screen(
            use("rx_opioids", 30, 60, "mg", drug="oxycodone", prescribed=False),
            withdrawal={"symptoms_now": True},
            environment={"living": "supportive", "safe_at_home": True, "sober_supports": True},
            logistics={"gender": "man"},
        ),
        "2.1",
        set(),
        "Tampa IOP",
        PRESCREENED,
        withdrawal="2-WM",
        treatment="2.1",
        reason_contains="runs alongside treatment at least 2.1",
    ),
    "clonazepam_stopped_two_weeks_ago": Vignette(
        "I took Klonopin every day for six years and stopped two weeks ago; I'm shaking and can't sleep.",
        screen(
            use("benzodiazepines", 16, 4, "mg", drug="clonazepam", duration_months=72, last=ago(days=14)),
            withdrawal={"symptoms_now": True},
            **SUPPORTIVE,
        ),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="withdrawal can still begin or peak up to 28 days after the last dose (long-acting",
    ),
    "xanax_stopped_twelve_days_ago_no_symptoms": Vignette(
        "Xanax every day for three years; I quit cold turkey twelve days ago and feel fine so far.",
        screen(
            use("benzodiazepines", 18, 2, "mg", drug="alprazolam", duration_months=36, last=ago(days=12)),
            **SUPPORTIVE,
        ),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="withdrawal can still begin or peak up to 14 days after the last dose",
    ),
    "xanax_weekends_last_month_only": Vignette(
        "I took a Xanax on a few weekends last month, nothing for three weeks now.",
        screen(
            use("benzodiazepines", 4, 1, "mg", drug="alprazolam", duration_months=6, last=ago(days=21)),
            **SUPPORTIVE,
        ),
        "1",
        set(),
        "Tampa Outpatient",
        PRESCREENED,
    ),
    "suicidal_thoughts_follow_ups_refused": Vignette(
        "Yes, I think about killing myself. I don't want to talk about how.",
        screen(
            use("cannabis", 10, 1, "joints"),
            suicide={
                "wish_dead": True,
                "thoughts": True,
                "method": "unknown",
                "intent": "unknown",
                "plan": "unknown",
            },
        ),
        "4",
        {SUICIDE},
        None,
        CRISIS,
        reason_contains="method, intent and plan refused or not known",
    ),
    "gabapentin_and_pregabalin_together": Vignette(
        "Gabapentin 1200 a day and Lyrica 200 a day, both from different doctors; I have epilepsy.",
        screen(
            use(
                "gabapentinoids",
                30,
                6,
                "pills",
                agent="both",
                gabapentin_mg_per_day=1200,
                pregabalin_mg_per_day=200,
            ),
            medical={"seizure_disorder": True},
        ),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="gabapentin 1200 mg and pregabalin 200 mg a day (together at or above",
    ),
    "fentanyl_injecting_recent_overdose": Vignette(
        "Fentanyl every day, I inject, I overdosed in the summer and have no Narcan.",
        screen(
            use("heroin_fentanyl", 30, 1, "grams", route="injected"),
            relapse={
                "overdose_ever": True,
                "overdose_12m": True,
                "naloxone_at_home": False,
                "injection_use": True,
            },
        ),
        "3.7-WM",
        set(),
        "Tampa Medical Detox",
        PRESCREENED,
    ),
    "meth_psychosis": Vignette(
        "He uses meth daily and even when he's not high he hears voices telling him he's being watched.",
        screen(use("stimulants", 28, 1, "grams", route="smoked"), psychiatric={"psychosis_now": True}, **MAN),
        "3.5",
        {PSYCH},
        "Tampa Co-occurring Residential",
        REVIEW,
    ),
    "passive_wish_dead_cannabis": Vignette(
        "I smoke weed all day; some days I wish I wouldn't wake up, but I'd never do anything.",
        screen(use("cannabis", 30, 5, "joints"), suicide={"wish_dead": True}, **SUPPORTIVE),
        "2.1",
        set(),
        "Tampa IOP",
        PRESCREENED,
    ),
    "suicidal_thoughts_no_plan": Vignette(
        "I've had thoughts of killing myself this month, no plan and I wouldn't act on them.",
        screen(
            use("alcohol", 4, 5, "drinks"),
            suicide={"wish_dead": True, "thoughts": True, "method": False, "intent": False, "plan": False},
        ),
        "3.5",
        set(),
        "Tampa Co-occurring Residential",
        PRESCREENED,
    ),
    "recent_attempt": Vignette(
        "Last month I took a bottle of pills to end it; my roommate found me.",
        screen(use("cannabis", 8, 1, "joints"), suicide={"wish_dead": True, "recent_behaviour": True}),
        "4",
        {SUICIDE},
        None,
        CRISIS,
    ),
    "homeless_crack_man": Vignette(
        "I'm living in my car, using crack a dozen days a month.",
        screen(use("stimulants", 12, 1, "grams", route="smoked"), environment={"living": "unstable"}, **MAN),
        "3.1",
        set(),
        "Tampa Residential",
        PRESCREENED,
    ),
    "unsafe_home_woman_cannabis": Vignette(
        "My partner hits me when he's drunk; I smoke weed to cope, every day.",
        screen(
            use("cannabis", 30, 4, "joints"),
            environment={"living": "with_users", "safe_at_home": False},
            **WOMAN,
        ),
        "3.1",
        set(),
        "Asheville Women's Residential",
        PRESCREENED,
    ),
    "self_pay_cocaine": Vignette(
        "No insurance, I'll pay myself; cocaine on weekends, wife supports me, never stopped long.",
        screen(
            use("stimulants", 9, 1, "grams"),
            relapse={"longest_abstinence_months": 1},
            insurance={"self_pay": True},
            **SUPPORTIVE,
        ),
        "2.1",
        set(),
        "Tampa IOP",
        PRESCREENED,
    ),
    "benzos_blue_mountain_only_asheville": Vignette(
        "Klonopin every day; my insurance is Blue Mountain Health.",
        screen(
            use("benzodiazepines", 30, 4, "mg", drug="clonazepam"), insurance={"payer_name": "Blue Mountain"}
        ),
        "3.7-WM",
        {SEDATIVE},
        "Asheville Detox",
        REVIEW,
    ),
    "benzos_tampa_detox_full": Vignette(
        "Valium daily, 40 mg; Cigna.",
        screen(use("benzodiazepines", 30, 40, "mg", drug="diazepam")),
        "3.7-WM",
        {SEDATIVE},
        "Asheville Detox",
        REVIEW,
        full=["Tampa Medical Detox"],
    ),
    "pregnant_weekend_drinking": Vignette(
        "I just found out I'm pregnant; I drink on weekends.",
        screen(use("alcohol", 4, 4, "drinks"), medical={"pregnant": "yes"}, **WOMAN, **SUPPORTIVE),
        "2.5",
        set(),
        "Tampa PHP",
        PRESCREENED,
    ),
    "maybe_pregnant_opioid_withdrawal": Vignette(
        "I might be pregnant and I'm sick from not having my pills.",
        screen(
            use("rx_opioids", 12, 30, "mg"), medical={"pregnant": "unsure"}, withdrawal={"symptoms_now": True}
        ),
        "3.7-WM",
        {PREGNANCY},
        "Tampa Medical Detox",
        REVIEW,
    ),
    "court_ordered_not_ready": Vignette(
        "The judge says I have to do this; I don't think I have a problem with weed.",
        screen(
            use("cannabis", 6, 1, "joints"),
            readiness={"stage": "not_ready", "who_wants": ["court"]},
            **SUPPORTIVE,
        ),
        "2.1",
        set(),
        "Tampa IOP",
        PRESCREENED,
    ),
    "prefers_residential_cocaine": Vignette(
        "I want to go away somewhere residential; cocaine twice a month, supportive parents.",
        screen(
            use("stimulants", 2, 1, "grams"),
            readiness={"preferred_setting": "residential"},
            **SUPPORTIVE,
            **MAN,
        ),
        "3.1",
        set(),
        "Tampa Residential",
        PRESCREENED,
        reason_contains="prefers residential (person-centred)",
    ),
    "prefers_iop_but_daily_benzos": Vignette(
        "I only want evening IOP, I can't take time off; I take Ativan daily.",
        screen(use("benzodiazepines", 30, 6, "mg", drug="lorazepam"), readiness={"preferred_setting": "iop"}),
        "3.7-WM",
        {SEDATIVE},
        "Tampa Medical Detox",
        REVIEW,
        reason_contains="not lowered",
    ),
    "sixteen_year_old": Vignette(
        "My 16-year-old vapes weed daily and got caught at school.",
        screen(use("cannabis", 30, 2, "joints"), logistics={"age": 16}, **SUPPORTIVE),
        "2.1",
        set(),
        None,
        PRESCREENED,
        born=None,
    ),
    "veteran_wants_veterans_program": Vignette(
        "I'm a veteran; weed a few times a week, never off it for long; I'd like a veterans group.",
        screen(
            use("cannabis", 10, 1, "joints"),
            relapse={"longest_abstinence_months": 1},
            logistics={"specialties_wanted": ["veterans"]},
            **SUPPORTIVE,
        ),
        "2.1",
        set(),
        "Tampa IOP",
        PRESCREENED,
    ),
}


@pytest.mark.parametrize("name", sorted(VIGNETTES))
def test_vignette(name, catalogue, inquiry, coordinator, facility):
    v = VIGNETTES[name]
    for full in v.full:
        catalogue.fill(full)
    Person.objects.filter(pk=inquiry.person_id).update(date_of_birth=v.born)
    answers = _merge(v.answers)
    insurance = answers.get("insurance") or {}
    if insurance.get("payer_name") == "Blue Mountain":
        insurance["payer_id"] = catalogue.payers["blue"].pk
    elif not insurance.get("self_pay"):
        insurance.setdefault("payer_id", catalogue.payers["cigna"].pk)
    answers["insurance"] = insurance

    saved = screening_save(inquiry_id=inquiry.pk, answers=answers, actor=coordinator)

    screening = saved.screening
    assert screening.complete, screening.result["missing_safety"]
    assert screening.provisional_level is not None
    assert screening.provisional_level.code == v.level, screening.result["reasons"]
    assert {f["code"] for f in screening.result["safety_flags"]} == v.flags
    top = saved.matches.top
    assert (top.program_name if top else None) == v.top, [
        (m.program_name, m.exclusion_reasons) for m in saved.matches.matches
    ]
    if EMERGENCY in v.flags:
        # Matches are for after the emergency: no program list, no referral proposed.
        assert (saved.matches.withheld, saved.matches.matches, saved.matches.refer_out) == (
            "emergency",
            (),
            False,
        )
    else:
        assert saved.matches.refer_out is (v.top is None)
        assert len(saved.matches.matches) == len(catalogue.programs)
    if v.withdrawal is not None:
        levels = screening.result["levels"]
        assert (levels["withdrawal"] or {}).get("code") == v.withdrawal, levels
        assert levels["treatment"]["code"] == v.treatment, levels
    refreshed = Inquiry.objects.get(pk=inquiry.pk)
    assert refreshed.stage == v.stage
    assert refreshed.has_red_flag is bool(v.flags)
    for flag in screening.result["safety_flags"]:
        assert flag["reason"]
        assert flag["action"]
        assert {"code", "action", "reason"} <= set(flag)
    if v.reason_contains:
        text = " ".join(
            [*screening.result["reasons"], *(f["reason"] for f in screening.result["safety_flags"])]
        )
        assert v.reason_contains in text


def test_there_are_at_least_thirty_vignettes():
    assert len(VIGNETTES) >= 30
