"""Fixtures for messaging tests: sinks, always-open sending hours, people with consent."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from admissions.messaging.models import SendingRule
from admissions.models import ContactConsent, Person
from tests.followups.sinks import ACCOUNT_SID, AUTH_TOKEN, SmsApi, sms_api_sink, smtp_sink


@pytest.fixture(autouse=True)
def _private_webhook_memory(settings):  # type: ignore[no-untyped-def]
    """Seen webhook signatures live in the cache: each test starts with an empty one of its own."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def sms_api(settings) -> Iterator[SmsApi]:  # type: ignore[no-untyped-def]
    with sms_api_sink() as api:
        settings.SMS_PROVIDER = "http"
        settings.SMS_API_URL = api.base_url
        settings.SMS_ACCOUNT_SID = ACCOUNT_SID
        settings.SMS_AUTH_TOKEN = AUTH_TOKEN
        settings.SMS_WEBHOOK_AUTH_TOKEN = AUTH_TOKEN
        settings.SMS_FROM_NUMBER = "+18135550199"
        yield api


@pytest.fixture
def smtp(settings):  # type: ignore[no-untyped-def]
    with smtp_sink() as (port, ledger):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        yield ledger


@pytest.fixture
def always_open(settings):  # type: ignore[no-untyped-def]
    """Sending hours that cover the whole day, for tests that run at the wall-clock time."""
    settings.MESSAGING_QUIET_HOURS_DEFAULT = "00:00-23:59:59.999999"
    SendingRule.objects.update(is_active=False)


@pytest.fixture
def statute_rules():  # type: ignore[no-untyped-def]
    """The federal, Florida and Oklahoma rules as migration 0018 installs them (a transactional
    test's flush removes rows that data migrations wrote)."""
    seed = importlib.import_module("admissions.migrations.0018_messaging_compliance")
    for rule in seed.RULES:
        SendingRule.objects.update_or_create(place=rule["place"], defaults={**rule, "is_active": True})
    return {r.place: r for r in SendingRule.objects.all()}


def consent(person: Person, medium: str, address: str | None = None) -> ContactConsent:
    if address is None:
        address = str(person.phone) if medium == "sms" else person.email
    return ContactConsent.objects.create(
        person=person,
        medium=medium,
        address=address,
        source="web form",
        consent_text="I agree to receive texts and emails about my inquiry. Reply STOP to opt out.",
        captured_at=timezone.now() - timedelta(minutes=1),
    )
