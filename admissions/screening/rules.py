"""The pre-screen rules, in plain Python a clinical reviewer can read next to docs/screening.md.

Order of work, always the same:

1. Safety overrides, first. Each one names the action to take now, the stage the inquiry
   goes to, and the least intensive level it allows. Nothing later can go below it.
2. Six dimension ratings (0-4). Each rating sets a MINIMUM level through the form's table;
   dimension 1 sets the withdrawal-management level, the others the treatment level.
3. The treatment minimum is the MAXIMUM of every minimum (never an average), then
   person-centred factors may raise it (never lower it). Withdrawal management runs
   alongside it when it is ambulatory, and comes first when it is not (or a flag says so).
4. Modifiers (withdrawal management, co-occurring-enhanced, biomedical) and the clinical
   needs that choose the program within the level (pregnancy, medication for opioid use
   disorder, co-occurring care, enhanced medical care).

A refused or not-known answer to a safety item (``UNKNOWN``), and a follow-up left unanswered
after a positive screening question, count as the risk they could be: a clinician decides.

Every rule that fires adds a plain-language reason tied to the answers. This module does
no I/O: it reads answers, a form definition and the time, and returns data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from admissions.catalogue import SUBSTANCES
from admissions.pipeline import Stage
from admissions.screening.definition import DIMENSIONS, UNKNOWN, FormDefinition, answer_datetime

HOSPITAL = Decimal("4.0")
MEDICALLY_MONITORED = Decimal("3.7")
FLOOR = Decimal("1.0")

SUBSTANCE_NAMES = {code: name for code, name, *_ in SUBSTANCES}
# Daily use of these can cause seizures or delirium on stopping.
SEDATIVE_CLASS = ("alcohol", "benzodiazepines", "barbiturates", "baclofen", "carisoprodol")
# The sedative withdrawal flag looks at these (gabapentinoids only at a high dose).
WITHDRAWAL_FLAG_CLASSES = (*SEDATIVE_CLASS, "gabapentinoids")
OPIOIDS = ("rx_opioids", "heroin_fentanyl")
GABAPENTINOIDS = ("gabapentin", "pregabalin")

WHY_SEIZURES = "stopping suddenly can cause seizures"
_WHY = {
    "alcohol": "stopping suddenly can cause seizures or DTs",
    "benzodiazepines": WHY_SEIZURES,
    "barbiturates": WHY_SEIZURES,
    "baclofen": "stopping abruptly can cause seizures, delirium, high fever and muscle breakdown",
    "carisoprodol": WHY_SEIZURES,
    "gabapentinoids": WHY_SEIZURES,
}
COUNTED_AS_YES = "counted as yes until a clinician decides"


class Flag:
    """Codes of the safety overrides."""

    EMERGENCY_NOW = "emergency_now"
    SUICIDE_RISK = "suicide_risk"
    BACLOFEN_PUMP = "baclofen_pump"
    SEDATIVE_WITHDRAWAL = "sedative_withdrawal"
    PREGNANCY_WITHDRAWAL = "pregnancy_withdrawal"
    SEVERE_PSYCHIATRIC = "severe_psychiatric"


# What staff read for each flag: the timeline, the banner, the review queue and sign-off.
FLAG_LABELS = {
    Flag.EMERGENCY_NOW: "Emergency now",
    Flag.SUICIDE_RISK: "Suicide risk",
    Flag.BACLOFEN_PUMP: "Baclofen pump problem",
    Flag.SEDATIVE_WITHDRAWAL: "Sedative withdrawal risk",
    Flag.PREGNANCY_WITHDRAWAL: "Pregnancy with withdrawal risk",
    Flag.SEVERE_PSYCHIATRIC: "Severe psychiatric symptoms",
}


class Modifier:
    WITHDRAWAL_MANAGEMENT = "withdrawal_management"
    CO_OCCURRING_ENHANCED = "co_occurring_enhanced"
    BIOMEDICAL = "biomedical"


class Need:
    """Clinical needs that follow from the answers; each prefers programs with a specialty."""

    PREGNANCY = "pregnancy"
    OPIOID_MEDICATION = "opioid_medication"
    CO_OCCURRING = "co_occurring"
    MEDICAL = "medical"


NEED_LABELS = {
    Need.PREGNANCY: "care in pregnancy",
    Need.OPIOID_MEDICATION: "medication for opioid use disorder",
    Need.CO_OCCURRING: "co-occurring mental-health care",
    Need.MEDICAL: "enhanced medical care",
}


@dataclass(frozen=True)
class SafetyFlag:
    code: str
    action: str
    reason: str
    minimum_intensity: Decimal
    withdrawal_management: bool
    route_to: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "action": self.action,
            "reason": self.reason,
            "minimum_intensity": str(self.minimum_intensity),
            "withdrawal_management": self.withdrawal_management,
            "route_to": self.route_to,
        }


@dataclass(frozen=True)
class DimensionRating:
    dimension: int
    rating: int
    minimum_intensity: Decimal
    reasons: tuple[str, ...]
    # Dimension 1 only: the withdrawal-management level its rating needs (None: none).
    withdrawal_minimum: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "name": DIMENSIONS[self.dimension],
            "rating": self.rating,
            "minimum_intensity": str(self.minimum_intensity),
            "withdrawal_minimum": str(self.withdrawal_minimum) if self.withdrawal_minimum else None,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class ClinicalNeed:
    code: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": NEED_LABELS.get(self.code, self.code), "reason": self.reason}


@dataclass(frozen=True)
class RulesOutcome:
    form_version: int
    complete: bool
    missing_safety: tuple[str, ...]
    flags: tuple[SafetyFlag, ...]
    ratings: tuple[DimensionRating, ...]
    # The least intensity of the first placement: the treatment minimum, or the withdrawal
    # minimum when withdrawal management must come first (whichever is higher).
    minimum_intensity: Decimal
    withdrawal_management: bool
    modifiers: tuple[str, ...]
    reasons: tuple[str, ...]
    treatment_minimum: Decimal = FLOOR
    withdrawal_minimum: Decimal | None = None
    withdrawal_first: bool = False
    needs: tuple[ClinicalNeed, ...] = ()

    @property
    def emergency(self) -> bool:
        return any(f.code == Flag.EMERGENCY_NOW for f in self.flags)

    @property
    def recommendable(self) -> bool:
        """Programs are recommended only for a complete screen, and never during an emergency."""
        return self.complete and not self.emergency

    def to_json(self) -> dict[str, Any]:
        return {
            "form_version": self.form_version,
            "complete": self.complete,
            "missing_safety": list(self.missing_safety),
            "safety_flags": [f.to_json() for f in self.flags],
            "ratings": [r.to_json() for r in self.ratings],
            "minimum_intensity": str(self.minimum_intensity),
            "treatment_minimum": str(self.treatment_minimum),
            "withdrawal_minimum": str(self.withdrawal_minimum) if self.withdrawal_minimum else None,
            "withdrawal_first": self.withdrawal_first,
            "withdrawal_management": self.withdrawal_management,
            "modifiers": list(self.modifiers),
            "needs": [n.to_json() for n in self.needs],
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Use:
    """One substance as the caller described it; ``*_unknown`` when they refused or did not know."""

    code: str
    days: int | None
    amount: float | None
    unit: str | None
    drug: str
    route: str | None
    last_use: datetime | None
    prescribed: bool | None
    agent: str | None
    months: int | None = None
    days_unknown: bool = False
    amount_unknown: bool = False
    unit_unknown: bool = False
    last_use_unknown: bool = False
    # Taking both gabapentinoids: each one's mg a day (None: not known).
    doses: tuple[tuple[str, float | None], ...] = ()

    @property
    def name(self) -> str:
        agent = "gabapentin and pregabalin" if self.agent == "both" else self.agent
        if agent == UNKNOWN:
            agent = None
        return self.drug or agent or SUBSTANCE_NAMES.get(self.code, self.code).lower()

    @property
    def days_counted(self) -> int | None:
        """Days used in the last 30; not known counts as every day."""
        return 30 if self.days_unknown else self.days

    def dose(self) -> str:
        if self.amount is None:
            return ""
        unit = self.unit or ""
        if unit == "drinks" and self.amount == 1:
            unit = "drink"
        return f"{self.amount:g} {unit}".strip()


def _positive(value: Any) -> bool:
    """Yes, or refused / not known (which counts as the risk it could be)."""
    return value is True or value == UNKNOWN


@dataclass
class _Context:
    form: FormDefinition
    answers: dict[str, Any]
    uses: dict[str, Use]
    daily_days: int
    regular_days: int
    now: datetime
    flags: list[SafetyFlag] = field(default_factory=list)

    def get(self, section: str, item: str) -> Any:
        given = self.answers.get(section)
        return given.get(item) if isinstance(given, dict) else None

    def pos(self, section: str, item: str) -> bool:
        return _positive(self.get(section, item))

    def followup_counts(self, section: str, trigger: str, item: str) -> bool:
        """A follow-up counts as yes when answered yes or not known, or when it is left unanswered
        after its screening question was positive (the rule for every safety follow-up)."""
        value = self.get(section, item)
        return _positive(value) or (value is None and self.pos(section, trigger))

    @property
    def substances_unknown(self) -> bool:
        return self.get("use", "substances_30d") == UNKNOWN

    @property
    def anything_used(self) -> bool:
        return bool(self.uses) or self.substances_unknown

    def is_daily(self, code: str) -> bool:
        use = self.uses.get(code)
        days = use.days_counted if use else None
        return days is not None and days >= self.daily_days

    def is_regular(self, code: str) -> bool:
        use = self.uses.get(code)
        days = use.days_counted if use else None
        return days is not None and days >= self.regular_days

    def on_opioid_medication(self) -> bool:
        mat = self.get("withdrawal", "mat_now")
        return isinstance(mat, list) and bool({"methadone", "buprenorphine"} & set(mat))

    def frequency(self, code: str) -> str:
        use = self.uses[code]
        if use.days_unknown:
            return "Days of use not known (counted as daily):"
        days = use.days
        if days is None:
            return "Uses"
        if days >= 28:
            return "Daily"
        if days >= self.daily_days:
            return f"Almost daily ({days} of the last 30 days)"
        return f"On {days} of the last 30 days"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def uses_from_answers(answers: dict[str, Any]) -> dict[str, Use]:
    """Substances used in the last 30 days: those listed, plus grid rows with days of use."""
    listed_answer = (answers.get("use") or {}).get("substances_30d")
    listed = list(listed_answer) if isinstance(listed_answer, list) else []
    grid = answers.get("substances") or {}
    codes = [
        *listed,
        *(
            c
            for c, row in grid.items()
            if isinstance(row, dict)
            and (row.get("days_used_30") == UNKNOWN or (_number(row.get("days_used_30")) or 0) > 0)
        ),
    ]
    uses: dict[str, Use] = {}
    for code in dict.fromkeys(codes):
        row = grid.get(code) or {}
        days = row.get("days_used_30")
        days_number = _number(days)
        months = _number(row.get("duration_months"))
        unit = row.get("unit")
        agent = row.get("agent")
        uses[code] = Use(
            code=code,
            days=int(days_number) if days_number is not None else None,
            amount=_number(row.get("amount_per_day")),
            unit=unit if isinstance(unit, str) and unit != UNKNOWN else None,
            drug=(row.get("drug") or "").strip() if isinstance(row.get("drug"), str) else "",
            route=row.get("route"),
            last_use=answer_datetime(row.get("last_use")),
            prescribed=row.get("prescribed"),
            agent=agent if isinstance(agent, str) else None,
            months=int(months) if months is not None else None,
            days_unknown=days == UNKNOWN,
            amount_unknown=row.get("amount_per_day") == UNKNOWN,
            unit_unknown=unit == UNKNOWN,
            last_use_unknown=row.get("last_use") == UNKNOWN,
            doses=tuple((name, _number(row.get(f"{name}_mg_per_day"))) for name in GABAPENTINOIDS),
        )
    return uses


# --- 1. safety overrides --------------------------------------------------------------------

_EMERGENCY_ITEMS = (
    ("overdose_now", "may have overdosed or is hard to wake"),
    ("seizure_now", "is having (or just had) a seizure"),
    ("chest_pain", "has chest pain or trouble breathing"),
    ("confused_now", "is confused or hallucinating now"),
    ("fever_rigidity", "has a high fever with rigid muscles"),
)


def _flag_emergency(ctx: _Context) -> None:
    said = [label for item, label in _EMERGENCY_ITEMS if ctx.get("emergency", item) is True]
    unknown = [label for item, label in _EMERGENCY_ITEMS if ctx.get("emergency", item) == UNKNOWN]
    if not (said or unknown):
        return
    parts = []
    if said:
        parts.append(f"Caller says the person {' and '.join(said)}.")
    if unknown:
        parts.append(
            f"Not known whether the person {' or '.join(unknown)} ({COUNTED_AS_YES}): "
            "ask the caller to check on them now."
        )
    ctx.flags.append(
        SafetyFlag(
            code=Flag.EMERGENCY_NOW,
            action="Call 911 now (or have the caller call) and send to the nearest emergency department. "
            "Stay on the line until help arrives.",
            reason=" ".join(parts),
            minimum_intensity=HOSPITAL,
            withdrawal_management=False,
            route_to=Stage.CRISIS_ROUTED,
        )
    )


_SUICIDE_FOLLOWUPS = (
    ("method", "has thought about how they would do it"),
    ("intent", "has some intention to act"),
    ("plan", "has worked out (or started to work out) a plan"),
)


def _flag_suicide(ctx: _Context) -> None:
    found = [label for item, label in _SUICIDE_FOLLOWUPS if ctx.get("suicide", item) is True]
    if ctx.get("suicide", "recent_behaviour") is True:
        found.append("has done something in the past three months to end their life or prepare to")
    refused = [item for item, _ in _SUICIDE_FOLLOWUPS if ctx.get("suicide", item) == UNKNOWN]
    if ctx.get("suicide", "recent_behaviour") == UNKNOWN:
        refused.append("recent behaviour")
    thoughts = ctx.get("suicide", "thoughts")
    unanswered = (
        [item for item, _ in _SUICIDE_FOLLOWUPS if ctx.get("suicide", item) is None]
        if thoughts is True
        else []
    )
    if not (found or refused or unanswered or thoughts == UNKNOWN):
        return
    said = []
    if found:
        said.append(f"the person {'; '.join(found)}")
    if thoughts == UNKNOWN:
        said.append("will not say (or the caller does not know) whether they think of suicide")
    elif thoughts is True and not found:
        said.append("thoughts of suicide in the past month")
    if unanswered:
        said.append(f"{_and(unanswered)} not answered")
    if refused:
        said.append(f"{_and(refused)} refused or not known")
    counted = f"; {COUNTED_AS_YES}" if unanswered or refused or thoughts == UNKNOWN else ""
    ctx.flags.append(
        SafetyFlag(
            code=Flag.SUICIDE_RISK,
            action="Call or text 988 with the person now (911 if they are in immediate danger) "
            "and bring a clinician onto the call now.",
            reason=f"Suicide screen: {'; '.join(said)}{counted}.",
            minimum_intensity=HOSPITAL,
            withdrawal_management=False,
            route_to=Stage.CRISIS_ROUTED,
        )
    )


def _and(words: Sequence[str]) -> str:
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]


def _flag_baclofen_pump(ctx: _Context) -> None:
    pump = ctx.get("medical", "baclofen_pump")
    if not _positive(pump) or not ctx.followup_counts("medical", "baclofen_pump", "baclofen_pump_problem"):
        return
    problem = ctx.get("medical", "baclofen_pump_problem")
    if pump == UNKNOWN:
        reason = (
            "Not known whether they have an intrathecal baclofen pump, nor whether it is failing; "
            f"{COUNTED_AS_YES}."
        )
    elif problem is True:
        reason = (
            "Intrathecal baclofen pump that is alarming, late for refill, or with new itching, "
            "fever, stiffness or confusion."
        )
    else:
        state = "not known" if problem == UNKNOWN else "not answered"
        reason = (
            "Intrathecal baclofen pump; whether it is alarming, late for refill, or causing new itching, "
            f"fever, stiffness or confusion is {state}; {COUNTED_AS_YES}."
        )
    ctx.flags.append(
        SafetyFlag(
            code=Flag.BACLOFEN_PUMP,
            action="Send to the emergency department now: a failing baclofen pump can cause "
            "life-threatening withdrawal.",
            reason=reason,
            minimum_intensity=HOSPITAL,
            withdrawal_management=True,
            route_to=Stage.CRISIS_ROUTED,
        )
    )


def _gabapentinoid_dose(ctx: _Context, use: Use) -> tuple[bool, str]:
    """Whether a gabapentinoid dose is high, and the dose in words (a dose not known counts as high).

    Two at once add up: each dose as a share of its own high-dose line, high from a whole line."""
    agent = use.agent
    if agent in (None, UNKNOWN):
        named = [name for name in GABAPENTINOIDS if name in use.drug.lower()]
        agent = "both" if len(named) == 2 else (named[0] if named else None)
    if agent == "both":
        doses = dict(use.doses)
    elif agent in GABAPENTINOIDS:
        known = use.unit == "mg" and not use.amount_unknown
        doses = {agent: use.amount if known else None}
    else:
        return (
            True,
            "gabapentin or pregabalin, dose in mg not known; treated as high-dose until a clinician checks",
        )
    if any(dose is None for dose in doses.values()):
        return (
            True,
            f"{_and(list(doses))}, dose in mg not known; treated as high-dose until a clinician checks",
        )
    lines = {name: ctx.form.threshold(f"{name}_high_mg_per_day") for name in doses}
    load = sum(Decimal(str(dose)) / lines[name] for name, dose in doses.items())
    said = " and ".join(f"{name} {dose:g} mg" for name, dose in doses.items())
    if len(doses) == 1:
        [(name, _dose)] = doses.items()
        return load >= 1, f"{said} a day (at or above {lines[name]:g} mg)"
    limits = " or ".join(f"{lines[name]:g} mg {name}" for name in doses)
    return load >= 1, f"{said} a day (together at or above the high-dose line of {limits})"


def _cessation(ctx: _Context, code: str, use: Use) -> str:
    """Why stopping recently after regular use for months still carries withdrawal risk, or "".

    Monotone by construction: a more recent last use, more days of use, a longer history or
    symptoms now can only make it fire. The 30-day count cannot tell "every day until three
    weeks ago" from "spread over the month", so within the window both count (the safe side)."""
    symptoms = ctx.pos("withdrawal", "symptoms_now")
    window = ctx.form.withdrawal_window(code, drug=use.drug, symptoms_now=symptoms)
    if window is None:
        return ""
    if use.last_use_unknown:
        since = 0
    elif use.last_use is None:
        return ""
    else:
        since = max(0, (timezone.localdate(ctx.now) - timezone.localdate(use.last_use)).days)
    days = use.days_counted
    if since > window.days or days is None:
        return ""
    # Daily use up to a stop at the end of the window leaves this many days in the last 30. No floor of
    # "regular use": a long-acting window (28 days with symptoms) leaves fewer days than that.
    need = max(1, math.ceil(ctx.daily_days * (30 - window.days) / 30))
    min_months = ctx.form.threshold_or("dependence_months", "1")
    if days < need or (use.months is not None and use.months < min_months):
        return ""
    when = (
        "last use not known"
        if use.last_use_unknown
        else f"last used {since} day{'s' if since != 1 else ''} ago"
    )
    months = f"for {use.months} months" if use.months is not None else "for a time not known"
    kind = f"{'long-acting ' if window.long_acting else ''}{SUBSTANCE_NAMES.get(code, code).lower()}"
    now = ", with withdrawal symptoms now" if symptoms else ""
    return (
        f"{use.name.capitalize()} on {days} of the last 30 days {months}, {when}: withdrawal can still "
        f"begin or peak up to {window.days} days after the last dose ({kind}{now})."
    )


