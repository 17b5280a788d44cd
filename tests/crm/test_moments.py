"""Moments as staff read them (crm.templatetags.moments) and the zone a user's pages use
(crm.time_zones): the facility's zone, with its abbreviation; never an error for odd input."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.utils import timezone

from crm.templatetags.moments import when, when_exact, when_iso
from crm.time_zones import time_zone_for, zone_named
from tests.factories import FacilityFactory, UserFactory

THIS_YEAR = timezone.now().year
JAN_15 = datetime(THIS_YEAR, 1, 15, 17, 5, 9, tzinfo=UTC)  # standard time everywhere in the US
JUL_4 = datetime(THIS_YEAR, 7, 4, 17, 5, tzinfo=UTC)


def test_when_is_in_the_zone_given_with_its_abbreviation():
    assert when(JAN_15, "America/Los_Angeles") == "Jan 15, 9:05 AM PST"
    assert when(JAN_15, "America/New_York") == "Jan 15, 12:05 PM EST"
    assert when(JUL_4, "America/Chicago") == "Jul 4, 12:05 PM CDT"
    assert when(JAN_15, zoneinfo.ZoneInfo("America/Denver")) == "Jan 15, 10:05 AM MST"


def test_when_shows_the_year_only_for_another_year():
    assert (
        when(JAN_15.replace(year=THIS_YEAR - 1), "America/Los_Angeles")
        == f"Jan 15, {THIS_YEAR - 1}, 9:05 AM PST"
    )


def test_when_without_a_zone_uses_the_active_one():
    with timezone.override(zoneinfo.ZoneInfo("America/Phoenix")):
        assert when(JAN_15) == "Jan 15, 10:05 AM MST"
    with timezone.override(zoneinfo.ZoneInfo("America/Phoenix")):
        assert when(JAN_15, "Not/AZone") == "Jan 15, 10:05 AM MST"  # an unknown zone is ignored


def test_when_exact_and_when_iso():
    assert when_exact(JAN_15, "America/Los_Angeles") == f"Jan 15, {THIS_YEAR}, 9:05:09 AM PST"
    assert when_iso(JAN_15, "America/Los_Angeles") == f"{THIS_YEAR}-01-15T09:05:09-08:00"


def test_iso_text_is_read_as_a_moment_and_anything_else_is_empty():
    assert when(JAN_15.isoformat(), "America/Los_Angeles") == "Jan 15, 9:05 AM PST"
    assert [when(value) for value in (None, "", "soon", 7)] == ["", "", "", ""]
    assert when_exact(None) == ""
    assert when_iso("") == ""


@pytest.mark.django_db
def test_a_facility_is_a_zone_and_a_user_gets_the_zone_their_facilities_share():
    pacific = FacilityFactory(name="Pacific", time_zone="America/Los_Angeles")
    also_pacific = FacilityFactory(name="Also Pacific", time_zone="America/Los_Angeles")
    eastern = FacilityFactory(name="Eastern", time_zone="America/New_York")
    assert zone_named(pacific) == zoneinfo.ZoneInfo("America/Los_Angeles")
    assert when(JAN_15, pacific) == "Jan 15, 9:05 AM PST"
    assert (
        time_zone_for(UserFactory(username="one", facilities=[pacific, also_pacific]))
        == "America/Los_Angeles"
    )
    # facilities in different zones, or none: the site's zone (times carry the abbreviation)
    assert time_zone_for(UserFactory(username="two", facilities=[pacific, eastern])) == settings.TIME_ZONE
    assert time_zone_for(UserFactory(username="none", facilities=[])) == settings.TIME_ZONE


def test_moment_text_is_the_filters_wording_for_text_written_once():
    from crm.time_zones import moment_text

    assert moment_text(JAN_15, "America/Los_Angeles") == when(JAN_15, "America/Los_Angeles")
    assert moment_text(JAN_15, "Not/AZone") == when(JAN_15)  # the active zone


def test_zone_words_name_the_place_and_the_abbreviation():
    from crm.time_zones import zone_words

    assert zone_words("America/New_York", JAN_15) == "New York (EST)"
    assert zone_words("America/Los_Angeles", JUL_4) == "Los Angeles (PDT)"
    assert zone_words("Not/AZone") == "Not/AZone"
    assert zone_words("") == ""
