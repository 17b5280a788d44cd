"""Pre-screens for the demo's inquiries: answers a coordinator could have recorded, judged by the rules.

The answers are made up here; everything concluded from them is not. Each set of answers goes
through the current form's ``clean`` and the screening rules (``evaluate``, ``screening_levels``)
exactly as ``screening_save`` runs them, and the program an admission is scheduled into is the
best fit that ``programs.matching.rank`` finds among the inquiry's facility's programs.

The rules look at the clock only to count the days since a last use, so a result is reused for
answers that differ only in when they were given (same days since each last use) and in the
sections the rules do not read (insurance, logistics): a million inquiries need a few thousand
evaluations, not a million. ``tests/demo`` re-runs the rules on every seeded screening.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from admissions.screening.definition import FormDefinition
from admissions.screening.models import ScreeningForm
from admissions.screening.rules import Flag, Modifier, evaluate
from admissions.screening.services import screening_form_current, screening_levels
from programs.matching import Needs, rank
from programs.selectors import ProgramFacts, program_facts_active

SEDATIVES = frozenset(
    {"alcohol", "benzodiazepines", "barbiturates", "baclofen", "carisoprodol", "gabapentinoids"}
)
OPIOIDS = frozenset({"rx_opioids", "heroin_fentanyl"})

# How each substance is usually described on the phone: unit, amounts a day, the drug, routes.
USE_STYLE: dict[str, tuple[str, tuple[float, ...], tuple[str, ...], tuple[str, ...]]] = {
    "alcohol": ("drinks", (3, 5, 8, 12), ("",), ("oral",)),
    "rx_opioids": ("mg", (20, 40, 60, 90), ("oxycodone", "hydrocodone"), ("oral", "snorted")),
    "heroin_fentanyl": ("bags", (3, 5, 10), ("fentanyl", "heroin"), ("injected", "smoked", "snorted")),
    "benzodiazepines": ("mg", (2, 4, 6), ("alprazolam", "clonazepam", "lorazepam"), ("oral",)),
    "barbiturates": ("mg", (100, 200), ("butalbital",), ("oral",)),
    "baclofen": ("mg", (30, 60, 80), ("baclofen",), ("oral",)),
    "carisoprodol": ("mg", (700, 1050), ("carisoprodol",), ("oral",)),
    "gabapentinoids": ("mg", (900, 1800, 2400), ("gabapentin",), ("oral",)),
    "rx_stimulants": ("mg", (20, 40, 60), ("amphetamine salts", "methylphenidate"), ("oral", "snorted")),
    "stimulants": ("grams", (0.5, 1, 2), ("cocaine", "methamphetamine"), ("snorted", "smoked")),
    "cannabis": ("joints", (1, 3, 5), ("",), ("smoked",)),
    "other": ("pills", (2, 4), ("kratom",), ("oral",)),
}

# Stories by what the answers raise. A "clear" screen raises no safety flag.
CLEAR = "clear"
REVIEW_FLAGS = (Flag.SEDATIVE_WITHDRAWAL, Flag.PREGNANCY_WITHDRAWAL, Flag.SEVERE_PSYCHIATRIC)
CRISIS_FLAGS = (Flag.SUICIDE_RISK, Flag.EMERGENCY_NOW, Flag.BACLOFEN_PUMP)
_GENDER = {"female": "woman", "male": "man", "nonbinary": "nonbinary"}
# Days of the recall window the rules use for eligibility: only these bands change an outcome.
_AGE_BANDS = (21, 27, 55)


@dataclass(frozen=True)
class Judged:
    """A screening as the service would store it: answers, the rules' result and what follows."""

    answers: dict[str, Any]
    complete: bool
    result: dict[str, Any]
    provisional_level_id: int | None
    minimum_intensity: Decimal
    flags: tuple[str, ...]
    key: str

    @property
    def provisional_code(self) -> str | None:
        levels = self.result.get("levels") or {}
        provisional = levels.get("provisional") or {}
        return provisional.get("code")


@dataclass(frozen=True)
class Who:
    """What a screen knows of the person before it starts."""

    gender: str  # "female", "male", "nonbinary" or ""
    age: int
    state: str
    ok_to_text: bool | None
    ok_to_voicemail: bool | None