def _flag_sedative_withdrawal(ctx: _Context) -> None:
    reasons: list[str] = []
    if ctx.substances_unknown:
        reasons.append(
            "What they use is not known (refused or not known); possible sedative withdrawal, "
            f"{COUNTED_AS_YES}."
        )
    min_drinks = ctx.form.threshold("alcohol_daily_min_drinks")
    for code in WITHDRAWAL_FLAG_CLASSES:
        use = ctx.uses.get(code)
        if use is None:
            continue
        dose = ""
        if code == "gabapentinoids":
            high, dose = _gabapentinoid_dose(ctx, use)
            if not high:
                continue
        elif code == "alcohol" and use.unit == "drinks" and use.amount is not None:
            if Decimal(str(use.amount)) < min_drinks:
                continue
        if ctx.is_daily(code):
            if code == "gabapentinoids":
                reasons.append(f"{ctx.frequency(code)} {dose}; {_WHY[code]}.")
            elif code == "alcohol":
                amount = f" ({use.dose()} a day)" if use.amount is not None else ""
                reasons.append(f"{ctx.frequency(code)} drinking{amount}; {_WHY[code]}.")
            else:
                amount = f" {use.dose()}" if use.amount is not None else ""
                reasons.append(f"{ctx.frequency(code)} {use.name}{amount}; {_WHY[code]}.")
            continue
        stopped = _cessation(ctx, code, use)
        if stopped:
            reasons.append(f"{stopped}{f' Dose: {dose}.' if dose else ''} {_WHY[code].capitalize()}.")
    if ctx.anything_used:
        for item, what in (("past_seizures", "a seizure"), ("past_dts", "DTs or delirium")):
            value = ctx.get("withdrawal", item)
            if value is True:
                reasons.append(
                    f"Had {what} when stopping before; the next withdrawal can be as bad or worse."
                )
            elif value == UNKNOWN:
                reasons.append(f"Not known whether stopping ever caused {what}; {COUNTED_AS_YES}.")
    if not reasons:
        return
    if ctx.get("medical", "seizure_disorder") is True:
        reasons.append("Has a seizure disorder: withdrawal can trigger seizures.")
    ctx.flags.append(
        SafetyFlag(
            code=Flag.SEDATIVE_WITHDRAWAL,
            action="Medically managed withdrawal (3.7-WM) or hospital only. Do not book PHP, IOP or "
            "clinically managed residential first; tell the person not to stop suddenly on their own.",
            reason=" ".join(reasons),
            minimum_intensity=MEDICALLY_MONITORED,
            withdrawal_management=True,
            route_to=Stage.CLINICAL_REVIEW,
        )
    )


