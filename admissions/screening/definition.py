"""The phone pre-screen as data: versioned items, their checks, and the rating tables.

Each version in ``FORMS`` is frozen once shipped: a data migration copies it into a
``ScreeningForm`` row and every saved screening names the version it used. To change
an item or a threshold, add version N+1 here and a migration that seeds it; never edit
a shipped version. The wording is our own (not ASAM's, not the C-SSRS's).

Answers are a JSON object of sections, each an object of items::

    {"emergency": {"overdose_now": false, ...},
     "use": {"substances_30d": ["alcohol", "benzodiazepines"]},
     "substances": {"alcohol": {"days_used_30": 30, "amount_per_day": 12, "unit": "drinks", ...}},
     "withdrawal": {"past_seizures": true, ...}, ...}

A ``null`` clears an answer. Items marked ``safety`` must all be answered before a
screen is complete; an item with ``ask_if`` is only asked when that other item of the
same section (or substance) holds the given value, and the substance grid only for the
substances named in ``use.substances_30d``. From version 2 a safety item may also be
answered ``"unknown"``: the caller refused or does not know (the rules count it as the risk
it could be). Cross-item checks (an amount against its unit's bound) run on the answers as
they will be stored (``check_together``).
"""

from __future__ import annotations

import copy
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from admissions.catalogue import SUBSTANCES
from crm.places import place_of_postal_code, postal_code_five

DIMENSIONS: dict[int, str] = {
    1: "Intoxication, withdrawal and addiction medications",
    2: "Physical health",
    3: "Mental health and thinking",
    4: "Readiness to change",
    5: "Relapse and continued-use risk",
    6: "Home, supports and living environment",
}

SETTINGS = [
    ["withdrawal", "Withdrawal management (detox)"],
    ["residential", "Inpatient / residential"],
    ["php", "Partial hospitalization"],
    ["iop", "Intensive outpatient"],
    ["op", "Outpatient"],
]

_YES_NO_UNSURE = [["yes", "Yes"], ["no", "No"], ["unsure", "Not sure"], ["not_applicable", "Not applicable"]]


def _b(
    code: str, label: str, *, safety: bool = False, ask_if: dict[str, Any] | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "label": label, "type": "bool", "safety": safety}
    if ask_if:
        item["ask_if"] = ask_if
    return item


