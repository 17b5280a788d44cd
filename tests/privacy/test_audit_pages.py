"""Manager audit pages: who touched an inquiry, what a user touched; budgets, CSV, scoping."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from admissions.models import InsurancePolicy
from crm.models import AuditEvent
from tests.factories import InquiryFactory
from tests.privacy.conftest import client_for

pytestmark = pytest.mark.django_db


def audit_rows(n, *, actor, inquiry, ip="10.0.0.7"):  # type: ignore[no-untyped-def]
    for i in range(n):
        AuditEvent.objects.create(
            actor=actor,
            action="view",
            object_type="admissions.inquiry",
            object_id=str(inquiry.pk),
            fields=["person", "timeline"],
            ip=ip,
            request_id=f"req-{i:04d}",
        )


def test_who_viewed_lists_rows_of_the_inquiry_and_its_records(manager_client, manager, coordinator, inquiry):
    policy = InsurancePolicy.objects.create(inquiry=inquiry, member_id="M1")
    audit_rows(2, actor=coordinator, inquiry=inquiry)
    AuditEvent.objects.create(
        actor=coordinator, action="update", object_type="admissions.insurancepolicy", object_id=str(policy.pk)
    )
    AuditEvent.objects.create(
        actor=coordinator, action="view", object_type="admissions.person", object_id=str(inquiry.person_id)
    )
    unrelated = InquiryFactory(facility=inquiry.facility)
    AuditEvent.objects.create(
        actor=coordinator, action="view", object_type="admissions.inquiry", object_id=str(unrelated.pk)
    )

    response = manager_client.get(reverse("audit:inquiry", args=[inquiry.pk]))

    assert response.status_code == 200
    rows = list(response.context["page"])
    # 2 views + the policy change + the person view + this page's own read
    assert len(rows) == 5
    assert {(r.object_type, r.action) for r in rows} == {
        ("admissions.inquiry", "view"),
        ("admissions.insurancepolicy", "update"),
        ("admissions.person", "view"),
    }
    body = response.content.decode()
    assert "req-0001" in body
    assert "10.0.0.7" in body
    own = AuditEvent.objects.filter(actor=manager).get()
    assert (own.action, own.object_type, own.object_id, own.fields) == (
        "view",
        "admissions.inquiry",
        str(inquiry.pk),
        ["audit_log"],
    )


@pytest.mark.parametrize("rows", [3, 30])
def test_inquiry_audit_queries_do_not_grow(
    rows, manager_client, coordinator, inquiry, django_assert_max_num_queries
):
    audit_rows(rows, actor=coordinator, inquiry=inquiry)
    # session, user, MFA device, user and group permissions, groups, facilities, inquiry, the audit insert
    # (in a savepoint), count, page, and what the base template reads
    with django_assert_max_num_queries(14):
        response = manager_client.get(reverse("audit:inquiry", args=[inquiry.pk]))
    assert response.status_code == 200
    assert len(response.context["page"]) == rows + 1


def _count_queries(client, url):  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_both_pages_read_the_same_number_of_queries_for_3_and_30_rows(manager, coordinator, inquiry):
    today = timezone.localdate().isoformat()
    user_url = f"{reverse('audit:user')}?user={coordinator.pk}&start={today}&end={today}"
    counts = {}
    for n in (3, 27):
        audit_rows(n, actor=coordinator, inquiry=inquiry)
        client = client_for(manager)
        counts[n] = (
            _count_queries(client, reverse("audit:inquiry", args=[inquiry.pk])),
            _count_queries(client, user_url),
        )
    assert counts[3] == counts[27]


def test_inquiry_audit_csv(manager_client, manager, coordinator, inquiry):
    audit_rows(3, actor=coordinator, inquiry=inquiry)
    AuditEvent.objects.create(
        actor=None,
        actor_label="=HYPERLINK(1)",
        action="view",
        object_type="admissions.inquiry",
        object_id=str(inquiry.pk),
    )

    response = manager_client.get(reverse("audit:inquiry", args=[inquiry.pk]) + "?export=csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="audit-inquiry-{inquiry.pk}.csv"'
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table[0] == ["time", "actor", "action", "record type", "record id", "fields", "ip", "request id"]
    body = table[1:]
    assert len(body) == 5  # 3 views, the formula row, and this export itself
    assert body[0][1:5] == ["manager", "export", "admissions.inquiry", str(inquiry.pk)]
    assert ["'=HYPERLINK(1)", "view"] == body[1][1:3]
    assert body[-1][1:] == [
        "coordinator",
        "view",
        "admissions.inquiry",
        str(inquiry.pk),
        "person timeline",
        "10.0.0.7",
        "req-0000",
    ]
    assert AuditEvent.objects.filter(actor=manager, action="export", fields=["audit_log"]).count() == 1


def test_user_audit_page_and_csv(manager_client, manager, coordinator, inquiry):
    audit_rows(4, actor=coordinator, inquiry=inquiry)
    audit_rows(2, actor=manager, inquiry=inquiry)
    today = timezone.localdate()
    query = f"?user={coordinator.pk}&start={today - dt.timedelta(days=3)}&end={today}"

    page = manager_client.get(reverse("audit:user") + query)
    export = manager_client.get(reverse("audit:user") + query + "&export=csv")

    assert page.status_code == 200
    assert len(page.context["page"]) == 4
    assert {r.actor_id for r in page.context["page"]} == {coordinator.pk}
    assert export.status_code == 200
    table = list(csv.reader(io.StringIO(export.content.decode())))
    assert len(table) == 5
    assert {row[1] for row in table[1:]} == {"coordinator"}
    reads = AuditEvent.objects.filter(actor=manager, object_type="crm.user", object_id=str(coordinator.pk))
    period = f"audit_log:{today - dt.timedelta(days=3)}..{today}"
    assert sorted(reads.values_list("action", "fields")) == [("export", [period]), ("view", [period])]


def test_user_audit_window_is_inclusive_of_both_days(manager_client, coordinator, inquiry):
    audit_rows(1, actor=coordinator, inquiry=inquiry)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    response = manager_client.get(
        f"{reverse('audit:user')}?user={coordinator.pk}&start={yesterday}&end={yesterday}"
    )
    assert response.status_code == 200
    assert len(response.context["page"]) == 0


@pytest.mark.parametrize(
    ("start", "end", "errors"),
    [
        (0, -1, {"end": ["The last day comes before the first."]}),
        (-400, 0, {"end": ["Choose at most 366 days."]}),
        (2, 3, {"start": ["The first day cannot be in the future."]}),
        (None, 0, {"start": ["Give the first day."]}),
        ("not-a-date", 0, {"start": ["Enter a valid date."]}),
    ],
)
def test_user_audit_dates_are_validated(manager_client, manager, coordinator, start, end, errors):
    today = timezone.localdate()

    def day(offset):  # type: ignore[no-untyped-def]
        if offset is None:
            return ""
        return offset if isinstance(offset, str) else (today + dt.timedelta(days=offset)).isoformat()

    response = manager_client.get(
        f"{reverse('audit:user')}?user={coordinator.pk}&start={day(start)}&end={day(end)}&export=csv"
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert response.context["form"].errors == errors
    assert response.context["page"] is None
    assert not AuditEvent.objects.filter(actor=manager).exists()


def test_manager_sees_only_their_facilities_records(
    manager_client, manager, coordinator, inquiry, other_inquiry
):
    coordinator.facilities.add(other_inquiry.facility)
    audit_rows(2, actor=coordinator, inquiry=inquiry)
    audit_rows(3, actor=coordinator, inquiry=other_inquiry)
    today = timezone.localdate()

    response = manager_client.get(f"{reverse('audit:user')}?user={coordinator.pk}&start={today}&end={today}")

    assert response.status_code == 200
    assert {r.object_id for r in response.context["page"]} == {str(inquiry.pk)}
    assert manager_client.get(reverse("audit:inquiry", args=[other_inquiry.pk])).status_code == 404
    assert (
        manager_client.get(reverse("audit:inquiry", args=[other_inquiry.pk]) + "?export=csv").status_code
        == 404
    )


def test_manager_cannot_look_up_staff_of_other_facilities(manager_client, other_manager):
    today = timezone.localdate()
    response = manager_client.get(
        f"{reverse('audit:user')}?user={other_manager.pk}&start={today}&end={today}"
    )
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["user"]


def test_administrator_sees_all_facilities_but_may_not_export(
    administrator_client, coordinator, inquiry, other_inquiry
):
    coordinator.facilities.add(other_inquiry.facility)
    audit_rows(2, actor=coordinator, inquiry=inquiry)
    audit_rows(3, actor=coordinator, inquiry=other_inquiry)
    today = timezone.localdate()
    query = f"?user={coordinator.pk}&start={today}&end={today}"

    response = administrator_client.get(reverse("audit:user") + query)

    assert response.status_code == 200
    assert len(response.context["page"]) == 5
    assert administrator_client.get(reverse("audit:inquiry", args=[other_inquiry.pk])).status_code == 200
    assert administrator_client.get(reverse("audit:user") + query + "&export=csv").status_code == 403


@pytest.mark.parametrize(
    "client_fixture", ["coordinator_client", "clinician_client", "vob_client", "outsider_client"]
)
def test_other_roles_get_403(request, client_fixture, inquiry):
    client = request.getfixturevalue(client_fixture)
    before = AuditEvent.objects.count()
    assert client.get(reverse("audit:inquiry", args=[inquiry.pk])).status_code == 403
    assert client.get(reverse("audit:inquiry", args=[inquiry.pk]) + "?export=csv").status_code == 403
    assert client.get(reverse("audit:user")).status_code == 403
    assert AuditEvent.objects.count() == before


def test_anonymous_is_sent_to_sign_in(client, inquiry):
    response = client.get(reverse("audit:inquiry", args=[inquiry.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_audit_page_escapes_stored_values(manager_client, inquiry):
    payload = "<script>alert(1)</script>"
    AuditEvent.objects.create(
        actor_label=payload,
        action="view",
        object_type="admissions.inquiry",
        object_id=str(inquiry.pk),
        fields=[payload],
    )
    body = manager_client.get(reverse("audit:inquiry", args=[inquiry.pk])).content.decode()
    assert payload not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_audit_rows_name_the_person_who_acted(manager_client, coordinator, inquiry):
    coordinator.first_name, coordinator.last_name = "Dana", "Whitfield"
    coordinator.save(update_fields=["first_name", "last_name"])
    audit_rows(1, actor=coordinator, inquiry=inquiry)
    body = manager_client.get(reverse("audit:inquiry", args=[inquiry.pk])).content.decode()
    assert f'Dana Whitfield <span class="muted">{coordinator.username}</span>' in body
