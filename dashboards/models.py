"""Rollup tables behind the manager dashboards. Written only by ``dashboards.services``.

``CohortRollup`` holds, per facility-local cohort day (the day the inquiry
arrived, in the facility's time zone), counts of the inquiries that arrived that
day and how far they went. Each row is keyed by facility, a program key and a
source key (an id, ``metrics.ALL`` for the sum over every program / source, or
``metrics.NONE``), and a breakdown ``dimension`` with its ``key`` ("" for the
totals row). Pages filter on exact keys, so an unfiltered 12-month funnel reads
about 3 facilities x 365 rows. Ids are plain integers (no foreign keys): the
rollup is derived data and is rebuilt from the inquiries at any time.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from dashboards.metrics import ADMIT_FIELDS, SPEED_AFTER_HOURS_FIELDS, SPEED_FIELDS


class Dimension(models.TextChoices):
    TOTAL = "", "Totals"
    CAMPAIGN = "campaign", "Campaign (first touch)"
    PARTNER = "partner", "Referral partner"
    LAST_TOUCH = "last_touch", "Last touch source"
    CHANNEL = "channel", "Channel"
    COORDINATOR = "coordinator", "Coordinator"
    LOST_REASON = "lost", "Lost reason"
    REFERRED_OUT = "referred", "Referred out to"
    HOUR = "hour", "Weekday and hour of arrival"  # key "weekday:hour", Monday = 0


# Counters every row carries, in this order (the histogram columns follow).
COUNTER_FIELDS: tuple[str, ...] = (
    "inquiries",  # every arrival, duplicates and invalid included
    "excluded",  # duplicates and invalid leads: out of every rate below
    "contacted",
    "prescreened",
    "vob",
    "clinical_review",
    "approved",
    "scheduled",
    "admitted",
    "referred_out",
    "closed_lost",
    "crisis_routed",
    "nurture",
    "open",
    "after_hours",  # counted inquiries that arrived outside business hours
    "responded",  # counted inquiries with a first response (attempt or conversation)
    "within_target",  # ... within 5 minutes
    "after_hours_responded",
    "after_hours_within_target",
    "admit_seconds",  # sum of seconds from inquiry to admission over admitted inquiries
)
ALL_COUNTERS: tuple[str, ...] = COUNTER_FIELDS + SPEED_FIELDS + SPEED_AFTER_HOURS_FIELDS + ADMIT_FIELDS


def _count() -> models.PositiveIntegerField[int | None, int | None]:
    # NULL stands for zero: PostgreSQL stores a NULL as one bit, and most breakdown rows use
    # a handful of the counters (see DIMENSION_FIELDS). SUM() skips NULLs; readers coalesce.
    return models.PositiveIntegerField(null=True, blank=True)


class CohortRollup(models.Model):
    day = models.DateField(help_text="Cohort day: the inquiry's arrival date in the facility's time zone.")
    facility_id = models.IntegerField()
    program_key = models.IntegerField(help_text="Program id, 0 = every program, -1 = none.")
    source_key = models.IntegerField(help_text="First-touch lead source id, 0 = every source, -1 = none.")
    dimension = models.CharField(max_length=12, choices=Dimension.choices, blank=True)
    key = models.CharField(max_length=160, blank=True)

    inquiries = _count()
    excluded = _count()
    contacted = _count()
    prescreened = _count()
    vob = _count()
    clinical_review = _count()
    approved = _count()
    scheduled = _count()
    admitted = _count()
    referred_out = _count()
    closed_lost = _count()
    crisis_routed = _count()
    nurture = _count()
    open = _count()
    after_hours = _count()
    responded = _count()
    within_target = _count()
    after_hours_responded = _count()
    after_hours_within_target = _count()
    admit_seconds = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["dimension", "program_key", "source_key", "day"], name="rollup_read_idx"),
            models.Index(fields=["facility_id", "day"], name="rollup_refresh_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.day} facility {self.facility_id} {self.dimension or 'total'} {self.key}"


# The counters each breakdown needs (the totals rows carry every counter); the others stay NULL.
_QUALITY = ("inquiries", "excluded", "admitted", "admit_seconds", *ADMIT_FIELDS)
DIMENSION_FIELDS: dict[str, tuple[str, ...]] = {
    Dimension.TOTAL: ALL_COUNTERS,
    Dimension.CAMPAIGN: _QUALITY,
    Dimension.PARTNER: _QUALITY,
    Dimension.LAST_TOUCH: _QUALITY,
    Dimension.CHANNEL: _QUALITY,
    Dimension.COORDINATOR: ("inquiries", "excluded", "contacted", "responded", "within_target", "admitted",
                            *SPEED_FIELDS),
    Dimension.LOST_REASON: ("inquiries",),
    Dimension.REFERRED_OUT: ("inquiries",),
    Dimension.HOUR: ("inquiries", "excluded", "responded", "within_target"),
}  # fmt: skip

# Histogram columns are generated from the bucket edges in ``metrics`` so the
# writer, the reader and the schema cannot drift apart.
for _name in SPEED_FIELDS + SPEED_AFTER_HOURS_FIELDS + ADMIT_FIELDS:
    CohortRollup.add_to_class(_name, _count())


class RollupState(models.Model):
    """The one row that says how fresh the rollup is and where the next refresh starts."""

    name = models.CharField(max_length=20, unique=True, default="cohort")
    watermark = models.DateTimeField(null=True, blank=True, help_text="Start of the last refresh.")
    last_inquiry_id = models.BigIntegerField(default=0)
    data_as_of = models.DateTimeField(null=True, blank=True)
    full_rebuilt_at = models.DateTimeField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(default=0)
    last_days_refreshed = models.PositiveIntegerField(default=0)
    sweep_cursor = models.DateField(null=True, blank=True, help_text="Next day the reconcile sweep redoes.")
    sweep_oldest = models.DateField(
        null=True, blank=True, help_text="Oldest cohort day at the last full build."
    )

    def __str__(self) -> str:
        return f"rollup {self.name} as of {self.data_as_of}"


class DashboardExport(models.Model):
    """One CSV export of a dashboard table: what the audit row points at (no PHI, filters only)."""

    at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    report = models.CharField(max_length=40)
    table = models.CharField(max_length=40)
    filters = models.JSONField(default=dict)
    rows = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.report}/{self.table} export by {self.user_id}"
