"""Program matching and capacity: reasons, exclusions, refer-out, and a query budget that does not grow."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.matching import Needs, haversine_km, programs_match, rank
from programs.models import CapacityHold, Census
from programs.selectors import next_free_date, program_facts_active, programs_with_capacity
from tests.factories import FacilityFactory
from tests.screening.conftest import bulk_programs

pytestmark = pytest.mark.django_db

DETOX = Needs(min_intensity=Decimal("3.7"), withdrawal_management=True)


def _by_name(result):
    return {m.program_name: m for m in result.matches}


def test_next_free_date_is_today_when_a_unit_is_free():
    today = date(2026, 11, 24)
    assert next_free_date(free_now=2, next_hold_end=None, discharges_7d=0, today=today) == (today, "")


def test_next_free_date_takes_the_earliest_of_hold_end_and_discharge_horizon():
    today = date(2026, 11, 24)
    hold_end = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.get_current_timezone())
    assert next_free_date(free_now=0, next_hold_end=hold_end, discharges_7d=3, today=today) == (
        date(2026, 11, 26),
        "a hold ends",
    )
    late_hold = datetime(2026, 12, 20, 12, 0, tzinfo=timezone.get_current_timezone())
    assert next_free_date(free_now=0, next_hold_end=late_hold, discharges_7d=1, today=today) == (
        date(2026, 12, 1),
        "expected discharge within 7 days",
    )
    assert next_free_date(free_now=0, next_hold_end=None, discharges_7d=0, today=today) == (None, "")


def test_capacity_counts_census_and_open_holds_only(catalogue):
    detox = catalogue.programs["Tampa Medical Detox"]
    Census.objects.filter(program=detox).update(occupied=7)
    now = timezone.now()
    CapacityHold.objects.create(program=detox, reference="a", held_until=now + timedelta(days=1))
    CapacityHold.objects.create(program=detox, reference="b", held_until=now + timedelta(days=2))
    CapacityHold.objects.create(program=detox, reference="old", held_until=now - timedelta(hours=1))
    CapacityHold.objects.create(
        program=detox,
        reference="gone",
        held_until=now + timedelta(days=3),
        released_at=now,
        release_reason="cancelled",
    )
    row = programs_with_capacity().get(pk=detox.pk)
    assert (row.occupied_now, row.held_now, row.free_now) == (7, 2, 1)
    facts = {f.name: f for f in program_facts_active()}
    assert facts["Tampa Medical Detox"].free_now == 1
    assert facts["Tampa Medical Detox"].next_free_on == timezone.localdate()
    assert facts["Tampa IOP"].free_now == 10


def test_full_program_says_when_the_next_bed_frees(catalogue):
    detox = catalogue.programs["Tampa Medical Detox"]
    Census.objects.filter(program=detox).update(occupied=9)
    until = timezone.make_aware(
        datetime.combine(timezone.localdate() + timedelta(days=3), datetime.min.time())
    )
    until += timedelta(hours=12)
    CapacityHold.objects.create(program=detox, reference="inquiry:1", held_until=until)
    match = _by_name(programs_match(needs=DETOX))["Tampa Medical Detox"]
    day = timezone.localdate() + timedelta(days=3)
    assert match.excluded
    assert match.exclusion_reasons == (f"no beds until {day.day} {day:%b} (a hold ends)",)
    assert match.next_free_on == day


def test_every_program_appears_with_reasons_or_exclusions(catalogue):
    result = programs_match(needs=DETOX)
    assert len(result.matches) == len(catalogue.programs)
    assert [m.rank for m in result.matches] == list(range(1, len(catalogue.programs) + 1))
    by_name = _by_name(result)
    assert by_name["Tampa PHP"].exclusion_reasons == ("level 2.5 below required 3.7",)
    assert by_name["Tampa Residential"].exclusion_reasons == ("level 3.5 below required 3.7",)
    assert not by_name["Tampa Medical Detox"].excluded
    assert (
        "level 3.7-WM meets required 3.7 for withdrawal management" in by_name["Tampa Medical Detox"].reasons
    )
    assert "10 beds free now" in by_name["Tampa Medical Detox"].reasons
    for m in result.matches:
        assert m.reasons or m.exclusion_reasons


def test_withdrawal_programs_are_excluded_when_no_withdrawal_management_is_needed(catalogue):
    result = programs_match(needs=Needs(min_intensity=Decimal("3.5")))
    detox = _by_name(result)["Tampa Medical Detox"]
    assert detox.exclusion_reasons == ("level 3.7-WM is withdrawal management, which is not needed",)
    assert result.top.program_name == "Tampa Residential"


def test_payer_not_accepted_excludes_with_its_name(catalogue):
    needs = Needs(
        min_intensity=Decimal("3.7"), withdrawal_management=True, payer_id=catalogue.payers["blue"].pk
    )
    by_name = _by_name(programs_match(needs=needs))
    assert "does not accept Blue Mountain Health" in by_name["Tampa Medical Detox"].exclusion_reasons
    assert "accepts Blue Mountain Health" in by_name["Asheville Detox"].reasons


def test_self_pay_needs_a_program_that_takes_self_pay(catalogue):
    by_name = _by_name(programs_match(needs=Needs(min_intensity=Decimal("3.5"), self_pay=True)))
    assert "does not accept self-pay" in by_name["Tampa Co-occurring Residential"].exclusion_reasons
    assert "accepts self-pay" in by_name["Tampa Residential"].reasons


def test_eligibility_age_and_gender(catalogue):
    needs = Needs(min_intensity=Decimal("3.1"), gender="man", age=70)
    by_name = _by_name(programs_match(needs=needs))
    assert by_name["Asheville Women's Residential"].exclusion_reasons == ("women only",)
    young = _by_name(programs_match(needs=Needs(min_intensity=Decimal("1.0"), age=17)))
    assert young["Tampa Outpatient"].exclusion_reasons == ("age 17 below the program's minimum 18",)


def test_co_occurring_enhanced_requires_the_specialty(catalogue):
    result = programs_match(needs=Needs(min_intensity=Decimal("3.5"), co_occurring_enhanced=True))
    assert result.top.program_name == "Tampa Co-occurring Residential"
    assert (
        "does not offer co-occurring, which is needed"
        in _by_name(result)["Tampa Residential"].exclusion_reasons
    )


def test_distance_ranks_the_nearer_facility_first(catalogue):
    asheville = (35.6, -82.55)
    needs = Needs(
        min_intensity=Decimal("3.7"),
        withdrawal_management=True,
        latitude=asheville[0],
        longitude=asheville[1],
    )
    result = programs_match(needs=needs)
    assert [m.program_name for m in result.matches[:2]] == ["Asheville Detox", "Tampa Medical Detox"]
    assert result.matches[0].distance_km < 5
    assert 830 < result.matches[1].distance_km < 870
    assert any(r.endswith("miles away") for r in result.matches[1].reasons)


def test_haversine_tampa_to_asheville():
    assert 830 < haversine_km(27.9506, -82.4572, 35.5951, -82.5515) < 870


def test_nothing_fits_proposes_referring_out(catalogue):
    result = programs_match(needs=Needs(min_intensity=Decimal("4.0")))
    assert result.refer_out
    assert result.top is None
    assert result.refer_out_reason == "No internal program fits (level 4.0); propose referring out."
    assert all(m.excluded for m in result.matches)


def test_rank_with_no_programs_proposes_referring_out():
    result = rank(needs=DETOX, programs=[])
    assert result.refer_out
    assert result.matches == ()


def test_inactive_programs_and_facilities_are_left_out(catalogue, other_facility):
    catalogue.programs["Tampa IOP"].is_active = False
    catalogue.programs["Tampa IOP"].save()
    other_facility.is_active = False
    other_facility.save()
    names = {m.program_name for m in programs_match(needs=DETOX).matches}
    assert "Tampa IOP" not in names
    assert "Asheville Detox" not in names


@pytest.mark.parametrize("count", [30, 300])
def test_matching_runs_a_constant_number_of_queries(count, catalogue, django_assert_num_queries):
    facilities = [FacilityFactory(name=f"Bulk site {i}") for i in range(5)]
    programs = bulk_programs(
        count,
        facilities=facilities,
        payers=list(catalogue.payers.values()),
        specialties=list(catalogue.specialties.values()),
    )
    now = timezone.now()
    CapacityHold.objects.bulk_create(
        [
            CapacityHold(program=p, reference=f"bulk:{p.pk}", held_until=now + timedelta(days=2))
            for p in programs[::3]
        ]
    )
    with django_assert_num_queries(3):  # programs with capacity, payers, specialties
        result = programs_match(needs=DETOX)
    assert len(result.matches) == count + len(catalogue.programs)
