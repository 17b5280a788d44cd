"""Quiet hours in the recipient's local time, state rules, and the DST changes of 2026."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest

from admissions.messaging.quiet_hours import next_allowed, recipient_state, recipient_zones, window_for

NY = zoneinfo.ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def zones(**kw: str) -> tuple[zoneinfo.ZoneInfo, ...]:
    return recipient_zones(
        time_zone=kw.get("time_zone", ""),
        state=kw.get("state", ""),
        phone=kw.get("phone", ""),
        fallback="UTC",
    )


def test_inside_the_window_sends_now():
    at = utc(2026, 6, 10, 15, 0)  # 11:00 in New York
    assert next_allowed(at, zones=(NY,), window=window_for("NY")) == at


@pytest.mark.parametrize(
    ("at", "zone", "state", "expected"),
    [
        # 06:30 in New York -> 09:00 New York (EDT, UTC-4)
        (utc(2026, 6, 10, 10, 30), "America/New_York", "NY", utc(2026, 6, 10, 13, 0)),
        # the same instant is 03:30 in Los Angeles -> 09:00 Pacific
        (utc(2026, 6, 10, 10, 30), "America/Los_Angeles", "CA", utc(2026, 6, 10, 16, 0)),
        # 20:00 sharp in Chicago is already quiet -> next day 09:00 Central
        (utc(2026, 6, 11, 1, 0), "America/Chicago", "IL", utc(2026, 6, 11, 14, 0)),
        # Florida starts at 08:00
        (utc(2026, 6, 10, 11, 30), "America/New_York", "FL", utc(2026, 6, 10, 12, 0)),
        # Florida ends at 20:00: 20:30 -> 08:00 next day
        (utc(2026, 6, 11, 0, 30), "America/New_York", "FL", utc(2026, 6, 11, 12, 0)),
        # Hawaii, no DST
        (utc(2026, 6, 10, 17, 0), "Pacific/Honolulu", "HI", utc(2026, 6, 10, 19, 0)),
    ],
)
def test_deferred_to_the_next_allowed_minute_in_the_recipients_zone(at, zone, state, expected):
    assert next_allowed(at, zones=(zoneinfo.ZoneInfo(zone),), window=window_for(state)) == expected


def test_spring_forward_2026_03_08_new_york():
    # 00:30 EST on the day clocks go forward: 09:00 that morning is EDT (UTC-4), i.e. 13:00 UTC, not 14:00
    assert next_allowed(utc(2026, 3, 8, 5, 30), zones=(NY,), window=window_for("NY")) == utc(
        2026, 3, 8, 13, 0
    )
    # the evening before (EST): 20:30 -> the 9:00 after the change
    assert next_allowed(utc(2026, 3, 8, 1, 30), zones=(NY,), window=window_for("NY")) == utc(
        2026, 3, 8, 13, 0
    )


def test_fall_back_2026_11_01_new_york():
    # 00:30 EDT on the day clocks go back: 09:00 that morning is EST (UTC-5), i.e. 14:00 UTC
    assert next_allowed(utc(2026, 11, 1, 4, 30), zones=(NY,), window=window_for("NY")) == utc(
        2026, 11, 1, 14, 0
    )
    # 01:30 happens twice that night; both are quiet and both defer to the same minute
    first = datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=NY).astimezone(UTC)
    second = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY).astimezone(UTC)
    assert first != second
    assert {next_allowed(t, zones=(NY,), window=window_for("NY")) for t in (first, second)} == {
        utc(2026, 11, 1, 14)
    }
    # 19:59 EST on the new offset is still allowed, 20:00 EST is not
    assert next_allowed(utc(2026, 11, 2, 0, 59), zones=(NY,), window=window_for("NY")) == utc(
        2026, 11, 2, 0, 59
    )
    assert next_allowed(utc(2026, 11, 2, 1, 0), zones=(NY,), window=window_for("NY")) == utc(
        2026, 11, 2, 14, 0
    )


def test_zone_comes_from_record_then_state_then_area_code():
    assert zones(time_zone="America/Denver", state="FL", phone="+12125550100") == (
        zoneinfo.ZoneInfo("America/Denver"),
    )
    assert zones(state="CA", phone="+12125550100") == (zoneinfo.ZoneInfo("America/Los_Angeles"),)
    assert zones(phone="+17025550100") == (zoneinfo.ZoneInfo("America/Los_Angeles"),)  # Nevada area code
    assert zones() == (zoneinfo.ZoneInfo("UTC"),)  # the facility's zone is the last resort


def test_state_comes_from_the_area_code_when_the_record_has_none():
    assert recipient_state(state="", phone="+13055550100") == "FL"
    assert recipient_state(state="", phone="+12125550100") == "NY"
    assert recipient_state(state="ny", phone="+13055550100") == "NY"


def test_a_state_with_two_zones_waits_for_the_later_one():
    # Florida's panhandle is Central: 08:00 Eastern is 07:00 Central, so wait until 08:00 Central
    both = zones(state="FL")
    assert next_allowed(utc(2026, 6, 10, 12, 0), zones=both, window=window_for("FL")) == utc(
        2026, 6, 10, 13, 0
    )
    # and stop at 20:00 Eastern even though it is 19:00 Central
    assert next_allowed(utc(2026, 6, 11, 0, 0), zones=both, window=window_for("FL")) == utc(
        2026, 6, 11, 13, 0
    )