@dataclass(frozen=True)
class DemoScreen:
    """One inquiry's screening: its rules' verdict, when it was saved and signed, where its flag sent
    the inquiry (None: nowhere; the flag was raised on a stage that does not move)."""

    id: int
    judged: Judged
    created_t: int
    saved_t: int
    signed_t: int | None
    route_to: str | None
    route_reason: str

    @property
    def signed_at(self) -> int | None:
        return self.signed_t

    def row(self, *, inquiry_id: int, form_id: int, saved_by: int | None, signer: int) -> tuple[Any, ...]:
        """The row in ``demo.bulk.SCREENING_COLS`` order."""
        judged = self.judged
        signed = self.signed_t is not None
        return (
            self.id,
            inquiry_id,
            form_id,
            judged.answers,
            judged.complete,
            json.dumps(judged.result),
            judged.provisional_level_id,
            judged.minimum_intensity,
            json.dumps(list(judged.flags)),
            bool(judged.flags),
            datetime.fromtimestamp(self.created_t, UTC),
            datetime.fromtimestamp(self.saved_t, UTC),
            saved_by,
            judged.provisional_level_id if signed else None,
            signer if signed else None,
            datetime.fromtimestamp(self.signed_t, UTC) if self.signed_t is not None else None,
        )


def insurance_answers(payer: tuple[Any, ...]) -> dict[str, Any]:
    """The pre-screen's insurance section for a primary policy (id, name, self-pay, member id,
    group, subscriber relationship, subscriber name): what the caller said is what the policy holds."""
    if payer[2]:
        return {"self_pay": True, "payer_id": payer[0], "payer_name": payer[1]}
    return {
        "self_pay": False,
        "payer_id": payer[0],
        "payer_name": payer[1],
        "member_id": payer[3],
        "group_number": payer[4],
        "subscriber_name": payer[6],
    }


