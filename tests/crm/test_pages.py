"""Sign-in, the open-inquiries home page and the health check."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import InquiryFactory

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
    # session, user, 2 x permissions, groups, facilities, 4 filter choice lists, tab counts (2),
    # page count, page rows, session save (idle timeout)
    with django_assert_max_num_queries(17):
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