def _flag_pregnancy(ctx: _Context) -> None:
    pregnant = ctx.get("medical", "pregnant")
    if pregnant not in ("yes", "unsure", UNKNOWN):
        return
    symptoms = ctx.pos("withdrawal", "symptoms_now")
    found = [code for code in (*OPIOIDS, "alcohol") if ctx.is_daily(code) or (symptoms and code in ctx.uses)]
    if not found and not ctx.substances_unknown:
        return
    what = ", ".join(f"{ctx.frequency(c).lower()} {ctx.uses[c].name}" for c in found)
    if ctx.substances_unknown:
        what = ", ".join(filter(None, [what, "substances not known"]))
    state = {"yes": "Pregnant", "unsure": "May be pregnant"}.get(pregnant, "Pregnancy not known")
    ctx.flags.append(
        SafetyFlag(
            code=Flag.PREGNANCY_WITHDRAWAL,
            action="Arrange a medical and obstetric evaluation today. Do not advise stopping opioids "
            "suddenly; medication treatment is the usual care in pregnancy.",
            reason=f"{state}, with withdrawal risk from {what}.",
            minimum_intensity=MEDICALLY_MONITORED,
            withdrawal_management=True,
            route_to=Stage.CLINICAL_REVIEW,
        )
    )


def _flag_severe_psychiatric(ctx: _Context) -> None:
    found = []
    for item, label in (
        ("psychosis_now", "hears or sees things or holds frightening beliefs when not intoxicated"),
        ("severe_symptoms", "mental-health symptoms so severe they cannot look after themselves"),
    ):
        value = ctx.get("psychiatric", item)
        if value is True:
            found.append(label)
        elif value == UNKNOWN:
            found.append(f"not known whether the person {label} ({COUNTED_AS_YES})")
    if found:
        ctx.flags.append(
            SafetyFlag(
                code=Flag.SEVERE_PSYCHIATRIC,
                action="A clinician reviews today: co-occurring-enhanced program "
                "or psychiatric inpatient care.",
                reason=f"Severe co-occurring symptoms: {'; '.join(found)}.",
                minimum_intensity=Decimal("3.5"),
                withdrawal_management=False,
                route_to=Stage.CLINICAL_REVIEW,
            )
        )


