"""Multi-factor sign-in: enrolment, the code page, and the middleware that requires both factors."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from admissions.models import InquiryEvent
from crm.models import AuditEvent
from crm.roles import Role
from tests.factories import InquiryFactory, UserFactory
from tests.signin import PASSWORD, confirmed_device, login_verified, totp_code, typed_key_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def pat(facility):  # type: ignore[no-untyped-def]
    return UserFactory(username="pat", role=Role.COORDINATOR, facilities=[facility])


def _password_only(client: Client, user) -> Client:  # type: ignore[no-untyped-def]
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, "the password step itself must succeed"
    return client


def _key_from_setup_page(html: str) -> bytes:
    typed = re.search(r'<code class="secret" id="mfa-key">([A-Z2-7 ]+)</code>', html)
    assert typed, "the set-up page shows the key as text"
    return typed_key_bytes(typed.group(1))


# --- enforcement ---------------------------------------------------------------------------------


def test_a_password_alone_reaches_no_page_and_a_new_user_is_sent_to_enrol(client, pat):
    _password_only(client, pat)
    response = client.get("/inquiries/new/?x=1")
    assert response.status_code == 302
    where = urlsplit(response["Location"])
    assert where.path == reverse("mfa-setup")
    assert parse_qs(where.query)["next"] == ["/inquiries/new/?x=1"]


def test_a_user_with_a_device_is_sent_to_the_code_page(client, pat):
    confirmed_device(pat)
    _password_only(client, pat)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("mfa-verify")


def test_htmx_requests_are_redirected_with_hx_redirect(client, pat):
    confirmed_device(pat)
    _password_only(client, pat)
    response = client.get(reverse("home"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert urlsplit(response["HX-Redirect"]).path == reverse("mfa-verify")


def test_the_session_api_answers_403_without_the_second_factor(client, pat, facility):
    inquiry = InquiryFactory(facility=facility)
    _password_only(client, pat)
    response = client.get(f"/api/v1/inquiries/{inquiry.pk}/screening/")
    assert response.status_code == 403
    assert response.json() == {"detail": "Multi-factor verification is required."}


def test_a_post_without_the_second_factor_changes_nothing(client, pat, facility):
    inquiry = InquiryFactory(facility=facility)
    _password_only(client, pat)
    before = InquiryEvent.objects.count()
    response = client.post(f"/inquiries/{inquiry.pk}/act/note/", {"body": "should not land"})
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("mfa-setup")
    assert InquiryEvent.objects.count() == before


def test_sign_out_and_password_reset_stay_reachable(client, pat):
    _password_only(client, pat)
    assert client.get(reverse("password_reset")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_the_menu_is_hidden_until_the_second_factor(client, pat):
    _password_only(client, pat)
    page = client.get(reverse("mfa-setup")).content.decode()
    assert 'aria-label="Main"' not in page
    assert "Sign out" in page


# --- enrolment -----------------------------------------------------------------------------------


def test_enrolment_confirms_the_device_with_a_code_from_it(client, pat, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no pause after the wrong code below (tested on its own)
    _password_only(client, pat)
    page = client.get(reverse("mfa-setup") + "?next=/vob/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html
    assert "Set-up code for your authenticator app" in html
    assert page["Cache-Control"].startswith("max-age=0")
    assert "no-store" in page["Cache-Control"]
    key = _key_from_setup_page(html)
    device = TOTPDevice.objects.get(user=pat)
    assert device.confirmed is False
    assert device.bin_key == key
    # reloading the page keeps the same key (the app may already have scanned it)
    assert _key_from_setup_page(client.get(reverse("mfa-setup")).content.decode()) == key

    wrong = client.post(reverse("mfa-setup"), {"code": "000000" if totp_code(key) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "That code does not match" in wrong.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False

    session_before = client.session.session_key
    done = client.post(reverse("mfa-setup"), {"code": totp_code(key), "next": "/vob/"})
    assert done.status_code == 302
    assert done["Location"] == "/vob/"
    device.refresh_from_db()
    assert device.confirmed is True
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.session.session_key != session_before, "a new session key once verified"
    assert client.get(reverse("home")).status_code == 200
    assert AuditEvent.objects.filter(
        actor=pat, action="create", object_type="otp_totp.totpdevice", object_id=str(device.pk)
    ).exists()


def test_a_user_with_a_device_cannot_enrol_another(client, pat):
    device = confirmed_device(pat)
    _password_only(client, pat)
    response = client.get(reverse("mfa-setup"))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("mfa-verify")
    assert list(TOTPDevice.objects.filter(user=pat)) == [device]


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_form_errors(client, pat, code):
    _password_only(client, pat)
    response = client.post(reverse("mfa-setup"), {"code": code})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert 'aria-invalid="true"' in response.content.decode()


# --- the code page -------------------------------------------------------------------------------


def test_the_right_code_verifies_and_returns_to_the_page_asked_for(client, pat):
    device = confirmed_device(pat)
    _password_only(client, pat)
    asked = client.get("/vob/")
    code_page = client.get(asked["Location"])
    assert code_page.status_code == 200
    assert 'autocomplete="one-time-code"' in code_page.content.decode()
    response = client.post(reverse("mfa-verify"), {"code": totp_code(device.key), "next": "/vob/"})
    assert response.status_code == 302
    assert response["Location"] == "/vob/"
    assert client.get("/vob/").status_code == 200


def test_a_code_is_accepted_once(pat):
    device = confirmed_device(pat)
    code = totp_code(device.key)
    first = _password_only(Client(), pat)
    assert first.post(reverse("mfa-verify"), {"code": code}).status_code == 302
    second = _password_only(Client(), pat)
    replay = second.post(reverse("mfa-verify"), {"code": code})
    assert replay.status_code == 200
    assert "That code is not right" in replay.content.decode()
    assert second.get(reverse("home")).status_code == 302


def test_wrong_codes_pause_code_entry(client, pat, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60  # the wait after one wrong code: 60 s (production: 1 s, doubling)
    device = confirmed_device(pat)
    _password_only(client, pat)
    wrong = "000000" if totp_code(device.key) != "000000" else "111111"
    assert "That code is not right" in client.post(reverse("mfa-verify"), {"code": wrong}).content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    response = client.post(reverse("mfa-verify"), {"code": totp_code(device.key)})
    assert response.status_code == 200
    assert "code entry is paused for" in response.content.decode()
    assert client.get(reverse("home")).status_code == 302


def test_next_does_not_leave_the_site(client, pat):
    device = confirmed_device(pat)
    _password_only(client, pat)
    response = client.post(
        reverse("mfa-verify"), {"code": totp_code(device.key), "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_an_administrator_reset_sends_the_user_back_to_enrolment(client, pat):
    login_verified(client, pat)
    assert client.get(reverse("home")).status_code == 200
    TOTPDevice.objects.filter(user=pat).delete()  # what "delete" in the admin does
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("mfa-setup")


def test_the_code_page_needs_the_password_first(client):
    response = client.get(reverse("mfa-verify"))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("login")


def test_administrators_manage_devices_in_the_admin_without_seeing_keys(client, administrator, pat):
    device = confirmed_device(pat)
    login_verified(client, administrator)
    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    assert page.status_code == 200
    assert device.key not in page.content.decode()
