"""Property: over state, postal code, area code, local time and day of the year (both 2026
daylight-saving changes included), no automated text or call task falls outside the strictest
window that applies, and every message is sent within a bounded time or handed to a coordinator.

The oracle below decides from the raw inputs on its own (the statutes' hours, the zones the
data names), so it checks the product's combination of signals, not a copy of it."""

from __future__ import annotations

import importlib
import itertools
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import phonenumbers
import pytest
import zipcodes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import geocoder
from phonenumbers import timezone as phone_timezone

from admissions.followups import followup_deliver
from admissions.messaging.models import OutboundMessage
from admissions.messaging.quiet_hours import (
    HORIZON,
    STATE_ZONES,
    Rule,
    next_allowed,
    recipient_reach,
    recipient_signals,
)
from admissions.models import FollowUp, InquiryEvent
from tests.followups.helpers import web_lead
from workers.channels import default_channels

SEED = importlib.import_module("admissions.migrations.0018_messaging_compliance")
RULES = {
    r["place"]: Rule(
        r["place"], time.fromisoformat(r["starts_at"]), time.fromisoformat(r["ends_at"]), r["max_per_24h"]
    )
    for r in SEED.RULES
}
STRICT_STATES = {"FL": (time(8), time(20)), "OK": (time(8), time(20))}
PRODUCT = (time(9), time(20))
FEDERAL = (time(8), time(21))
FACILITY_ZONE = "America/New_York"
BOUND = timedelta(hours=48)

STATES = ["", "NY", "CA", "FL", "OK", "TX", "AZ", "HI", "IN", "KY", "AK", "ID", "GA"]
POSTAL_CODES = ["", "10001", "90012", "33602", "32501", "73102", "85001", "96813", "99501", "60601", "79901"]
PHONES = [
    "", "+12125550100", "+13105550100", "+18135550100", "+18505550100", "+14055550100", "+16025550100",
    "+18085550100", "+19075550100", "+18005550100", "+18885550100", "+16715550100",
]  # fmt: skip
# The states of the geographic numbers above, as the numbering data names them.
AREA_STATES = {
    "New York": "NY", "California": "CA", "Florida": "FL", "Oklahoma": "OK", "Arizona": "AZ",
    "Hawaii": "HI", "Alaska": "AK", "Guam": "GU",
}  # fmt: skip
DST_DAYS = [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9), date(2026, 10, 31), date(2026, 11, 1)]
days = st.one_of(
    st.sampled_from(DST_DAYS), st.integers(0, 364).map(lambda n: date(2026, 1, 1) + timedelta(days=n))
)


def oracle(state: str, postal_code: str, phone: str) -> tuple[set[str], time, time]:
    """The zones the person may be in and the strictest hours, from the raw inputs."""
    zones: set[str] = set(STATE_ZONES.get(state, ()))
    places = {state} - {""}
    if postal_code:
        row = zipcodes.matching(postal_code)[0]
        zones.add(row["timezone"])
        places.add(row["state"])
    if phone:
        number = phonenumbers.parse(phone, "US")
        named = {z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown"}
        where = geocoder.description_for_number(number, "en")
        if where:  # a geographic number: its area code is a place
            named_place = where.split(",")[-1].strip()  # a state's name, or a city's "NY"
            area_state = AREA_STATES.get(named_place, named_place)
            zones |= named | set(STATE_ZONES[area_state])
            places.add(area_state)
        elif not zones:
            zones |= named
    zones = zones or {FACILITY_ZONE}
    hours = [PRODUCT, FEDERAL, *(STRICT_STATES[p] for p in places if p in STRICT_STATES)]
    return zones, max(h[0] for h in hours), min(h[1] for h in hours)


def allowed(at: datetime, zones: set[str], start: time, end: time) -> bool:
    return all(start <= at.astimezone(zoneinfo.ZoneInfo(z)).time() < end for z in zones)


def instant(day: date, minute: int, zones: set[str]) -> datetime:
    zone = zoneinfo.ZoneInfo(sorted(zones)[0])
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone).astimezone(UTC)