SAFETY_RULES = (
    _flag_emergency,
    _flag_suicide,
    _flag_baclofen_pump,
    _flag_sedative_withdrawal,
    _flag_pregnancy,
    _flag_severe_psychiatric,
)


# --- 2. dimension ratings ---------------------------------------------------------------------


def _rate(ctx: _Context, dimension: int, findings: Iterable[tuple[int, str]]) -> DimensionRating:
    findings = list(findings)
    rating = max((r for r, _ in findings), default=0)
    rating = min(rating, 4)
    reasons = tuple(text for r, text in sorted(findings, key=lambda f: -f[0]) if r > 0)
    withdrawal = ctx.form.withdrawal_minimum(rating) if dimension == 1 else None
    return DimensionRating(
        dimension, rating, ctx.form.dimension_minimum(dimension, rating), reasons, withdrawal
    )


def _dimension_1(ctx: _Context) -> DimensionRating:
    found: list[tuple[int, str]] = []
    if any(ctx.pos("emergency", i) for i in ("overdose_now", "seizure_now", "confused_now")):
        found.append((4, "Intoxication or withdrawal emergency now."))
    if any(f.code == Flag.SEDATIVE_WITHDRAWAL for f in ctx.flags):
        found.append((3, "Sedative-hypnotic withdrawal risk (see the safety flag)."))
    mat = ctx.on_opioid_medication()
    for code in OPIOIDS:
        if code not in ctx.uses:
            continue
        use, freq = ctx.uses[code], ctx.frequency(code)
        if ctx.is_daily(code) and not mat:
            severe = code == "heroin_fentanyl"
            found.append(
                (
                    3 if severe else 2,
                    f"{freq} {use.name} {use.dose()}, no opioid treatment medication; "
                    f"withdrawal needs {'medical monitoring' if severe else 'management'}.".replace(
                        "  ", " "
                    ),
                )
            )
        elif ctx.is_daily(code):
            found.append((2, f"{freq} {use.name} on top of opioid treatment medication."))
        else:
            found.append((1, f"{freq} {use.name}."))
    for code in SEDATIVE_CLASS:
        if code in ctx.uses and ctx.is_regular(code) and not ctx.is_daily(code):
            found.append((2, f"{ctx.frequency(code)} {ctx.uses[code].name}: some withdrawal risk."))
    if ctx.anything_used and ctx.pos("withdrawal", "past_hallucinations"):
        found.append((2, "Saw or heard things in a past withdrawal (or not known)."))
    if ctx.pos("withdrawal", "symptoms_now") and (
        any(ctx.is_daily(c) for c in ctx.uses) or ctx.substances_unknown
    ):
        found.append((2, "In withdrawal now after daily use (or not known)."))
    if ctx.substances_unknown:
        found.append((1, "What they use is not known."))
    for code in ctx.uses:
        found.append((1, f"{ctx.frequency(code)} {ctx.uses[code].name}."))
    return _rate(ctx, 1, found)


