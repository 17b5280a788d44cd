"""Quiet hours in the recipient's local time, with state rules.

The recipient's zone comes from their record (time zone, else state, else the
phone number's area code). Where a state spans several zones every candidate
zone must be inside the window, so a message is never early anywhere the
person could be. Deferral returns the next allowed minute; DST is handled by
building local wall-clock times with ``zoneinfo`` and converting back to UTC.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import phonenumbers
from django.conf import settings
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone

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
    "WY": ("America/Denver",), "PR": ("America/Puerto_Rico",),
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
    "Washington D.C.": "DC", "Puerto Rico": "PR",
}  # fmt: skip


@dataclass(frozen=True)
class Window:
    start: time
    end: time
    max_per_24h_same_subject: int | None = None


def _parse_hours(value: str) -> tuple[time, time]:
    start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
    return start, end


def _parse_number(phone: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return None


def recipient_state(*, state: str, phone: str) -> str:
    """The two-letter state of the recipient: the record's, else the phone number's area code."""
    if state:
        return state.upper()
    number = _parse_number(phone) if phone else None
    if number is None:
        return ""
    name = geocoder.description_for_number(number, "en").split(",")[-1].strip()
    return _STATE_NAMES.get(name, name if len(name) == 2 else "")


def recipient_zones(
    *, time_zone: str, state: str, phone: str, fallback: str
) -> tuple[zoneinfo.ZoneInfo, ...]:
    """Candidate zones of the recipient, most specific source first."""
    names: tuple[str, ...] = ()
    if time_zone:
        names = (time_zone,)
    elif state and state.upper() in STATE_ZONES:
        names = STATE_ZONES[state.upper()]
    elif phone and (number := _parse_number(phone)) is not None:
        names = tuple(z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    zones = []
    for name in names or (fallback,):
        try:
            zones.append(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
    return tuple(zones) or (zoneinfo.ZoneInfo(fallback),)


def window_for(state: str) -> Window:
    """Allowed sending hours and caps for a recipient in ``state``."""
    rule = settings.MESSAGING_STATE_RULES.get(state.upper(), {}) if state else {}
    start, end = _parse_hours(str(rule.get("hours", settings.MESSAGING_QUIET_HOURS_DEFAULT)))
    cap = rule.get("max_per_24h_same_subject")
    return Window(start=start, end=end, max_per_24h_same_subject=int(cap) if cap is not None else None)  # type: ignore[call-overload]


def _next_allowed_in(at: datetime, zone: zoneinfo.ZoneInfo, window: Window) -> datetime:
    local = at.astimezone(zone)
    if window.start <= local.time() < window.end:
        return at
    day = local.date() if local.time() < window.start else local.date() + timedelta(days=1)
    return datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)


def next_allowed(at: datetime, *, zones: tuple[zoneinfo.ZoneInfo, ...], window: Window) -> datetime:
    """``at`` if it is inside the window in every zone, else the first minute that is."""
    candidate = at
    for _ in range(8):  # windows in US zones always overlap; this settles in two rounds
        moved = max(_next_allowed_in(candidate, zone, window) for zone in zones)
        if moved == candidate:
            return candidate
        candidate = moved
    return candidate
