"""Refreshing the dashboard rollup from the inquiries: the only writer of ``dashboards.models``.

Dependency direction: ``dashboards`` reads ``admissions``, ``programs`` and ``crm``
and nothing imports ``dashboards`` back (URL conf and Celery autodiscovery aside).

A refresh finds the inquiries changed since the last one (new ids, ``created_at``,
``stage_changed_at`` and timeline events after the watermark), turns them into
(facility, cohort day) pairs and recomputes exactly those days from the inquiries.
Every refresh also re-derives a few of the oldest-reconciled days (a rolling
sweep), so edits that leave no trace the watermark can see (an import with
historic timestamps, an admin edit) are corrected within a bounded time.
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from admissions.models import Inquiry, InquiryEvent, Touch
from admissions.pipeline import EXCLUDED_FROM_CONVERSION, OPEN_STAGES, Stage
from crm.models import Facility
from dashboards import metrics
from dashboards.models import ALL_COUNTERS, DIMENSION_FIELDS, CohortRollup, Dimension, RollupState

# Transactions that commit later than they stamped their rows are still seen:
# every refresh looks back this far before the watermark (the task time limit).
OVERLAP = timedelta(seconds=150)
CHUNK_DAYS = 31
SWEEP_DAYS_PER_REFRESH = 3
_EVENT_KINDS = (
    InquiryEvent.Kind.CREATED,
    InquiryEvent.Kind.STAGE_CHANGED,
    InquiryEvent.Kind.ASSIGNED,
    InquiryEvent.Kind.CALL,
    InquiryEvent.Kind.TOUCH,
)

_IDX = {name: i for i, name in enumerate(ALL_COUNTERS)}
_WIDTH = len(ALL_COUNTERS)
_STEP_IDX = [_IDX[step] for step, _label, _field in metrics.FUNNEL_STEPS]
_STEP_STAMPS = [field for _step, _label, field in metrics.FUNNEL_STEPS]
_SPEED0 = _IDX["stl_00"]
_SPEED_AH0 = _IDX["stl_ah_00"]
_ADMIT0 = _IDX["adm_00"]
_OUTCOME_IDX: dict[str, int] = {
    Stage.REFERRED_OUT: _IDX["referred_out"],
    Stage.CLOSED: _IDX["closed_lost"],
    Stage.CRISIS_ROUTED: _IDX["crisis_routed"],
    Stage.NURTURE: _IDX["nurture"],
}
_KEY_COLUMNS = ("day", "facility_id", "program_key", "source_key", "dimension", "key")

RollupKey = tuple[date, int, int, int, str, str]


@dataclass(frozen=True)
class RefreshResult:
    full: bool
    days: int
    rows: int
    seconds: float
    data_as_of: datetime


def _inquiry_values(
    facility_id: int, ranges: Sequence[tuple[datetime, datetime]]
) -> Iterator[tuple[Any, ...]]:
    """The fields the rollup needs, for one facility's inquiries created inside ``ranges``."""
    window = Q()
    for start, end in ranges:
        window |= Q(created_at__gte=start, created_at__lt=end)
    last_touch_source = Subquery(
        Touch.objects.filter(inquiry=OuterRef("pk")).order_by("-at", "-pk").values("lead_source_id")[:1]
    )
    return (
        Inquiry.objects.filter(window, facility_id=facility_id)
        .order_by()
        .annotate(
            program_key=Coalesce("admitted_program_id", "approved_program_id", "program_of_interest_id"),
            last_touch_source=last_touch_source,
        )
        .values_list(
            "created_at",
            "stage",
            "first_attempt_at",
            *_STEP_STAMPS,
            "program_key",
            "lead_source_id",
            "campaign_id",
            "referral_partner_id",
            "last_touch_source",
            "channel",
            "assigned_to_id",
            "lost_reason",
            "referred_out_to",
        )
        .iterator(chunk_size=5000)
    )


