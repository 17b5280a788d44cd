"""Who sees the dashboards, facility scoping, CSV export and query budgets."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from admissions.pipeline import Stage
from crm.models import AuditEvent
from crm.roles import Role
from dashboards.models import DashboardExport
from dashboards.services import rollup_refresh
from tests.dashboards.conftest import at
from tests.factories import InquiryFactory, LeadSourceFactory, ProgramFactory, UserFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

PAGES = ["funnel", "speed", "sources", "outcomes", "census", "waitlist", "coordinators", "trends"]


def _client(user) -> Client:
    client = Client()
    login_verified(client, user)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_managers_and_administrators_see_every_page(page, cohort, manager_client, administrator_client):
    for client in (manager_client, administrator_client):
        response = client.get(reverse(f"dashboards:{page}"))
        assert response.status_code == 200
        body = response.content.decode()
        assert "Data as of" in body or "Live figures as of" in body
        assert "<svg" in body or page == "coordinators"


@pytest.mark.parametrize("page", PAGES)
def test_other_roles_get_403_and_anonymous_goes_to_sign_in(
    page, cohort, coordinator, clinician, vob_specialist, outsider, client
):
    url = reverse(f"dashboards:{page}")
    for user in (
        coordinator,
        clinician,
        vob_specialist,
        outsider,
        UserFactory(username="mkt", role=Role.MARKETING),
    ):
        response = _client(user).get(url)
        assert response.status_code == 403
        assert b"Harbor Point Tampa" not in response.content
    response = client.get(url + "?facility=1")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_manager_sees_only_own_facility_numbers(cohort, manager_client, other_manager_client):
    a = manager_client.get(reverse("dashboards:funnel")).context["report"]
    b = other_manager_client.get(reverse("dashboards:funnel")).context["report"]
    assert a.tiles[0].value == 4
    assert b.tiles[0].value == 1  # facility B's single admitted inquiry
    # asking for the other facility by id shows nothing of it
    other = cohort.inquiries["i7"].facility_id
    forced = manager_client.get(reverse("dashboards:funnel"), {"facility": other})
    assert forced.context["report"].tiles[0].value == 4  # invalid choice: falls back to own facilities
    census = manager_client.get(reverse("dashboards:census")).content.decode()
    assert "Detox B" not in census
    assert "Residential" in census


def test_administrator_sees_every_facility(cohort, administrator_client):
    report = administrator_client.get(reverse("dashboards:funnel")).context["report"]
    assert report.tiles[0].value == 5


def test_filters_live_in_the_url(cohort, manager_client):
    start = cohort.day - timedelta(days=1)
    response = manager_client.get(
        reverse("dashboards:funnel"),
        {"start": start.isoformat(), "end": cohort.day.isoformat(), "source": cohort.source2.pk},
    )
    assert response.context["report"].tiles[0].value == 1
    assert f'value="{start.isoformat()}"' in response.content.decode()
    bad = manager_client.get(reverse("dashboards:funnel"), {"start": "2026-02-01", "end": "2025-01-01"})
    assert bad.status_code == 200
    assert "start date must be on or before" in bad.content.decode()


def test_nav_link_only_for_managers_and_administrators(cohort, manager_client, coordinator_client):
    assert 'href="/dashboards/"' in manager_client.get(reverse("dashboards:funnel")).content.decode()
    assert b'href="/dashboards/"' not in coordinator_client.get(reverse("home")).content


def test_chart_labels_are_escaped(cohort, manager_client):
    LeadSourceFactory(name="<script>alert(1)</script>", default_facility=cohort.program.facility)
    source = LeadSourceFactory(name="<b>x</b>", default_facility=cohort.program.facility)
    InquiryFactory(facility=cohort.program.facility, created_at=at(cohort.day, 13), lead_source=source)
    rollup_refresh()
    body = manager_client.get(reverse("dashboards:sources")).content.decode()
    assert "<b>x</b>" not in body
    assert "&lt;b&gt;x&lt;/b&gt;" in body
    assert "<script>alert(1)</script>" not in body


def test_csv_export_needs_permission_is_audited_and_neutralises_formulas(
    cohort, manager, administrator_client
):
    url = reverse("dashboards:outcomes") + "?export=referred_out"
    denied = administrator_client.get(url)  # administrators manage the system; export is its own permission
    assert denied.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()
    assert not DashboardExport.objects.exists()

    response = _client(manager).get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["Destination", "Inquiries", "Share of referred out"],
        ["'=Other Rehab Center", "1", "100.0%"],
    ]
    run = DashboardExport.objects.get()
    assert (run.user, run.report, run.table, run.rows) == (manager, "outcomes", "referred_out", 1)
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert (event.actor, event.object_type, event.object_id) == (
        manager,
        "dashboards.dashboardexport",
        str(run.pk),
    )
    assert event.fields == ["outcomes.referred_out"]


@pytest.mark.parametrize("page", PAGES)
def test_every_table_exports(page, cohort, manager_client):
    report = manager_client.get(reverse(f"dashboards:{page}")).context["report"]
    for table in report.tables:
        response = manager_client.get(reverse(f"dashboards:{page}"), {"export": table.slug})
        assert response.status_code == 200
        assert len(list(csv.reader(io.StringIO(response.content.decode())))) == len(table.rows) + 1
    assert manager_client.get(reverse(f"dashboards:{page}"), {"export": "nope"}).status_code == 404


def _more_data(facility, n):
    program = ProgramFactory(
        facility=facility,
        name=f"IOP {n}",
        setting="iop",
        capacity_kind="slots",
        level_of_care=__import__("tests.factories").factories.LevelRef.get("2.1"),
    )
    for i in range(n):
        source = LeadSourceFactory(name=f"Source {i % 7}", default_facility=facility)
        InquiryFactory(
            facility=facility,
            created_at=at(timezone.localdate() - timedelta(days=i % 300), i % 24),
            lead_source=source,
            program_of_interest=program,
            stage=Stage.CLOSED if i % 3 else Stage.NEW,
            lost_reason="declined" if i % 3 else "",
        )
    rollup_refresh()


# session, user, MFA device, roles and permissions, facilities, filter choices (3), freshness,
# then the report's own
QUERY_BUDGET = {
    "funnel": 13,
    "speed": 14,
    "sources": 17,
    "outcomes": 15,
    "census": 14,
    "waitlist": 14,
    "coordinators": 14,
    "trends": 13,
}


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("page", PAGES)
def test_query_count_is_constant(page, cohort, manager, facility):
    client = _client(manager)
    url = reverse(f"dashboards:{page}")
    year = url + f"?start={(cohort.day - timedelta(days=364)).isoformat()}&end={cohort.day.isoformat()}"
    small = (_count(client, url), _count(client, year))
    _more_data(facility, 60)
    large = (_count(client, url), _count(client, year))
    assert small == large
    assert max(large) <= QUERY_BUDGET[page]


def test_waitlist_page_figures_per_program(cohort, manager_client):
    report = manager_client.get(reverse("dashboards:waitlist")).context["report"]
    (row,) = report.table("waitlist").rows  # facility B's entry is not shown to facility A's manager
    assert row[:3] == ["Harbor Point Tampa", "Residential", 1]
    assert row[5:] == [1, 0, 1, 0, 0.0]
    assert round(row[4], 3) == round((12 * 3600) / 86400, 3)  # 22:00 to 10:00 the next day
    assert [t.value for t in report.tiles] == [1, 1, 0, 0.0]
