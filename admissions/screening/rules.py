"""The pre-screen rules, in plain Python a clinical reviewer can read next to docs/screening.md.

Order of work, always the same:

1. Safety overrides, first. Each one names the action to take now, the stage the inquiry
   goes to, and the least intensive level it allows. Nothing later can go below it.
2. Six dimension ratings (0-4). Each rating sets a MINIMUM level through the form's table.
3. The provisional minimum is the MAXIMUM of every minimum (never an average), then
   person-centred factors may raise it (never lower it).
4. Modifiers: withdrawal management, co-occurring-enhanced, biomedical.

Every rule that fires adds a plain-language reason tied to the answers. This module does
no I/O: it reads answers and a form definition and returns data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from admissions.catalogue import SUBSTANCES
from admissions.pipeline import Stage
from admissions.screening.definition import DIMENSIONS, FormDefinition, answer_datetime

HOSPITAL = Decimal("4.0")
MEDICALLY_MONITORED = Decimal("3.7")
FLOOR = Decimal("1.0")

SUBSTANCE_NAMES = {code: name for code, name, *_ in SUBSTANCES}
# Daily use of these can cause seizures or delirium on stopping (gabapentinoids only at high dose).
SEDATIVE_CLASS = ("alcohol", "benzodiazepines", "barbiturates", "baclofen", "carisoprodol")
OPIOIDS = ("rx_opioids", "heroin_fentanyl")

WHY_SEIZURES = "stopping suddenly can cause seizures"
_WHY = {
    "alcohol": "stopping suddenly can cause seizures or DTs",
    "benzodiazepines": WHY_SEIZURES,
    "barbiturates": WHY_SEIZURES,
    "baclofen": "stopping abruptly can cause seizures, delirium, high fever and muscle breakdown",
    "carisoprodol": WHY_SEIZURES,
    "gabapentinoids": WHY_SEIZURES,
}


class Flag:
    """Codes of the safety overrides."""

    EMERGENCY_NOW = "emergency_now"
    SUICIDE_RISK = "suicide_risk"
    BACLOFEN_PUMP = "baclofen_pump"
    SEDATIVE_WITHDRAWAL = "sedative_withdrawal"
    PREGNANCY_WITHDRAWAL = "pregnancy_withdrawal"
    SEVERE_PSYCHIATRIC = "severe_psychiatric"


class Modifier:
    WITHDRAWAL_MANAGEMENT = "withdrawal_management"
    CO_OCCURRING_ENHANCED = "co_occurring_enhanced"
    BIOMEDICAL = "biomedical"


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

    def to_json(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "name": DIMENSIONS[self.dimension],
            "rating": self.rating,
            "minimum_intensity": str(self.minimum_intensity),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class RulesOutcome:
    form_version: int
    complete: bool
    missing_safety: tuple[str, ...]
    flags: tuple[SafetyFlag, ...]
    ratings: tuple[DimensionRating, ...]
    minimum_intensity: Decimal
    withdrawal_management: bool
    modifiers: tuple[str, ...]
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "form_version": self.form_version,
            "complete": self.complete,
            "missing_safety": list(self.missing_safety),
            "safety_flags": [f.to_json() for f in self.flags],
            "ratings": [r.to_json() for r in self.ratings],
            "minimum_intensity": str(self.minimum_intensity),
            "withdrawal_management": self.withdrawal_management,
            "modifiers": list(self.modifiers),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Use:
    """One substance as the caller described it."""

    code: str
    days: int | None
    amount: float | None
    unit: str | None
    drug: str
    route: str | None
    last_use: datetime | None
    prescribed: bool | None
    agent: str | None

    @property
    def name(self) -> str:
        return self.drug or self.agent or SUBSTANCE_NAMES.get(self.code, self.code).lower()

    def dose(self) -> str:
        if self.amount is None:
            return ""
        unit = self.unit or ""
        if unit == "drinks" and self.amount == 1:
            unit = "drink"
        return f"{self.amount:g} {unit}".strip()


@dataclass
class _Context:
    form: FormDefinition
    answers: dict[str, Any]
    uses: dict[str, Use]
    daily_days: int
    regular_days: int
    flags: list[SafetyFlag] = field(default_factory=list)

    def get(self, section: str, item: str) -> Any:
        return (self.answers.get(section) or {}).get(item)

    def is_daily(self, code: str) -> bool:
        use = self.uses.get(code)
        return use is not None and use.days is not None and use.days >= self.daily_days

    def is_regular(self, code: str) -> bool:
        use = self.uses.get(code)
        return use is not None and use.days is not None and use.days >= self.regular_days

    def on_opioid_medication(self) -> bool:
        return bool({"methadone", "buprenorphine"} & set(self.get("withdrawal", "mat_now") or []))

    def frequency(self, code: str) -> str:
        days = self.uses[code].days
        if days is None:
            return "Uses"
        if days >= 28:
            return "Daily"
        if days >= self.daily_days:
            return f"Almost daily ({days} of the last 30 days)"
        return f"On {days} of the last 30 days"


def uses_from_answers(answers: dict[str, Any]) -> dict[str, Use]:
    """Substances used in the last 30 days: those listed, plus grid rows with days of use."""
    listed = list((answers.get("use") or {}).get("substances_30d") or [])
    grid = answers.get("substances") or {}
    codes = [*listed, *(c for c, row in grid.items() if row and (row.get("days_used_30") or 0) > 0)]
    uses: dict[str, Use] = {}
    for code in dict.fromkeys(codes):
        row = grid.get(code) or {}
        uses[code] = Use(
            code=code,
            days=row.get("days_used_30"),
            amount=row.get("amount_per_day"),
            unit=row.get("unit"),
            drug=(row.get("drug") or "").strip(),
            route=row.get("route"),
            last_use=answer_datetime(row.get("last_use")),
            prescribed=row.get("prescribed"),
            agent=row.get("agent"),
        )
    return uses


# --- 1. safety overrides --------------------------------------------------------------------


def _flag_emergency(ctx: _Context) -> None:
    found = [
        label
        for item, label in (
            ("overdose_now", "may have overdosed or is hard to wake"),
            ("seizure_now", "is having (or just had) a seizure"),
            ("chest_pain", "has chest pain or trouble breathing"),
            ("confused_now", "is confused or hallucinating now"),
            ("fever_rigidity", "has a high fever with rigid muscles"),
        )
        if ctx.get("emergency", item) is True
    ]
    if found:
        ctx.flags.append(
            SafetyFlag(
                code=Flag.EMERGENCY_NOW,
                action="Call 911 now (or have the caller call) and send to the nearest emergency department. "
                "Stay on the line until help arrives.",
                reason=f"Caller says the person {' and '.join(found)}.",
                minimum_intensity=HOSPITAL,
                withdrawal_management=False,
                route_to=Stage.CRISIS_ROUTED,
            )
        )


def _flag_suicide(ctx: _Context) -> None:
    found = [
        label
        for item, label in (
            ("method", "has thought about how they would do it"),
            ("intent", "has some intention to act"),
            ("plan", "has worked out (or started to work out) a plan"),
            (
                "recent_behaviour",
                "has done something in the past three months to end their life or prepare to",
            ),
        )
        if ctx.get("suicide", item) is True
    ]
    if found:
        ctx.flags.append(
            SafetyFlag(
                code=Flag.SUICIDE_RISK,
                action="Call or text 988 with the person now (911 if they are in immediate danger) "
                "and bring a clinician onto the call now.",
                reason=f"Suicide screen: the person {'; '.join(found)}.",
                minimum_intensity=HOSPITAL,
                withdrawal_management=False,
                route_to=Stage.CRISIS_ROUTED,
            )
        )


def _flag_baclofen_pump(ctx: _Context) -> None:
    if ctx.get("medical", "baclofen_pump") is True and ctx.get("medical", "baclofen_pump_problem") is True:
        ctx.flags.append(
            SafetyFlag(
                code=Flag.BACLOFEN_PUMP,
                action="Send to the emergency department now: a failing baclofen pump can cause "
                "life-threatening withdrawal.",
                reason="Intrathecal baclofen pump that is alarming, late for refill, or with new itching, "
                "fever, stiffness or confusion.",
                minimum_intensity=HOSPITAL,
                withdrawal_management=True,
                route_to=Stage.CRISIS_ROUTED,
            )
        )


def _gabapentinoid_high(ctx: _Context) -> tuple[bool, str]:
    """Whether daily gabapentinoid use is high-dose, and why (an unknown dose counts as high)."""
    use = ctx.uses.get("gabapentinoids")
    if use is None or not ctx.is_daily("gabapentinoids"):
        return False, ""
    agent = use.agent or ("pregabalin" if "pregabalin" in use.drug.lower() else "")
    agent = agent or ("gabapentin" if "gabapentin" in use.drug.lower() else "")
    if use.unit != "mg" or use.amount is None or not agent:
        return True, (
            f"{ctx.frequency('gabapentinoids')} {agent or 'gabapentin or pregabalin'}, dose in mg not known; "
            f"treated as high-dose until a clinician checks, because {WHY_SEIZURES}."
        )
    limit = ctx.form.threshold(f"{agent}_high_mg_per_day")
    if Decimal(str(use.amount)) >= limit:
        return True, (
            f"{ctx.frequency('gabapentinoids')} {agent} {use.dose()} a day (at or above {limit:g} mg); "
            f"{WHY_SEIZURES}."
        )
    return False, ""


def _flag_sedative_withdrawal(ctx: _Context) -> None:
    reasons: list[str] = []
    min_drinks = ctx.form.threshold("alcohol_daily_min_drinks")
    for code in SEDATIVE_CLASS:
        if not ctx.is_daily(code):
            continue
        use = ctx.uses[code]
        if code == "alcohol":
            if use.unit == "drinks" and use.amount is not None and Decimal(str(use.amount)) < min_drinks:
                continue
            amount = f" ({use.dose()} a day)" if use.amount is not None else ""
            reasons.append(f"{ctx.frequency(code)} drinking{amount}; {_WHY[code]}.")
        else:
            dose = f" {use.dose()}" if use.amount is not None else ""
            reasons.append(f"{ctx.frequency(code)} {use.name}{dose}; {_WHY[code]}.")
    high, why = _gabapentinoid_high(ctx)
    if high:
        reasons.append(why)
    if ctx.uses:
        if ctx.get("withdrawal", "past_seizures") is True:
            reasons.append("Had a seizure when stopping before; the next withdrawal can be as bad or worse.")
        if ctx.get("withdrawal", "past_dts") is True:
            reasons.append(
                "Had DTs or delirium when stopping before; the next withdrawal can be as bad or worse."
            )
    if reasons:
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
    if pregnant not in ("yes", "unsure"):
        return
    symptoms = ctx.get("withdrawal", "symptoms_now") is True
    found = [code for code in (*OPIOIDS, "alcohol") if ctx.is_daily(code) or (symptoms and code in ctx.uses)]
    if not found:
        return
    what = ", ".join(f"{ctx.frequency(c).lower()} {ctx.uses[c].name}" for c in found)
    state = "Pregnant" if pregnant == "yes" else "May be pregnant"
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
    if ctx.get("psychiatric", "psychosis_now") is True:
        found.append("hears or sees things or holds frightening beliefs when not intoxicated")
    if ctx.get("psychiatric", "severe_symptoms") is True:
        found.append("mental-health symptoms so severe they cannot look after themselves")
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
    return DimensionRating(dimension, rating, ctx.form.dimension_minimum(dimension, rating), reasons)


def _dimension_1(ctx: _Context) -> DimensionRating:
    found: list[tuple[int, str]] = []
    if any(ctx.get("emergency", i) is True for i in ("overdose_now", "seizure_now", "confused_now")):
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
        if ctx.is_regular(code) and not ctx.is_daily(code):
            found.append((2, f"{ctx.frequency(code)} {ctx.uses[code].name}: some withdrawal risk."))
    if ctx.uses and ctx.get("withdrawal", "past_hallucinations") is True:
        found.append((2, "Saw or heard things in a past withdrawal."))
    if ctx.get("withdrawal", "symptoms_now") is True and any(ctx.is_daily(c) for c in ctx.uses):
        found.append((2, "In withdrawal now after daily use."))
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
    if ctx.get("emergency", "chest_pain") is True or ctx.get("emergency", "fever_rigidity") is True:
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
    if ctx.get("medical", "pregnant") in ("yes", "unsure"):
        if any(ctx.is_daily(c) for c in ctx.uses):
            found.append((3, "Pregnant (or may be) with daily substance use."))
        else:
            found.append((2, "Pregnant (or may be)."))
    if ctx.get("medical", "baclofen_pump") is True:
        found.append((3, "Has an intrathecal baclofen pump: needs a medical team that can manage it."))
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
        found.append((4, "Suicide risk with method, intent, plan or recent behaviour."))
    if ctx.get("suicide", "thoughts") is True:
        found.append((3, "Thoughts of suicide in the past month."))
    if any(f.code == Flag.SEVERE_PSYCHIATRIC for f in ctx.flags):
        found.append((3, "Severe psychiatric symptoms now."))
    if ctx.get("suicide", "wish_dead") is True:
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
    if who is not None and "self" not in who:
        found.append(
            (2 if stage == "not_ready" else 1, "Treatment is wanted by others, not (yet) the person.")
        )
    rating = _rate(ctx, 4, found)
    if stage == "not_ready" and who is not None and "self" not in who:
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


# --- 3 and 4. the provisional minimum and modifiers ---------------------------------------


def evaluate(*, answers: dict[str, Any], form: FormDefinition) -> RulesOutcome:
    """Run the safety overrides, rate the six dimensions and combine them into a provisional minimum."""
    ctx = _Context(
        form=form,
        answers=answers,
        uses=uses_from_answers(answers),
        daily_days=int(form.threshold("daily_days")),
        regular_days=int(form.threshold("regular_days")),
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
    minimum, reasons = FLOOR, []
    drivers: list[tuple[Decimal, str]] = [(f.minimum_intensity, f"Safety: {f.reason}") for f in ctx.flags]
    drivers += [
        (r.minimum_intensity, f"Dimension {r.dimension} ({DIMENSIONS[r.dimension].lower()}) rated {r.rating}")
        for r in ratings
    ]
    minimum = max(m for m, _ in drivers)
    reasons = [f"Minimum {minimum} set by: {text}" for m, text in drivers if m == minimum and m > FLOOR]
    preferred = ctx.get("readiness", "preferred_setting")
    preferred_min = form.setting_minimum(preferred) if preferred else None
    if preferred_min is not None and preferred_min > minimum:
        reasons.append(
            f"Raised from {minimum} to {preferred_min}: the person prefers {preferred} (person-centred)."
        )
        minimum = preferred_min
    elif preferred_min is not None and preferred_min < minimum:
        reasons.append(f"Prefers {preferred}, but {minimum} is the minimum the answers allow; not lowered.")
    wm = ratings[0].rating >= form.withdrawal_management_from_rating or any(
        f.withdrawal_management for f in ctx.flags
    )
    modifiers = []
    if wm:
        modifiers.append(Modifier.WITHDRAWAL_MANAGEMENT)
    if ratings[2].rating >= 3 or any(f.code == Flag.SEVERE_PSYCHIATRIC for f in ctx.flags):
        modifiers.append(Modifier.CO_OCCURRING_ENHANCED)
    if ratings[1].rating >= 2:
        modifiers.append(Modifier.BIOMEDICAL)
    missing = tuple(form.missing_safety(answers))
    return RulesOutcome(
        form_version=form.version,
        complete=not missing,
        missing_safety=missing,
        flags=tuple(ctx.flags),
        ratings=ratings,
        minimum_intensity=minimum,
        withdrawal_management=wm,
        modifiers=tuple(modifiers),
        reasons=tuple(reasons),
    )


@dataclass(frozen=True)
class LevelChoice:
    """A level of the catalogue as plain data (so level picking needs no database)."""

    id: int
    code: str
    name: str
    edition: str
    intensity: Decimal
    withdrawal_management: bool


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
