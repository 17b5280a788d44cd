"""Every read that shows PHI writes an audit row; a list page writes one row with the ids it showed.

Generated from the URL conf (``tests.security.planted``): every page, queue tab, search, the
duplicate check, the consent and disclosure forms, the Django admin pages of the PHI models and
the JSON API are read by every role, with marker values planted in every category of PHI. A page
that shows any marker without writing an audit row of its reader fails the test.
"""

from __future__ import annotations

import pytest

from crm.masking import Category
from crm.models import AuditEvent
from tests.security.planted import ROLES, build, client_for, shown

pytestmark = pytest.mark.django_db


def _rows_of(world, role: str):  # type: ignore[no-untyped-def]
    if role == "marketing":  # the lead API's key, or the marketing user's own session
        return AuditEvent.objects.filter(actor_label__startswith="api key") | AuditEvent.objects.filter(
            actor=world.users[role]
        )
    return AuditEvent.objects.filter(actor=world.users[role])


def test_every_page_that_shows_phi_writes_an_audit_row(facility):
    world = build(facility)
    unaudited, phi_pages = [], set()
    for role in ROLES:
        for what, url in world.urls:
            client = client_for(world, role, url)
            before = _rows_of(world, role).count()
            response = client.get(url)
            body = response.content.decode("utf-8", "replace")
            seen = [marker for category in Category for marker in shown(body, category, url)]
            if not seen:
                continue
            phi_pages.add(what)
            if _rows_of(world, role).count() == before:
                unaudited.append(f"{role} {url} ({what}, {response.status_code}) shows {seen}")
    assert not unaudited, "\n".join(unaudited)
    # the pages the issue named, and the admin's search, did show PHI to someone here
    assert {
        "queue tab open",
        "queue tab due",
        "search by name",
        "search by email",
        "duplicate check by phone",
        "vob/",
        "review/",
        "privacy/inquiries/<int:pk>/consents/new/",
        "privacy/inquiries/<int:pk>/disclose/<slug:path>/",
        "admin search admissions.Person",
    } <= phi_pages


@pytest.mark.parametrize(
    ("url", "role", "what"),
    [
        ("/?tab=open", "coordinator", "list:queue:open"),
        ("/?tab=mine", "coordinator", "list:queue:mine"),
        ("/?tab=due", "coordinator", "list:queue:due"),
        ("/?q=Quillonaire", "coordinator", "list:search"),
        ("/?q=zephyr.marker@example.org", "manager", "list:search"),
        ("/inquiries/new/duplicates/?phone=8135550199", "coordinator", "list:duplicate check"),
        ("/vob/", "vob", "list:vob queue"),
        ("/review/", "clinician", "list:review queue:all"),
        ("/admin/admissions/person/?q=Zephyrine", "staff_manager", "list:admin search"),
    ],
)
def test_a_list_page_writes_one_row_with_the_ids_it_showed(facility, url, role, what):
    world = build(facility)
    before = set(AuditEvent.objects.values_list("pk", flat=True))

    response = client_for(world, role, url).get(url)

    assert response.status_code == 200
    new = AuditEvent.objects.exclude(pk__in=before)
    assert [(r.action, r.actor_id, r.fields[0]) for r in new] == [("list", world.users[role].pk, what)]
    expected = world.person.pk if "admin" in what else world.inquiry.pk
    assert new.get().listed == [expected]
    assert new.get().object_id == ""


def test_the_inquiry_audit_page_lists_who_saw_it_in_a_list(facility, manager_client):
    world = build(facility)
    client_for(world, "coordinator", "/").get("/?q=Quillonaire")

    page = manager_client.get(f"/audit/inquiries/{world.inquiry.pk}/")

    body = page.content.decode()
    assert "p-coord" in body
    assert f"Inquiry, 1 listed: #{world.inquiry.pk}" in body
    assert "<td>Search: " in body  # the page that listed it (``list:search``), in words
    assert "Quillonaire" not in body  # the search text is never recorded
