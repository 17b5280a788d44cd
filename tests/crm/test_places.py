"""Postal codes resolve to a state, a time zone and coordinates from the shipped ZIP table."""

from __future__ import annotations

import pytest

from crm.places import place_of_postal_code, postal_code_five


@pytest.mark.parametrize(
    ("raw", "five"),
    [("90012", "90012"), ("90012-1234", "90012"), ("900121234", "90012"), (" 33101 ", "33101"),
     ("9001", ""), ("ABCDE", ""), ("", ""), ("K1A 0B1", "")],
)  # fmt: skip
def test_postal_code_five(raw: str, five: str) -> None:
    assert postal_code_five(raw) == five


def test_los_angeles_postal_code_is_pacific() -> None:
    place = place_of_postal_code("90012")
    assert place is not None
    assert (place.state, place.time_zone, place.city) == ("CA", "America/Los_Angeles", "Los Angeles")
    assert place.latitude == pytest.approx(34.06, abs=0.01)
    assert place.longitude == pytest.approx(-118.24, abs=0.01)
    assert "213" in place.area_codes


def test_honolulu_and_phoenix_keep_their_own_zones() -> None:
    assert place_of_postal_code("96815").time_zone == "Pacific/Honolulu"  # type: ignore[union-attr]
    assert place_of_postal_code("85004").time_zone == "America/Phoenix"  # type: ignore[union-attr]


def test_unknown_or_malformed_codes_have_no_place() -> None:
    assert place_of_postal_code("00000") is None
    assert place_of_postal_code("not a zip") is None
    assert place_of_postal_code("") is None