class Screener:
    """Answers for a story, judged by the current form's rules, with the results cached."""

    def __init__(self, *, rng: random.Random) -> None:
        self.rng = rng
        self.form_row: ScreeningForm = screening_form_current()
        self.form: FormDefinition = self.form_row.loaded()
        self.cache: dict[str, tuple[dict[str, Any], Decimal, int | None]] = {}
        self.facts = program_facts_active()
        self.rank_cache: dict[tuple[Any, ...], int | None] = {}
        self.evaluations = 0

    # -- answers

    def answers(
        self,
        *,
        story: str,
        substances: Sequence[str],
        person: Who,
        saved_at: datetime,
        complete: bool,
        insurance: dict[str, Any],
    ) -> dict[str, Any]:
        """What a coordinator records for ``story`` (``complete``: every safety item, else only the
        items asked before the flag was raised)."""
        rand = self.rng.random
        pick = self.rng.choice
        codes = [c for c in USE_STYLE if c in substances] or ["alcohol"]
        woman = person.gender == "female"
        if story == Flag.SEDATIVE_WITHDRAWAL and not SEDATIVES & set(codes):
            codes.append("alcohol")
        if story == Flag.PREGNANCY_WITHDRAWAL and not OPIOIDS & set(codes):
            codes.append("rx_opioids")
        if story == Flag.BACLOFEN_PUMP and "baclofen" not in codes:
            codes.append("baclofen")
        emergency = dict.fromkeys(
            ("overdose_now", "seizure_now", "chest_pain", "confused_now", "fever_rigidity"), False
        )
        if story == Flag.EMERGENCY_NOW:
            emergency[pick(("overdose_now", "confused_now", "chest_pain"))] = True
        suicide: dict[str, Any] = {"wish_dead": False, "thoughts": False, "recent_behaviour": False}
        if story == Flag.SUICIDE_RISK:
            suicide = {
                "wish_dead": True,
                "thoughts": True,
                "method": True,
                "intent": rand() < 0.3,
                "plan": rand() < 0.6,
                "recent_behaviour": rand() < 0.3,
            }
        medical: dict[str, Any] = {
            "pregnant": "yes"
            if story == Flag.PREGNANCY_WITHDRAWAL
            else ("no" if woman else "not_applicable"),
            "baclofen_pump": story == Flag.BACLOFEN_PUMP,
        }
        if story == Flag.BACLOFEN_PUMP:
            medical["baclofen_pump_problem"] = True
        answers: dict[str, Any] = {"emergency": emergency}
        if story in CRISIS_FLAGS and not complete:
            # The flag came up early in the call: the sections asked after it stay empty.
            if story == Flag.SUICIDE_RISK:
                answers["suicide"] = suicide
            elif story == Flag.BACLOFEN_PUMP:
                answers["medical"] = medical
            return answers
        answers["use"] = {"substances_30d": codes}
        answers["substances"] = {c: self._use(c, story, saved_at) for c in codes}
        daily_opioid = any(answers["substances"][c]["days_used_30"] >= 20 for c in codes if c in OPIOIDS)
        answers["withdrawal"] = {
            "past_seizures": story == Flag.SEDATIVE_WITHDRAWAL and rand() < 0.15,
            "past_dts": False,
            "past_hallucinations": False,
            "symptoms_now": daily_opioid and rand() < 0.5,
            "prior_supervised_detox": rand() < 0.3,
            "mat_now": ["buprenorphine"] if daily_opioid and rand() < 0.25 else [],
        }
        answers["medical"] = {**medical, "chronic_pain": rand() < 0.15, "seizure_disorder": False}
        answers["psychiatric"] = {
            "history": story == Flag.SEVERE_PSYCHIATRIC or rand() < 0.35,
            "psychosis_now": story == Flag.SEVERE_PSYCHIATRIC,
            "severe_symptoms": False,
            "hospitalised_12m": story == Flag.SEVERE_PSYCHIATRIC and rand() < 0.5,
            "cognitive_impairment": "none",
        }
        answers["suicide"] = suicide
        answers["readiness"] = {
            "who_wants": pick((["self"], ["self"], ["self", "family"], ["family"])),
            "stage": pick(("ready", "ready", "ambivalent")),
            "willing_settings": pick(
                (["residential", "php"], ["php", "iop"], ["iop", "op"], ["withdrawal", "residential"])
            ),
        }
        answers["relapse"] = {
            "prior_treatment": pick((0, 0, 1, 2)),
            "prior_outcome": pick(("none", "relapsed", "left_early")),
            "longest_abstinence_months": pick((1, 3, 6, 12)),
            "overdose_ever": rand() < 0.15,
            "overdose_12m": False,
            "naloxone_at_home": rand() < 0.4,
        }
        answers["environment"] = {
            "living": pick(("supportive", "supportive", "alone", "with_users")),
            "safe_at_home": True,
            "sober_supports": rand() < 0.7,
            "work": pick(("employed", "employed", "unemployed", "student")),
        }
        answers["insurance"] = insurance
        logistics: dict[str, Any] = {"state": person.state} if person.state else {}
        if person.gender:
            logistics["gender"] = _GENDER[person.gender]
        for code, value in (("ok_to_text", person.ok_to_text), ("ok_to_voicemail", person.ok_to_voicemail)):
            if value is not None:
                logistics[code] = value
        if logistics:
            answers["logistics"] = logistics
        return answers

    def _use(self, code: str, story: str, saved_at: datetime) -> dict[str, Any]:
        """One substance row: sedatives stay below regular use unless the story is their withdrawal."""
        pick = self.rng.choice
        unit, amounts, drugs, routes = USE_STYLE[code]
        if story == Flag.SEDATIVE_WITHDRAWAL and code in SEDATIVES:
            days = pick((25, 28, 30))
        elif story == Flag.PREGNANCY_WITHDRAWAL and code in OPIOIDS:
            days = pick((25, 30))
        elif code in ("benzodiazepines", "barbiturates"):
            # A long-acting agent taken daily until four weeks ago leaves 2 days in the last 30, so
            # only a single day of use is clear of the withdrawal flag.
            days = 1
        elif code in SEDATIVES:
            days = pick((2, 4, 6))  # too few for a withdrawal flag within their shorter windows
        else:
            days = pick((5, 10, 20, 30))
        amount = pick(amounts)
        row: dict[str, Any] = {
            "days_used_30": days,
            "amount_per_day": amount,
            "unit": unit,
            "duration_months": pick((3, 6, 12, 24, 60)),
            "route": pick(routes),
            "last_use": (saved_at - timedelta(days=pick((0, 1, 2)), hours=pick((2, 6, 12)))).isoformat(),
        }
        if drugs[0]:
            row["drug"] = pick(drugs)
        if code in ("rx_opioids", "benzodiazepines", "baclofen", "gabapentinoids", "rx_stimulants"):
            row["prescribed"] = code == "baclofen" or self.rng.random() < 0.3
        if code == "gabapentinoids":
            row["agent"] = "gabapentin"
            row["gabapentin_mg_per_day"] = amount
        return row

    # -- the rules

    def judge(self, *, answers: dict[str, Any], saved_at: datetime) -> Judged:
        """Clean the answers and run the rules on them as ``screening_save`` does (at ``saved_at``)."""
        cleaned = self.form.clean(answers, now=saved_at + timedelta(minutes=1))
        self.form.check_together(cleaned)
        key = self._key(cleaned, saved_at)
        found = self.cache.get(key)
        if found is None:
            outcome = evaluate(answers=cleaned, form=self.form, now=saved_at)
            chosen = screening_levels(form=self.form, outcome=outcome) if outcome.complete else None
            result = outcome.to_json()
            result["levels"] = chosen.to_json() if chosen else None
            level_id = chosen.provisional.id if chosen and chosen.provisional else None
            found = (result, outcome.minimum_intensity, level_id)
            self.cache[key] = found
            self.evaluations += 1
        result, minimum, level_id = found
        return Judged(
            answers=cleaned,
            complete=bool(result["complete"]),
            result=result,
            provisional_level_id=level_id,
            minimum_intensity=minimum,
            flags=tuple(f["code"] for f in result["safety_flags"]),
            key=key,
        )

    def _key(self, answers: dict[str, Any], saved_at: datetime) -> str:
        """The answers the rules read, with each last use as the days before ``saved_at`` they count."""
        today = timezone.localdate(saved_at)
        relevant = {k: v for k, v in answers.items() if k not in ("insurance", "logistics")}
        grid = {}
        for code, row in (relevant.get("substances") or {}).items():
            row = dict(row)
            last = row.get("last_use")
            if isinstance(last, str):
                when = datetime.fromisoformat(last)
                row["last_use"] = (today - timezone.localdate(when.astimezone(UTC))).days
            grid[code] = row
        if grid:
            relevant["substances"] = grid
        return json.dumps(relevant, sort_keys=True, default=str)

    # -- matching

    def program_for(
        self,
        *,
        judged: Judged,
        facility_id: int,
        person: Who,
        payer_id: int | None,
        self_pay: bool,
        room: dict[int, int] | None,
        exclude: int | None = None,
    ) -> int | None:
        """The best-ranked program of the facility for the screen's needs (``room``: free beds and
        slots now, for an admission being scheduled; None: capacity as it was, for past ones)."""
        band = sum(person.age >= b for b in _AGE_BANDS)
        key = (judged.key, facility_id, person.gender, band, payer_id, self_pay, exclude)
        if room is None and key in self.rank_cache:
            return self.rank_cache[key]
        result = judged.result
        mapping = self.form.need_specialties
        needs = Needs(
            min_intensity=Decimal(result.get("minimum_intensity") or "1.0"),
            withdrawal_management=bool(result.get("withdrawal_management")),
            withdrawal_min=Decimal(result["withdrawal_minimum"])
            if result.get("withdrawal_minimum")
            else None,
            treatment_min=Decimal(result["treatment_minimum"]) if result.get("treatment_minimum") else None,
            withdrawal_first=bool(result.get("withdrawal_first", True)),
            co_occurring_enhanced=Modifier.CO_OCCURRING_ENHANCED in (result.get("modifiers") or []),
            preferred_specialties=tuple(
                (mapping[n["code"]], n["code"]) for n in result.get("needs") or [] if n.get("code") in mapping
            ),
            payer_id=payer_id,
            self_pay=self_pay,
            age=person.age,
            gender=_GENDER.get(person.gender),
            state=person.state,
        )
        programs = [
            p._replace(free_now=room.get(p.id, 0) if room is not None else max(p.capacity, 1))
            for p in self.facts
            if p.facility_id == facility_id and p.id != exclude
        ]
        best = next(
            (m.program_id for m in rank(needs=needs, programs=programs).matches if not m.excluded), None
        )
        if room is None:
            self.rank_cache[key] = best
        return best

    def accepted_payers(self, program_id: int) -> frozenset[int]:
        return next(p.payer_ids for p in self.facts if p.id == program_id)

    def program_facts(self, program_id: int) -> ProgramFacts:
        return next(p for p in self.facts if p.id == program_id)