_FORM_V1: dict[str, Any] = {
    "version": 1,
    "title": "Phone pre-screen",
    # Provisional levels are picked from this edition of the level catalogue.
    "level_edition": "ASAM 3",
    "thresholds": {
        # "Daily" means on at least this many of the last 30 days.
        "daily_days": 20,
        # "Regular" use (at least weekly-ish) for relapse risk and milder withdrawal.
        "regular_days": 8,
        # Daily drinking at or above this many drinks a day is a withdrawal risk (0 = any daily drinking).
        "alcohol_daily_min_drinks": 0,
        "gabapentin_high_mg_per_day": 1800,
        "pregabalin_high_mg_per_day": 300,
        "short_abstinence_months": 3,
    },
    # Dimension -> rating (0-4) -> the least intensive level that rating allows (comparable intensity).
    "dimension_minimums": {
        "1": {"0": "1.0", "1": "1.0", "2": "2.0", "3": "3.7", "4": "4.0"},
        "2": {"0": "1.0", "1": "1.0", "2": "2.5", "3": "3.7", "4": "4.0"},
        "3": {"0": "1.0", "1": "1.0", "2": "2.1", "3": "3.5", "4": "4.0"},
        "4": {"0": "1.0", "1": "1.0", "2": "1.0", "3": "2.1", "4": "2.1"},
        "5": {"0": "1.0", "1": "1.0", "2": "2.1", "3": "2.5", "4": "3.5"},
        "6": {"0": "1.0", "1": "1.0", "2": "2.1", "3": "3.1", "4": "3.5"},
    },
    # Withdrawal management is needed from this dimension 1 rating up.
    "withdrawal_management_from_rating": 2,
    # The least intensive level that honours a stated preference for a setting (person-centred raise).
    "setting_minimums": {"op": "1.0", "iop": "2.1", "php": "2.5", "residential": "3.1", "withdrawal": "3.2"},
    "sections": [
        {
            "code": "emergency",
            "title": "Emergency now (ask first)",
            "dimension": None,
            "items": [
                _b(
                    "overdose_now",
                    "Right now, has the person taken too much, or are they hard to wake or not responding?",
                    safety=True,
                ),
                _b(
                    "seizure_now",
                    "Are they having a seizure (fit) now, or have they had one in the last hour?",
                    safety=True,
                ),
                _b(
                    "chest_pain",
                    "Any chest pain or pressure, or struggling to breathe, right now?",
                    safety=True,
                ),
                _b(
                    "confused_now",
                    "Are they confused, not making sense, or seeing or "
                    "hearing things that are not there, right now?",
                    safety=True,
                ),
                _b(
                    "fever_rigidity",
                    "Do they have a high temperature together with stiff or rigid muscles right now?",
                    safety=True,
                ),
            ],
        },
        {
            "code": "use",
            "title": "What they use",
            "dimension": 1,
            "items": [
                {
                    "code": "substances_30d",
                    "label": "Which of these have they used in the last 30 days? (an empty list means none)",
                    "type": "multi",
                    "choices": [[code, name] for code, name, *_ in SUBSTANCES],
                    "safety": True,
                },
            ],
        },
        {
            "code": "substances",
            "title": "For each substance used in the last 30 days",
            "dimension": 1,
            "grid": True,
            "rows_from": "use.substances_30d",
            "rows": [[code, name] for code, name, *_ in SUBSTANCES],
            "items": [
                {
                    "code": "days_used_30",
                    "label": "On how many of the last 30 days?",
                    "type": "int",
                    "min": 0,
                    "max": 30,
                    "safety": True,
                },
                {
                    "code": "amount_per_day",
                    "label": "How much on a typical day of use?",
                    "type": "decimal",
                    "min": 0,
                    "max": 100000,
                    "safety": True,
                },
                {
                    "code": "unit",
                    "label": "Unit of that amount",
                    "type": "choice",
                    "choices": [
                        ["mg", "milligrams"],
                        ["drinks", "standard drinks"],
                        ["pills", "pills / tablets"],
                        ["grams", "grams"],
                        ["bags", "bags / bundles"],
                        ["ml", "millilitres"],
                        ["joints", "joints / sessions"],
                        ["other", "other"],
                    ],
                    "safety": True,
                },
                {
                    "code": "drug",
                    "label": "Which drug exactly, if known (e.g. alprazolam, oxycodone)",
                    "type": "text",
                    "max_length": 80,
                },
                {
                    "code": "duration_months",
                    "label": "For how many months at about this level?",
                    "type": "int",
                    "min": 0,
                    "max": 1200,
                },
                {
                    "code": "route",
                    "label": "How is it taken?",
                    "type": "choice",
                    "choices": [
                        ["oral", "swallowed"],
                        ["smoked", "smoked / vaped"],
                        ["snorted", "snorted"],
                        ["injected", "injected"],
                        ["other", "other"],
                    ],
                },
                {
                    "code": "last_use",
                    "label": "Date and time of last use",
                    "type": "datetime",
                    "safety": True,
                },
                {"code": "prescribed", "label": "Is there a valid prescription for it?", "type": "bool"},
            ],
            # Extra items asked only for one substance.
            "row_items": {
                "gabapentinoids": [
                    {
                        "code": "agent",
                        "label": "Gabapentin or pregabalin?",
                        "type": "choice",
                        "choices": [["gabapentin", "Gabapentin"], ["pregabalin", "Pregabalin"]],
                        "safety": True,
                    },
                ],
            },
        },
        {
            "code": "withdrawal",
            "title": "Withdrawal history and addiction medications",
            "dimension": 1,
            "items": [
                _b("past_seizures", "Has stopping or cutting down ever caused a seizure?", safety=True),
                _b(
                    "past_dts",
                    "Has stopping ever caused DTs or a spell of severe confusion (delirium)?",
                    safety=True,
                ),
                _b(
                    "past_hallucinations",
                    "Has stopping ever caused them to see, hear or feel things that were not there?",
                    safety=True,
                ),
                _b(
                    "symptoms_now",
                    "Are they feeling withdrawal now (shakes, sweats, sickness, racing heart, anxiety)?",
                    safety=True,
                ),
                {
                    "code": "symptoms_list",
                    "label": "Which withdrawal symptoms?",
                    "type": "multi",
                    "choices": [
                        ["shaking", "shaking"],
                        ["sweating", "sweating"],
                        ["vomiting", "nausea or vomiting"],
                        ["racing_heart", "racing heart"],
                        ["anxiety", "anxiety or agitation"],
                        ["aches", "muscle aches"],
                        ["insomnia", "cannot sleep"],
                        ["itching", "itching"],
                    ],
                },
                _b("prior_supervised_detox", "Have they been through a medically supervised detox before?"),
                {
                    "code": "mat_now",
                    "label": "Are they on an addiction medication now?",
                    "type": "multi",
                    "choices": [
                        ["methadone", "Methadone"],
                        ["buprenorphine", "Buprenorphine"],
                        ["naltrexone", "Naltrexone"],
                    ],
                },
            ],
        },
        {
            "code": "medical",
            "title": "Physical health",
            "dimension": 2,
            "items": [
                {
                    "code": "pregnant",
                    "label": "Could they be pregnant?",
                    "type": "choice",
                    "choices": _YES_NO_UNSURE,
                    "safety": True,
                },
                _b("seizure_disorder", "A seizure disorder or epilepsy (apart from withdrawal)?"),
                _b("heart", "Heart disease?"),
                _b("liver", "Liver disease?"),
                _b("kidney", "Kidney disease?"),
                _b("diabetes", "Diabetes?"),
                _b("lung", "Lung disease (COPD, asthma needing treatment)?"),
                _b("head_injury", "A serious head injury?"),
                _b("infection", "An infection now (abscess, fever, wound, hepatitis or HIV not treated)?"),
                _b("chronic_pain", "Chronic pain?"),
                _b(
                    "baclofen_pump", "A baclofen pump implanted in the spine (intrathecal pump)?", safety=True
                ),
                _b(
                    "baclofen_pump_problem",
                    "Is the pump alarming or late for a refill, or are there "
                    "new itching, fever, stiffness or confusion?",
                    safety=True,
                    ask_if={"item": "baclofen_pump", "is": True},
                ),
                {"code": "medications", "label": "Current medications", "type": "text", "max_length": 1000},
            ],
        },
        {
            "code": "psychiatric",
            "title": "Mental health",
            "dimension": 3,
            "items": [
                _b("history", "Any mental-health diagnosis or treatment?"),
                {"code": "diagnoses", "label": "Which diagnoses?", "type": "text", "max_length": 300},
                {
                    "code": "medications",
                    "label": "Mental-health medications",
                    "type": "text",
                    "max_length": 500,
                },
                _b("hospitalised_12m", "A psychiatric hospital stay in the last 12 months?"),
                _b(
                    "psychosis_now",
                    "When not intoxicated, are they hearing or seeing things, or "
                    "holding frightening beliefs others do not share?",
                    safety=True,
                ),
                _b(
                    "severe_symptoms",
                    "Are mental-health symptoms so severe right now that they cannot look after themselves?",
                    safety=True,
                ),
                {
                    "code": "cognitive_impairment",
                    "label": "Memory or thinking problems that get in the way of daily life?",
                    "type": "choice",
                    "choices": [["none", "None"], ["mild", "Mild"], ["severe", "Severe"]],
                },
            ],
        },
        {
            "code": "suicide",
            "title": "Suicide screen (ask every caller, in this order)",
            "dimension": 3,
            "items": [
                _b(
                    "wish_dead",
                    "In the past month, have they wished they were dead, or "
                    "wished they could sleep and not wake up?",
                    safety=True,
                ),
                _b(
                    "thoughts",
                    "In the past month, have they actually thought about killing themselves?",
                    safety=True,
                ),
                _b(
                    "method",
                    "Have they thought about how they would do it?",
                    safety=True,
                    ask_if={"item": "thoughts", "is": True},
                ),
                _b(
                    "intent",
                    "Have they had some intention of acting on those thoughts?",
                    safety=True,
                    ask_if={"item": "thoughts", "is": True},
                ),
                _b(
                    "plan",
                    "Have they started to work out, or worked out, the details of how to do it?",
                    safety=True,
                    ask_if={"item": "thoughts", "is": True},
                ),
                _b(
                    "recent_behaviour",
                    "In the past three months, have they done anything to end their life or get "
                    "ready to (gathered pills, written a note, started an attempt)?",
                    safety=True,
                ),
            ],
        },
        {
            "code": "readiness",
            "title": "Readiness",
            "dimension": 4,
            "items": [
                {
                    "code": "why_now",
                    "label": "Why are they reaching out now?",
                    "type": "text",
                    "max_length": 500,
                },
                {
                    "code": "who_wants",
                    "label": "Who wants this treatment?",
                    "type": "multi",
                    "choices": [
                        ["self", "The person"],
                        ["family", "Family"],
                        ["employer", "Employer"],
                        ["court", "Court / probation"],
                        ["clinician", "A clinician"],
                    ],
                },
                {
                    "code": "stage",
                    "label": "How ready are they?",
                    "type": "choice",
                    "choices": [
                        ["ready", "Ready to start"],
                        ["ambivalent", "Unsure"],
                        ["not_ready", "Not ready"],
                    ],
                },
                {
                    "code": "willing_settings",
                    "label": "Which settings would they attend?",
                    "type": "multi",
                    "choices": SETTINGS,
                },
                {
                    "code": "preferred_setting",
                    "label": "Which setting do they prefer?",
                    "type": "choice",
                    "choices": SETTINGS,
                },
                {
                    "code": "barriers",
                    "label": "What could get in the way?",
                    "type": "multi",
                    "choices": [
                        ["childcare", "Childcare"],
                        ["work", "Work"],
                        ["transport", "Transport"],
                        ["cost", "Cost"],
                        ["housing", "Housing"],
                        ["pets", "Pets"],
                        ["legal", "Legal"],
                        ["other", "Other"],
                    ],
                },
            ],
        },
        {
            "code": "relapse",
            "title": "Relapse history",
            "dimension": 5,
            "items": [
                {
                    "code": "prior_treatment",
                    "label": "How many times have they been in treatment before?",
                    "type": "int",
                    "min": 0,
                    "max": 100,
                },
                {
                    "code": "prior_outcome",
                    "label": "How did the last treatment go?",
                    "type": "choice",
                    "choices": [
                        ["none", "No prior treatment"],
                        ["sustained", "Completed, stayed well"],
                        ["relapsed", "Completed, then used again"],
                        ["left_early", "Left early"],
                    ],
                },
                {
                    "code": "longest_abstinence_months",
                    "label": "Longest time without using, in months",
                    "type": "int",
                    "min": 0,
                    "max": 1200,
                },
                _b("overdose_ever", "Have they ever overdosed?"),
                _b("overdose_12m", "Have they overdosed in the last 12 months?"),
                _b("naloxone_at_home", "Is there naloxone (Narcan) at home?"),
                _b("injection_use", "Have they ever injected drugs?"),
            ],
        },
        {
            "code": "environment",
            "title": "Home and supports",
            "dimension": 6,
            "items": [
                {
                    "code": "living",
                    "label": "Where do they live?",
                    "type": "choice",
                    "choices": [
                        ["supportive", "With supportive family or partner"],
                        ["alone", "Alone"],
                        ["with_users", "With people who use"],
                        ["sober_living", "Sober living"],
                        ["unstable", "Unstable housing or homeless"],
                    ],
                },
                _b("safe_at_home", "Are they safe at home (no violence or threats)?"),
                _b("children_at_home", "Children at home they care for?"),
                _b("transport", "Do they have reliable transport?"),
                {
                    "code": "work",
                    "label": "Work",
                    "type": "choice",
                    "choices": [
                        ["employed", "Employed"],
                        ["unemployed", "Not working"],
                        ["student", "Student"],
                        ["retired", "Retired"],
                        ["disabled", "Unable to work"],
                    ],
                },
                _b("needs_leave", "Will they need leave from work?"),
                _b("eap", "Is there an employee assistance program?"),
                {
                    "code": "legal",
                    "label": "Legal situation",
                    "type": "multi",
                    "choices": [
                        ["probation", "Probation / parole"],
                        ["court_order", "Court order"],
                        ["pending_charges", "Pending charges"],
                        ["drug_court", "Drug court"],
                    ],
                },
                _b("sober_supports", "Do they have people who support their recovery?"),
            ],
        },
        {
            "code": "insurance",
            "title": "Insurance or self-pay",
            "dimension": None,
            "items": [
                _b("self_pay", "Will they pay for treatment themselves?"),
                {
                    "code": "payer_id",
                    "label": "Payer (from the payer list)",
                    "type": "int",
                    "min": 1,
                    "max": 2**31 - 1,
                },
                {
                    "code": "payer_name",
                    "label": "Payer as the caller said it",
                    "type": "text",
                    "max_length": 120,
                },
                {"code": "member_id", "label": "Member id", "type": "text", "max_length": 60},
                {"code": "group_number", "label": "Group number", "type": "text", "max_length": 60},
                {"code": "subscriber_name", "label": "Subscriber name", "type": "text", "max_length": 120},
                {"code": "subscriber_dob", "label": "Subscriber date of birth", "type": "date"},
            ],
        },
        {
            "code": "logistics",
            "title": "Contact and logistics",
            "dimension": None,
            "items": [
                _b("ok_to_voicemail", "Is it OK to leave a voicemail?"),
                _b("ok_to_text", "Is it OK to send a text?"),
                {
                    "code": "preferred_language",
                    "label": "Preferred language",
                    "type": "text",
                    "max_length": 35,
                },
                {
                    "code": "age",
                    "label": "Age (if no date of birth on file)",
                    "type": "int",
                    "min": 0,
                    "max": 120,
                },
                {
                    "code": "gender",
                    "label": "Gender",
                    "type": "choice",
                    "choices": [
                        ["woman", "Woman"],
                        ["man", "Man"],
                        ["nonbinary", "Non-binary"],
                        ["other", "Other"],
                        ["not_said", "Prefers not to say"],
                    ],
                },
                {
                    "code": "state",
                    "label": "State they live in (two letters)",
                    "type": "text",
                    "max_length": 2,
                },
                {
                    "code": "latitude",
                    "label": "Where they are: latitude",
                    "type": "decimal",
                    "min": -90,
                    "max": 90,
                },
                {
                    "code": "longitude",
                    "label": "Where they are: longitude",
                    "type": "decimal",
                    "min": -180,
                    "max": 180,
                },
                {
                    "code": "specialties_wanted",
                    "label": "Program specialties asked for (codes)",
                    "type": "slugs",
                },
            ],
        },
    ],
}

