"""The page list the accessibility test walks: read from the URL conf, every argument filled from
fixtures, and each route a page that opens for some role (or a POST-only or non-HTML route), so
that the walk checks real pages, never only a row of 404s. No browser: Django's test client."""

from __future__ import annotations

import pytest
from django.test import Client

from crm.roles import Role
from tests.browser.site_pages import MissingArgument, Route, page_urls, site_arguments, site_routes
from tests.factories import UserFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db


def test_routes_come_from_the_url_conf_without_the_api_and_the_admin():
    routes = {route.route for route in site_routes()}
    assert {"", "inquiries/<int:pk>/", "api/docs/", "audit/", "dashboards/"} <= routes
    assert not [r for r in routes if r.startswith("admin/")]
    assert not [r for r in routes if r.startswith("api/") and r != "api/docs/" and r != "api/schema/"]


def test_a_route_without_fixture_arguments_fails_loudly():
    with pytest.raises(MissingArgument, match=r"needs 'badge_id' after 'badges'"):
        page_urls(Route("badges/<int:badge_id>/", "badges:detail"), {})


def test_every_route_answers_some_role_without_an_error(  # type: ignore[no-untyped-def]
    facility, coordinator, clinician, vob_specialist, manager, settings, tmp_path
):
    settings.IMPORT_FILES_DIR = tmp_path
    arguments = site_arguments(facility, coordinator)
    admin = UserFactory(username="admin", role=Role.ADMINISTRATOR, facilities=[], is_staff=True)
    clients = [Client()] + [
        login_verified(Client(), u) for u in (coordinator, clinician, vob_specialist, manager, admin)
    ]
    for route in site_routes():
        for url in page_urls(route, arguments):
            statuses = {client.get(url).status_code for client in clients}
            assert not [s for s in statuses if s >= 500], (url, statuses)
            assert statuses & {200, 302, 405}, f"{url} answers no role with a page: {statuses}"
