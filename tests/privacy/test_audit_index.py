"""The audit log's start page: look-ups by inquiry number and staff member, the newest entries
about the viewer's facilities; scoped, audited, and a constant number of queries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import AuditEvent
from tests.privacy.conftest import client_for

pytestmark = pytest.mark.django_db


def viewed(inquiry, actor, n=1):  # type: ignore[no-untyped-def]
    return [
        AuditEvent.objects.create(
            actor=actor,
            action="view",
            object_type="admissions.inquiry",
            object_id=str(inquiry.pk),
            request_id=f"r-{i}",
        )
        for i in range(n)
    ]


def test_manager_sees_the_newest_entries_of_their_facilities_only(
    manager_client, manager, coordinator, inquiry, other_inquiry
):
    mine = viewed(inquiry, coordinator, 2)
    viewed(other_inquiry, coordinator, 1)

    response = manager_client.get(reverse("audit:index"))

    assert response.status_code == 200
    assert [row.pk for row in response.context["page"]] == [mine[1].pk, mine[0].pk]
    body = response.content.decode()
    assert "Latest entries about your facilities' records" in body
    assert f'action="{reverse("audit:user")}"' in body
    assert 'name="inquiry"' in body
    # the look at the log is itself recorded: one list row naming the entries shown
    own = AuditEvent.objects.get(actor=manager)
    assert (own.action, own.object_type, own.fields, own.listed) == (
        "list",
        "crm.auditevent",
        ["list:audit:latest"],
        sorted(row.pk for row in mine),
    )


def test_administrator_sees_every_facility(administrator_client, coordinator, inquiry, other_inquiry):
    rows = viewed(inquiry, coordinator) + viewed(other_inquiry, coordinator)
    response = administrator_client.get(reverse("audit:index"))
    assert response.status_code == 200
    assert {row.pk for row in response.context["page"]} == {row.pk for row in rows}


@pytest.mark.parametrize(
    "client_name", ["coordinator_client", "vob_client", "clinician_client", "outsider_client"]
)
def test_roles_without_the_audit_permission_are_refused_and_nothing_is_written(client_name, request, inquiry):
    before = AuditEvent.objects.count()
    response = request.getfixturevalue(client_name).get(reverse("audit:index"))
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before


def test_signed_out_visitors_go_to_the_sign_in_page(client):
    response = client.get(reverse("audit:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_lookup_opens_the_inquiry_audit(manager_client, inquiry):
    response = manager_client.get(reverse("audit:index"), {"inquiry": inquiry.pk})
    assert response.status_code == 302
    assert response["Location"] == reverse("audit:inquiry", args=[inquiry.pk])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("other", "No inquiry #{other} at your facilities."),
        ("abc", "Give the number only, e.g. 1042."),
        ("", "Give the inquiry&#x27;s number."),
        ("99999999999999999999999", "Ensure this value is less than or equal to"),
    ],
)
def test_lookup_errors_are_shown_next_to_the_field(manager_client, other_inquiry, value, message):
    if value == "other":
        value, message = str(other_inquiry.pk), message.format(other=other_inquiry.pk)
    response = manager_client.get(reverse("audit:index"), {"inquiry": value})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_audit_pages_link_to_the_start_page(manager_client, inquiry):
    index = reverse("audit:index")
    assert f'href="{index}"' in manager_client.get(reverse("audit:user")).content.decode()
    assert (
        f'href="{index}"' in manager_client.get(reverse("audit:inquiry", args=[inquiry.pk])).content.decode()
    )
    assert f'href="{index}">Audit log</a>' in manager_client.get(reverse("home")).content.decode()


@pytest.mark.parametrize("rows", [3, 60])
def test_index_queries_do_not_grow(rows, manager, coordinator, inquiry, django_assert_max_num_queries):
    viewed(inquiry, coordinator, rows)
    client = client_for(manager)
    # session, user, MFA device, user and group permissions, groups, facilities, the staff list of the
    # user look-up, the newest rows, the audit insert (in a savepoint), session save
    with django_assert_max_num_queries(13):
        response = client.get(reverse("audit:index"))
    assert response.status_code == 200
    assert len(response.context["page"]) == min(rows, 50)