# The answer to a safety item that the caller refused or does not know (form version 2 on). It
# counts as answered (the screen can be complete) and, for routing, as the risk it could be.
UNKNOWN = "unknown"

# Long-acting agents, by generic and common brand names, matched in the "which drug" answer.
_LONG_ACTING_BENZODIAZEPINES = [
    "diazepam",
    "valium",
    "clonazepam",
    "klonopin",
    "chlordiazepoxide",
    "librium",
    "clorazepate",
    "tranxene",
    "flurazepam",
    "clobazam",
]


def _item_of(form: dict[str, Any], section: str, code: str) -> dict[str, Any]:
    for sec in form["sections"]:
        if sec["code"] == section:
            for item in sec["items"]:
                if item["code"] == code:
                    return dict(item)
    raise KeyError(f"{section}.{code}")


def _replace_item(form: dict[str, Any], section: str, item: dict[str, Any]) -> None:
    for sec in form["sections"]:
        if sec["code"] == section:
            sec["items"] = [item if i["code"] == item["code"] else i for i in sec["items"]]
            return
    raise KeyError(section)


def _form_v2() -> dict[str, Any]:
    """Version 2: version 1 with the refinements careful clinicians apply (docs/screening.md,
    "What changed in version 2"). Built as edits of version 1 so the difference reads in one place."""
    form = copy.deepcopy(_FORM_V1)
    form["version"] = 2
    form["unknown_answer"] = UNKNOWN
    form["thresholds"].update(
        {
            # Daily use for at least this many months makes stopping risky (unknown months count).
            "dependence_months": 1,
            # Withdrawal levels up to this intensity (ambulatory) run alongside the treatment program;
            # above it the first placement must provide withdrawal management.
            "ambulatory_withdrawal_max": "2.0",
            # A last use later than now by more than this (clock drift) is refused.
            "future_tolerance_minutes": 5,
        }
    )
    # Dimension 1 sets the withdrawal level (below), not the treatment level.
    form["dimension_minimums"]["1"] = dict.fromkeys(("0", "1", "2", "3", "4"), "1.0")
    # Dimension 1 rating -> the least intensive withdrawal-management level (none below rating 2).
    form["withdrawal_minimums"] = {"2": "2.0", "3": "3.7", "4": "4.0"}
    # After the last dose of a sedative taken regularly for months, withdrawal can still begin or peak
    # for this many days (longer when they feel withdrawal now, or for long-acting agents).
    form["withdrawal_windows"] = {
        "alcohol": {"days": 7, "days_with_symptoms": 14},
        "benzodiazepines": {
            "days": 14,
            "days_with_symptoms": 21,
            "long_acting": _LONG_ACTING_BENZODIAZEPINES,
            "long_acting_days": 21,
            "long_acting_days_with_symptoms": 28,
        },
        "barbiturates": {
            "days": 14,
            "days_with_symptoms": 21,
            "long_acting": ["phenobarbital", "luminal", "primidone", "mysoline"],
            "long_acting_days": 21,
            "long_acting_days_with_symptoms": 28,
        },
        "baclofen": {"days": 7, "days_with_symptoms": 14},
        "carisoprodol": {"days": 7, "days_with_symptoms": 14},
        "gabapentinoids": {"days": 7, "days_with_symptoms": 14},
    }
    # The most of each unit a day that can be true; more is refused as a typing error.
    form["amount_bounds"] = {
        "mg": 20000,
        "drinks": 200,
        "pills": 500,
        "grams": 100,
        "bags": 200,
        "ml": 10000,
        "joints": 100,
        "other": 10000,
    }
    # Clinical needs that follow from the answers, and the program specialty each prefers.
    form["need_specialties"] = {
        "pregnancy": "pregnancy",
        "opioid_medication": "mat",
        "co_occurring": "co-occurring",
        "medical": "medical",
    }

    substances = _item_of(form, "use", "substances_30d")
    substances["label"] = (
        "Which of these have they used in the last 30 days, including any they stopped in that time? "
        "(an empty list means none)"
    )
    _replace_item(form, "use", substances)

    grid = next(s for s in form["sections"] if s["code"] == "substances")
    for item in grid["items"]:
        if item["code"] == "amount_per_day":
            item["max"] = max(form["amount_bounds"].values())
        elif item["code"] == "duration_months":
            item["label"] = "For how many months at about this level (until they stopped, if they did)?"
        elif item["code"] == "last_use":
            item["label"] = "Date and time of last use (when they stopped, if they did)"
    grid["row_items"]["gabapentinoids"] = [
        {
            "code": "agent",
            "label": "Gabapentin, pregabalin, or both?",
            "type": "choice",
            "choices": [["gabapentin", "Gabapentin"], ["pregabalin", "Pregabalin"], ["both", "Both"]],
            "safety": True,
        },
        {
            "code": "gabapentin_mg_per_day",
            "label": "Taking both: gabapentin, mg a day",
            "type": "decimal",
            "min": 0,
            "max": form["amount_bounds"]["mg"],
            "safety": True,
            "ask_if": {"item": "agent", "is": "both"},
        },
        {
            "code": "pregabalin_mg_per_day",
            "label": "Taking both: pregabalin, mg a day",
            "type": "decimal",
            "min": 0,
            "max": form["amount_bounds"]["mg"],
            "safety": True,
            "ask_if": {"item": "agent", "is": "both"},
        },
    ]

    logistics = next(s for s in form["sections"] if s["code"] == "logistics")
    at = next(i for i, item in enumerate(logistics["items"]) if item["code"] == "latitude")
    logistics["items"][at:at] = [
        {
            "code": "postal_code",
            "label": "ZIP code where they are now",
            "type": "postal_code",
        },
        {
            "code": "max_travel_miles",
            "label": "Furthest they can travel for treatment, in miles",
            "type": "int",
            "min": 1,
            "max": 3000,
        },
    ]
    return form


