"""Authentication hardening: sign-in lockout, session limits, multi-factor sign-in."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import CommonPasswordValidator, validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from admissions.api.keys import lead_source_key_create
from crm.auth.sessions import RENEWED_AT, SIGNED_IN_AT
from crm.roles import Role
from tests.factories import LeadSourceFactory, UserFactory
from tests.signin import confirmed_device, unused_code

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


@pytest.mark.parametrize("field", ["username", "user_agent"])
def test_an_overlong_sign_in_is_a_failed_sign_in_not_an_error(client, settings, field):
    long = "u" * 5000
    username, headers = (long, {}) if field == "username" else ("pat", {"HTTP_USER_AGENT": long})
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(reverse("login"), {"username": username, "password": "x"}, **headers)
        assert response.status_code in (200, 429)
    assert response.status_code == 429
    assert AccessAttempt.objects.count() == 1


def test_lockout_is_per_username_and_address(client, settings):
    UserFactory(username="pat")
    UserFactory(username="sam")
    _fail(client, "pat", settings.AXES_FAILURE_LIMIT)
    assert _sign_in(client, "sam", PASSWORD).status_code == 302
    other_address = client.post(
        reverse("login"), {"username": "pat", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3"
    )
    assert other_address.status_code == 302


def test_behind_a_proxy_lockout_and_audit_use_the_forwarded_client_address(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    UserFactory(username="pat")
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("login"),
            {"username": "pat", "password": "not-the-password"},
            HTTP_X_FORWARDED_FOR="203.0.113.9",
            **proxy,
        )
    assert AccessAttempt.objects.get(username="pat").ip_address == "203.0.113.9"
    # the same proxy, another client: not locked out with the first
    other = client.post(
        reverse("login"),
        {"username": "pat", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.4",
        **proxy,
    )
    assert other.status_code == 302


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "127.0.0.1"),  # no proxy configured: the header is not trusted
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # what the client wrote itself is ignored
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "127.0.0.1"),  # fewer entries than proxies: the direct peer
        (1, "not-an-address", "127.0.0.1"),
        (1, "", "127.0.0.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_counts_trusted_proxies_from_the_right(rf, settings, hops, forwarded, expected):
    from crm.audit import client_ip

    settings.TRUSTED_PROXY_COUNT = hops
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


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


# --- sessions -----------------------------------------------------------------------------------


def _signed_in(username: str = "pat"):  # type: ignore[no-untyped-def]
    from django.test import Client

    user = UserFactory(username=username, role=Role.COORDINATOR)
    client = Client()
    assert _sign_in(client, username, PASSWORD).status_code == 302
    code = unused_code(confirmed_device(user))
    assert client.post(reverse("mfa-verify"), {"code": code}).status_code == 302
    return user, client


def test_idle_timeout_is_fifteen_minutes_renewed_by_activity_once_a_minute(settings):
    from crm import settings as production

    assert settings.SESSION_COOKIE_AGE == 15 * 60
    assert production.SESSION_RENEW_SECONDS == 60
    settings.SESSION_RENEW_SECONDS = production.SESSION_RENEW_SECONDS
    _user, client = _signed_in()
    # renewed less than a minute ago: a request does not write the session
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))
    assert client.get(reverse("home")).status_code == 200
    assert Session.objects.get().expire_date < timezone.now() + timedelta(seconds=31)
    # a minute later the next request renews it for another fifteen minutes
    session = client.session
    session[RENEWED_AT] = int(time.time()) - 61
    session.save()
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert Session.objects.get().expire_date > timezone.now() + timedelta(minutes=14)
    assert response.cookies["sessionid"]["max-age"] == 15 * 60


def test_absolute_timeout_ends_a_busy_session(settings):
    assert settings.SESSION_ABSOLUTE_SECONDS == 12 * 3600
    _user, client = _signed_in()
    assert client.get(reverse("home")).status_code == 200
    session = client.session
    session[SIGNED_IN_AT] = int(time.time()) - settings.SESSION_ABSOLUTE_SECONDS + 60
    session.save()
    assert client.get(reverse("home")).status_code == 200  # a minute short of the limit
    session = client.session
    session[SIGNED_IN_AT] = int(time.time()) - settings.SESSION_ABSOLUTE_SECONDS - 1
    session.save()
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_sign_in_records_the_sign_in_time():
    _user, client = _signed_in()
    assert abs(client.session[SIGNED_IN_AT] - time.time()) < 60


def test_disabling_a_user_ends_their_sessions_at_once():
    user, client = _signed_in("pat")
    _user, second_device = _signed_in("pat")
    _other, other_client = _signed_in("sam")
    assert Session.objects.count() == 3
    user.is_active = False
    user.save()
    assert Session.objects.count() == 1
    assert client.get(reverse("home")).status_code == 302
    assert second_device.get(reverse("home")).status_code == 302
    assert other_client.get(reverse("home")).status_code == 200


def test_saving_an_active_user_keeps_their_sessions():
    user, client = _signed_in("pat")
    user.first_name = "Patricia"
    user.save()
    assert client.get(reverse("home")).status_code == 200


# --- passwords ----------------------------------------------------------------------------------


def test_passwords_need_twelve_characters_and_must_not_be_common(settings):
    user = UserFactory(username="pat")
    with pytest.raises(ValidationError):
        validate_password("Tr0ub4dor&3", user)  # 11 characters
    common = sorted(p for p in CommonPasswordValidator().passwords if len(p) >= 12)[0]
    with pytest.raises(ValidationError):
        validate_password(common, user)
    validate_password("violet-harbor-kettle-52", user)
