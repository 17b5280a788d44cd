"""Celery tasks. Each loads rows by id and calls a service; payloads never carry PHI.

How the dependency runs: ``workers`` imports the services of ``admissions`` and ``programs``,
never the other way. Admissions enqueues these tasks by name (``current_app.send_task``,
e.g. ``admissions.services.dispatcher_kick``) and the follow-up state machine
(``admissions.followups``) is handed what only a worker has: the function that publishes a
batch (``followups_run.delay``) and the channels that carry messages out
(``workers.channels``).

Redis is never the only copy: a follow-up's state, due time and lease live in
the database. Retries of message delivery are rows rescheduled in the database
with backoff, not Celery ETAs; the only Celery retry is a short one (seconds)
for a database that is briefly unreachable.
"""

from __future__ import annotations

import logging
import socket
import time

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from admissions.followups import followups_deliver, followups_dispatch_due
from admissions.messaging.cadences import cadences_plan
from admissions.waitlist import waitlist_offer_next, waitlist_offers_lapse, waitlist_programs_waiting
from programs.services import capacity_holds_expire as expire_holds
from workers.channels import default_channels
from workers.models import Heartbeat

log = logging.getLogger(__name__)


@shared_task(name="workers.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Record that beat scheduled and a worker ran this task."""
    Heartbeat.objects.update_or_create(
        name="celery", defaults={"beat_at": timezone.now(), "worker": socket.gethostname()}
    )


@shared_task(name="workers.tasks.capacity_holds_expire", ignore_result=True)
def capacity_holds_expire() -> int:
    """Release bed and slot holds whose time has passed."""
    released = expire_holds()
    if released:
        log.info("released %d expired capacity holds", released)
    return released


@shared_task(
    name="workers.tasks.capacity_freed",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=10,
    max_retries=5,
)
def capacity_freed(program_id: int) -> int:
    """A place may have freed in a program: offer it to the next eligible inquiry waiting for it."""
    return len(waitlist_offer_next(program_id=int(program_id)))


@shared_task(name="workers.tasks.waitlist_sweep", ignore_result=True)
def waitlist_sweep() -> int:
    """Pass lapsed offers on, and offer free places a lost signal left unoffered."""
    lapsed = waitlist_offers_lapse()
    offered = sum(len(waitlist_offer_next(program_id=pk)) for pk in waitlist_programs_waiting())
    if lapsed or offered:
        log.info("waitlist sweep: %d offers lapsed, %d places offered", lapsed, offered)
    return offered


@shared_task(name="workers.tasks.followups_dispatch", ignore_result=True)
def followups_dispatch(batch: int = 500, max_batches: int = 20) -> int:
    """Plan cadences for new triggers, lease due follow-ups and hand them to ``followups_run`` in batches."""
    cadences_plan()
    return followups_dispatch_due(publish=followups_run.delay, limit=batch, rounds=max_batches)


@shared_task(
    name="workers.tasks.followups_run",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),  # a database briefly away; rows keep their leases
    retry_backoff=2,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=5,
)
def followups_run(followup_ids: list[int]) -> int:
    """Carry out a batch of follow-ups, each after re-checking under lock that it is still wanted."""
    with default_channels() as channels:
        results = followups_deliver(ids=[int(pk) for pk in followup_ids], channels=channels)
    return sum(1 for outcome in results.values() if outcome != "not queued")


@shared_task(name="workers.tasks.followup_run", ignore_result=True)
def followup_run(followup_id: int) -> int:
    """One follow-up (tasks published before batches existed are still in brokers after an upgrade)."""
    return followups_run(followup_ids=[followup_id])


@shared_task(name="workers.tasks.idempotency_records_purge", ignore_result=True)
def idempotency_records_purge() -> int:
    """Delete lead API Idempotency-Key records whose 72 hours have passed."""
    from admissions.lead_write import idempotency_records_purge as purge

    deleted = purge()
    if deleted:
        log.info("purged %d expired idempotency records", deleted)
    return deleted


# An import works in slices well inside the broker's visibility timeout, then enqueues its own
# continuation; each batch commits with the job's position. A dry run is one task (it counts the
# whole file in memory), so the limits leave it an hour; a copy the broker redelivers meanwhile
# finds the job's lock held and returns at once.
IMPORT_SLICE_SECONDS = 60


@shared_task(name="workers.tasks.import_job_run", ignore_result=True, soft_time_limit=3600, time_limit=3660)
def import_job_run(job_id: int) -> str:
    """Work on an import (its dry run, or the import in slices) and enqueue the next slice."""
    from admissions.imports.engine import import_job_work

    state = import_job_work(job_id=job_id, deadline=time.monotonic() + IMPORT_SLICE_SECONDS)
    if state == "more":
        import_job_run.delay(job_id)
    return state