_CONDITIONS = {
    "seizure_disorder": "seizure disorder",
    "heart": "heart disease",
    "liver": "liver disease",
    "kidney": "kidney disease",
    "diabetes": "diabetes",
    "lung": "lung disease",
    "head_injury": "head injury",
    "infection": "an infection now",
}


def _dimension_2(ctx: _Context) -> DimensionRating:
    found: list[tuple[int, str]] = []
    if ctx.pos("emergency", "chest_pain") or ctx.pos("emergency", "fever_rigidity"):
        found.append((4, "Medical emergency now."))
    conditions = [label for item, label in _CONDITIONS.items() if ctx.get("medical", item) is True]
    daily_sedative = [c for c in SEDATIVE_CLASS if ctx.is_daily(c)]
    injecting = (
        any(u.route == "injected" for u in ctx.uses.values()) or ctx.get("relapse", "injection_use") is True
    )
    if ctx.get("medical", "seizure_disorder") is True and daily_sedative:
        found.append(
            (3, "Seizure disorder with daily sedative or alcohol use: withdrawal can trigger seizures.")
        )
    if ctx.is_daily("alcohol") and (
        ctx.get("medical", "liver") is True or ctx.get("medical", "heart") is True
    ):
        found.append((3, "Daily drinking with liver or heart disease needs medical monitoring."))
    if ctx.get("medical", "infection") is True and injecting:
        found.append(
            (3, "An infection now with injection use (abscess, heart-valve or blood infection risk).")
        )
    if ctx.get("medical", "pregnant") in ("yes", "unsure", UNKNOWN):
        if any(ctx.is_daily(c) for c in ctx.uses) or ctx.substances_unknown:
            found.append((3, "Pregnant (or may be) with daily substance use."))
        else:
            found.append((2, "Pregnant (or may be)."))
    if ctx.pos("medical", "baclofen_pump"):
        found.append(
            (3, "Has an intrathecal baclofen pump (or not known): needs a medical team that can manage it.")
        )
    if len(conditions) >= 2:
        found.append((2, f"Several health conditions: {', '.join(conditions)}."))
    elif conditions:
        found.append((1, f"Health condition: {conditions[0]}."))
    if ctx.get("medical", "chronic_pain") is True:
        found.append((1, "Chronic pain."))
    return _rate(ctx, 2, found)