@settings(max_examples=300, deadline=None)
@given(
    state=st.sampled_from(STATES),
    postal_code=st.sampled_from(POSTAL_CODES),
    phone=st.sampled_from(PHONES),
    day=days,
    minute=st.integers(0, 24 * 60 - 1),
)
def test_next_allowed_is_the_first_minute_inside_the_strictest_window(state, postal_code, phone, day, minute):
    zones, start, end = oracle(state, postal_code, phone)
    reach = recipient_reach(
        recipient_signals(time_zone="", state=state, postal_code=postal_code, phone=phone),
        rules=RULES,
        fallback_zone=FACILITY_ZONE,
    )
    assert {z.key for z in reach.zones} == zones
    assert (reach.starts_at, reach.ends_at) == (start, end)
    at = instant(day, minute, zones)
    found = next_allowed(at, reach=reach)
    if found is None:  # handed to a coordinator: truly no minute in the next two days
        assert not any(allowed(at + timedelta(minutes=15 * n), zones, start, end) for n in range(4 * 48))
        return
    assert allowed(found, zones, start, end)
    # the first allowed minute, however far (the zones' windows may meet only after a
    # daylight-saving change, as all of the country's do on Nov 1), within the search horizon
    assert found - at <= HORIZON
    assert found == at or not allowed(found - timedelta(minutes=1), zones, start, end)
    quarters = int((found - at).total_seconds() // 900)
    assert not any(allowed(at + timedelta(minutes=15 * n), zones, start, end) for n in range(quarters))


_counter = itertools.count()


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    state=st.sampled_from(STATES),
    postal_code=st.sampled_from(POSTAL_CODES),
    phone=st.sampled_from([p for p in PHONES if p]),
    day=days,
    minute=st.integers(0, 24 * 60 - 1),
)
def test_texts_and_call_tasks_go_inside_the_window_or_to_a_coordinator(
    facility, sms_api, statute_rules, state, postal_code, phone, day, minute
):
    zones, start, end = oracle(state, postal_code, phone)
    at = instant(day, minute, zones)
    n = next(_counter)
    own = phone[:-4] + f"{n % 10000:04d}"  # the same area code, a number of its own (one open inquiry each)
    # No time zone on file (the factory's default would be one more signal the oracle does not know).
    inquiry = web_lead(facility, email=False, state=state, postal_code=postal_code, phone=own, time_zone="")
    text = FollowUp.objects.create(
        inquiry=inquiry,
        kind="acknowledgement",
        channel="sms",
        template_code="ack-sms",
        due_at=at,
        dedupe_key=f"p{n}s",
    )
    call = FollowUp.objects.create(
        inquiry=inquiry, kind="call_task", channel="task", due_at=at, dedupe_key=f"p{n}c"
    )
    for row in (text, call):
        result, runs = "", 0
        while runs < 6:
            row.refresh_from_db()
            result = followup_deliver(followup_id=row.pk, channels=default_channels(), now=row.due_at)
            runs += 1
            if result != "deferred":
                break
        assert result in ("done", "handed over"), (result, row.outcome)
        if row is text and result == "done":
            sent = OutboundMessage.objects.get(followup=text).sent_at
            assert allowed(sent, zones, start, end), sent
            assert sent - at <= BOUND
        elif row is text:
            assert inquiry.followups.filter(
                kind="coordinator_review", dedupe_key=f"review:followup:{text.pk}"
            ).exists()
        else:
            posted = InquiryEvent.objects.get(inquiry=inquiry, data__followup=call.pk)
            if next_allowed(at, reach=_reach(state, postal_code, phone)) is not None:
                assert allowed(posted.at, zones, start, end), posted.at
            else:  # nowhere known to be awake: the coordinator is told to check the person's time
                assert "Their local time is unknown" in posted.body


def _reach(state: str, postal_code: str, phone: str):  # type: ignore[no-untyped-def]
    return recipient_reach(
        recipient_signals(time_zone="", state=state, postal_code=postal_code, phone=phone),
        rules=RULES,
        fallback_zone=FACILITY_ZONE,
    )
