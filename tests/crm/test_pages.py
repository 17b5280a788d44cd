"""Sign-in, the open-inquiries home page and the health check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from tests.factories import InquiryFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db


def test_home_requires_sign_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_login_page_renders_with_csrf_and_labels(client):
    response = client.get(reverse("login"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in body
    assert '<label for="id_username">' in body
    # Scripts come from static files only (CSP friendly): no inline script.
    assert all(chunk.lstrip().startswith("src=") for chunk in body.split("<script")[1:])


def test_sign_in_with_wrong_password_shows_form_error(client, coordinator):
    response = client.post(reverse("login"), {"username": "coordinator", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_sign_in_lands_on_home(client, coordinator):
    response = client.post(
        reverse("login"), {"username": "coordinator", "password": "correct-horse-battery-staple"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_home_lists_only_my_facilities_open_inquiries(coordinator_client, facility, other_facility):
    mine = InquiryFactory(facility=facility, person__first_name="Avery")
    InquiryFactory(facility=other_facility, person__first_name="Blake")
    InquiryFactory(facility=facility, person__first_name="Casey", stage="invalid")
    response = coordinator_client.get(reverse("home"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Avery" in body
    assert "Blake" not in body
    assert "Casey" not in body
    assert [i.pk for i in response.context["page"].object_list] == [mine.pk]


def test_home_escapes_names(coordinator_client, facility):
    InquiryFactory(facility=facility, person__first_name="<script>alert(1)</script>")
    body = coordinator_client.get(reverse("home")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


@pytest.mark.parametrize("rows", [1, 60])
def test_home_query_count_does_not_grow(coordinator_client, facility, django_assert_max_num_queries, rows):
    InquiryFactory.create_batch(rows, facility=facility)
    # session, user, MFA device, 2 x permissions, groups, facilities, 4 filter choice lists, tab counts (2),
    # page count, page rows, session save (idle timeout)
    with django_assert_max_num_queries(18):
        response = coordinator_client.get(reverse("home"))
    assert response.status_code == 200


def test_outsider_without_a_role_is_refused(outsider_client, facility):
    InquiryFactory(facility=facility)
    assert outsider_client.get(reverse("home")).status_code == 403


def test_healthz_reports_database_and_cache(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "cache": "ok"}
    assert body["workers"] in {"ok", "stale", "unknown"}


def test_password_reset_by_email_end_to_end(client, coordinator, mailoutbox):
    coordinator.email = "coordinator@example.org"
    coordinator.save()
    login_page = client.get(reverse("login")).content.decode()
    assert reverse("password_reset") in login_page
    response = client.post(reverse("password_reset"), {"email": "coordinator@example.org"})
    assert response.status_code == 302
    [mail] = mailoutbox
    assert mail.subject == "Reset your Admissions CRM password"
    link = next(line for line in mail.body.splitlines() if "/password-reset/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    form_page = client.get("/" + path, follow=True)
    assert form_page.context["validlink"] is True
    short = client.post(form_page.redirect_chain[-1][0], {"new_password1": "short", "new_password2": "short"})
    assert short.status_code == 200
    assert short.context["form"].errors
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-much-longer-passphrase-42", "new_password2": "a-much-longer-passphrase-42"},
    )
    assert done.status_code == 302
    assert client.login(username="coordinator", password="a-much-longer-passphrase-42")


def test_password_reset_for_an_unknown_email_says_the_same(client, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)
    assert "Check your email" in response.content.decode()
    assert mailoutbox == []


def test_session_expires_after_inactivity(client, coordinator, settings):
    login_verified(client, coordinator)
    assert client.get(reverse("home")).status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