def _dimension_3(ctx: _Context) -> DimensionRating:
    found: list[tuple[int, str]] = []
    if any(f.code == Flag.SUICIDE_RISK for f in ctx.flags):
        found.append((4, "Suicide risk with method, intent, plan or recent behaviour (or not answered)."))
    if ctx.pos("suicide", "thoughts"):
        found.append((3, "Thoughts of suicide in the past month."))
    if any(f.code == Flag.SEVERE_PSYCHIATRIC for f in ctx.flags):
        found.append((3, "Severe psychiatric symptoms now."))
    if ctx.pos("suicide", "wish_dead"):
        found.append((2, "Wished to be dead in the past month."))
    if ctx.get("psychiatric", "hospitalised_12m") is True:
        found.append((2, "Psychiatric hospital stay in the last 12 months."))
    if ctx.get("psychiatric", "cognitive_impairment") == "severe":
        found.append((2, "Severe memory or thinking problems."))
    if ctx.get("psychiatric", "history") is True:
        found.append((1, "Mental-health history."))
    if ctx.get("psychiatric", "cognitive_impairment") == "mild":
        found.append((1, "Mild memory or thinking problems."))
    return _rate(ctx, 3, found)


def _dimension_4(ctx: _Context) -> DimensionRating:
    found: list[tuple[int, str]] = []
    stage = ctx.get("readiness", "stage")
    who = ctx.get("readiness", "who_wants")
    if stage == "not_ready":
        found.append((3, "Says they are not ready."))
    elif stage == "ambivalent":
        found.append((2, "Unsure about treatment."))
    if isinstance(who, list) and "self" not in who:
        found.append(
            (2 if stage == "not_ready" else 1, "Treatment is wanted by others, not (yet) the person.")
        )
    rating = _rate(ctx, 4, found)
    if stage == "not_ready" and isinstance(who, list) and "self" not in who:
        rating = DimensionRating(4, 4, ctx.form.dimension_minimum(4, 4), rating.reasons)
    return rating


def _dimension_5(ctx: _Context) -> DimensionRating:
    points: list[tuple[int, str]] = []
    # Medication taken as prescribed is not continued use (the safety flags still look at it).
    counted = [c for c, u in ctx.uses.items() if u.prescribed is not True]
    daily = [c for c in counted if ctx.is_daily(c)]
    regular = [c for c in counted if ctx.is_regular(c) and c not in daily]
    if daily:
        points.append((2, f"Daily use: {', '.join(ctx.uses[c].name for c in daily)}."))
    elif regular:
        points.append((1, f"Regular use: {', '.join(ctx.uses[c].name for c in regular)}."))
    if ctx.get("relapse", "overdose_12m") is True:
        points.append((2, "Overdosed in the last 12 months."))
    elif ctx.get("relapse", "overdose_ever") is True:
        points.append((1, "Has overdosed before."))
    if ctx.get("relapse", "injection_use") is True or any(u.route == "injected" for u in ctx.uses.values()):
        points.append((1, "Injects drugs."))
    if (ctx.get("relapse", "prior_treatment") or 0) > 0 and ctx.get("relapse", "prior_outcome") in (
        "relapsed",
        "left_early",
    ):
        points.append((1, "Used again after (or left) earlier treatment."))
    months = ctx.get("relapse", "longest_abstinence_months")
    if months is not None and months < ctx.form.threshold("short_abstinence_months"):
        points.append((1, f"Longest time without using: {months} month(s)."))
    rating = min(sum(p for p, _ in points), 4)
    return DimensionRating(5, rating, ctx.form.dimension_minimum(5, rating), tuple(t for _, t in points))


