"""Where a US postal code is: its state, time zone and coordinates.

The data is the ZIP code table the ``zipcodes`` package ships in its wheel (nothing is
downloaded at run time). The table loads on the first lookup of a process; lookups after
that are dictionary reads.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass

import zipcodes

_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_known(name: str) -> bool:
    """Whether ``name`` is a zone of the machine's IANA database. The names are read once per
    process: ``zoneinfo.available_timezones`` walks the database's directory on every call, which
    was a fifth of the inquiry page's time."""
    return name in _time_zones()


@dataclass(frozen=True)
class Place:
    """A postal code as the table knows it."""

    postal_code: str  # the five-digit ZIP code
    city: str
    state: str  # two-letter code
    time_zone: str  # an IANA zone, e.g. "America/Los_Angeles"
    latitude: float | None
    longitude: float | None
    area_codes: tuple[str, ...]


def postal_code_five(raw: str) -> str:
    """The five-digit ZIP code of ``raw`` ("90012", "90012-1234", "900121234"), or "" when it is
    not shaped like a US postal code."""
    match = _ZIP.match(raw.strip()) if raw else None
    return match.group(1) if match else ""


@functools.lru_cache(maxsize=8192)
def place_of_postal_code(raw: str) -> Place | None:
    """The place of a US postal code, or None for a code the table does not hold (or not a ZIP)."""
    code = postal_code_five(raw)
    if not code:
        return None
    rows = zipcodes.matching(code)
    if not rows:
        return None
    row = rows[0]
    zone = row.get("timezone") or ""
    if not time_zone_known(zone):
        zone = ""
    return Place(
        postal_code=code,
        city=row.get("city") or "",
        state=row.get("state") or "",
        time_zone=zone,
        latitude=_coordinate(row.get("lat")),
        longitude=_coordinate(row.get("long")),
        area_codes=tuple(row.get("area_codes") or ()),
    )


def _coordinate(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
