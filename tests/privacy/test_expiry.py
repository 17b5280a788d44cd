"""The expiry alert: one timeline alert per consent, within the window, never for a revoked one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from admissions.models import InquiryEvent
from privacy.models import Part2Consent
from privacy.tasks import part2_consents_expiry_alert
from tests.privacy.conftest import make_consent

pytestmark = pytest.mark.django_db


def test_alert_is_posted_once_per_consent(coordinator, inquiry, settings):
    settings.PART2_CONSENT_EXPIRY_ALERT_DAYS = 7
    today = timezone.localdate()
    soon = make_consent(inquiry, coordinator, expires_on=today + dt.timedelta(days=3))
    make_consent(inquiry, coordinator, expires_on=today + dt.timedelta(days=30))
    make_consent(
        inquiry,
        coordinator,
        expires_on=today + dt.timedelta(days=2),
        revoked_at=timezone.now(),
        revoked_by=coordinator,
        revocation_method="written",
    )
    make_consent(inquiry, coordinator, expires_on=None, expiry_event="On admission")

    assert part2_consents_expiry_alert.apply().get() == 1
    assert part2_consents_expiry_alert.apply().get() == 0

    alerts = InquiryEvent.objects.filter(inquiry=inquiry, data__alert=True)
    assert alerts.count() == 1
    alert = alerts.get()
    assert alert.kind == "note"
    assert alert.actor is None
    assert alert.actor_label == "Consent expiry"
    assert alert.data == {"alert": True, "part2_consent": soon.pk, "owner": coordinator.pk}
    assert f"Part 2 consent #{soon.pk}" in alert.body
    assert "expires on" in alert.body
    assert Part2Consent.objects.filter(expiry_alerted_at__isnull=False).count() == 1


def test_beat_schedules_the_task(settings):
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].startswith("privacy.")]
    assert entries == [
        {"task": "privacy.tasks.part2_consents_expiry_alert", "schedule": 3600.0},
        {"task": "privacy.tasks.audit_chain_head_log", "schedule": 86400.0},
    ]
    from crm.celery import app

    assert "privacy.tasks.part2_consents_expiry_alert" in app.tasks
    assert "privacy.tasks.audit_chain_head_log" in app.tasks