_LIVING = {
    "supportive": 0,
    "sober_living": 0,
    "alone": 1,
    "with_users": 2,
    "unstable": 3,
}
_LIVING_TEXT = {
    "alone": "Lives alone.",
    "with_users": "Lives with people who use.",
    "unstable": "Housing is unstable or they are homeless.",
}


def _dimension_6(ctx: _Context) -> DimensionRating:
    found: list[tuple[int, str]] = []
    living = ctx.get("environment", "living")
    if living in _LIVING_TEXT:
        found.append((_LIVING[living], _LIVING_TEXT[living]))
    if ctx.get("environment", "safe_at_home") is False:
        found.append((3, "Not safe at home."))
    base = max((r for r, _ in found), default=0)
    if ctx.get("environment", "sober_supports") is False:
        found.append((base + 1, "No one supporting their recovery."))
    return _rate(ctx, 6, found)


# --- 3 and 4. minimums, modifiers and needs ------------------------------------------------


def _needs(ctx: _Context, ratings: Sequence[DimensionRating], modifiers: Sequence[str]) -> list[ClinicalNeed]:
    needs = []
    pregnant = ctx.get("medical", "pregnant")
    if pregnant in ("yes", "unsure", UNKNOWN):
        needs.append(ClinicalNeed(Need.PREGNANCY, "Pregnant, or may be."))
    opioid = [c for c in OPIOIDS if c in ctx.uses and (ctx.is_daily(c) or c == "heroin_fentanyl")]
    if opioid or ctx.on_opioid_medication():
        said = ", ".join(ctx.uses[c].name for c in opioid) or "on methadone or buprenorphine"
        needs.append(ClinicalNeed(Need.OPIOID_MEDICATION, f"Opioid use ({said})."))
    if (
        ratings[2].rating >= 2
        or ctx.get("psychiatric", "history") is True
        or Modifier.CO_OCCURRING_ENHANCED in modifiers
    ):
        needs.append(ClinicalNeed(Need.CO_OCCURRING, "Mental-health symptoms or history."))
    if Modifier.BIOMEDICAL in modifiers:
        needs.append(ClinicalNeed(Need.MEDICAL, "Physical health needs (dimension 2)."))
    return needs


def evaluate(*, answers: dict[str, Any], form: FormDefinition, now: datetime | None = None) -> RulesOutcome:
    """Run the safety overrides, rate the six dimensions and combine them into provisional minimums."""
    ctx = _Context(
        form=form,
        answers=answers,
        uses=uses_from_answers(answers),
        daily_days=int(form.threshold("daily_days")),
        regular_days=int(form.threshold("regular_days")),
        now=now or timezone.now(),
    )
    for rule in SAFETY_RULES:
        rule(ctx)
    ratings = (
        _dimension_1(ctx),
        _dimension_2(ctx),
        _dimension_3(ctx),
        _dimension_4(ctx),
        _dimension_5(ctx),
        _dimension_6(ctx),
    )
    flags = ctx.flags
    # Treatment: every dimension's minimum and the flags that do not concern withdrawal.
    treatment_drivers: list[tuple[Decimal, str]] = [
        (f.minimum_intensity, f"Safety: {f.reason}") for f in flags if not f.withdrawal_management
    ]
    treatment_drivers += [
        (r.minimum_intensity, f"Dimension {r.dimension} ({DIMENSIONS[r.dimension].lower()}) rated {r.rating}")
        for r in ratings
    ]
    treatment = max(m for m, _ in treatment_drivers)
    reasons: list[str] = []
    preferred = ctx.get("readiness", "preferred_setting")
    preferred_min = form.setting_minimum(preferred) if isinstance(preferred, str) else None
    raised = ""
    if preferred_min is not None and preferred_min > treatment:
        raised = (
            f"Raised from {treatment} to {preferred_min}: the person prefers {preferred} (person-centred)."
        )
        treatment_drivers.append((preferred_min, f"the person prefers {preferred} (person-centred)"))
        treatment = preferred_min
    # Withdrawal management: dimension 1 and the flags that need it.
    withdrawal_drivers = [
        (f.minimum_intensity, f"Safety: {f.reason}") for f in flags if f.withdrawal_management
    ]
    if ratings[0].withdrawal_minimum is not None:
        withdrawal_drivers.append(
            (
                ratings[0].withdrawal_minimum,
                f"Dimension 1 ({DIMENSIONS[1].lower()}) rated {ratings[0].rating}",
            )
        )
    withdrawal = max((m for m, _ in withdrawal_drivers), default=None)
    ambulatory = form.threshold_or("ambulatory_withdrawal_max", "0")
    first = withdrawal is not None and (
        withdrawal > ambulatory or any(f.withdrawal_management for f in flags)
    )
    minimum = max(treatment, withdrawal) if first and withdrawal is not None else treatment
    drivers = treatment_drivers + (withdrawal_drivers if first else [])
    reasons += [f"Minimum {minimum} set by: {text}" for m, text in drivers if m == minimum and m > FLOOR]
    if raised:
        reasons.append(raised)
    elif preferred_min is not None and preferred_min < minimum:
        reasons.append(f"Prefers {preferred}, but {minimum} is the minimum the answers allow; not lowered.")
    if withdrawal is not None and first:
        reasons.append(
            f"Withdrawal management (at least {withdrawal}) comes first; "
            f"treatment at least {treatment} follows."
        )
    elif withdrawal is not None:
        reasons.append(
            f"Withdrawal management at least {withdrawal} (ambulatory) runs alongside treatment at least "
            f"{treatment}: dimension 1 sets the withdrawal level, the other dimensions the treatment level."
        )
    modifiers = []
    if withdrawal is not None:
        modifiers.append(Modifier.WITHDRAWAL_MANAGEMENT)
    if ratings[2].rating >= 3 or any(f.code == Flag.SEVERE_PSYCHIATRIC for f in flags):
        modifiers.append(Modifier.CO_OCCURRING_ENHANCED)
    if ratings[1].rating >= 2:
        modifiers.append(Modifier.BIOMEDICAL)
    missing = tuple(form.missing_safety(answers))
    return RulesOutcome(
        form_version=form.version,
        complete=not missing,
        missing_safety=missing,
        flags=tuple(flags),
        ratings=ratings,
        minimum_intensity=minimum,
        withdrawal_management=withdrawal is not None,
        modifiers=tuple(modifiers),
        reasons=tuple(reasons),
        treatment_minimum=treatment,
        withdrawal_minimum=withdrawal,
        withdrawal_first=first,
        needs=tuple(_needs(ctx, ratings, modifiers)),
    )


