"""The rollup equals a direct computation from the inquiries, and a refresh picks up changes."""

from __future__ import annotations

import random
import zoneinfo
from collections import Counter
from datetime import datetime, timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from admissions.models import Inquiry
from admissions.pipeline import EXCLUDED_FROM_CONVERSION, Stage
from dashboards import selectors
from dashboards.metrics import ALL
from dashboards.models import ALL_COUNTERS, CohortRollup, RollupState
from dashboards.selectors import Filters
from dashboards.services import rollup_refresh
from tests.factories import FacilityFactory, InquiryFactory, LeadSourceFactory, ProgramFactory

pytestmark = pytest.mark.django_db

_STAGES = [
    Stage.NEW,
    Stage.CONTACT_ATTEMPTED,
    Stage.CONTACTED,
    Stage.PRESCREENED,
    Stage.ADMITTED,
    Stage.CLOSED,
    Stage.REFERRED_OUT,
    Stage.INVALID,
    Stage.NURTURE,
]


def _random_inquiries(facilities, programs, sources, n, rng):
    now = timezone.now()
    for _ in range(n):
        facility = rng.choice(facilities)
        created = now - timedelta(minutes=rng.randint(60, 200 * 24 * 60))
        stage = rng.choice(_STAGES)
        fields = {
            "facility": facility,
            "created_at": created,
            "stage": stage,
            "lead_source": rng.choice(sources + [None]),
            "program_of_interest": rng.choice(programs + [None]),
        }
        if stage != Stage.NEW and stage != Stage.INVALID:
            fields["first_attempt_at"] = created + timedelta(seconds=rng.randint(10, 20_000))
        if stage in (Stage.CONTACTED, Stage.PRESCREENED, Stage.ADMITTED, Stage.REFERRED_OUT, Stage.NURTURE):
            fields["contacted_at"] = created + timedelta(seconds=rng.randint(10, 30_000))
        if stage in (Stage.PRESCREENED, Stage.ADMITTED):
            fields["prescreened_at"] = created + timedelta(hours=5)
        if stage == Stage.ADMITTED:
            fields["admitted_at"] = created + timedelta(hours=rng.randint(6, 400))
        if stage == Stage.CLOSED:
            fields["lost_reason"] = rng.choice(["declined", "unreachable", "no_capacity"])
        if stage == Stage.REFERRED_OUT:
            fields["referred_out_to"] = rng.choice(["Clinic A", "Clinic B"])
        InquiryFactory(**fields)


@pytest.fixture
def world(facility, other_facility):
    west = FacilityFactory(name="Sonoran Phoenix", time_zone="America/Phoenix", state="AZ", city="Phoenix")
    facilities = [facility, other_facility, west]
    programs = [ProgramFactory(facility=f, name=f"Residential {f.pk}") for f in facilities]
    sources = [LeadSourceFactory(name=f"Source {i}", default_facility=facility) for i in range(3)]
    _random_inquiries(facilities, programs, sources, 150, random.Random(7))
    return facilities, programs, sources


def _direct(facility_ids, start, end, source=None):
    """Counts straight from the inquiries, with facility-local cohort days."""
    c = Counter()
    for inquiry in Inquiry.objects.filter(facility_id__in=facility_ids).select_related("facility"):
        day = inquiry.created_at.astimezone(zoneinfo.ZoneInfo(inquiry.facility.time_zone)).date()
        if not (start <= day <= end) or (source and inquiry.lead_source_id != source):
            continue
        c["inquiries"] += 1
        if inquiry.stage in EXCLUDED_FROM_CONVERSION:
            c["excluded"] += 1
            continue
        c["admitted"] += inquiry.stage == Stage.ADMITTED
        c["contacted"] += bool(inquiry.contacted_at or inquiry.prescreened_at or inquiry.admitted_at)
        c["closed_lost"] += inquiry.stage == Stage.CLOSED
        response = min(
            t for t in (inquiry.first_attempt_at, inquiry.contacted_at, timezone.now() + timedelta(1)) if t
        )
        if response < timezone.now():
            c["responded"] += 1
            c["within_target"] += (response - inquiry.created_at) <= timedelta(minutes=5)
    return c


def _rollup_totals(facility_ids, start, end, source=ALL):
    rows = CohortRollup.objects.filter(
        dimension="",
        program_key=ALL,
        source_key=source,
        facility_id__in=facility_ids,
        day__gte=start,
        day__lte=end,
    )
    names = ["inquiries", "excluded", "admitted", "contacted", "closed_lost", "responded", "within_target"]
    return Counter({k: v for k, v in rows.aggregate(**{n: Sum(n) for n in names}).items() if v})


