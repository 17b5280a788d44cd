"""Celery tasks. Each loads rows by id and calls a service; payloads never carry PHI.

Dependency direction: ``workers`` imports ``admissions`` and ``programs``
services; admissions reaches back only through ``transaction.on_commit``
callbacks that import this module lazily. Channels (email, SMS) live in
``workers.channels`` and are passed into ``followup_deliver``.

Redis is never the only copy: a follow-up's state, due time and lease live in
the database. Retries of message delivery are rows rescheduled in the database
with backoff, not Celery ETAs; the only Celery retry is a short one (seconds)
for a database that is briefly unreachable.
"""

from __future__ import annotations

import logging
import socket

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from admissions.followups import followup_deliver, followups_claim_due
from admissions.messaging.services import cadences_plan
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


@shared_task(name="workers.tasks.followups_dispatch", ignore_result=True)
def followups_dispatch(batch: int = 500, max_batches: int = 20) -> int:
    """Plan cadences for new triggers, claim due follow-ups and hand each id to ``followup_run``."""
    cadences_plan()
    total = 0
    for _ in range(max_batches):
        ids = followups_claim_due(limit=batch)  # committed: the ids are QUEUED with a lease
        for pk in ids:
            followup_run.delay(pk)
        total += len(ids)
        if len(ids) < batch:
            break
    return total


@shared_task(
    name="workers.tasks.followup_run",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=5,
)
def followup_run(followup_id: int) -> str:
    """Carry out one follow-up after re-checking that it is still wanted."""
    return followup_deliver(followup_id=followup_id, channels=default_channels())
