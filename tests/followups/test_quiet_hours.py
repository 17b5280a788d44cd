"""Sending hours in the recipient's local time: signals, state rules, overlap, and the DST changes of 2026."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest

from admissions.messaging.quiet_hours import (
    STATE_ZONES,
    Reach,
    Rule,
    next_allowed,
    recipient_reach,
    recipient_signals,
)

NY = zoneinfo.ZoneInfo("America/New_York")
# As migration 0018 installs them.
RULES = {
    "US": Rule("US", time(8), time(21), None, "47 CFR 64.1200(c)(1)"),
    "FL": Rule("FL", time(8), time(20), 3, "Fla. Stat. § 501.616(6)"),
    "OK": Rule("OK", time(8), time(20), 3, "Okla. Stat. tit. 15, § 775C.4"),
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def reach(*, rules: dict[str, Rule] = RULES, fallback: str = "UTC", **kw: str) -> Reach:
    signals = recipient_signals(
        time_zone=kw.get("time_zone", ""),
        state=kw.get("state", ""),
        postal_code=kw.get("postal_code", ""),
        phone=kw.get("phone", ""),
    )
    return recipient_reach(signals, rules=rules, fallback_zone=fallback)


def test_inside_the_window_sends_now():
    at = utc(2026, 6, 10, 15, 0)  # 11:00 in New York
    assert next_allowed(at, reach=reach(state="NY")) == at


@pytest.mark.parametrize(
    ("at", "signals", "expected"),
    [
        # 06:30 in New York -> 09:00 New York (EDT, UTC-4)
        (utc(2026, 6, 10, 10, 30), {"state": "NY"}, utc(2026, 6, 10, 13, 0)),
        # the same instant is 03:30 in Los Angeles -> 09:00 Pacific
        (utc(2026, 6, 10, 10, 30), {"state": "CA"}, utc(2026, 6, 10, 16, 0)),
        # 20:00 sharp in Chicago is already quiet -> next day 09:00 Central
        (utc(2026, 6, 11, 1, 0), {"state": "IL"}, utc(2026, 6, 11, 14, 0)),
        # Florida ends at 20:00 (the product's 20:00 too): 20:30 -> 09:00 next day
        (utc(2026, 6, 11, 0, 30), {"postal_code": "33602"}, utc(2026, 6, 11, 13, 0)),
        # Hawaii, no DST
        (utc(2026, 6, 10, 17, 0), {"state": "HI"}, utc(2026, 6, 10, 19, 0)),
    ],
)
def test_deferred_to_the_next_allowed_minute_in_the_recipients_zone(at, signals, expected):
    assert next_allowed(at, reach=reach(**signals)) == expected


def test_florida_starts_at_eight_when_the_center_does():
    early = reach(state="FL", time_zone="America/New_York", postal_code="33602")
    assert (early.starts_at, early.ends_at) == (time(9), time(20))  # the product default is narrower
    wide = reach(rules={**RULES}, state="FL", postal_code="33602")
    assert wide.max_per_24h == 3


def test_spring_forward_2026_03_08_new_york():
    ny = reach(state="NY")
    # 00:30 EST on the day clocks go forward: 09:00 that morning is EDT (UTC-4), i.e. 13:00 UTC, not 14:00
    assert next_allowed(utc(2026, 3, 8, 5, 30), reach=ny) == utc(2026, 3, 8, 13, 0)
    # the evening before (EST): 20:30 -> the 9:00 after the change
    assert next_allowed(utc(2026, 3, 8, 1, 30), reach=ny) == utc(2026, 3, 8, 13, 0)


def test_fall_back_2026_11_01_new_york():
    ny = reach(state="NY")
    assert next_allowed(utc(2026, 11, 1, 4, 30), reach=ny) == utc(2026, 11, 1, 14, 0)
    # 01:30 happens twice that night; both are quiet and both defer to the same minute
    first = datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=NY).astimezone(UTC)
    second = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY).astimezone(UTC)
    assert first != second
    assert {next_allowed(t, reach=ny) for t in (first, second)} == {utc(2026, 11, 1, 14)}
    # 19:59 EST on the new offset is still allowed, 20:00 EST is not
    assert next_allowed(utc(2026, 11, 2, 0, 59), reach=ny) == utc(2026, 11, 2, 0, 59)
    assert next_allowed(utc(2026, 11, 2, 1, 0), reach=ny) == utc(2026, 11, 2, 14, 0)


def test_every_signal_counts_and_disagreeing_ones_are_combined():
    # a Los Angeles postal code and a New York number: allowed only where both say so
    both = reach(postal_code="90012", phone="+12125550100")
    assert {z.key for z in both.zones} == {"America/Los_Angeles", "America/New_York"}
    # 06:00 Pacific is 09:00 Eastern: not yet; 09:00 Pacific is the first minute
    assert next_allowed(utc(2026, 6, 10, 13, 0), reach=both) == utc(2026, 6, 10, 16, 0)
    # the time zone on file does not hide the state's other zone
    assert {z.key for z in reach(time_zone="America/Denver", state="FL").zones} == {
        "America/Denver",
        "America/New_York",
        "America/Chicago",
    }
    # nothing known: the facility's zone
    assert [z.key for z in reach(fallback="America/Chicago").zones] == ["America/Chicago"]


def test_state_rules_apply_by_state_postal_code_or_area_code():
    assert reach(phone="+13055550100", state="GA").signals.places() == {"FL", "GA"}
    assert reach(phone="+14055550100").max_per_24h == 3  # an Oklahoma area code
    assert reach(postal_code="73102", state="TX").max_per_24h == 3  # an Oklahoma postal code
    assert reach(state="NY", phone="+12125550100").max_per_24h is None
    ok_late = reach(rules=RULES, postal_code="73102")
    assert ok_late.ends_at == time(20)


def test_a_state_with_two_zones_waits_for_the_later_one():
    # Florida's panhandle is Central: 09:00 Eastern is 08:00 Central, so wait until 09:00 Central
    both = reach(state="FL")
    assert next_allowed(utc(2026, 6, 10, 13, 0), reach=both) == utc(2026, 6, 10, 14, 0)
    # and stop at 20:00 Eastern even though it is 19:00 Central: next is 09:00 Central again
    assert next_allowed(utc(2026, 6, 11, 0, 0), reach=both) == utc(2026, 6, 11, 14, 0)


@pytest.mark.parametrize(
    ("phone", "state"),
    [
        ("+18505550100", "FL"),  # Pensacola: Central, in a mostly Eastern state
        ("+14235550100", "TN"),  # Chattanooga: Eastern, in a mostly Central state
        ("+12705550100", "KY"),
        ("+18125550100", "IN"),
        ("+19065550100", "MI"),
        ("+16205550100", "KS"),
        ("+13085550100", "NE"),
    ],
)
def test_an_area_code_alone_counts_every_zone_of_its_state(phone, state):
    zones = {z.key for z in reach(phone=phone).zones}
    assert set(STATE_ZONES[state]) <= zones
    # 09:00 Eastern is 08:00 Central: a Central morning is waited for
    later = max(STATE_ZONES[state], key=lambda z: datetime(2026, 6, 10, 9, tzinfo=zoneinfo.ZoneInfo(z)))
    first = next_allowed(utc(2026, 6, 10, 12, 0), reach=reach(phone=phone))
    assert first == datetime(2026, 6, 10, 9, tzinfo=zoneinfo.ZoneInfo(later)).astimezone(UTC)


def test_a_toll_free_number_alone_has_no_common_minute_in_summer():
    toll_free = reach(phone="+18005550100")
    assert len(toll_free.zones) > 20
    assert toll_free.signals.places() == frozenset()
    assert next_allowed(utc(2026, 7, 1, 16, 0), reach=toll_free) is None
    # with a state on file the number is no evidence of place
    assert next_allowed(utc(2026, 7, 1, 16, 0), reach=reach(phone="+18005550100", state="TX")) == utc(
        2026, 7, 1, 16, 0
    )


def test_zones_far_apart_share_only_their_overlap():
    # a New York state on file and a Guam number (UTC+10): 18:00-20:00 in New York is 09:00-11:00 in Guam
    far = reach(state="NY", phone="+16715550100")
    assert next_allowed(utc(2026, 1, 10, 15), reach=far) == utc(2026, 1, 10, 23, 0)


def test_rules_that_leave_no_hours_allow_nothing():
    narrow = {**RULES, "FL": Rule("FL", time(20), time(21), 3, "test")}
    assert next_allowed(utc(2026, 6, 10, 15), reach=reach(rules=narrow, state="FL")) is None
    assert (
        next_allowed(utc(2026, 6, 10, 15), reach=reach(rules=narrow, state="FL"), horizon=timedelta(days=30))
        is None
    )
