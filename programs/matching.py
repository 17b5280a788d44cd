"""Ranking every active program against a plain description of what a person needs.

Programs know nothing of inquiries or screenings: the caller (admissions' screening
service) turns a screen into ``Needs``. Every program comes back, either with the
reasons it fits or the reasons it is excluded, in this order of importance:

1. level fit: at or above the required intensity, and a withdrawal-management level
   when withdrawal management is needed (and only then);
2. capacity free now, else when the next bed or slot frees;
3. payer accepted (or self-pay accepted);
4. eligibility: age range and gender;
5. specialties needed (required ones exclude, wanted ones rank);
6. distance from the person, when known.

Included programs rank by closeness of level (least intensive that fits first), then
wanted specialties, preferred setting, distance and free units. When nothing fits,
the result proposes referring out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from programs.models import Program, Setting
from programs.selectors import ProgramFacts, program_facts_active

# Screening modifiers that need a program specialty (codes of programs.Specialty rows).
MODIFIER_SPECIALTIES: dict[str, str] = {"co_occurring_enhanced": "co-occurring", "biomedical": "medical"}
HOSPITAL = Decimal("4.0")
EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Needs:
    """What a person needs from a program, with no reference to where it came from."""

    min_intensity: Decimal
    withdrawal_management: bool = False
    co_occurring_enhanced: bool = False
    biomedical: bool = False
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

    @property
    def specialties_required(self) -> frozenset[str]:
        required = set()
        if self.co_occurring_enhanced:
            required.add(MODIFIER_SPECIALTIES["co_occurring_enhanced"])
        return frozenset(required)


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


@dataclass(frozen=True)
class MatchResult:
    matches: tuple[ProgramMatch, ...]
    refer_out: bool
    refer_out_reason: str = ""
    needs: Needs | None = field(default=None, compare=False)

    @property
    def top(self) -> ProgramMatch | None:
        return next((m for m in self.matches if not m.excluded), None)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _day(d: date) -> str:
    return f"{d.day} {d:%b}"


def _level_fit(needs: Needs, p: ProgramFacts, reasons: list[str], excluded: list[str]) -> None:
    level = f"level {p.level_code}"
    if p.intensity < needs.min_intensity:
        excluded.append(f"{level} below required {needs.min_intensity}")
    elif needs.withdrawal_management and not p.withdrawal_management and p.intensity < HOSPITAL:
        excluded.append(f"{level} has no withdrawal management, which is needed")
    elif not needs.withdrawal_management and p.withdrawal_management:
        excluded.append(f"{level} is withdrawal management, which is not needed")
    elif p.intensity == needs.min_intensity:
        reasons.append(f"{level} meets required {needs.min_intensity}")
    else:
        reasons.append(f"{level} above required {needs.min_intensity} (more intensive than needed)")


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
) -> int:
    for code in sorted(required):
        if code in p.specialties:
            reasons.append(f"offers {code} (needed)")
        else:
            excluded.append(f"does not offer {code}, which is needed")
    wanted = sorted(needs.specialties_wanted & p.specialties)
    if wanted:
        reasons.append(f"offers {', '.join(wanted)} (asked for)")
    if needs.biomedical and MODIFIER_SPECIALTIES["biomedical"] in p.specialties:
        reasons.append("enhanced medical care")
        return len(wanted) + 1
    return len(wanted)


def _distance(needs: Needs, p: ProgramFacts, reasons: list[str], cache: dict[int, float]) -> float | None:
    if (
        needs.latitude is not None
        and needs.longitude is not None
        and p.latitude is not None
        and p.longitude is not None
    ):
        km = cache.get(p.facility_id)
        if km is None:  # one computation per facility, not per program
            km = cache[p.facility_id] = haversine_km(needs.latitude, needs.longitude, p.latitude, p.longitude)
        reasons.append(f"{km * 0.621371:.0f} miles away")
        return km
    if needs.state:
        reasons.append(
            "in their state" if needs.state == p.facility_state else f"out of state ({p.facility_state})"
        )
    return None


def rank(*, needs: Needs, programs: Sequence[ProgramFacts]) -> MatchResult:
    """Rank programs for ``needs``; pure (no queries), so it can be tested and timed on its own."""
    scored = []
    payer_label = needs.payer_name or f"payer #{needs.payer_id}"
    if needs.payer_id is not None:
        payer_label = next(
            (p.payer_names[needs.payer_id] for p in programs if needs.payer_id in p.payer_names), payer_label
        )
    required = needs.specialties_required
    distances: dict[int, float] = {}
    for p in programs:
        reasons: list[str] = []
        excluded: list[str] = []
        _level_fit(needs, p, reasons, excluded)
        _capacity(p, reasons, excluded)
        _payer(needs, p, payer_label, reasons, excluded)
        _eligibility(needs, p, reasons, excluded)
        wanted = _specialties(needs, required, p, reasons, excluded)
        km = _distance(needs, p, reasons, distances)
        preferred = p.setting in needs.preferred_settings
        if preferred:
            reasons.append(f"a setting they prefer ({Setting(p.setting).label})")
        in_state = bool(needs.state) and needs.state == p.facility_state
        key = (
            bool(excluded),
            len(excluded),
            p.intensity - needs.min_intensity if p.intensity >= needs.min_intensity else Decimal(99),
            -wanted,
            not preferred,
            km if km is not None else (0.0 if in_state else math.inf),
            # Keep specialised places for the people who need them.
            len(p.specialties - required - needs.specialties_wanted),
            -p.free_now,
            p.facility_name,
            p.name,
            p.id,
        )
        scored.append((key, p, tuple(reasons), tuple(excluded), km))
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
        )
        for index, (_, p, reasons, excluded, km) in enumerate(scored, start=1)
    )
    if any(not m.excluded for m in matches):
        return MatchResult(matches=matches, refer_out=False, needs=needs)
    what = f"level {needs.min_intensity}" + (
        " with withdrawal management" if needs.withdrawal_management else ""
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
