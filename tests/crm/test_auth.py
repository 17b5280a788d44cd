"""Authentication hardening: sign-in lockout, session limits, multi-factor sign-in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from admissions.leads import lead_source_key_create
from tests.factories import LeadSourceFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"
LOCKED = "Too many failed sign-in attempts"


def _sign_in(client, username: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("login"), {"username": username, "password": password})


def _fail(client, username: str, times: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(times):
        response = _sign_in(client, username, "not-the-password")
        assert response.status_code in (200, 429)


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r'nonce="[^"]*"|"[A-Za-z0-9]{32,}"', "", response.content.decode())


# --- lockout ------------------------------------------------------------------------------------


def test_sign_in_locks_after_the_failure_limit_and_refuses_the_right_password(client, settings):
    UserFactory(username="pat")
    _fail(client, "pat", settings.AXES_FAILURE_LIMIT - 1)
    last_failure = _sign_in(client, "pat", "not-the-password")
    assert last_failure.status_code == 429
    assert LOCKED in last_failure.content.decode()
    response = _sign_in(client, "pat", PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("home")).status_code == 302


def test_failures_below_the_limit_then_the_right_password_signs_in(client, settings):
    UserFactory(username="pat")
    _fail(client, "pat", settings.AXES_FAILURE_LIMIT - 1)
    response = _sign_in(client, "pat", PASSWORD)
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="pat").exists()  # success clears the count


def test_lockout_message_is_the_same_for_an_unknown_username(client, settings):
    UserFactory(username="pat")
    _fail(client, "pat", settings.AXES_FAILURE_LIMIT)
    _fail(client, "nobody-here", settings.AXES_FAILURE_LIMIT)
    known = _sign_in(client, "pat", "not-the-password")
    unknown = _sign_in(client, "nobody-here", "not-the-password")
    assert known.status_code == unknown.status_code == 429
    assert LOCKED in known.content.decode()
    assert LOCKED in unknown.content.decode()
    assert _page(known) == _page(unknown)


def test_lockout_is_per_username_and_address(client, settings):
    UserFactory(username="pat")
    UserFactory(username="sam")
    _fail(client, "pat", settings.AXES_FAILURE_LIMIT)
    assert _sign_in(client, "sam", PASSWORD).status_code == 302
    other_address = client.post(
        reverse("login"), {"username": "pat", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3"
    )
    assert other_address.status_code == 302


def test_lockout_ends_after_the_cool_off(client, settings):
    UserFactory(username="pat")
    _fail(client, "pat", settings.AXES_FAILURE_LIMIT)
    assert _sign_in(client, "pat", PASSWORD).status_code == 429
    AccessAttempt.objects.filter(username="pat").update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert _sign_in(client, "pat", PASSWORD).status_code == 302


def test_cool_off_is_configured_and_the_reset_command_lifts_a_lockout(client, settings):
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)
    assert settings.AXES_FAILURE_LIMIT == 5
    UserFactory(username="pat")
    _fail(client, "pat", settings.AXES_FAILURE_LIMIT)
    assert _sign_in(client, "pat", PASSWORD).status_code == 429
    call_command("axes_reset_username", "pat")
    assert _sign_in(client, "pat", PASSWORD).status_code == 302


def test_lead_api_key_authentication_is_not_subject_to_lockout(client, settings, facility):
    """Bad API keys are 401s from the API, never sign-in failures; a good key keeps working."""
    source = LeadSourceFactory(name="Sunrise Web Forms", default_facility=facility)
    _key, token = lead_source_key_create(lead_source=source, rate_limit_per_minute=10_000)
    url = reverse("lead_api:lead-status", args=["does-not-exist"])
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        assert client.get(url, HTTP_AUTHORIZATION="Bearer not-a-key").status_code == 401
    assert not AccessAttempt.objects.exists()
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404
