"""Property tests of the rules: adding risk never lowers the level or removes a flag; a safety flag
always dominates; an incomplete screen never recommends.

Adding risk means: a positive (or refused / not known) answer, a refusal of a safety follow-up,
more days or a bigger amount, a more recent last use, a longer history, losing a protection.
Pure: no database. Levels come from the shipped catalogue (programs/catalogue.py).
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from admissions.catalogue import SUBSTANCES
from admissions.screening.definition import UNKNOWN, definition_load
from admissions.screening.rules import LevelChoice, evaluate, level_allows, levels_pick
from programs.catalogue import LEVELS

FORM = definition_load(2)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=ZoneInfo("America/New_York"))
CODES = [code for code, *_ in SUBSTANCES]


def _levels(edition: str) -> list[LevelChoice]:
    return [
        LevelChoice(
            id=i, code=code, name=name, edition=ed, intensity=Decimal(intensity), withdrawal_management=wm
        )
        for i, (ed, code, name, _setting, intensity, wm) in enumerate(LEVELS)
        if ed == edition
    ]


ASAM3, ASAM4 = _levels("ASAM 3"), _levels("ASAM 4")

# Safety yes/no items: yes or "refused / not known" adds risk.
SAFETY_BOOLS = [
    ("emergency", "overdose_now"),
    ("emergency", "seizure_now"),
    ("emergency", "chest_pain"),
    ("emergency", "confused_now"),
    ("emergency", "fever_rigidity"),
    ("withdrawal", "past_seizures"),
    ("withdrawal", "past_dts"),
    ("withdrawal", "past_hallucinations"),
    ("withdrawal", "symptoms_now"),
    ("medical", "baclofen_pump"),
    ("psychiatric", "psychosis_now"),
    ("psychiatric", "severe_symptoms"),
    ("suicide", "wish_dead"),
    ("suicide", "thoughts"),
    ("suicide", "recent_behaviour"),
]
# Follow-ups of a positive screening question: yes, refused, or left unanswered after the yes.
FOLLOWUPS = [
    ("suicide", "method"),
    ("suicide", "intent"),
    ("suicide", "plan"),
    ("medical", "baclofen_pump_problem"),
]
OTHER_BOOLS = [
    *(("medical", c) for c in ("seizure_disorder", "heart", "liver", "kidney", "diabetes", "lung")),
    *(("medical", c) for c in ("head_injury", "infection", "chronic_pain")),
    ("psychiatric", "history"),
    ("psychiatric", "hospitalised_12m"),
    ("relapse", "overdose_ever"),
    ("relapse", "overdose_12m"),
    ("relapse", "injection_use"),
]
RISK_FALSE = [("environment", "safe_at_home"), ("environment", "sober_supports")]
ORDERS = {
    ("medical", "pregnant"): ["no", "not_applicable", "unsure", "yes"],
    ("environment", "living"): ["supportive", "alone", "with_users", "unstable"],
    ("readiness", "stage"): ["ready", "ambivalent", "not_ready"],
    ("readiness", "preferred_setting"): ["op", "iop", "php", "residential"],
    ("psychiatric", "cognitive_impairment"): ["none", "mild", "severe"],
}
UNITS = ["mg", "drinks", "pills", "grams", "bags", "ml", "joints", "other"]
DRUGS = ["", "alprazolam", "clonazepam", "diazepam", "lorazepam", "phenobarbital", "butalbital", "oxycodone"]


def _when(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


@st.composite
def substance_rows(draw: st.DrawFn, code: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "days_used_30": draw(st.one_of(st.integers(0, 30), st.just(UNKNOWN), st.none())),
        "amount_per_day": draw(st.sampled_from([0, 1, 4, 20, 80, 300, 600, 1800, 3600, UNKNOWN, None])),
        "unit": draw(st.sampled_from([*UNITS, UNKNOWN, None])),
        "route": draw(st.sampled_from(["oral", "smoked", "snorted", "injected", "other"])),
        "prescribed": draw(st.booleans()),
        "drug": draw(st.sampled_from(DRUGS)),
        "duration_months": draw(st.one_of(st.none(), st.integers(0, 120))),
        "last_use": draw(st.one_of(st.none(), st.just(UNKNOWN), st.floats(0, 45).map(_when))),
    }
    if code == "gabapentinoids":
        agent = draw(st.sampled_from([None, "gabapentin", "pregabalin", "both", UNKNOWN]))
        if agent is not None:
            row["agent"] = agent
        if agent == "both":
            row["gabapentin_mg_per_day"] = draw(st.sampled_from([None, UNKNOWN, 300, 900, 1800, 3600]))
            row["pregabalin_mg_per_day"] = draw(st.sampled_from([None, UNKNOWN, 75, 150, 300, 600]))
    return {k: v for k, v in row.items() if v is not None}


@st.composite
def answer_sets(draw: st.DrawFn) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    if draw(st.integers(0, 15)) == 0:
        answers["use"] = {"substances_30d": UNKNOWN}
    else:
        used = draw(st.lists(st.sampled_from(CODES), unique=True, max_size=4))
        answers["use"] = {"substances_30d": used}
        answers["substances"] = {code: draw(substance_rows(code)) for code in used}
    for section, item in SAFETY_BOOLS + FOLLOWUPS:
        value = draw(st.sampled_from([None, True, False, UNKNOWN]))
        if value is not None:
            answers.setdefault(section, {})[item] = value
    for section, item in OTHER_BOOLS + RISK_FALSE:
        value = draw(st.sampled_from([None, True, False]))
        if value is not None:
            answers.setdefault(section, {})[item] = value
    for (section, item), order in ORDERS.items():
        value = draw(st.sampled_from([None, *order]))
        if value is not None:
            answers.setdefault(section, {})[item] = value
    answers.setdefault("withdrawal", {})["mat_now"] = draw(
        st.lists(st.sampled_from(["methadone", "buprenorphine", "naltrexone"]), unique=True)
    )
    answers.setdefault("readiness", {})["who_wants"] = draw(
        st.lists(st.sampled_from(["self", "family", "court"]), unique=True)
    )
    answers.setdefault("relapse", {}).update(
        prior_treatment=draw(st.integers(0, 3)),
        prior_outcome=draw(st.sampled_from(["none", "sustained", "relapsed", "left_early"])),
        longest_abstinence_months=draw(st.integers(0, 24)),
    )
    return FORM.clean(answers, now=NOW)


def _positive(value: Any) -> bool:
    return value is True or value == UNKNOWN


def _add_risk(answers: dict[str, Any], data: st.DataObject) -> tuple[str, dict[str, Any]]:  # noqa: C901
    """One change that adds risk (or removes a protection), described for the failure message."""
    a = copy.deepcopy(answers)
    kinds = [
        "positive",
        "refuse_followup",
        "other_true",
        "false",
        "order",
        "more_days",
        "more_amount",
        "recent",
        "longer",
        "new_substance",
        "no_mat",
        "inject",
        "not_prescribed",
        "drop_self",
        "relapsed",
        "shorter_abstinence",
    ]
    kind = data.draw(st.sampled_from(kinds))
    grid = a.get("substances") or {}
    used = list(grid)
    if kind == "positive":
        section, item = data.draw(st.sampled_from(SAFETY_BOOLS + FOLLOWUPS))
        if not _positive(a.get(section, {}).get(item)):
            a.setdefault(section, {})[item] = data.draw(st.sampled_from([True, UNKNOWN]))
    elif kind == "refuse_followup":
        section, item = data.draw(st.sampled_from(FOLLOWUPS))
        if a.get(section, {}).get(item) is not True:
            a.setdefault(section, {})[item] = UNKNOWN
    elif kind == "other_true":
        section, item = data.draw(st.sampled_from(OTHER_BOOLS))
        a.setdefault(section, {})[item] = True
    elif kind == "false":
        section, item = data.draw(st.sampled_from(RISK_FALSE))
        a.setdefault(section, {})[item] = False
    elif kind == "order":
        (section, item), order = data.draw(st.sampled_from(sorted(ORDERS.items())))
        current = a.get(section, {}).get(item)
        start = order.index(current) + 1 if current in order else 0
        if start < len(order):
            a.setdefault(section, {})[item] = data.draw(st.sampled_from(order[start:]))
    elif kind == "more_days" and used:
        row = grid[data.draw(st.sampled_from(used))]
        days = row.get("days_used_30")
        if days != UNKNOWN:
            row["days_used_30"] = data.draw(st.one_of(st.integers(days or 0, 30), st.just(UNKNOWN)))
    elif kind == "more_amount" and used:
        row = grid[data.draw(st.sampled_from(used))]
        amount = row.get("amount_per_day")
        if isinstance(amount, int | float):
            row["amount_per_day"] = amount + data.draw(st.sampled_from([1, 100, 2000]))
    elif kind == "recent" and used:
        row = grid[data.draw(st.sampled_from(used))]
        last = row.get("last_use")
        if last != UNKNOWN:
            since = 45.0 if last is None else (NOW - datetime.fromisoformat(last)).total_seconds() / 86400
            row["last_use"] = data.draw(st.one_of(st.floats(0, max(since, 0)).map(_when), st.just(UNKNOWN)))
    elif kind == "longer" and used:
        row = grid[data.draw(st.sampled_from(used))]
        months = row.get("duration_months")
        if months is not None:  # not known already counts as long
            row["duration_months"] = months + data.draw(st.integers(0, 120))
    elif kind == "new_substance" and isinstance(a.get("use", {}).get("substances_30d"), list):
        code = data.draw(st.sampled_from([c for c in CODES if c not in used] or CODES))
        if code not in used:
            a["use"]["substances_30d"].append(code)
            a.setdefault("substances", {})[code] = data.draw(substance_rows(code))
    elif kind == "no_mat":
        a.setdefault("withdrawal", {})["mat_now"] = []
    elif kind == "inject" and used:
        grid[data.draw(st.sampled_from(used))]["route"] = "injected"
    elif kind == "not_prescribed" and used:
        grid[data.draw(st.sampled_from(used))]["prescribed"] = False
    elif kind == "drop_self":
        a.setdefault("readiness", {})["who_wants"] = [
            w for w in a["readiness"].get("who_wants", []) if w != "self"
        ]
    elif kind == "relapsed":
        a.setdefault("relapse", {}).update(prior_treatment=max(1, a["relapse"].get("prior_treatment", 0)))
        a["relapse"]["prior_outcome"] = "relapsed"
    elif kind == "shorter_abstinence":
        months = a.setdefault("relapse", {}).get("longest_abstinence_months", 24)
        a["relapse"]["longest_abstinence_months"] = data.draw(st.integers(0, months))
    return kind, FORM.clean(a, now=NOW)


def _evaluate(answers: dict[str, Any]):  # type: ignore[no-untyped-def]
    return evaluate(answers=answers, form=FORM, now=NOW)


def _first_level(outcome):  # type: ignore[no-untyped-def]
    return levels_pick(outcome=outcome, levels=ASAM3, integrated=ASAM4).provisional


@settings(max_examples=400, deadline=None)
@given(answers=answer_sets(), data=st.data())
def test_adding_risk_never_lowers_the_level_or_removes_a_flag(answers, data):
    before = _evaluate(answers)
    kind, riskier = _add_risk(answers, data)
    after = _evaluate(riskier)
    assert after.minimum_intensity >= before.minimum_intensity, kind
    assert after.treatment_minimum >= before.treatment_minimum, kind
    assert (after.withdrawal_minimum or 0) >= (before.withdrawal_minimum or 0), kind
    assert after.withdrawal_management or not before.withdrawal_management, kind
    assert after.withdrawal_first or not before.withdrawal_first, kind
    assert {f.code for f in before.flags} <= {f.code for f in after.flags}, kind
    for b, a in zip(before.ratings, after.ratings, strict=True):
        assert a.rating >= b.rating, (kind, b, a)
    assert _first_level(after).intensity >= _first_level(before).intensity, kind


@settings(max_examples=300, deadline=None)
@given(answers=answer_sets())
def test_a_safety_flag_always_dominates(answers):
    outcome = _evaluate(answers)
    chosen = levels_pick(outcome=outcome, levels=ASAM3, integrated=ASAM4)
    level = chosen.provisional
    for flag in outcome.flags:
        assert outcome.minimum_intensity >= flag.minimum_intensity
        if flag.withdrawal_management:
            assert outcome.withdrawal_management
            assert outcome.withdrawal_first
    assert (
        level_allows(
            intensity=level.intensity, withdrawal_management=level.withdrawal_management, flags=outcome.flags
        )
        == []
    )
    for rating in outcome.ratings:
        assert outcome.treatment_minimum >= rating.minimum_intensity
    if outcome.withdrawal_management:
        assert chosen.withdrawal is not None
        assert chosen.withdrawal.withdrawal_management
        assert chosen.integrated is not None
        assert chosen.integrated.withdrawal_management
    assert chosen.treatment is not None
    assert not chosen.treatment.withdrawal_management


@settings(max_examples=300, deadline=None)
@given(answers=answer_sets())
def test_an_incomplete_screen_is_never_recommendable(answers):
    outcome = _evaluate(answers)
    assert outcome.complete is (not outcome.missing_safety)
    if not outcome.complete:
        assert not outcome.recommendable
    if any(f.code == "emergency_now" for f in outcome.flags):
        assert not outcome.recommendable


@settings(max_examples=300, deadline=None)
@given(answers=answer_sets(), data=st.data())
def test_a_refused_or_unanswered_follow_up_after_a_yes_is_a_flag(answers, data):
    a = copy.deepcopy(answers)
    a.setdefault("suicide", {})["thoughts"] = True
    for item in ("method", "intent", "plan"):
        a["suicide"][item] = data.draw(st.sampled_from([None, UNKNOWN, False]))
    outcome = _evaluate(FORM.clean(a, now=NOW))
    followups = [a["suicide"][i] for i in ("method", "intent", "plan")]
    raised = any(f.code == "suicide_risk" for f in outcome.flags)
    if any(v in (None, UNKNOWN) for v in followups):
        assert raised
        assert outcome.minimum_intensity == Decimal("4.0")


@settings(max_examples=300, deadline=None)
@given(answers=answer_sets())
def test_every_flag_and_rating_explains_itself(answers):
    outcome = _evaluate(answers)
    for flag in outcome.flags:
        assert flag.reason.strip()
        assert flag.action.strip()
    for rating in outcome.ratings:
        assert (rating.rating == 0) or rating.reasons
    for need in outcome.needs:
        assert need.reason.strip()


SEDATIVES = ["alcohol", "benzodiazepines", "barbiturates", "baclofen", "carisoprodol", "gabapentinoids"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A complete screen of one sedative, its use history drawn (days, amount, last use, months)."""
    code = draw(st.sampled_from(SEDATIVES))
    row: dict[str, Any] = {
        "days_used_30": draw(st.integers(0, 30)),
        "amount_per_day": draw(st.sampled_from([1, 4, 40, 600, 2400])),
        "unit": draw(st.sampled_from(["mg", "drinks", "pills"])),
        "drug": draw(st.sampled_from(DRUGS)),
        "last_use": _when(draw(st.floats(0, 40))),
        "duration_months": draw(st.one_of(st.none(), st.integers(0, 60))),
    }
    if code == "gabapentinoids":
        row["agent"] = draw(st.sampled_from(["gabapentin", "pregabalin"]))
    answers = {
        "emergency": dict.fromkeys(
            ("overdose_now", "seizure_now", "chest_pain", "confused_now", "fever_rigidity"), False
        ),
        "use": {"substances_30d": [code]},
        "substances": {code: row},
        "withdrawal": {
            "past_seizures": False,
            "past_dts": False,
            "past_hallucinations": False,
            "symptoms_now": draw(st.booleans()),
        },
        "medical": {"pregnant": "no", "baclofen_pump": False},
        "psychiatric": {"psychosis_now": False, "severe_symptoms": False},
        "suicide": {"wish_dead": False, "thoughts": False, "recent_behaviour": False},
    }
    return answers, code


@settings(max_examples=500, deadline=None)
@given(history=histories(), data=st.data())
def test_a_more_recent_last_use_a_longer_history_or_more_days_never_lower_the_level(history, data):
    answers, code = history
    row = answers["substances"][code]
    riskier = copy.deepcopy(answers)
    changed = riskier["substances"][code]
    since = (NOW - datetime.fromisoformat(row["last_use"])).total_seconds() / 86400
    changed["last_use"] = _when(data.draw(st.floats(0, since)))
    if row["duration_months"] is not None:
        changed["duration_months"] = row["duration_months"] + data.draw(st.integers(0, 60))
    changed["days_used_30"] = data.draw(st.integers(row["days_used_30"], 30))
    riskier["withdrawal"]["symptoms_now"] = answers["withdrawal"]["symptoms_now"] or data.draw(st.booleans())
    before = _evaluate(FORM.clean(answers, now=NOW))
    after = _evaluate(FORM.clean(riskier, now=NOW))
    assert {f.code for f in before.flags} <= {f.code for f in after.flags}, (row, changed)
    assert after.minimum_intensity >= before.minimum_intensity, (row, changed)
    assert _first_level(after).intensity >= _first_level(before).intensity, (row, changed)
