"""Every KPI on the hand-built cohort (see conftest.cohort) with its exact known answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboards import metrics, selectors
from dashboards.selectors import Filters

pytestmark = pytest.mark.django_db


def _rows(report, slug):
    return {row[0]: row[1:] for row in report.table(slug).rows}


def test_funnel_counts_reach_and_conversion(cohort, manager):
    report = selectors.funnel_report(user=manager, filters=Filters.default())
    funnel = _rows(report, "funnel")
    # 6 arrivals, duplicate and invalid excluded -> 4 counted
    assert funnel["Inquiries"] == [4, 1.0, 1.0]
    assert funnel["Contacted"] == [3, 0.75, 0.75]  # I1, I2, I4
    assert funnel["Pre-screened"] == [2, 2 / 3, 0.5]
    assert funnel["Insurance verification"] == [1, 0.5, 0.25]
    assert funnel["Clinical review"] == [1, 1.0, 0.25]
    assert funnel["Approved"] == [1, 1.0, 0.25]
    assert funnel["Admission scheduled"] == [1, 1.0, 0.25]
    assert funnel["Admitted"] == [1, 1.0, 0.25]
    outcomes = _rows(report, "outcomes")
    assert outcomes["Still open"] == [1, 0.25]
    assert outcomes["Referred out"] == [1, 0.25]
    assert outcomes["Closed, not admitted"] == [1, 0.25]
    assert outcomes["Crisis routed"] == [0, 0.0]
    assert [(t.label, t.value) for t in report.tiles] == [
        ("Inquiries (counted)", 4),
        ("Duplicates and invalid (excluded)", 2),
        ("Admitted", 1),
        ("Inquiry-to-admit conversion", 0.25),
    ]


def test_funnel_filters_by_program_source_and_range(cohort, manager):
    base = Filters.default()
    by_program = selectors.funnel_report(
        user=manager, filters=Filters(base.start, base.end, program=cohort.program.pk)
    )
    assert _rows(by_program, "funnel")["Inquiries"][0] == 1  # only I1 has the program
    by_source = selectors.funnel_report(
        user=manager, filters=Filters(base.start, base.end, source=cohort.source1.pk)
    )
    assert _rows(by_source, "funnel")["Inquiries"][0] == 2  # I1, I2 (I5 is a duplicate)
    assert _rows(by_source, "funnel")["Admitted"][0] == 1
    before = Filters(cohort.day - timedelta(days=10), cohort.day - timedelta(days=1))
    assert _rows(selectors.funnel_report(user=manager, filters=before), "funnel")["Inquiries"][0] == 0


def test_speed_to_lead_medians_within_target_and_business_hours(cohort, manager):
    report = selectors.speed_report(user=manager, filters=Filters.default())
    summary = _rows(report, "summary")
    # responses: I1 2 min and I2 8 min (business hours), I4 1 min and I3 30 min (after hours)
    # [inquiries, responded, not yet, median, p90, within 5]; bucket interpolation (see metrics)
    assert summary["All hours"] == [4, 4, 0, 3.0, 39.0, 0.5]
    assert summary["Business hours"] == [2, 2, 0, 3.0, pytest.approx(8.8), 0.5]
    assert summary["After hours"] == [2, 2, 0, 2.0, 42.0, 0.5]
    distribution = _rows(report, "distribution")
    assert distribution["2 min–3 min"] == [1, 0]
    assert distribution["1 min–2 min"] == [0, 1]
    assert sum(r[0] + r[1] for r in distribution.values()) == 4
    heat = {(r[0], r[1]): r[2:] for r in report.table("heatmap").rows}
    assert heat[("Wed", "10:00")] == [2, 2, 0.5]
    assert heat[("Wed", "20:00")] == [1, 1, 0.0]
    assert heat[("Wed", "21:00")] == [1, 1, 1.0]
    assert heat[("Wed", "11:00")] == [0, 0, None]  # the duplicate does not count
    assert sum(r[2] for r in report.table("heatmap").rows) == 4


def test_sources_volume_quality_first_and_last_touch(cohort, manager):
    report = selectors.sources_report(user=manager, filters=Filters.default())
    # [inquiries, excluded, admits, conversion, median days to admission]
    first = _rows(report, "first_touch")
    assert first["Website form"] == [3, 1, 1, 0.5, 3.5]  # admitted after exactly 3 days: bucket [3, 4)
    assert first["Paid search calls"] == [1, 0, 0, 0.0, None]
    assert first["(none)"] == [2, 1, 0, 0.0, None]
    last = _rows(report, "last_touch")
    assert last["Paid search calls"] == [2, 0, 1, 0.5, 3.5]  # I1's last touch, and I3
    assert last["Website form"] == [2, 1, 0, 0.0, None]
    assert _rows(report, "campaigns")["Brand search"] == [1, 0, 1, 1.0, 3.5]
    assert _rows(report, "partners")["Bayview General Hospital"] == [1, 0, 0, 0.0, None]
    assert _rows(report, "channels")["Web form"] == [4, 2, 1, 0.5, 3.5]
    text = str([t.columns for t in report.tables]).lower()
    assert "payout" not in text
    assert "cost" not in text


def test_lost_reasons_and_referred_out(cohort, manager):
    report = selectors.outcomes_report(user=manager, filters=Filters.default())
    assert report.table("lost_reasons").rows == [["Insurance out of network", 1, 1.0]]
    assert report.table("referred_out").rows == [["=Other Rehab Center", 1, 1.0]]


def test_coordinators(cohort, manager):
    report = selectors.coordinators_report(user=manager, filters=Filters.default())
    rows = _rows(report, "coordinators")
    # [handled, contact rate, median speed, within 5, admits, conversion]
    assert rows["Kim Coordinator"] == [2, 1.0, 3.0, 0.5, 1, 0.5]
    assert rows["Lee Coordinator"] == [1, 0.0, 37.5, 0.0, 0, 0.0]
    assert rows["(unassigned)"] == [1, 1.0, 1.5, 1.0, 0, 0.0]  # I4 (I5, I6 excluded)


def test_trends_weekly(cohort, manager):
    report = selectors.trends_report(user=manager, filters=Filters.default())
    rows = report.table("weekly").rows
    assert len(rows) == 52
    monday = cohort.day - timedelta(days=cohort.day.weekday())
    assert [r for r in rows if r[0] == monday.isoformat()] == [[monday.isoformat(), 4, 1, 0.25]]
    assert sum(r[1] for r in rows) == 4


def test_census_capacity_holds_and_next_seven_days(cohort, manager):
    report = selectors.census_report(user=manager, filters=Filters.default())
    rows = report.table("census").rows
    assert rows == [
        ["Harbor Point Tampa", "Residential", "Inpatient / residential", "Beds", 10, 6, 0.6, 1, 3, 1, 2],
    ]


def test_histogram_quantile_interpolates_inside_buckets():
    edges = metrics.SPEED_EDGES_MINUTES
    counts = [0] * metrics.SPEED_BUCKETS
    counts[metrics.speed_bucket(150)] = 2  # two responses at 2.5 minutes: bucket [2, 3)
    assert metrics.histogram_quantile(counts, edges, 0.5) == 2.5
    assert metrics.histogram_quantile([0] * metrics.SPEED_BUCKETS, edges, 0.5) is None
    counts = [0] * metrics.SPEED_BUCKETS
    counts[-1] = 1
    assert metrics.histogram_quantile(counts, edges, 0.5) == float("inf")
