"""Sending hours in the recipient's local time: where the person may be, and which rules apply.

Evidence of where a person is, in order of trust: the time zone on the record, the state on
file, the postal code (``crm.places``, from the ``zipcodes`` package's data), the phone
number's area code (``phonenumbers``' geocoder and time-zone data). Each signal names zones
and a state. They are combined, not ranked away: a message goes only at a time allowed in
every zone any signal names, and every state rule (``SendingRule``) of every state any signal
points to applies, because Florida and Oklahoma presume that a number with one of their area
codes reaches someone in the state. A toll-free or otherwise non-geographic number names no
state and dozens of zones; it counts only when nothing else is known.

Windows of far-apart zones need not overlap (Eastern and Guam never do; in summer neither do
the 42 zones of a toll-free number), so ``next_allowed`` intersects the allowed intervals of
every zone exactly, over a bounded horizon, and answers None when there is no common minute:
the caller hands the message to a coordinator instead of deferring it in a loop. Wall-clock
times are built in each zone with ``zoneinfo``, so daylight-saving days are right.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import phonenumbers
from django.conf import settings
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone

from crm import phones
from crm.places import place_of_postal_code, time_zone_known
from crm.time_zones import zone_words

# The federal floor when no rule row says otherwise: 47 CFR 64.1200(c)(1), 8:00 to 21:00.
FEDERAL = "US"
HORIZON = timedelta(days=8)

# Zones of each state (the first is where most people live). Several zones: all must allow.
STATE_ZONES: dict[str, tuple[str, ...]] = {
    "AL": ("America/Chicago",), "AK": ("America/Anchorage", "America/Adak"), "AZ": ("America/Phoenix",),
    "AR": ("America/Chicago",), "CA": ("America/Los_Angeles",), "CO": ("America/Denver",),
    "CT": ("America/New_York",), "DE": ("America/New_York",), "DC": ("America/New_York",),
    "FL": ("America/New_York", "America/Chicago"), "GA": ("America/New_York",),
    "HI": ("Pacific/Honolulu",), "ID": ("America/Boise", "America/Los_Angeles"),
    "IL": ("America/Chicago",), "IN": ("America/Indiana/Indianapolis", "America/Chicago"),
    "IA": ("America/Chicago",), "KS": ("America/Chicago", "America/Denver"),
    "KY": ("America/New_York", "America/Chicago"), "LA": ("America/Chicago",), "ME": ("America/New_York",),
    "MD": ("America/New_York",), "MA": ("America/New_York",), "MI": ("America/Detroit", "America/Chicago"),
    "MN": ("America/Chicago",), "MS": ("America/Chicago",), "MO": ("America/Chicago",),
    "MT": ("America/Denver",), "NE": ("America/Chicago", "America/Denver"),
    "NV": ("America/Los_Angeles",), "NH": ("America/New_York",), "NJ": ("America/New_York",),
    "NM": ("America/Denver",), "NY": ("America/New_York",), "NC": ("America/New_York",),
    "ND": ("America/Chicago", "America/Denver"), "OH": ("America/New_York",), "OK": ("America/Chicago",),
    "OR": ("America/Los_Angeles", "America/Boise"), "PA": ("America/New_York",),
    "RI": ("America/New_York",), "SC": ("America/New_York",), "SD": ("America/Chicago", "America/Denver"),
    "TN": ("America/Chicago", "America/New_York"), "TX": ("America/Chicago", "America/Denver"),
    "UT": ("America/Denver",), "VT": ("America/New_York",), "VA": ("America/New_York",),
    "WA": ("America/Los_Angeles",), "WV": ("America/New_York",), "WI": ("America/Chicago",),
    "WY": ("America/Denver",), "PR": ("America/Puerto_Rico",), "VI": ("America/St_Thomas",),
    "GU": ("Pacific/Guam",), "MP": ("Pacific/Saipan",), "AS": ("Pacific/Pago_Pago",),
}  # fmt: skip
_STATE_NAMES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
    "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
    "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
    "Washington D.C.": "DC", "Puerto Rico": "PR", "U.S. Virgin Islands": "VI", "Guam": "GU",
    "Northern Mariana Islands": "MP", "American Samoa": "AS",
}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """A sending rule as the decision uses it (a ``SendingRule`` row, or the product default)."""

    place: str
    starts_at: time
    ends_at: time
    max_per_24h: int | None = None
    statute: str = ""


@dataclass(frozen=True)
class Signals:
    """What the record says about where the person is."""

    time_zone: str = ""
    state: str = ""
    postal_code: str = ""
    postal_state: str = ""
    postal_zone: str = ""
    area_code_state: str = ""
    area_code_zones: tuple[str, ...] = ()

    def places(self) -> frozenset[str]:
        """Every state any signal points to."""
        return frozenset(p for p in (self.state, self.postal_state, self.area_code_state) if p)

    def zone_names(self, *, fallback: str) -> tuple[str, ...]:
        """Every zone any location signal names (a state's or an area code's state's: all of its
        zones); the area code of a non-geographic number only when nothing else is known;
        ``fallback`` (the facility's zone) when nothing is."""
        names: list[str] = []
        if self.time_zone:
            names.append(self.time_zone)
        names.extend(STATE_ZONES.get(self.state, ()))
        if self.postal_zone:
            names.append(self.postal_zone)
        if self.area_code_state:
            # An area code can span two zones while the numbering data names one (850 is Eastern
            # and Central Florida, 423 Eastern and Central Tennessee): take all of its state's.
            names.extend(STATE_ZONES.get(self.area_code_state, ()))
            names.extend(self.area_code_zones)
        elif not names:
            names.extend(self.area_code_zones)
        return tuple(dict.fromkeys(names)) or (fallback,)

    def describe(self) -> str:
        """The evidence in words, for the timeline and the coordinator."""
        parts = []
        if self.time_zone:
            parts.append(f"time zone on file {zone_words(self.time_zone)}")
        if self.state:
            parts.append(f"state on file {self.state}")
        if self.postal_state:
            parts.append(f"postal code {self.postal_code} ({self.postal_state})")
        if self.area_code_state:
            parts.append(f"area code in {self.area_code_state}")
        elif self.area_code_zones:
            parts.append(f"a non-geographic number ({len(self.area_code_zones)} possible zones)")
        return ", ".join(parts) or "nothing on file"


def _parse_number(phone: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phones.phone_parse(phone)
    except ValueError:
        return None


def recipient_signals(*, time_zone: str, state: str, postal_code: str, phone: str) -> Signals:
    """The location signals of a person's record (a message's address is its phone number)."""
    place = place_of_postal_code(postal_code) if postal_code else None
    area_state, area_zones = "", tuple[str, ...]()
    number = _parse_number(phone) if phone else None
    if number is not None:
        name = geocoder.description_for_number(number, "en").split(",")[-1].strip()
        area_state = _STATE_NAMES.get(name, name if name.upper() in STATE_ZONES else "").upper()
        area_zones = tuple(z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    known_zone = time_zone if time_zone_known(time_zone) else ""
    return Signals(
        time_zone=known_zone,
        state=state.strip().upper() if state.strip().upper() in STATE_ZONES else "",
        postal_code=place.postal_code if place else "",
        postal_state=place.state if place else "",
        postal_zone=place.time_zone if place else "",
        area_code_state=area_state,
        area_code_zones=area_zones,
    )


def product_default() -> Rule:
    """The center's own sending hours (``MESSAGING_QUIET_HOURS_DEFAULT``), applied everywhere."""
    start, end = (
        time.fromisoformat(part.strip()) for part in settings.MESSAGING_QUIET_HOURS_DEFAULT.split("-")
    )
    return Rule(place="", starts_at=start, ends_at=end, statute="product default")


@dataclass(frozen=True)
class Reach:
    """Where a person may be and what applies there: the zones, the narrowest hours, the cap."""

    signals: Signals
    zones: tuple[zoneinfo.ZoneInfo, ...]
    starts_at: time
    ends_at: time
    max_per_24h: int | None
    rules: tuple[Rule, ...]

    @property
    def has_hours(self) -> bool:
        return self.starts_at < self.ends_at

    def describe(self) -> str:
        zones = ", ".join(z.key for z in self.zones[:4]) + (" ..." if len(self.zones) > 4 else "")
        return f"{self.starts_at:%H:%M}-{self.ends_at:%H:%M} in {zones} ({self.signals.describe()})"


def recipient_reach(signals: Signals, *, rules: Mapping[str, Rule], fallback_zone: str) -> Reach:
    """The zones the person may be in, and the narrowest hours and lowest cap of every rule that
    applies: the product default, the federal rule, and each state rule any signal points to."""
    applied = [product_default()]
    applied.extend(rules[place] for place in (FEDERAL, *sorted(signals.places())) if place in rules)
    zones = []
    for name in signals.zone_names(fallback=fallback_zone):
        try:
            zones.append(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
    caps = [r.max_per_24h for r in applied if r.max_per_24h]
    return Reach(
        signals=signals,
        zones=tuple(zones) or (zoneinfo.ZoneInfo(fallback_zone),),
        starts_at=max(r.starts_at for r in applied),
        ends_at=min(r.ends_at for r in applied),
        max_per_24h=min(caps) if caps else None,
        rules=tuple(applied),
    )


Interval = tuple[datetime, datetime]


def _zone_intervals(
    zone: zoneinfo.ZoneInfo, start: time, end: time, lo: datetime, hi: datetime
) -> list[Interval]:
    first = lo.astimezone(zone).date() - timedelta(days=1)
    days = (hi.astimezone(zone).date() - first).days + 2
    out = []
    for n in range(days):
        day = first + timedelta(days=n)
        a = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
        b = datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
        if a < b:
            out.append((a, b))
    return out


def _intersect(left: Iterable[Interval], right: list[Interval]) -> list[Interval]:
    out = []
    for a, b in left:
        for c, d in right:
            lo, hi = max(a, c), min(b, d)
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)


def allowed_intervals(reach: Reach, *, since: datetime, until: datetime) -> list[Interval]:
    """The UTC intervals between ``since`` and ``until`` that are inside the hours in every zone."""
    if not reach.has_hours:
        return []
    common: list[Interval] | None = None
    for zone in reach.zones:
        mine = _zone_intervals(zone, reach.starts_at, reach.ends_at, since, until)
        common = mine if common is None else _intersect(common, mine)
    return [(a, b) for a, b in common or [] if b > since and a < until]


def next_allowed(at: datetime, *, reach: Reach, horizon: timedelta = HORIZON) -> datetime | None:
    """``at`` if it is allowed in every zone, else the first minute that is; None when no minute
    within ``horizon`` is (the zones' windows do not overlap, or the rules leave no hours)."""
    for start, end in allowed_intervals(reach, since=at, until=at + horizon):
        if end > at:
            return max(at, start)
    return None


def allowed_at(at: datetime, *, reach: Reach) -> bool:
    """Whether ``at`` is inside the hours in every zone the person may be in."""
    return next_allowed(at, reach=reach, horizon=timedelta(minutes=1)) == at
