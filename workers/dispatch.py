"""The dispatcher's claim: which due follow-ups go to the broker now, in which batches.

A claim writes one narrow ``DispatchLease`` row per follow-up (a primary key and
a time) instead of a new version of the follow-up row, whose nine indexes made a
claim of 1,000 rows cost over 100 ms. The follow-up row itself changes when a
worker starts it (``admissions.followups.followups_start``): QUEUED, one more
attempt, a run lease. So a due row is claimable when it is SCHEDULED and has no
live dispatch lease, or QUEUED with a run lease that ran out (its worker died).

On PostgreSQL the claim is one statement: the due rows are read through the
partial index ``followup_due_idx`` (``due_at <= now``, so only as far as the due
rows go, however many are scheduled later), locked with ``FOR UPDATE SKIP
LOCKED`` so racing dispatchers split them, and leased with ``INSERT ... ON
CONFLICT DO UPDATE ... WHERE lease_until < now`` so a lease another dispatcher
committed meanwhile is never taken over. A lease holds for the due time it was
taken for, so a row deferred or rescheduled for a retry is claimable at its
new due time even while the batch that rescheduled it is still running. On SQLite (the embedded default) the
same rules run through the ORM inside the IMMEDIATE transaction that
serialises writers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from admissions.followups import followups_give_up
from workers.models import DispatchLease

_CLAIM_SQL = """
WITH picked AS (
    SELECT f.id, f.attempts, f.due_at
    FROM admissions_followup f
    WHERE f.due_at <= %(now)s
      AND (f.state = 'scheduled' OR (f.state = 'queued' AND f.lease_until < %(now)s))
      AND NOT EXISTS (
          SELECT 1 FROM workers_dispatchlease l
          WHERE l.followup_id = f.id AND l.due_at = f.due_at AND l.lease_until >= %(now)s
      )
    ORDER BY f.due_at
    LIMIT %(limit)s
    FOR UPDATE OF f SKIP LOCKED
), leased AS (
    INSERT INTO workers_dispatchlease (followup_id, due_at, lease_until)
    SELECT id, due_at, %(until)s FROM picked WHERE attempts < %(max_attempts)s
    ON CONFLICT (followup_id) DO UPDATE SET due_at = EXCLUDED.due_at, lease_until = EXCLUDED.lease_until
        WHERE workers_dispatchlease.lease_until < %(now)s OR workers_dispatchlease.due_at <> EXCLUDED.due_at
    RETURNING followup_id
)
SELECT p.id, p.attempts, l.followup_id IS NOT NULL
FROM picked p LEFT JOIN leased l ON l.followup_id = p.id
"""


def _lease() -> timedelta:
    return timedelta(seconds=settings.FOLLOWUP_LEASE_SECONDS)


def _in_flight(now: datetime) -> int:
    return DispatchLease.objects.filter(lease_until__gte=now).count()


def _claim_postgres(*, limit: int, now: datetime) -> list[tuple[int, int, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {
                "now": now,
                "until": now + _lease(),
                "limit": limit,
                "max_attempts": settings.FOLLOWUP_MAX_ATTEMPTS,
            },
        )
        return [(int(pk), int(attempts), bool(leased)) for pk, attempts, leased in cursor.fetchall()]


def followups_claim(*, limit: int = 500, now: datetime | None = None) -> list[tuple[int, int]]:
    """Lease due follow-ups for the broker; returns ``(id, attempts)`` of each leased row.

    Rows that used up ``FOLLOWUP_MAX_ATTEMPTS`` (their worker kept dying) end
    FAILED here instead. At most ``FOLLOWUP_MAX_IN_FLIGHT`` leases are live at a
    time, so the broker's backlog stays shorter than a lease.
    """
    now = now or timezone.now()
    limit = min(limit, settings.FOLLOWUP_MAX_IN_FLIGHT - _in_flight(now))
    if limit <= 0:
        return []
    with transaction.atomic():
        rows = _claim_postgres(limit=limit, now=now)
        exhausted = [pk for pk, attempts, _ in rows if attempts >= settings.FOLLOWUP_MAX_ATTEMPTS]
        if exhausted:
            followups_give_up(
                ids=exhausted, now=now, why=f"gave up after {settings.FOLLOWUP_MAX_ATTEMPTS} attempts"
            )
    return [(pk, attempts) for pk, attempts, leased in rows if leased]


def followups_claim_due(*, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Lease due follow-ups for the broker; returns their ids, earliest due first."""
    return [pk for pk, _ in followups_claim(limit=limit, now=now)]


def dispatch_batches(claimed: list[tuple[int, int]], *, size: int) -> list[list[int]]:
    """Split claimed rows into task batches; a row that already used an attempt goes alone.

    A worker counts an attempt for every row of a batch as it starts it, so if
    one message kills its worker the others of that batch come back with an
    attempt used; sending them alone afterwards keeps one bad message from
    using up its neighbours' attempts.
    """
    fresh = [pk for pk, attempts in claimed if attempts == 0]
    batches = [fresh[i : i + size] for i in range(0, len(fresh), size)]
    batches.extend([pk] for pk, attempts in claimed if attempts > 0)
    return batches


def dispatch_leases_release(*, ids: list[int]) -> None:
    """Drop the dispatch leases of a batch a worker is done with."""
    DispatchLease.objects.filter(followup_id__in=ids).delete()


def dispatch_leases_purge(*, now: datetime | None = None) -> int:
    """Delete leases that ran out (their task was lost); the claim would overwrite them anyway."""
    deleted, _ = DispatchLease.objects.filter(lease_until__lt=now or timezone.now()).delete()
    return deleted