def test_rollup_equals_direct_computation(world, administrator):
    facilities, _programs, sources = world
    rollup_refresh(full=True)
    ids = [f.pk for f in facilities]
    today = timezone.localdate()
    for start, end in [(today - timedelta(days=89), today), (today - timedelta(days=364), today)]:
        assert _rollup_totals(ids, start, end) == _direct(ids, start, end)
        for f in facilities:
            assert _rollup_totals([f.pk], start, end) == _direct([f.pk], start, end)
        assert _rollup_totals(ids, start, end, sources[0].pk) == _direct(ids, start, end, sources[0].pk)
        report = selectors.funnel_report(user=administrator, filters=Filters(start, end))
        direct = _direct(ids, start, end)
        assert report.tiles[0].value == direct["inquiries"] - direct["excluded"]
        assert report.tiles[2].value == direct["admitted"]


def _snapshot():
    return sorted(
        tuple(row)
        for row in CohortRollup.objects.values_list(
            "day", "facility_id", "program_key", "source_key", "dimension", "key", *ALL_COUNTERS
        )
    )


def test_incremental_refresh_matches_a_full_rebuild(world):
    facilities, programs, sources = world
    rollup_refresh(full=True)
    rng = random.Random(11)
    now = timezone.now()
    # changes the watermark can see: stage moves (stage_changed_at), new inquiries, an import with old dates
    for inquiry in Inquiry.objects.filter(stage=Stage.PRESCREENED)[:5]:
        Inquiry.objects.filter(pk=inquiry.pk).update(
            stage=Stage.ADMITTED, admitted_at=now, stage_changed_at=now
        )
    for inquiry in Inquiry.objects.filter(stage=Stage.NEW)[:5]:
        Inquiry.objects.filter(pk=inquiry.pk).update(stage=Stage.INVALID, stage_changed_at=now)
    _random_inquiries(facilities, programs, sources, 20, rng)
    old = InquiryFactory(facility=facilities[2], created_at=now - timedelta(days=300), stage=Stage.NEW)
    Inquiry.objects.filter(pk=old.pk).update(stage_changed_at=now - timedelta(days=300))
    result = rollup_refresh()
    assert not result.full
    incremental = _snapshot()
    rollup_refresh(full=True)
    assert incremental == _snapshot()


def test_a_change_shows_up_after_one_refresh(cohort, manager):
    def admitted():
        return selectors.funnel_report(user=manager, filters=Filters.default()).tiles[2].value

    assert admitted() == 1
    before = RollupState.objects.get().data_as_of
    i3 = cohort.inquiries["i3"]
    now = timezone.now()
    Inquiry.objects.filter(pk=i3.pk).update(stage=Stage.ADMITTED, admitted_at=now, stage_changed_at=now)
    assert admitted() == 1  # not yet: the rollup has not run
    result = rollup_refresh()
    assert admitted() == 2
    assert result.days >= 1
    state = RollupState.objects.get()
    assert state.data_as_of > before
    assert state.watermark == state.data_as_of


def test_first_refresh_builds_everything_and_sweep_walks_back(world):
    first = rollup_refresh()
    assert first.full
    state = RollupState.objects.get()
    assert state.sweep_oldest is not None
    second = rollup_refresh()
    assert not second.full
    assert RollupState.objects.get().sweep_cursor == timezone.localdate() - timedelta(days=3)


def test_refresh_task_runs(cohort):
    from dashboards.tasks import dashboards_refresh

    assert dashboards_refresh.apply().get() >= 0
    assert RollupState.objects.get().data_as_of <= datetime.now(tz=zoneinfo.ZoneInfo("UTC"))


@pytest.mark.django_db(transaction=True)
def test_refresh_task_skips_while_another_refresh_runs(cohort):
    """A tick of beat during a long build returns at once instead of holding a worker behind it."""
    from django.db import connections

    from dashboards.tasks import dashboards_refresh

    RollupState.objects.get_or_create(name="cohort")
    before = RollupState.objects.get().watermark
    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:  # another refresh, under way
            cursor.execute("SELECT 1 FROM dashboards_rollupstate WHERE name = 'cohort' FOR UPDATE")
        assert dashboards_refresh.apply().get() == 0
        assert RollupState.objects.get().watermark == before
        other.rollback()
    finally:
        other.close()
    assert dashboards_refresh.apply().get() > 0
    after = RollupState.objects.get().watermark
    assert after is not None
    assert before is None or after > before
    assert CohortRollup.objects.exists()
