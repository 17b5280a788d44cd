"""KPI definitions shared by the rollup writer and the readers: buckets, business hours, funnel order.

Pure Python, no database: ``services`` fills rollup rows with these rules and
``selectors`` reads them back, so both sides agree by construction.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime

# Keys of the program and source columns of a rollup row: an id, or one of these.
ALL = 0  # the row sums every program (or every source)
NONE = -1  # inquiries with no program (or no source)

# Business hours in the facility's local time: Monday to Friday, 8:00 to 18:00.
BUSINESS_DAYS = frozenset({0, 1, 2, 3, 4})  # datetime.weekday()
BUSINESS_START_HOUR = 8
BUSINESS_END_HOUR = 18

SPEED_TARGET_SECONDS = 5 * 60

# Speed to lead histogram: upper edges in minutes; bucket i holds [edge[i-1], edge[i]),
# the last bucket is open (48 h and more). One-minute precision up to 10 minutes.
SPEED_EDGES_MINUTES: tuple[int, ...] = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    15,
    20,
    30,
    45,
    60,
    90,
    120,
    240,
    480,
    720,
    1440,
    2880,
)
SPEED_BUCKETS = len(SPEED_EDGES_MINUTES) + 1
# Days from inquiry to admission: upper edges in days, last bucket open (90 days and more).
ADMIT_EDGES_DAYS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 10, 14, 21, 30, 60, 90)
ADMIT_BUCKETS = len(ADMIT_EDGES_DAYS) + 1

SPEED_FIELDS = tuple(f"stl_{i:02d}" for i in range(SPEED_BUCKETS))
SPEED_AFTER_HOURS_FIELDS = tuple(f"stl_ah_{i:02d}" for i in range(SPEED_BUCKETS))
ADMIT_FIELDS = tuple(f"adm_{i:02d}" for i in range(ADMIT_BUCKETS))

# The funnel in pipeline order, with the Inquiry timestamp that marks reaching each step.
FUNNEL_STEPS: tuple[tuple[str, str, str], ...] = (
    ("contacted", "Contacted", "contacted_at"),
    ("prescreened", "Pre-screened", "prescreened_at"),
    ("vob", "Insurance verification", "vob_started_at"),
    ("clinical_review", "Clinical review", "clinical_review_at"),
    ("approved", "Approved", "approved_at"),
    ("scheduled", "Admission scheduled", "scheduled_at"),
    ("admitted", "Admitted", "admitted_at"),
)


def is_business_hours(local: datetime) -> bool:
    """True when a facility-local time falls on a weekday between 8:00 and 18:00."""
    return local.weekday() in BUSINESS_DAYS and BUSINESS_START_HOUR <= local.hour < BUSINESS_END_HOUR


def speed_bucket(seconds: float) -> int:
    return bisect.bisect_right(SPEED_EDGES_MINUTES, seconds / 60)


def admit_bucket(seconds: float) -> int:
    return bisect.bisect_right(ADMIT_EDGES_DAYS, seconds / 86400)


def histogram_quantile(counts: Sequence[int], edges: Sequence[int], q: float) -> float | None:
    """The q-quantile of a bucketed distribution, interpolated linearly inside its bucket.

    Returns ``None`` for an empty histogram and ``float("inf")`` when the quantile
    falls in the open last bucket (shown as "more than the last edge").
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i >= len(edges):
                return float("inf")
            low = edges[i - 1] if i else 0
            return low + (edges[i] - low) * (rank - seen) / count
        seen += count
    return float("inf")


def ratio(part: int | None, whole: int | None) -> float | None:
    """part / whole, or None when the denominator is zero."""
    if not whole:
        return None
    return (part or 0) / whole
