"""The 403, 404, 500 and expired-form pages are the CRM's own, in its layout, with a way back;
the 500 page renders with no database and no request; the favicon is served at /favicon.ico."""

from __future__ import annotations

import re

import pytest
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from crm.roles import Role
from crm.views import permission_denied, server_error
from tests.factories import InquiryFactory, UserFactory
from tests.signin import login_verified

LAYOUT = 'href="/static/crm/app.css"'
WAY_BACK = '<a class="button" href="/">Back to the start page</a>'


@pytest.mark.django_db
def test_404_is_the_site_page_with_the_navigation_and_a_way_back(coordinator_client):
    response = coordinator_client.get("/inquiries/999999999/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "<title>Page not found · Admissions CRM</title>" in body
    assert LAYOUT in body
    assert WAY_BACK in body
    assert 'aria-label="Main"' in body  # the signed-in top bar, so every other page is one click away
    assert "Using the URLconf" not in body


@pytest.mark.django_db
def test_404_escapes_the_path(client):
    response = client.get("/<script>x</script>/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "<script>x" not in body


@pytest.mark.django_db
def test_403_names_the_reason_and_offers_a_way_back(coordinator_client, facility):
    inquiry = InquiryFactory(facility=facility)
    response = coordinator_client.get(reverse("audit:inquiry", args=[inquiry.pk]))
    body = response.content.decode()
    assert response.status_code == 403
    assert "<title>Not allowed · Admissions CRM</title>" in body
    assert "The audit log is for admissions managers and administrators." in body
    assert LAYOUT in body
    assert WAY_BACK in body


def test_403_on_the_api_is_json():
    response = permission_denied(RequestFactory().get("/api/v1/leads/"), PermissionError("no"))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"


def test_500_renders_without_database_session_or_request_context(django_db_blocker):
    request = RequestFactory().get("/inquiries/4/")  # no session, no user: middleware never ran
    with django_db_blocker.block():
        try:
            raise RuntimeError("a bug")
        except RuntimeError:
            response = server_error(request)
    body = response.content.decode()
    assert response.status_code == 500
    assert "<title>Something went wrong · Admissions CRM</title>" in body
    assert LAYOUT in body
    assert WAY_BACK in body


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.crm.error_urls", DEBUG=False)
def test_a_failing_page_answers_with_the_500_page(coordinator_client):
    coordinator_client.raise_request_exception = False
    response = coordinator_client.get("/broken/")
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in body
    assert "a bug in a view" not in body
    assert "Traceback" not in body


@pytest.mark.django_db
def test_an_expired_form_is_a_page_that_says_so(coordinator):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "coordinator", "password": "x"})
    body = response.content.decode()
    assert response.status_code == 403
    assert "This form has expired" in body
    assert LAYOUT in body
    assert WAY_BACK in body


@pytest.mark.django_db
def test_favicon_is_served_at_the_root_and_linked_from_every_layout(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert 'rel="icon" href="/static/crm/favicon.svg"' in client.get(reverse("login")).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.MANAGER, Role.MARKETING, Role.ADMINISTRATOR])
def test_the_way_back_is_a_page_the_role_can_open(role, facility):
    user = UserFactory(
        username="someone", role=role, facilities=[facility], is_staff=role == Role.ADMINISTRATOR
    )
    client = login_verified(Client(), user)
    body = client.get("/no-such-page/").content.decode()
    way_back = re.search(r'<p class="error-actions"><a class="button" href="([^"]+)">', body)
    assert way_back is not None
    assert client.get(way_back.group(1)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(Role))
def test_the_start_page_opens_for_every_role_after_sign_in(role, facility):
    user = UserFactory(
        username="someone", role=role, facilities=[facility], is_staff=role == Role.ADMINISTRATOR
    )
    client = login_verified(Client(), user)
    response = client.get(reverse("home"), follow=True)
    assert response.status_code == 200, role
