"""KPI computations for the manager dashboards. Every function returns plain data (a ``Report``).

Cohort KPIs read ``CohortRollup`` (see ``dashboards.models``); census reads the
small live tables. Every queryset goes through ``crm.scoping.scope_to_user``.
Each page runs a fixed number of queries whatever the date range or data size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Avg, Count, F, Min, Q, QuerySet, Sum
from django.utils import timezone

from admissions.models import Campaign, Channel, Inquiry, LeadSource, ReferralPartner, WaitlistEntry
from admissions.pipeline import LostReason, Stage
from crm.models import Facility, User
from crm.scoping import scope_to_user
from dashboards import metrics
from dashboards.models import CohortRollup, Dimension, RollupState
from dashboards.reports import ChartSpec, Column, Report, Table, Tile
from programs.models import CapacityHold, Program

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    Viewer = User | AnonymousUser

DEFAULT_DAYS = 90
MAX_DAYS = 800


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    facility: int | None = None
    program: int | None = None
    source: int | None = None

    @classmethod
    def default(cls, today: date | None = None) -> Filters:
        end = today or timezone.localdate()
        return cls(start=end - timedelta(days=DEFAULT_DAYS - 1), end=end)

    def as_dict(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "facility": self.facility,
            "program": self.program,
            "source": self.source,
        }


def data_as_of() -> datetime | None:
    """When the rollup was last brought up to date (None: never built)."""
    return RollupState.objects.filter(name="cohort").values_list("data_as_of", flat=True).first()


def _rollup(
    user: Viewer,
    f: Filters,
    *,
    dimension: str | tuple[str, ...] = Dimension.TOTAL,
    per_source: bool = False,
    every_program: bool = False,
    start: date | None = None,
) -> QuerySet[CohortRollup]:
    qs = CohortRollup.objects.filter(
        Q(dimension__in=dimension) if isinstance(dimension, tuple) else Q(dimension=dimension),
        program_key=metrics.ALL if every_program else (f.program or metrics.ALL),
        day__gte=start or f.start,
        day__lte=f.end,
    )
    if per_source and f.source is None:
        qs = qs.exclude(source_key=metrics.ALL)
    else:
        qs = qs.filter(source_key=f.source or metrics.ALL)
    qs = scope_to_user(qs, user, facility_field="facility_id")
    if f.facility:
        qs = qs.filter(facility_id=f.facility)
    return qs.order_by()


def _as_int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _sums(names: Iterable[str]) -> dict[str, Any]:
    return {name: Sum(name) for name in names}


def _totals(qs: QuerySet[CohortRollup], names: Sequence[str]) -> dict[str, int]:
    row = qs.aggregate(**_sums(names))
    return {name: row[name] or 0 for name in names}


def _grouped(qs: QuerySet[CohortRollup], by: str, names: Sequence[str]) -> list[dict[str, Any]]:
    rows = qs.values(by).annotate(**_sums(names)).order_by(by)
    return [{**r, **{n: r[n] or 0 for n in names}} for r in rows]


def _hist(row: dict[str, int], fields: Sequence[str]) -> list[int]:
    return [row[name] for name in fields]


def _quantile_minutes(counts: list[int], q: float) -> float | None:
    return metrics.histogram_quantile(counts, metrics.SPEED_EDGES_MINUTES, q)


def _median_days(counts: list[int]) -> float | None:
    return metrics.histogram_quantile(counts, metrics.ADMIT_EDGES_DAYS, 0.5)


# --- funnel ----------------------------------------------------------------------------


_FUNNEL_FIELDS = ("inquiries", "excluded", *(s for s, _l, _f in metrics.FUNNEL_STEPS))
_OUTCOME_FIELDS = ("open", "admitted", "referred_out", "closed_lost", "crisis_routed", "nurture")


def funnel_report(*, user: Viewer, filters: Filters) -> Report:
    """Cohort funnel: inquiries that arrived in the range and how far they went."""
    t = _totals(_rollup(user, filters), tuple(dict.fromkeys(_FUNNEL_FIELDS + _OUTCOME_FIELDS)))
    counted = t["inquiries"] - t["excluded"]
    steps = [("Inquiries", counted)] + [(label, t[step]) for step, label, _f in metrics.FUNNEL_STEPS]
    rows: list[list[object]] = []
    previous = counted
    for label, value in steps:
        rows.append([label, value, metrics.ratio(value, previous), metrics.ratio(value, counted)])
        previous = value
    outcome_rows: list[list[object]] = [
        ["Still open", t["open"], metrics.ratio(t["open"], counted)],
        ["Admitted", t["admitted"], metrics.ratio(t["admitted"], counted)],
        ["Referred out", t["referred_out"], metrics.ratio(t["referred_out"], counted)],
        ["Closed, not admitted", t["closed_lost"], metrics.ratio(t["closed_lost"], counted)],
        ["Crisis routed", t["crisis_routed"], metrics.ratio(t["crisis_routed"], counted)],
        ["Nurture", t["nurture"], metrics.ratio(t["nurture"], counted)],
    ]
    return Report(
        slug="funnel",
        title="Admissions funnel",
        tiles=[
            Tile("Inquiries (counted)", counted),
            Tile("Duplicates and invalid (excluded)", t["excluded"]),
            Tile("Admitted", t["admitted"]),
            Tile("Inquiry-to-admit conversion", metrics.ratio(t["admitted"], counted), "pct"),
        ],
        charts=[
            ChartSpec(
                kind="bars",
                title="Funnel: inquiries reaching each stage",
                description=(
                    f"Of {counted:,} counted inquiries, "
                    + ", ".join(f"{v:,} {label.lower()}" for label, v in steps[1:])
                    + ". Exact figures are in the funnel table."
                ),
                labels=[label for label, _v in steps],
                series=[("Inquiries", [float(v) for _l, v in steps])],
                table_slug="funnel",
            )
        ],
        tables=[
            Table(
                "funnel",
                "Funnel (cohort by inquiry date)",
                [
                    Column("Stage", "text"),
                    Column("Reached"),
                    Column("Step conversion", "pct"),
                    Column("Overall conversion", "pct"),
                ],
                rows,
                note="Reached = reached this stage or a later one. "
                "Duplicates and invalid leads are excluded.",
            ),
            Table(
                "outcomes",
                "Where the cohort stands now",
                [Column("Outcome", "text"), Column("Inquiries"), Column("Share", "pct")],
                outcome_rows,
            ),
        ],
    )


# --- speed to lead ------------------------------------------------------------------------

_SPEED_TOTALS = (
    "inquiries",
    "excluded",
    "after_hours",
    "responded",
    "within_target",
    "after_hours_responded",
    "after_hours_within_target",
    *metrics.SPEED_FIELDS,
    *metrics.SPEED_AFTER_HOURS_FIELDS,
)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _bucket_labels() -> list[str]:
    labels = []
    low = 0
    for edge in metrics.SPEED_EDGES_MINUTES:
        labels.append(f"{_minutes_label(low)}–{_minutes_label(edge)}")
        low = edge
    labels.append(f"{_minutes_label(low)}+")
    return labels


def _minutes_label(minutes: int) -> str:
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def speed_report(*, user: Viewer, filters: Filters) -> Report:
    """Minutes from inquiry to first response, business hours vs after hours, and the heat map."""
    t = _totals(_rollup(user, filters), _SPEED_TOTALS)
    counted = t["inquiries"] - t["excluded"]
    overall = _hist(t, metrics.SPEED_FIELDS)
    after = _hist(t, metrics.SPEED_AFTER_HOURS_FIELDS)
    business = [a - b for a, b in zip(overall, after, strict=True)]
    segments = [
        ("All hours", counted, t["responded"], t["within_target"], overall),
        (
            "Business hours",
            counted - t["after_hours"],
            t["responded"] - t["after_hours_responded"],
            t["within_target"] - t["after_hours_within_target"],
            business,
        ),
        ("After hours", t["after_hours"], t["after_hours_responded"], t["after_hours_within_target"], after),
    ]
    summary_rows: list[list[object]] = [
        [
            name,
            n,
            responded,
            n - responded,
            _quantile_minutes(hist, 0.5),
            _quantile_minutes(hist, 0.9),
            metrics.ratio(within, responded),
        ]
        for name, n, responded, within, hist in segments
    ]
    labels = _bucket_labels()
    distribution_rows: list[list[object]] = [
        [label, b, a] for label, b, a in zip(labels, business, after, strict=True)
    ]

    heat = _grouped(
        _rollup(user, filters, dimension=Dimension.HOUR, every_program=True),
        "key",
        ("inquiries", "excluded", "responded", "within_target"),
    )
    cells: dict[tuple[int, int], tuple[int, int, int]] = {}
    for row in heat:
        weekday, hour = (int(part) for part in row["key"].split(":"))
        cells[(weekday, hour)] = (row["inquiries"] - row["excluded"], row["responded"], row["within_target"])
    grid: list[list[float | None]] = []
    heat_rows: list[list[object]] = []
    for d in range(7):
        line: list[float | None] = []
        for h in range(24):
            n, responded, within = cells.get((d, h), (0, 0, 0))
            share = metrics.ratio(within, responded)
            line.append(share)
            heat_rows.append([_WEEKDAYS[d], f"{h:02d}:00", n, responded, share])
        grid.append(line)
    return Report(
        slug="speed",
        title="Speed to lead",
        tiles=[
            Tile("Median minutes to first response", summary_rows[0][4], "minutes"),
            Tile("90th percentile", summary_rows[0][5], "minutes"),
            Tile("Responded within 5 minutes", summary_rows[0][6], "pct"),
            Tile("Not yet responded", summary_rows[0][3]),
        ],
        charts=[
            ChartSpec(
                kind="bars",
                title="Time to first response",
                description="Responded inquiries per time bucket, business hours and after hours. "
                "Exact counts are in the distribution table.",
                labels=labels,
                series=[
                    ("Business hours", [float(v) for v in business]),
                    ("After hours", [float(v) for v in after]),
                ],
                table_slug="distribution",
            ),
            ChartSpec(
                kind="heatmap",
                title="Share responded within 5 minutes by arrival day and hour",
                description="Rows are weekdays Monday to Sunday, columns hours 0 to 23 in the facility's "
                "local time; darker is a higher share within 5 minutes. Every cell is in the heat map table.",
                labels=[],
                series=[],
                value_kind="pct",
                table_slug="heatmap",
                grid=grid,
                row_labels=list(_WEEKDAYS),
                column_labels=[f"{h:02d}" for h in range(24)],
            ),
        ],
        tables=[
            Table(
                "summary",
                "Speed to lead",
                [
                    Column("Arrived", "text"),
                    Column("Inquiries"),
                    Column("Responded"),
                    Column("Not yet responded"),
                    Column("Median", "minutes"),
                    Column("90th percentile", "minutes"),
                    Column("Within 5 minutes", "pct"),
                ],
                summary_rows,
                note="Business hours: Monday to Friday 8:00 to 18:00 in the facility's time zone. "
                "Medians and percentiles are interpolated inside histogram buckets "
                "(1-minute buckets up to 10 minutes).",
            ),
            Table(
                "distribution",
                "Time to first response",
                [Column("Minutes", "text"), Column("Business hours"), Column("After hours")],
                distribution_rows,
            ),
            Table(
                "heatmap",
                "Heat map: arrivals and response within 5 minutes",
                [
                    Column("Day", "text"),
                    Column("Hour", "text"),
                    Column("Inquiries"),
                    Column("Responded"),
                    Column("Within 5 minutes", "pct"),
                ],
                heat_rows,
                note="The heat map follows the facility and source filters; it always covers every program.",
            ),
        ],
    )


# --- sources -----------------------------------------------------------------------------

_QUALITY_FIELDS = ("inquiries", "excluded", "admitted", *metrics.ADMIT_FIELDS)
_QUALITY_COLUMNS = [
    Column("Inquiries"),
    Column("Excluded"),
    Column("Admits"),
    Column("Conversion", "pct"),
    Column("Median days to admission", "days"),
]


def _quality_rows(groups: list[dict[str, Any]], by: str, names: dict[str, str]) -> list[list[object]]:
    rows: list[list[object]] = []
    for g in groups:
        counted = g["inquiries"] - g["excluded"]
        rows.append(
            [
                names.get(str(g[by]), "(none)"),
                g["inquiries"],
                g["excluded"],
                g["admitted"],
                metrics.ratio(g["admitted"], counted),
                _median_days(_hist(g, metrics.ADMIT_FIELDS)),
            ]
        )
    rows.sort(key=lambda r: (-_as_int(r[1]), str(r[0])))
    return rows


def _names(model: Any, keys: Iterable[object], attr: str) -> dict[str, str]:
    ids = {int(str(k)) for k in keys if str(k).isdigit() and int(str(k)) > 0}
    if not ids:
        return {}
    return {str(pk): str(name) for pk, name in model.objects.filter(pk__in=ids).values_list("pk", attr)}


def sources_report(*, user: Viewer, filters: Filters) -> Report:
    """Volume and quality (admits, conversion, days to admission) by attribution; no payout figures."""
    by_source = _grouped(_rollup(user, filters, per_source=True), "source_key", _QUALITY_FIELDS)
    breakdowns = (Dimension.CAMPAIGN, Dimension.PARTNER, Dimension.LAST_TOUCH, Dimension.CHANNEL)
    by_dimension: dict[str, list[dict[str, Any]]] = {dim: [] for dim in breakdowns}
    grouped = (
        _rollup(user, filters, dimension=breakdowns)  # one query for the four breakdowns
        .values("dimension", "key")
        .annotate(**_sums(_QUALITY_FIELDS))
        .order_by("dimension", "key")
    )
    for row in grouped:
        by_dimension[row["dimension"]].append({**row, **{n: row[n] or 0 for n in _QUALITY_FIELDS}})
    source_keys = [g["source_key"] for g in by_source] + [
        g["key"] for g in by_dimension[Dimension.LAST_TOUCH]
    ]
    source_names = _names(LeadSource, source_keys, "name")
    campaign_names = _names(Campaign, (g["key"] for g in by_dimension[Dimension.CAMPAIGN]), "name")
    partner_names = _names(
        ReferralPartner, (g["key"] for g in by_dimension[Dimension.PARTNER]), "organisation"
    )
    channel_names = {str(c.value): str(c.label) for c in Channel}
    first_touch = _quality_rows(by_source, "source_key", source_names)
    tables = [
        Table(
            "first_touch",
            "By lead source (first touch)",
            [Column("Lead source", "text"), *_QUALITY_COLUMNS],
            first_touch,
        ),
        Table(
            "last_touch",
            "By last touch source",
            [Column("Lead source", "text"), *_QUALITY_COLUMNS],
            _quality_rows(by_dimension[Dimension.LAST_TOUCH], "key", source_names),
        ),
        Table(
            "campaigns",
            "By campaign (first touch)",
            [Column("Campaign", "text"), *_QUALITY_COLUMNS],
            _quality_rows(by_dimension[Dimension.CAMPAIGN], "key", campaign_names),
        ),
        Table(
            "partners",
            "By referral partner",
            [Column("Referral partner", "text"), *_QUALITY_COLUMNS],
            _quality_rows(by_dimension[Dimension.PARTNER], "key", partner_names),
        ),
        Table(
            "channels",
            "By channel",
            [Column("Channel", "text"), *_QUALITY_COLUMNS],
            _quality_rows(by_dimension[Dimension.CHANNEL], "key", channel_names),
        ),
    ]
    top = first_touch[:12]
    return Report(
        slug="sources",
        title="Sources and referral partners",
        charts=[
            ChartSpec(
                kind="bars",
                title="Inquiries and admits by lead source (first touch)",
                description="Counted inquiries and admits for the largest lead sources; "
                "every source is in the first-touch table.",
                labels=[str(r[0]) for r in top],
                series=[
                    ("Inquiries", [float(r[1]) - float(r[2]) for r in top]),  # type: ignore[arg-type]
                    ("Admits", [float(r[3]) for r in top]),  # type: ignore[arg-type]
                ],
                table_slug="first_touch",
            )
        ],
        tables=tables,
        notes=[
            "Attribution is for volume and quality only: referral sources are never paid per referral or "
            "per admission, so no payout or cost-per-referral figure is kept or shown.",
            "Conversion = admits / (inquiries - excluded duplicates and invalid leads).",
        ],
    )


# --- lost reasons and referred out --------------------------------------------------------


def outcomes_report(*, user: Viewer, filters: Filters) -> Report:
    """Why inquiries did not admit, and where people were referred."""
    fields = ("inquiries", "excluded", "closed_lost", "referred_out")
    t = _totals(_rollup(user, filters), fields)
    lost = _grouped(_rollup(user, filters, dimension=Dimension.LOST_REASON), "key", ("inquiries",))
    referred = _grouped(_rollup(user, filters, dimension=Dimension.REFERRED_OUT), "key", ("inquiries",))
    labels = {str(c.value): str(c.label) for c in LostReason}
    lost_rows: list[list[object]] = sorted(
        (
            [labels.get(g["key"], g["key"]), g["inquiries"], metrics.ratio(g["inquiries"], t["closed_lost"])]
            for g in lost
        ),
        key=lambda r: (-_as_int(r[1]), str(r[0])),
    )
    referred_rows: list[list[object]] = sorted(
        ([g["key"], g["inquiries"], metrics.ratio(g["inquiries"], t["referred_out"])] for g in referred),
        key=lambda r: (-_as_int(r[1]), str(r[0])),
    )
    return Report(
        slug="outcomes",
        title="Lost reasons and referrals out",
        tiles=[
            Tile("Closed, not admitted", t["closed_lost"]),
            Tile("Referred out", t["referred_out"]),
            Tile("Duplicates and invalid (excluded)", t["excluded"]),
        ],
        charts=[
            ChartSpec(
                kind="bars",
                title="Lost reasons",
                description="Inquiries closed without admission, by reason; exact counts are in the table.",
                labels=[str(r[0]) for r in lost_rows],
                series=[("Inquiries", [float(r[1]) for r in lost_rows])],  # type: ignore[arg-type]
                table_slug="lost_reasons",
            )
        ],
        tables=[
            Table(
                "lost_reasons",
                "Lost reasons",
                [Column("Reason", "text"), Column("Inquiries"), Column("Share of closed", "pct")],
                lost_rows,
            ),
            Table(
                "referred_out",
                "Referred out to",
                [Column("Destination", "text"), Column("Inquiries"), Column("Share of referred out", "pct")],
                referred_rows,
            ),
        ],
    )


# --- coordinators ---------------------------------------------------------------------------

_COORDINATOR_FIELDS = (
    "inquiries",
    "excluded",
    "contacted",
    "responded",
    "within_target",
    "admitted",
    *metrics.SPEED_FIELDS,
)


def coordinators_report(*, user: Viewer, filters: Filters) -> Report:
    """Per coordinator (the inquiry's current owner): volume, contact rate, speed to lead, conversion."""
    groups = _grouped(_rollup(user, filters, dimension=Dimension.COORDINATOR), "key", _COORDINATOR_FIELDS)
    ids = {int(g["key"]) for g in groups if g["key"]}
    names = {
        str(u["pk"]): (f"{u['first_name']} {u['last_name']}".strip() or u["username"])
        for u in User.objects.filter(pk__in=ids).values("pk", "first_name", "last_name", "username")
    }
    rows: list[list[object]] = []
    for g in groups:
        counted = g["inquiries"] - g["excluded"]
        rows.append(
            [
                names.get(g["key"], "(unassigned)") if g["key"] else "(unassigned)",
                counted,
                metrics.ratio(g["contacted"], counted),
                _quantile_minutes(_hist(g, metrics.SPEED_FIELDS), 0.5),
                metrics.ratio(g["within_target"], g["responded"]),
                g["admitted"],
                metrics.ratio(g["admitted"], counted),
            ]
        )
    rows.sort(key=lambda r: (-_as_int(r[1]), str(r[0])))
    return Report(
        slug="coordinators",
        title="Coordinators",
        tables=[
            Table(
                "coordinators",
                "Coordinators",
                [
                    Column("Coordinator", "text"),
                    Column("Inquiries handled"),
                    Column("Contact rate", "pct"),
                    Column("Median speed to lead", "minutes"),
                    Column("Within 5 minutes", "pct"),
                    Column("Admits"),
                    Column("Conversion", "pct"),
                ],
                rows,
                note="Inquiries are credited to their current owner; "
                "duplicates and invalid leads are excluded.",
            )
        ],
    )


# --- trends --------------------------------------------------------------------------------


def trends_report(*, user: Viewer, filters: Filters) -> Report:
    """Weekly counted inquiries and admits (by inquiry week) for the 52 weeks ending at the range's end."""
    last_monday = filters.end - timedelta(days=filters.end.weekday())
    first_monday = last_monday - timedelta(weeks=51)
    daily = (
        _rollup(user, filters, start=first_monday)
        .values("day")
        .annotate(inquiries=Sum("inquiries"), excluded=Sum("excluded"), admitted=Sum("admitted"))
    )
    weeks = [first_monday + timedelta(weeks=i) for i in range(52)]
    counted = dict.fromkeys(weeks, 0)
    admitted = dict.fromkeys(weeks, 0)
    for row in daily:
        monday = row["day"] - timedelta(days=row["day"].weekday())
        counted[monday] += (row["inquiries"] or 0) - (row["excluded"] or 0)
        admitted[monday] += row["admitted"] or 0
    rows: list[list[object]] = [
        [w.isoformat(), counted[w], admitted[w], metrics.ratio(admitted[w], counted[w])] for w in weeks
    ]
    return Report(
        slug="trends",
        title="Weekly trends",
        charts=[
            ChartSpec(
                kind="columns",
                title="Inquiries and admits per week",
                description=f"52 weeks from {weeks[0]:%d %b %Y} to the week of {weeks[-1]:%d %b %Y}: "
                f"{sum(counted.values()):,} inquiries and {sum(admitted.values()):,} admits. "
                "Every week is in the weekly table.",
                labels=[f"{w:%d %b}" for w in weeks],
                series=[
                    ("Inquiries", [float(counted[w]) for w in weeks]),
                    ("Admits", [float(admitted[w]) for w in weeks]),
                ],
                table_slug="weekly",
            )
        ],
        tables=[
            Table(
                "weekly",
                "Per week (Monday start)",
                [
                    Column("Week of", "text"),
                    Column("Inquiries"),
                    Column("Admits"),
                    Column("Conversion", "pct"),
                ],
                rows,
                note="Admits are counted in the week the inquiry arrived (cohort view); the date range "
                "filter does not apply here, the 52 weeks end at its end date.",
            ),
        ],
    )


# --- census and capacity (live) ---------------------------------------------------------------


def census_report(*, user: Viewer, filters: Filters, today: date | None = None) -> Report:
    """Per program now: occupied / capacity, active holds, scheduled admissions and discharges in 7 days."""
    now = timezone.now()
    today = today or timezone.localdate(now)
    programs = scope_to_user(Program.objects.filter(is_active=True), user)
    if filters.facility:
        programs = programs.filter(facility_id=filters.facility)
    if filters.program:
        programs = programs.filter(pk=filters.program)
    holds = (
        CapacityHold.objects.active(now)
        .filter(program__in=programs.values("pk"))
        .values("program_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    hold_counts = {h["program_id"]: h["n"] for h in holds}
    scheduled = scope_to_user(
        Inquiry.objects.filter(
            stage=Stage.ADMISSION_SCHEDULED,
            admission_date__gte=today,
            admission_date__lt=today + timedelta(days=7),
        ),
        user,
    )
    scheduled_counts = {
        s["approved_program_id"]: s["n"]
        for s in scheduled.values("approved_program_id").annotate(n=Count("pk")).order_by()
    }
    rows: list[list[object]] = []
    totals = {"capacity": 0, "occupied": 0}
    for p in (
        programs.select_related("facility")
        .annotate(occupied=F("census__occupied"), discharges=F("census__expected_discharges_7d"))
        .order_by("facility__name", "name")
    ):
        occupied = p.occupied or 0  # type: ignore[attr-defined]
        held = hold_counts.get(p.pk, 0)
        totals["capacity"] += p.capacity
        totals["occupied"] += occupied
        rows.append(
            [
                p.facility.name,
                p.name,
                p.get_setting_display(),
                p.get_capacity_kind_display(),
                p.capacity,
                occupied,
                metrics.ratio(occupied, p.capacity),
                held,
                max(p.capacity - occupied - held, 0),
                scheduled_counts.get(p.pk, 0),
                p.discharges or 0,  # type: ignore[attr-defined]
            ]
        )
    return Report(
        slug="census",
        title="Census and capacity",
        tiles=[
            Tile("Occupied", totals["occupied"]),
            Tile("Capacity", totals["capacity"]),
            Tile("Occupancy", metrics.ratio(totals["occupied"], totals["capacity"]), "pct"),
            Tile("Active holds", sum(hold_counts.values())),
        ],
        charts=[
            ChartSpec(
                kind="bars",
                title="Occupancy by program",
                description="Occupied beds or slots as a share of capacity per program; "
                "every figure is in the census table.",
                labels=[f"{r[1]} ({r[0]})" for r in rows],
                series=[("Occupancy", [float(r[6] or 0) for r in rows])],  # type: ignore[arg-type]
                value_kind="pct",
                table_slug="census",
            )
        ],
        tables=[
            Table(
                "census",
                "Census and capacity, now and the next 7 days",
                [
                    Column("Facility", "text"),
                    Column("Program", "text"),
                    Column("Setting", "text"),
                    Column("Counts", "text"),
                    Column("Capacity"),
                    Column("Occupied"),
                    Column("Occupancy", "pct"),
                    Column("Active holds"),
                    Column("Open"),
                    Column("Scheduled admissions (7 days)"),
                    Column("Expected discharges (7 days)"),
                ],
                rows,
                note="Live figures; the date range and source filters do not apply.",
            )
        ],
    )


# --- the waitlist (live) ---------------------------------------------------------------------


def waitlist_report(*, user: Viewer, filters: Filters, today: date | None = None) -> Report:
    """Per program: waiting now and for how long, time on the waitlist of the entries that left it
    in the period, and offers made in the period with how many were taken (one grouped query)."""
    now = timezone.now()
    start = timezone.make_aware(datetime.combine(filters.start, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(filters.end + timedelta(days=1), datetime.min.time()))
    programs = scope_to_user(Program.objects.filter(is_active=True), user)
    if filters.facility:
        programs = programs.filter(facility_id=filters.facility)
    if filters.program:
        programs = programs.filter(pk=filters.program)
    waiting = Q(state=WaitlistEntry.State.WAITING)
    offered = Q(offered_at__gte=start, offered_at__lt=end)
    left = Q(ended_at__gte=start, ended_at__lt=end)
    figures = {
        row["program_id"]: row
        for row in WaitlistEntry.objects.filter(program__in=programs.values("pk"))
        .values("program_id")
        .annotate(
            waiting=Count("pk", filter=waiting),
            oldest=Min("created_at", filter=waiting),
            waited=Avg(F("ended_at") - F("created_at"), filter=left),
            offers=Count("pk", filter=offered),
            accepted=Count("pk", filter=offered & Q(state=WaitlistEntry.State.ACCEPTED)),
            declined=Count("pk", filter=offered & Q(state=WaitlistEntry.State.DECLINED)),
            lapsed=Count("pk", filter=offered & Q(state=WaitlistEntry.State.LAPSED)),
        )
        .order_by()
    }
    rows: list[list[object]] = []
    totals = {"waiting": 0, "offers": 0, "accepted": 0}
    for p in programs.select_related("facility").order_by("facility__name", "name"):
        f = figures.get(p.pk)
        if f is None:
            continue
        for key in totals:
            totals[key] += f[key]
        rows.append(
            [
                p.facility.name,
                p.name,
                f["waiting"],
                (now - f["oldest"]).total_seconds() / 86400 if f["oldest"] else None,
                f["waited"].total_seconds() / 86400 if f["waited"] is not None else None,
                f["offers"],
                f["accepted"],
                f["declined"],
                f["lapsed"],
                metrics.ratio(f["accepted"], f["offers"]),
            ]
        )
    return Report(
        slug="waitlist",
        title="Waitlist",
        tiles=[
            Tile("Waiting now", totals["waiting"]),
            Tile("Offers made", totals["offers"]),
            Tile("Offers taken", totals["accepted"]),
            Tile("Offer conversion", metrics.ratio(totals["accepted"], totals["offers"]), "pct"),
        ],
        charts=[
            ChartSpec(
                kind="bars",
                title="Waiting now by program",
                description="Inquiries waiting per program; every figure is in the waitlist table.",
                labels=[f"{r[1]} ({r[0]})" for r in rows],
                series=[("Waiting", [float(r[2]) for r in rows])],  # type: ignore[arg-type]
                value_kind="int",
                table_slug="waitlist",
            )
        ],
        tables=[
            Table(
                "waitlist",
                "Waitlist and offers by program",
                [
                    Column("Facility", "text"),
                    Column("Program", "text"),
                    Column("Waiting now"),
                    Column("Longest wait now", "days"),
                    Column("Average time on the waitlist (left in the period)", "days"),
                    Column("Offers made"),
                    Column("Taken"),
                    Column("Declined"),
                    Column("Lapsed"),
                    Column("Offer conversion", "pct"),
                ],
                rows,
                note="Waiting figures are live; offers and time on the waitlist count the date range.",
            )
        ],
    )


REPORTS: dict[str, Callable[..., Report]] = {
    "funnel": funnel_report,
    "speed": speed_report,
    "sources": sources_report,
    "outcomes": outcomes_report,
    "coordinators": coordinators_report,
    "trends": trends_report,
    "census": census_report,
    "waitlist": waitlist_report,
}


def filter_choices(user: Viewer) -> dict[str, list[tuple[int, str]]]:
    """Facilities, programs and sources the user may filter by (three queries)."""
    facilities = scope_to_user(Facility.objects.all(), user, facility_field="pk")
    programs = scope_to_user(Program.objects.all(), user).select_related("facility")
    sources = LeadSource.objects.all()
    return {
        "facility": [(f.pk, f.name) for f in facilities.order_by("name")],
        "program": [
            (p.pk, f"{p.name} ({p.facility.name})") for p in programs.order_by("facility__name", "name")
        ],
        "source": [(s.pk, s.name) for s in sources.order_by("name")],
    }
