"""Property tests of the rules: adding risk never lowers the level; a safety flag always dominates.

Pure: no database. Levels come from the shipped catalogue (programs/catalogue.py).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from admissions.catalogue import SUBSTANCES
from admissions.screening.definition import definition_load
from admissions.screening.rules import LevelChoice, evaluate, level_allows, level_pick
from programs.catalogue import LEVELS

FORM = definition_load(1)
CODES = [code for code, *_ in SUBSTANCES]
ASAM3 = [
    LevelChoice(
        id=i, code=code, name=name, edition=ed, intensity=Decimal(intensity), withdrawal_management=wm
    )
    for i, (ed, code, name, _setting, intensity, wm) in enumerate(LEVELS)
    if ed == "ASAM 3"
]

RISK_TRUE = [
    ("emergency", "overdose_now"),
    ("emergency", "seizure_now"),
    ("emergency", "chest_pain"),
    ("emergency", "confused_now"),
    ("emergency", "fever_rigidity"),
    ("withdrawal", "past_seizures"),
    ("withdrawal", "past_dts"),
    ("withdrawal", "past_hallucinations"),
    ("withdrawal", "symptoms_now"),
    *(("medical", c) for c in ("seizure_disorder", "heart", "liver", "kidney", "diabetes", "lung")),
    *(("medical", c) for c in ("head_injury", "infection", "chronic_pain", "baclofen_pump")),
    ("medical", "baclofen_pump_problem"),
    ("psychiatric", "history"),
    ("psychiatric", "hospitalised_12m"),
    ("psychiatric", "psychosis_now"),
    ("psychiatric", "severe_symptoms"),
    ("suicide", "wish_dead"),
    ("suicide", "thoughts"),
    ("suicide", "method"),
    ("suicide", "intent"),
    ("suicide", "plan"),
    ("suicide", "recent_behaviour"),
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


@st.composite
def substance_rows(draw: st.DrawFn, code: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "days_used_30": draw(st.integers(0, 30)),
        "amount_per_day": draw(st.sampled_from([0, 1, 4, 20, 80, 300, 600, 1800, 3600])),
        "unit": draw(st.sampled_from(UNITS)),
        "route": draw(st.sampled_from(["oral", "smoked", "snorted", "injected", "other"])),
        "prescribed": draw(st.booleans()),
    }
    if code == "gabapentinoids" and draw(st.booleans()):
        row["agent"] = draw(st.sampled_from(["gabapentin", "pregabalin"]))
    return row


@st.composite
def answer_sets(draw: st.DrawFn) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    used = draw(st.lists(st.sampled_from(CODES), unique=True, max_size=4))
    answers["use"] = {"substances_30d": used}
    answers["substances"] = {code: draw(substance_rows(code)) for code in used}
    for section, item in RISK_TRUE + RISK_FALSE:
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
    return FORM.clean(answers)


def _add_risk(answers: dict[str, Any], data: st.DataObject) -> tuple[str, dict[str, Any]]:
    """One change that adds risk (or removes a protection), described for the failure message."""
    a = copy.deepcopy(answers)
    kind = data.draw(
        st.sampled_from(
            [
                "true",
                "false",
                "order",
                "more_days",
                "more_amount",
                "new_substance",
                "no_mat",
                "inject",
                "not_prescribed",
                "drop_self",
                "relapsed",
                "shorter_abstinence",
            ]
        )
    )
    used = list(a.get("substances", {}))
    if kind == "true":
        section, item = data.draw(st.sampled_from(RISK_TRUE))
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
        code = data.draw(st.sampled_from(used))
        row = a["substances"][code]
        row["days_used_30"] = data.draw(st.integers(row.get("days_used_30") or 0, 30))
    elif kind == "more_amount" and used:
        code = data.draw(st.sampled_from(used))
        row = a["substances"][code]
        row["amount_per_day"] = (row.get("amount_per_day") or 0) + data.draw(st.sampled_from([1, 100, 2000]))
    elif kind == "new_substance":
        code = data.draw(st.sampled_from([c for c in CODES if c not in used] or CODES))
        if code not in used:
            a.setdefault("use", {}).setdefault("substances_30d", []).append(code)
            a.setdefault("substances", {})[code] = data.draw(substance_rows(code))
    elif kind == "no_mat":
        a.setdefault("withdrawal", {})["mat_now"] = []
    elif kind == "inject" and used:
        a["substances"][data.draw(st.sampled_from(used))]["route"] = "injected"
    elif kind == "not_prescribed" and used:
        a["substances"][data.draw(st.sampled_from(used))]["prescribed"] = False
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
    return kind, FORM.clean(a)


def _level(outcome):  # type: ignore[no-untyped-def]
    return level_pick(
        levels=ASAM3, minimum=outcome.minimum_intensity, withdrawal_management=outcome.withdrawal_management
    )


@settings(max_examples=200, deadline=None)
@given(answers=answer_sets(), data=st.data())
def test_adding_risk_never_lowers_the_level(answers, data):
    before = evaluate(answers=answers, form=FORM)
    kind, riskier = _add_risk(answers, data)
    after = evaluate(answers=riskier, form=FORM)
    assert after.minimum_intensity >= before.minimum_intensity, kind
    assert after.withdrawal_management or not before.withdrawal_management, kind
    assert {f.code for f in before.flags} <= {f.code for f in after.flags}, kind
    for b, a in zip(before.ratings, after.ratings, strict=True):
        assert a.rating >= b.rating, (kind, b, a)
    assert _level(after).intensity >= _level(before).intensity, kind


@settings(max_examples=200, deadline=None)
@given(answers=answer_sets())
def test_a_safety_flag_always_dominates(answers):
    outcome = evaluate(answers=answers, form=FORM)
    level = _level(outcome)
    for flag in outcome.flags:
        assert outcome.minimum_intensity >= flag.minimum_intensity
        if flag.withdrawal_management:
            assert outcome.withdrawal_management
    assert (
        level_allows(
            intensity=level.intensity, withdrawal_management=level.withdrawal_management, flags=outcome.flags
        )
        == []
    )
    for rating in outcome.ratings:
        assert outcome.minimum_intensity >= rating.minimum_intensity


@settings(max_examples=200, deadline=None)
@given(answers=answer_sets())
def test_every_flag_and_rating_explains_itself(answers):
    outcome = evaluate(answers=answers, form=FORM)
    for flag in outcome.flags:
        assert flag.reason.strip()
        assert flag.action.strip()
    for rating in outcome.ratings:
        assert (rating.rating == 0) or rating.reasons