def _aggregate(
    facility_id: int, tz: zoneinfo.ZoneInfo, rows: Iterable[tuple[Any, ...]]
) -> dict[RollupKey, list[int]]:
    """Fold inquiries into rollup rows (every program/source variant and every breakdown)."""
    out: dict[RollupKey, list[int]] = {}
    n_steps = len(_STEP_STAMPS)
    inquiries_i, excluded_i, open_i = _IDX["inquiries"], _IDX["excluded"], _IDX["open"]
    after_i, resp_i, within_i = _IDX["after_hours"], _IDX["responded"], _IDX["within_target"]
    ah_resp_i, ah_within_i, admit_s_i = (
        _IDX["after_hours_responded"],
        _IDX["after_hours_within_target"],
        _IDX["admit_seconds"],
    )
    for row in rows:
        created: datetime = row[0]
        stage: str = row[1]
        first_attempt: datetime | None = row[2]
        stamps = row[3 : 3 + n_steps]
        (program, source, campaign, partner, last_source, channel, coordinator, lost, referred) = row[
            3 + n_steps :
        ]
        local = created.astimezone(tz)
        day = local.date()
        incs = [inquiries_i]
        admit_seconds = 0
        if stage in EXCLUDED_FROM_CONVERSION:
            incs.append(excluded_i)
        else:
            furthest = -1
            for i in range(n_steps - 1, -1, -1):
                if stamps[i] is not None:
                    furthest = i
                    break
            incs.extend(_STEP_IDX[: furthest + 1])
            if stage in OPEN_STAGES:
                incs.append(open_i)
            elif stage in _OUTCOME_IDX:
                incs.append(_OUTCOME_IDX[stage])
            after = not metrics.is_business_hours(local)
            if after:
                incs.append(after_i)
            contacted = stamps[0]
            response = (
                first_attempt
                if contacted is None or (first_attempt and first_attempt < contacted)
                else contacted
            )
            if response is not None:
                seconds = max((response - created).total_seconds(), 0.0)
                bucket = metrics.speed_bucket(seconds)
                within = seconds <= metrics.SPEED_TARGET_SECONDS
                incs.append(resp_i)
                incs.append(_SPEED0 + bucket)
                if within:
                    incs.append(within_i)
                if after:
                    incs.append(ah_resp_i)
                    incs.append(_SPEED_AH0 + bucket)
                    if within:
                        incs.append(ah_within_i)
            admitted_at = stamps[-1]
            if admitted_at is not None:
                admit_seconds = max(int((admitted_at - created).total_seconds()), 0)
                incs.append(_ADMIT0 + metrics.admit_bucket(admit_seconds))
        program_key = program or metrics.NONE
        source_key = source or metrics.NONE
        breakdowns: list[tuple[str, str]] = [
            (Dimension.TOTAL, ""),
            (Dimension.CAMPAIGN, str(campaign or "")),
            (Dimension.PARTNER, str(partner or "")),
            (Dimension.LAST_TOUCH, str(last_source or source or "")),
            (Dimension.CHANNEL, channel),
            (Dimension.COORDINATOR, str(coordinator or "")),
        ]
        if stage == Stage.CLOSED and lost:
            breakdowns.append((Dimension.LOST_REASON, lost))
        elif stage == Stage.REFERRED_OUT and referred:
            breakdowns.append((Dimension.REFERRED_OUT, referred.strip()[:160]))
        targets: list[RollupKey] = []
        for dimension, key in breakdowns:
            for p in (metrics.ALL, program_key):
                for s in (metrics.ALL, source_key):
                    targets.append((day, facility_id, p, s, dimension, key))
        # The heat map is kept per source only (every program), to keep the table small.
        hour = f"{local.weekday()}:{local.hour}"
        targets.append((day, facility_id, metrics.ALL, metrics.ALL, Dimension.HOUR, hour))
        targets.append((day, facility_id, metrics.ALL, source_key, Dimension.HOUR, hour))
        for target in targets:
            counters = out.get(target)
            if counters is None:
                counters = out[target] = [0] * _WIDTH
            for i in incs:
                counters[i] += 1
            counters[admit_s_i] += admit_seconds
    return out


