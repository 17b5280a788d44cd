"""Celery tasks of the privacy app. Payloads carry no PHI; the task reads the database.

Found by ``crm.celery``'s autodiscovery; scheduled by ``CELERY_BEAT_SCHEDULE`` in ``crm.settings``.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from crm.audit_guard import chain_head
from privacy.services import consents_expiry_alert

log = logging.getLogger(__name__)

# Days before a consent's expiry date that its inquiry gets an alert on the timeline.
EXPIRY_ALERT_DAYS_DEFAULT = 14


@shared_task(name="privacy.tasks.part2_consents_expiry_alert", ignore_result=True)
def part2_consents_expiry_alert() -> int:
    """Alert each inquiry, once, when its Part 2 consent expires within the alert window."""
    days = int(getattr(settings, "PART2_CONSENT_EXPIRY_ALERT_DAYS", EXPIRY_ALERT_DAYS_DEFAULT))
    return consents_expiry_alert(days=days)


@shared_task(name="privacy.tasks.audit_chain_head_log", ignore_result=True)
def audit_chain_head_log() -> str:
    """Log the audit hash chain's head (a position and a hash, nothing about anyone) once a day.

    Kept in a log store the database's superuser cannot rewrite, these lines prove a rewrite of the
    whole chain: ``manage.py audit_verify --expect POSITION:HASH`` checks the chain still carries
    a logged head."""
    head = chain_head()
    log.info("audit chain head %s (position %d)", head, head.seq)
    return str(head)
