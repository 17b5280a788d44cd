"""Ranking every active program against a plain description of what a person needs.

Programs know nothing of inquiries or screenings: the caller (admissions' screening
service) turns a screen into ``Needs``. Every program comes back, either with the
reasons it fits or the reasons it is excluded, in this order of importance:

1. level fit: withdrawal management and the treatment level run concurrently. A program
   fits when it provides either or both: a withdrawal-management level at or above the
   withdrawal minimum, or a treatment level at or above the treatment minimum (a level of
   an integrated edition, ASAM 4th, provides both). When withdrawal management must come
   first (not ambulatory, or a safety flag), a program without it does not fit;
2. capacity free now, else when the next bed or slot frees;
3. payer accepted (or self-pay accepted);
4. eligibility: age range and gender;
5. specialties: required ones exclude; the clinical needs that follow from the answers and
   the ones asked for rank;
6. distance from the person, when known (beyond their maximum travel distance excludes).

Included programs rank by: providing both parts first, closeness of level (least intensive
that fits first), clinical-need specialties (needs in their order of priority: the first need
met outranks any later ones), specialties asked for, preferred setting, distance, and free
units. When nothing fits, the result proposes referring out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from programs.catalogue import INTEGRATED_EDITIONS
from programs.models import Program, Setting
from programs.selectors import ProgramFacts, program_facts_active

# Screening modifiers that need a program specialty (codes of programs.Specialty rows).
MODIFIER_SPECIALTIES: dict[str, str] = {"co_occurring_enhanced": "co-occurring", "biomedical": "medical"}
HOSPITAL = Decimal("4.0")
FLOOR = Decimal("1.0")
EARTH_RADIUS_KM = 6371.0
KM_PER_MILE = 1.609344


@dataclass(frozen=True)
class Needs:
    """What a person needs from a program, with no reference to where it came from.

    ``min_intensity`` is the least intensity of the first placement. With withdrawal management
    needed, ``withdrawal_min`` is its own minimum and ``treatment_min`` the treatment level's
    (both default to ``min_intensity``); ``withdrawal_first`` says the first placement must
    provide withdrawal management, else it can run alongside the treatment program.
    """

    min_intensity: Decimal
    withdrawal_management: bool = False
    withdrawal_min: Decimal | None = None
    treatment_min: Decimal | None = None
    withdrawal_first: bool = True
    co_occurring_enhanced: bool = False
    # Specialties that follow from the answers, each with why: (specialty code, need in words).
    preferred_specialties: tuple[tuple[str, str], ...] = ()
    payer_id: int | None = None
    payer_name: str = ""
    self_pay: bool = False
    age: int | None = None
    gender: str | None = None  # "woman", "man" or anything else (then single-gender programs do not fit)
    specialties_wanted: frozenset[str] = frozenset()
    latitude: float | None = None
    longitude: float | None = None
    state: str = ""
    preferred_settings: tuple[str, ...] = ()
    max_distance_miles: float | None = None

    @property
    def specialties_required(self) -> frozenset[str]:
        required = set()
        if self.co_occurring_enhanced:
            required.add(MODIFIER_SPECIALTIES["co_occurring_enhanced"])
        return frozenset(required)

    @property
    def withdrawal_minimum(self) -> Decimal | None:
        if not self.withdrawal_management:
            return None
        return self.withdrawal_min if self.withdrawal_min is not None else self.min_intensity

    @property
    def treatment_minimum(self) -> Decimal:
        return self.treatment_min if self.treatment_min is not None else self.min_intensity

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class ProgramMatch:
    program_id: int
    program_name: str
    facility_id: int
    facility_name: str
    level_code: str
    level_name: str
    level_edition: str
    intensity: Decimal
    setting: str
    rank: int
    excluded: bool
    reasons: tuple[str, ...]
    exclusion_reasons: tuple[str, ...]
    free_now: int
    next_free_on: date | None
    distance_km: float | None
    # Which part of the care it provides: "both", "withdrawal", "treatment" (empty when excluded).
    provides: str = ""

    @property
    def distance_miles(self) -> float | None:
        return round(self.distance_km / KM_PER_MILE, 1) if self.distance_km is not None else None

    @property
    def only_full(self) -> bool:
        """Excluded for no other reason than having no bed or slot free: one to wait for."""
        return self.excluded and all(r.startswith(("no beds", "no slots")) for r in self.exclusion_reasons)


@dataclass(frozen=True)
class MatchResult:
    matches: tuple[ProgramMatch, ...]
    refer_out: bool
    refer_out_reason: str = ""
    needs: Needs | None = field(default=None, compare=False)
    # Why no program is recommended yet ("incomplete", "emergency"), and in words.
    withheld: str = ""
    withheld_reason: str = ""

    @property
    def top(self) -> ProgramMatch | None:
        return next((m for m in self.matches if not m.excluded), None)


def matches_withheld(*, why: str, reason: str) -> MatchResult:
    """No program list at all: the screen is not ready for one (incomplete, or an emergency now)."""
    return MatchResult(matches=(), refer_out=False, withheld=why, withheld_reason=reason)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _day(d: date) -> str:
    return f"{d.day} {d:%b}"


def _meets(level: str, have: Decimal, need: Decimal) -> str:
    if have == need:
        return f"{level} meets required {need}"
    return f"{level} above required {need} (more intensive than needed)"


def _level_fit(
    needs: Needs, p: ProgramFacts, reasons: list[str], excluded: list[str]
) -> tuple[int, Decimal, str]:
    """Whether the program's level fits, as (tier, gap, provides): tier 0 provides both parts of the
    care (or all that is needed), tier 1 one of two; gap is how much more intensive than needed."""
    level = f"level {p.level_code}"
    integrated = p.withdrawal_management and p.level_edition in INTEGRATED_EDITIONS
    hospital = p.intensity >= HOSPITAL
    treat_min, wm_min = needs.treatment_minimum, needs.withdrawal_minimum
    gives_treatment = (not p.withdrawal_management or integrated or hospital) and p.intensity >= treat_min
    if wm_min is None:
        if gives_treatment:
            reasons.append(_meets(level, p.intensity, treat_min))
            return 0, p.intensity - treat_min, "treatment"
        if p.withdrawal_management and p.intensity >= treat_min:
            excluded.append(f"{level} is withdrawal management, which is not needed")
        else:
            excluded.append(f"{level} below required {treat_min}")
        return 9, Decimal(99), ""
    gives_withdrawal = (p.withdrawal_management or hospital) and p.intensity >= wm_min
    if gives_withdrawal and gives_treatment:
        need = max(treat_min, wm_min)
        reasons.append(f"{_meets(level, p.intensity, need)}: withdrawal management and treatment in one")
        return 0, p.intensity - need, "both"
    if gives_withdrawal:
        reasons.append(f"{_meets(level, p.intensity, wm_min)} for withdrawal management")
        if treat_min > FLOOR:
            reasons.append(f"treatment at level {treat_min} or above to follow")
        return 1, p.intensity - wm_min, "withdrawal"
    if gives_treatment and not needs.withdrawal_first:
        reasons.append(_meets(level, p.intensity, treat_min))
        reasons.append(f"withdrawal management (at least {wm_min}, ambulatory) alongside")
        return 1, p.intensity - treat_min, "treatment"
    if needs.withdrawal_first and p.intensity < needs.min_intensity:
        excluded.append(f"{level} below required {needs.min_intensity}")
    elif gives_treatment:
        excluded.append(f"{level} has no withdrawal management, which is needed")
    else:
        need = wm_min if p.withdrawal_management and not integrated else min(treat_min, wm_min)
        excluded.append(f"{level} below required {need}")
    return 9, Decimal(99), ""


def _capacity(p: ProgramFacts, reasons: list[str], excluded: list[str]) -> None:
    if p.free_now > 0:
        reasons.append(f"{p.free_now} {p.unit}{'s' if p.free_now != 1 else ''} free now")
    elif p.next_free_on is not None:
        excluded.append(f"no {p.unit}s until {_day(p.next_free_on)} ({p.next_free_because})")
    else:
        excluded.append(f"no {p.unit}s free and no discharge or hold end expected")


def _payer(needs: Needs, p: ProgramFacts, payer_label: str, reasons: list[str], excluded: list[str]) -> None:
    if needs.payer_id is not None:
        name = payer_label
        if needs.payer_id in p.payer_ids:
            reasons.append(f"accepts {name}")
        elif needs.self_pay and p.accepts_self_pay:
            reasons.append(f"does not accept {name}; self-pay accepted")
        else:
            excluded.append(f"does not accept {name}")
    elif needs.self_pay:
        if p.accepts_self_pay:
            reasons.append("accepts self-pay")
        else:
            excluded.append("does not accept self-pay")
    else:
        reasons.append("payer not known yet")


def _eligibility(needs: Needs, p: ProgramFacts, reasons: list[str], excluded: list[str]) -> None:
    if needs.age is not None:
        if needs.age < p.min_age:
            excluded.append(f"age {needs.age} below the program's minimum {p.min_age}")
        elif p.max_age is not None and needs.age > p.max_age:
            excluded.append(f"age {needs.age} above the program's maximum {p.max_age}")
    if p.gender != Program.Gender.ANY:
        wanted = {"women": "woman", "men": "man"}[p.gender]
        label = "women" if p.gender == Program.Gender.WOMEN else "men"
        if needs.gender is None:
            reasons.append(f"{label} only (gender not recorded yet)")
        elif needs.gender != wanted:
            excluded.append(f"{label} only")


def _specialties(
    needs: Needs, required: frozenset[str], p: ProgramFacts, reasons: list[str], excluded: list[str]
) -> tuple[tuple[int, ...], int]:
    """(for each clinical need in priority order, 0 when the program meets it else 1; the number of
    specialties asked for that it offers)."""
    for code in sorted(required):
        if code in p.specialties:
            reasons.append(f"offers {code} (needed)")
        else:
            excluded.append(f"does not offer {code}, which is needed")
    met = []
    for code, why in needs.preferred_specialties:
        offered = code in p.specialties and code not in required
        if offered:
            reasons.append(f"offers {code}: {why}")
        met.append(0 if offered else 1)
    wanted = sorted(needs.specialties_wanted & p.specialties)
    if wanted:
        reasons.append(f"offers {', '.join(wanted)} (asked for)")
    return tuple(met), len(wanted)


def _distance(
    needs: Needs, p: ProgramFacts, reasons: list[str], excluded: list[str], cache: dict[int, float]
) -> float | None:
    if needs.located and p.latitude is not None and p.longitude is not None:
        km = cache.get(p.facility_id)
        if km is None:  # one computation per facility, not per program
            km = cache[p.facility_id] = haversine_km(
                needs.latitude,  # type: ignore[arg-type]  # located
                needs.longitude,  # type: ignore[arg-type]
                p.latitude,
                p.longitude,
            )
        miles = km / KM_PER_MILE
        if needs.max_distance_miles is not None and miles > needs.max_distance_miles:
            excluded.append(
                f"{miles:.0f} miles away, beyond the {needs.max_distance_miles:g} miles they can travel"
            )
        else:
            reasons.append(f"{miles:.0f} miles away")
        return km
    if needs.located:
        reasons.append("distance not known (the facility has no location)")
    elif needs.state:
        reasons.append(
            "in their state" if needs.state == p.facility_state else f"out of state ({p.facility_state})"
        )
    return None


def _distance_key(needs: Needs, p: ProgramFacts, km: float | None) -> tuple[int, float]:
    """Nearer first; with no distance, in-state before out-of-state, and unknown distances last."""
    if km is not None:
        return 0, km
    if needs.located:
        return 2, 0.0
    return (0 if needs.state and needs.state == p.facility_state else 1), 0.0


def rank(*, needs: Needs, programs: Sequence[ProgramFacts]) -> MatchResult:
    """Rank programs for ``needs``; pure (no queries), so it can be tested and timed on its own."""
    scored = []
    payer_label = needs.payer_name or f"payer #{needs.payer_id}"
    if needs.payer_id is not None:
        payer_label = next(
            (p.payer_names[needs.payer_id] for p in programs if needs.payer_id in p.payer_names), payer_label
        )
    required = needs.specialties_required
    preferred_codes = {code for code, _ in needs.preferred_specialties}
    distances: dict[int, float] = {}
    for p in programs:
        reasons: list[str] = []
        excluded: list[str] = []
        tier, gap, provides = _level_fit(needs, p, reasons, excluded)
        _capacity(p, reasons, excluded)
        _payer(needs, p, payer_label, reasons, excluded)
        _eligibility(needs, p, reasons, excluded)
        met, wanted = _specialties(needs, required, p, reasons, excluded)
        km = _distance(needs, p, reasons, excluded, distances)
        preferred = p.setting in needs.preferred_settings
        if preferred:
            reasons.append(f"a setting they prefer ({Setting(p.setting).label})")
        key = (
            bool(excluded),
            len(excluded),
            tier,
            gap,
            met,
            -wanted,
            not preferred,
            _distance_key(needs, p, km),
            # Keep specialised places for the people who need them.
            len(p.specialties - required - preferred_codes - needs.specialties_wanted),
            -p.free_now,
            p.facility_name,
            p.name,
            p.id,
        )
        scored.append((key, p, tuple(reasons), tuple(excluded), km, provides))
    scored.sort(key=lambda s: s[0])
    matches = tuple(
        ProgramMatch(
            program_id=p.id,
            program_name=p.name,
            facility_id=p.facility_id,
            facility_name=p.facility_name,
            level_code=p.level_code,
            level_name=p.level_name,
            level_edition=p.level_edition,
            intensity=p.intensity,
            setting=p.setting,
            rank=index,
            excluded=bool(excluded),
            reasons=reasons if not excluded else (),
            exclusion_reasons=excluded,
            free_now=p.free_now,
            next_free_on=p.next_free_on,
            distance_km=round(km, 1) if km is not None else None,
            provides=provides if not excluded else "",
        )
        for index, (_, p, reasons, excluded, km, provides) in enumerate(scored, start=1)
    )
    if any(not m.excluded for m in matches):
        return MatchResult(matches=matches, refer_out=False, needs=needs)
    what = f"level {needs.min_intensity}" + (
        " with withdrawal management" if needs.withdrawal_management and needs.withdrawal_first else ""
    )
    reason = (
        f"No internal program fits ({what}); propose referring out."
        if matches
        else "No active programs; propose referring out."
    )
    return MatchResult(matches=matches, refer_out=True, refer_out_reason=reason, needs=needs)


def programs_match(*, needs: Needs, at: datetime | None = None) -> MatchResult:
    """Rank every active program of every facility for ``needs`` (a constant 3 queries)."""
    payers = [needs.payer_id] if needs.payer_id is not None else []
    return rank(needs=needs, programs=program_facts_active(at=at, payer_ids=payers))