def _local_day_bounds(day: date, tz: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    return start, end


def _runs(days: Iterable[date]) -> list[list[date]]:
    """Sorted days split into contiguous runs of at most ``CHUNK_DAYS``."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1][-1]).days == 1 and len(runs[-1]) < CHUNK_DAYS:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _write(rows: dict[RollupKey, list[int]]) -> None:
    """Insert rollup rows, each breakdown with only the counters it uses (zeros as NULL)."""
    by_dimension: dict[str, list[tuple[RollupKey, list[int]]]] = {}
    for key, counters in rows.items():
        by_dimension.setdefault(key[4], []).append((key, counters))
    for dimension, items in by_dimension.items():
        # Rows a page reads together sit together: sorted like the read index.
        items.sort(key=lambda item: (item[0][2], item[0][3], item[0][0], item[0][1], item[0][5]))
        fields = DIMENSION_FIELDS[dimension]
        picks = [_IDX[name] for name in fields]
        values = ((*key, *[counters[i] or None for i in picks]) for key, counters in items)
        columns = ", ".join((*_KEY_COLUMNS, *fields))
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg 3: COPY is an order of magnitude faster than INSERT
            with raw.copy(f"COPY {CohortRollup._meta.db_table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in values:
                    copy.write_row(row)


def rollup_days_recompute(*, facility: Facility, days: Iterable[date]) -> tuple[int, int]:
    """Replace the rollup rows of ``days`` (facility-local) with counts computed from the inquiries."""
    tz = zoneinfo.ZoneInfo(facility.time_zone)
    n_days = n_rows = 0
    for run in _runs(days):
        start, _ = _local_day_bounds(run[0], tz)
        _, end = _local_day_bounds(run[-1], tz)
        rows = _aggregate(facility.pk, tz, _inquiry_values(facility.pk, [(start, end)]))
        CohortRollup.objects.filter(facility_id=facility.pk, day__gte=run[0], day__lte=run[-1]).delete()
        _write(rows)
        n_days += len(run)
        n_rows += len(rows)
    return n_days, n_rows


def _state_for_update(*, skip_locked: bool = False) -> RollupState | None:
    """The rollup's state row, locked; None when another refresh holds it and ``skip_locked``."""
    RollupState.objects.get_or_create(name="cohort")
    return RollupState.objects.select_for_update(skip_locked=skip_locked).filter(name="cohort").first()


def _touched(since: datetime, last_id: int) -> dict[int, set[datetime]]:
    """Creation times of inquiries changed since ``since`` (or created after id ``last_id``), by facility."""
    event_inquiries = InquiryEvent.objects.filter(kind__in=_EVENT_KINDS, at__gte=since).values("inquiry_id")
    touched: dict[int, set[datetime]] = {}
    queries = (
        Inquiry.objects.filter(pk__gt=last_id),
        Inquiry.objects.filter(created_at__gte=since),
        # No index on stage_changed_at: a sequential scan on PostgreSQL (see docs/dashboards.md).
        Inquiry.objects.filter(stage_changed_at__gte=since),
        Inquiry.objects.filter(pk__in=event_inquiries),
    )
    for queryset in queries:
        for facility_id, created in queryset.order_by().values_list("facility_id", "created_at"):
            touched.setdefault(facility_id, set()).add(created)
    return touched


class RefreshRunning(Exception):
    """Another refresh holds the rollup; this one did nothing."""


def rollup_refresh(
    *, full: bool = False, now: datetime | None = None, skip_if_running: bool = False
) -> RefreshResult:
    """Bring the rollup up to date: changed cohort days, plus a slice of the reconcile sweep.

    ``skip_if_running``: raise ``RefreshRunning`` at once when another refresh is under way, rather
    than wait for it (beat's ticks must not pile up behind a long first build, each holding a worker
    process that follow-ups need)."""
    began = time.perf_counter()
    started = now or timezone.now()
    facilities = {f.pk: f for f in Facility.objects.all()}
    with transaction.atomic():
        state = _state_for_update(skip_locked=skip_if_running)
        if state is None:
            raise RefreshRunning
        max_id = Inquiry.objects.aggregate(m=Max("pk"))["m"] or 0
        full = full or state.watermark is None
        days_by_facility: dict[int, set[date]] = {}
        if full:
            bounds = Inquiry.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
            CohortRollup.objects.all().delete()
            if bounds["first"] is not None:
                for facility in facilities.values():
                    tz = zoneinfo.ZoneInfo(facility.time_zone)
                    first = bounds["first"].astimezone(tz).date()
                    last = bounds["last"].astimezone(tz).date()
                    days_by_facility[facility.pk] = {
                        first + timedelta(days=i) for i in range((last - first).days + 1)
                    }
        else:
            assert state.watermark is not None  # noqa: S101 - narrowed by ``full`` above
            for facility_id, times in _touched(state.watermark - OVERLAP, state.last_inquiry_id).items():
                tz = zoneinfo.ZoneInfo(facilities[facility_id].time_zone)
                days_by_facility.setdefault(facility_id, set()).update(t.astimezone(tz).date() for t in times)
            _sweep(state, facilities, days_by_facility, started)
        n_days = n_rows = 0
        for facility_id, days in sorted(days_by_facility.items()):
            d, r = rollup_days_recompute(facility=facilities[facility_id], days=days)
            n_days += d
            n_rows += r
        state.watermark = started
        state.data_as_of = started
        state.last_inquiry_id = max_id
        if full:
            state.full_rebuilt_at = started
            state.sweep_cursor = None
            state.sweep_oldest = min((min(d) for d in days_by_facility.values() if d), default=None)
        seconds = time.perf_counter() - began
        state.last_duration_ms = min(int(seconds * 1000), 2**31 - 1)
        state.last_days_refreshed = n_days
        state.save()
        if full:
            with connection.cursor() as cursor:  # fresh statistics, or the planner guesses on a new table
                cursor.execute(f"ANALYZE {CohortRollup._meta.db_table}")
    return RefreshResult(full=full, days=n_days, rows=n_rows, seconds=seconds, data_as_of=started)


def _sweep(
    state: RollupState,
    facilities: dict[int, Facility],
    days_by_facility: dict[int, set[date]],
    now: datetime,
) -> None:
    """Add the next ``SWEEP_DAYS_PER_REFRESH`` days (walking back from today, then wrapping) to the work."""
    today = timezone.localdate(now)
    cursor = state.sweep_cursor or today
    oldest = state.sweep_oldest or today
    days = [cursor - timedelta(days=i) for i in range(SWEEP_DAYS_PER_REFRESH)]
    for facility_id in facilities:
        days_by_facility.setdefault(facility_id, set()).update(days)
    following = days[-1] - timedelta(days=1)
    state.sweep_cursor = following if following >= oldest else today
