"""Celery tasks of the privacy app. Payloads carry no PHI; the task reads the database.

Registered with the Celery app by ``PrivacyConfig.ready`` (``crm.celery`` autodiscovers only
``workers`` and ``dashboards``). Scheduled by ``CELERY_BEAT_SCHEDULE`` in ``crm.settings``.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from privacy.services import consents_expiry_alert

# Days before a consent's expiry date that its inquiry gets an alert on the timeline.
EXPIRY_ALERT_DAYS_DEFAULT = 14


@shared_task(name="privacy.tasks.part2_consents_expiry_alert", ignore_result=True)
def part2_consents_expiry_alert() -> int:
    """Alert each inquiry, once, when its Part 2 consent expires within the alert window."""
    days = int(getattr(settings, "PART2_CONSENT_EXPIRY_ALERT_DAYS", EXPIRY_ALERT_DAYS_DEFAULT))
    return consents_expiry_alert(days=days)