# --- levels ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelChoice:
    """A level of the catalogue as plain data (so level picking needs no database)."""

    id: int
    code: str
    name: str
    edition: str
    intensity: Decimal
    withdrawal_management: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "edition": self.edition,
            "intensity": str(self.intensity),
        }


def level_pick(
    *, levels: Sequence[LevelChoice], minimum: Decimal, withdrawal_management: bool
) -> LevelChoice | None:
    """The least intensive level at or above ``minimum`` (a withdrawal-management level when needed)."""
    fits = [
        lv
        for lv in levels
        if lv.intensity >= minimum and (lv.withdrawal_management or not withdrawal_management)
    ]
    if not fits:
        return max(levels, key=lambda lv: lv.intensity, default=None)
    # Prefer a level of the needed kind exactly (a WM level only when WM is needed).
    fits.sort(key=lambda lv: (lv.intensity, lv.withdrawal_management != withdrawal_management, lv.code))
    return fits[0]


def _treatment_pick(levels: Sequence[LevelChoice], minimum: Decimal) -> LevelChoice | None:
    """The least intensive level without withdrawal management at or above ``minimum``."""
    plain = [lv for lv in levels if not lv.withdrawal_management]
    fits = sorted((lv for lv in plain if lv.intensity >= minimum), key=lambda lv: (lv.intensity, lv.code))
    return fits[0] if fits else max(plain, key=lambda lv: lv.intensity, default=None)


@dataclass(frozen=True)
class LevelsChosen:
    """The provisional levels: the first placement, and its two concurrent parts."""

    provisional: LevelChoice | None
    withdrawal: LevelChoice | None
    treatment: LevelChoice | None
    # The 4th edition's integrated level (withdrawal management and treatment in one).
    integrated: LevelChoice | None

    def to_json(self) -> dict[str, Any]:
        return {
            name: level.to_json() if level else None
            for name, level in (
                ("provisional", self.provisional),
                ("withdrawal", self.withdrawal),
                ("treatment", self.treatment),
                ("integrated", self.integrated),
            )
        }


def levels_pick(
    *, outcome: RulesOutcome, levels: Sequence[LevelChoice], integrated: Sequence[LevelChoice] = ()
) -> LevelsChosen:
    """Pick the withdrawal level from its minimum and the treatment level from the highest minimum.

    The provisional (first placement) level is the withdrawal level when withdrawal management
    comes first, else the treatment level. ``integrated`` are the levels of an edition that folds
    withdrawal management into its levels (ASAM 4th edition: 1.7, 2.7, 3.7, 4)."""
    withdrawal = (
        level_pick(levels=levels, minimum=outcome.withdrawal_minimum, withdrawal_management=True)
        if outcome.withdrawal_minimum is not None
        else None
    )
    treatment = _treatment_pick(levels, outcome.treatment_minimum)
    if outcome.withdrawal_first:
        provisional = level_pick(levels=levels, minimum=outcome.minimum_intensity, withdrawal_management=True)
    else:
        provisional = treatment
    whole = (
        level_pick(
            levels=integrated,
            minimum=max(outcome.treatment_minimum, outcome.withdrawal_minimum or FLOOR),
            withdrawal_management=outcome.withdrawal_management,
        )
        if integrated
        else None
    )
    return LevelsChosen(provisional=provisional, withdrawal=withdrawal, treatment=treatment, integrated=whole)


def level_allows(
    *,
    intensity: Decimal,
    withdrawal_management: bool,
    flags: Iterable[SafetyFlag | dict[str, Any]],
) -> list[str]:
    """Why a level is below what the safety flags require (empty when it is allowed)."""
    problems = []
    for flag in flags:
        if isinstance(flag, dict):
            need, need_wm, reason = (
                Decimal(flag["minimum_intensity"]),
                bool(flag["withdrawal_management"]),
                flag["reason"],
            )
        else:
            need, need_wm, reason = flag.minimum_intensity, flag.withdrawal_management, flag.reason
        if intensity < need:
            problems.append(f"Level intensity {intensity} is below the minimum {need} required by: {reason}")
        elif need_wm and not withdrawal_management and intensity < HOSPITAL:
            problems.append(f"A withdrawal-management level (or hospital) is required by: {reason}")
    return problems