_FORM_V2 = _form_v2()

FORMS: dict[int, dict[str, Any]] = {1: _FORM_V1, 2: _FORM_V2}
LATEST_VERSION = max(FORMS)

_SLUG = re.compile(r"^[-a-z0-9_]{1,40}$")


class AnswersInvalid(ValueError):
    """Answers that do not fit the form; ``errors`` maps dotted item paths to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Window:
    """How long after the last dose withdrawal from one drug class can still begin or peak."""

    days: int
    long_acting: bool


@dataclass(frozen=True)
class FormDefinition:
    """A loaded form version with the checks that read it."""

    data: dict[str, Any]

    @property
    def version(self) -> int:
        return int(self.data["version"])

    @property
    def level_edition(self) -> str:
        return str(self.data["level_edition"])

    @property
    def unknown_answer(self) -> str | None:
        """The value a safety item takes when the caller refuses or does not know (None: not offered)."""
        value = self.data.get("unknown_answer")
        return str(value) if value else None

    def threshold(self, name: str) -> Decimal:
        return Decimal(str(self.data["thresholds"][name]))

    def threshold_or(self, name: str, default: str) -> Decimal:
        return Decimal(str(self.data["thresholds"].get(name, default)))

    def dimension_minimum(self, dimension: int, rating: int) -> Decimal:
        return Decimal(self.data["dimension_minimums"][str(dimension)][str(rating)])

    def withdrawal_minimum(self, rating: int) -> Decimal | None:
        """The least intensive withdrawal level a dimension 1 rating needs (None: none needed).

        Version 1 had no separate table: its dimension 1 minimums were withdrawal levels."""
        table = self.data.get("withdrawal_minimums")
        if table is None:
            if rating < self.withdrawal_management_from_rating:
                return None
            return self.dimension_minimum(1, rating)
        value = table.get(str(rating))
        return Decimal(value) if value is not None else None

    def setting_minimum(self, setting: str) -> Decimal | None:
        value = self.data.get("setting_minimums", {}).get(setting)
        return Decimal(value) if value is not None else None

    @property
    def withdrawal_management_from_rating(self) -> int:
        return int(self.data["withdrawal_management_from_rating"])

    def withdrawal_window(self, substance: str, *, drug: str, symptoms_now: bool) -> Window | None:
        """The withdrawal window of a drug class for the drug named (None: the form has none)."""
        spec = (self.data.get("withdrawal_windows") or {}).get(substance)
        if spec is None:
            return None
        named = drug.lower()
        long_acting = any(name in named for name in spec.get("long_acting", ()))
        prefix = "long_acting_" if long_acting else ""
        key = f"{prefix}days_with_symptoms" if symptoms_now else f"{prefix}days"
        return Window(days=int(spec[key]), long_acting=long_acting)

    def amount_bound(self, unit: str | None) -> float | None:
        """The most of ``unit`` a day that can be true (the largest bound when the unit is not known)."""
        bounds = self.data.get("amount_bounds")
        if not bounds:
            return None
        if unit in bounds:
            return float(bounds[unit])
        return float(max(bounds.values()))

    @property
    def need_specialties(self) -> dict[str, str]:
        return dict(self.data.get("need_specialties") or {})

    def section(self, code: str) -> dict[str, Any]:
        for section in self.data["sections"]:
            if section["code"] == code:
                return dict(section)
        raise KeyError(code)

    def item_label(self, path: str) -> str:
        """The wording of an item, for reasons and error messages."""
        section_code, _, rest = path.partition(".")
        section = self.section(section_code)
        code = rest.rsplit(".", 1)[-1]
        for item in self._row_items(section, rest.split(".")[0]) if section.get("grid") else section["items"]:
            if item["code"] == code:
                return str(item["label"])
        return path

    @staticmethod
    def _row_items(section: dict[str, Any], row: str) -> list[dict[str, Any]]:
        return [*section["items"], *section.get("row_items", {}).get(row, [])]

    def safety_paths(self, answers: dict[str, Any]) -> Iterator[str]:
        """Every safety item the screen must answer, given what is known so far."""
        for section in self.data["sections"]:
            code = section["code"]
            given = answers.get(code) or {}
            if not isinstance(given, dict):
                given = {}
            if section.get("grid"):
                rows_section, _, rows_item = section["rows_from"].partition(".")
                rows = (answers.get(rows_section) or {}).get(rows_item) or []
                for row in rows if isinstance(rows, list) else []:
                    row_answers = given.get(row) or {}
                    for item in self._row_items(section, row):
                        if item.get("safety") and _asked(item, row_answers):
                            yield f"{code}.{row}.{item['code']}"
                continue
            for item in section["items"]:
                if item.get("safety") and _asked(item, given):
                    yield f"{code}.{item['code']}"

    def missing_safety(self, answers: dict[str, Any]) -> list[str]:
        """Safety items not answered yet (dotted paths), in form order."""
        return [path for path in self.safety_paths(answers) if _lookup(answers, path) is None]

    def followups(self) -> Iterator[tuple[str, str, list[str]]]:
        """(section, trigger item, follow-up items) of every safety question that has follow-ups."""
        for section in self.data["sections"]:
            if section.get("grid"):
                continue
            by_trigger: dict[str, list[str]] = {}
            for item in section["items"]:
                condition = item.get("ask_if")
                if item.get("safety") and condition and condition.get("is") is True:
                    by_trigger.setdefault(condition["item"], []).append(item["code"])
            for trigger, codes in by_trigger.items():
                yield section["code"], trigger, codes

    def clean(self, answers: Any, *, now: datetime | None = None) -> dict[str, Any]:
        """Check answers against the form and return them normalised; raises AnswersInvalid."""
        errors: dict[str, list[str]] = {}
        if not isinstance(answers, dict):
            raise AnswersInvalid({"answers": ["Send the answers as an object of sections."]})
        check = _Check(now=now or timezone.now(), unknown=self.unknown_answer, form=self)
        sections = {s["code"]: s for s in self.data["sections"]}
        cleaned: dict[str, Any] = {}
        for section_code, section_answers in answers.items():
            section = sections.get(section_code)
            if section is None:
                errors[_printable(section_code)] = [f"Unknown section. Known: {', '.join(sections)}."]
                continue
            if section_answers is None:
                cleaned[section_code] = None
                continue
            if not isinstance(section_answers, dict):
                errors[section_code] = ["Send this section as an object of answers."]
                continue
            if section.get("grid"):
                rows = {code for code, _ in section["rows"]}
                grid: dict[str, Any] = {}
                for row, row_answers in section_answers.items():
                    path = f"{section_code}.{_printable(row)}"
                    if row not in rows:
                        errors[path] = ["Unknown substance."]
                    elif row_answers is None:
                        grid[row] = None
                    elif not isinstance(row_answers, dict):
                        errors[path] = ["Send this substance's answers as an object."]
                    else:
                        items = {i["code"]: i for i in self._row_items(section, row)}
                        grid[row] = _clean_items(items, row_answers, path, errors, check)
                cleaned[section_code] = grid
            else:
                items = {i["code"]: i for i in section["items"]}
                cleaned[section_code] = _clean_items(items, section_answers, section_code, errors, check)
        if errors:
            raise AnswersInvalid(errors)
        return cleaned

    def check_together(self, answers: dict[str, Any]) -> None:
        """Checks that need several answers at once, run on the answers as they will be stored
        (a save may send the amount and an earlier one the unit); raises AnswersInvalid."""
        errors: dict[str, list[str]] = {}
        grid = answers.get("substances") or {}
        for row, row_answers in grid.items():
            if not isinstance(row_answers, dict):
                continue
            amount, unit = row_answers.get("amount_per_day"), row_answers.get("unit")
            if not isinstance(amount, int | float) or isinstance(amount, bool):
                continue
            bound = self.amount_bound(unit if isinstance(unit, str) else None)
            if bound is not None and amount > bound:
                what = dict(_UNIT_WORDS).get(unit, "of any unit") if isinstance(unit, str) else "of any unit"
                errors[f"substances.{row}.amount_per_day"] = [
                    f"More than {bound:g} {what} a day cannot be right; check the amount and the unit."
                ]
        if errors:
            raise AnswersInvalid(errors)


_UNIT_WORDS = (
    ("mg", "mg"),
    ("drinks", "standard drinks"),
    ("pills", "pills"),
    ("grams", "grams"),
    ("bags", "bags"),
    ("ml", "ml"),
    ("joints", "joints or sessions"),
    ("other", "units"),
)


def _asked(item: dict[str, Any], given: dict[str, Any]) -> bool:
    """Whether an item is asked, given the other answers of its section (or substance)."""
    condition = item.get("ask_if")
    return not condition or given.get(condition["item"]) == condition["is"]


def _lookup(answers: dict[str, Any], path: str) -> Any:
    node: Any = answers
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _printable(key: Any) -> str:
    """A key as it may be echoed back in an error (NUL and other control characters escaped)."""
    text = str(key)
    return text if text.isprintable() else text.encode("unicode_escape", "backslashreplace").decode("ascii")


@dataclass(frozen=True)
class _Check:
    now: datetime
    unknown: str | None
    form: FormDefinition


def _clean_items(
    items: dict[str, dict[str, Any]],
    given: dict[str, Any],
    prefix: str,
    errors: dict[str, list[str]],
    check: _Check,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code, value in given.items():
        path = f"{prefix}.{_printable(code)}"
        item = items.get(code)
        if item is None:
            errors[path] = ["Unknown item."]
            continue
        if value is None:
            out[code] = None
            continue
        if check.unknown is not None and item.get("safety") and value == check.unknown:
            out[code] = check.unknown
            continue
        try:
            out[code] = _clean_value(item, value, check)
        except ValueError as exc:
            message = str(exc)
            if check.unknown is not None and item.get("safety"):
                message += f' Or "{check.unknown}" when they refuse or do not know.'
            errors[path] = [message]
    return out


# Control characters a text answer may hold: tab and line breaks. NUL and the rest cannot be stored
# (PostgreSQL refuses NUL in text), nor can a lone half of a UTF-16 surrogate pair.
_TEXT_CONTROLS_ALLOWED = frozenset("\t\n\r")
EARLIEST_DATE = date(1900, 1, 1)


def _check_text(value: str) -> None:
    if value.isprintable():
        return
    for ch in value:
        if ch in _TEXT_CONTROLS_ALLOWED:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            raise ValueError("Must not contain control characters such as NUL.")
        if category == "Cs":
            raise ValueError("Must not contain unpaired surrogate characters.")


def _clean_value(item: dict[str, Any], value: Any, check: _Check) -> Any:  # noqa: C901 - one branch per item type
    kind = item["type"]
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("Must be true or false.")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("Must be a whole number.")
        _check_range(item, value)
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("Must be a number.")
        if isinstance(value, int):
            _check_range(item, value)  # before float(): a 400-digit integer overflows a float
            return value
        if isinstance(value, str):
            _check_text(value)
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise ValueError("Must be a number.") from None
        if not math.isfinite(number):
            raise ValueError("Must be a finite number.")
        _check_range(item, number)
        return int(number) if number.is_integer() else number
    if kind == "choice":
        allowed = [c for c, _ in item["choices"]]
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"Choose one of: {', '.join(allowed)}.")
        return value
    if kind == "multi":
        allowed = [c for c, _ in item["choices"]]
        if not isinstance(value, list) or not all(isinstance(v, str) and v in allowed for v in value):
            raise ValueError(f"Must be a list of: {', '.join(allowed)}.")
        return sorted(set(value), key=allowed.index)
    if kind == "slugs":
        if (
            not isinstance(value, list)
            or len(value) > 20
            or not all(isinstance(v, str) and _SLUG.match(v) for v in value)
        ):
            raise ValueError("Must be a list of up to 20 lower-case codes.")
        return sorted(set(value))
    if kind == "text":
        if not isinstance(value, str):
            raise ValueError("Must be text.")
        if len(value) > int(item.get("max_length", 500)):
            raise ValueError(f"At most {item.get('max_length', 500)} characters.")
        _check_text(value)
        return value.strip()
    if kind == "postal_code":
        if not isinstance(value, str):
            raise ValueError("Must be a five-digit ZIP code.")
        five = postal_code_five(value) if len(value) <= 10 else ""
        if not five:
            raise ValueError("Must be a five-digit ZIP code.")
        if place_of_postal_code(five) is None:
            raise ValueError(f"{five} is not a US ZIP code we know.")
        return five
    if kind == "date":
        parsed_date = _parse_or_none(parse_date, value)
        if parsed_date is None:
            raise ValueError("Must be a date as YYYY-MM-DD.")
        if parsed_date < EARLIEST_DATE:
            raise ValueError(f"Must be on or after {EARLIEST_DATE.isoformat()}.")
        if parsed_date > timezone.localdate(check.now):
            raise ValueError("Must not be in the future.")
        return parsed_date.isoformat()
    if kind == "datetime":
        parsed = _parse_or_none(parse_datetime, value)
        if parsed is None:
            raise ValueError("Must be a date and time as YYYY-MM-DDTHH:MM (ISO 8601).")
        if parsed.date() < EARLIEST_DATE:
            raise ValueError(f"Must be on or after {EARLIEST_DATE.isoformat()}.")
        if timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed)
        tolerance = timedelta(minutes=int(check.form.threshold_or("future_tolerance_minutes", "5")))
        if parsed > check.now + tolerance:
            raise ValueError("Must not be in the future.")
        return parsed.isoformat()
    raise ValueError(f"Unknown item type {kind!r}.")  # pragma: no cover - the form is ours


def _parse_or_none(parse: Any, value: Any) -> Any:
    """A date or datetime parsed from text, or None (out-of-range parts raise in Django's parsers)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return parse(value)
    except (ValueError, OverflowError):
        return None


def _check_range(item: dict[str, Any], number: float) -> None:
    if "min" in item and number < item["min"]:
        raise ValueError(f"Must be at least {item['min']}.")
    if "max" in item and number > item["max"]:
        raise ValueError(f"Must be at most {item['max']}.")


def definition_load(version: int | None = None, data: dict[str, Any] | None = None) -> FormDefinition:
    """A form by version from this module (or from a stored row's JSON when ``data`` is given)."""
    if data is not None:
        return FormDefinition(data)
    return FormDefinition(FORMS[version or LATEST_VERSION])


def answer_datetime(value: Any) -> datetime | None:
    """A stored datetime answer back as a datetime."""
    return _parse_or_none(parse_datetime, value)


def answer_date(value: Any) -> date | None:
    return _parse_or_none(parse_date, value)
