"""Every read that shows PHI writes an audit row; a list page writes one row with the ids it showed.

Generated from the URL conf (``tests.security.planted``): every page, queue tab, search, the
duplicate check, the consent and disclosure forms, the messaging pages (unsubscribe, hold
release, the provider webhooks), the Django admin pages of the PHI models and the JSON API are
read by every role, with marker values planted in every category of PHI; then every route gets an
empty POST and every form those pages show is sent with values that fail validation, so a form
re-rendered with its errors counts as a read. A response that shows any marker without writing
an audit row of its reader fails the test.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from crm.masking import Category
from crm.models import AuditEvent
from tests.security.planted import ROLES, build, client_for, form_posts, shown

pytestmark = pytest.mark.django_db


def _rows_of(world, role: str):  # type: ignore[no-untyped-def]
    if role == "marketing":  # the lead API's key, or the marketing user's own session
        return AuditEvent.objects.filter(actor_label__startswith="api key") | AuditEvent.objects.filter(
            actor=world.users[role]
        )
    return AuditEvent.objects.filter(actor=world.users[role])


def _unaudited(world, role: str, method: str, what: str, url: str, data=None):  # type: ignore[no-untyped-def]
    """One request: None if it showed no marker, else the failure ("" if it wrote a row of its
    reader); and the response."""
    client = client_for(world, role, url)
    before = _rows_of(world, role).count()
    response = client.post(url, data or {}) if method == "POST" else client.get(url)
    body = response.content.decode("utf-8", "replace")
    # What the request itself said (a search, a re-rendered form's own input) is not a read.
    said = f"{url}{'&' if '?' in url else '?'}{urlencode(data or {})}"
    seen = [marker for category in Category for marker in shown(body, category, said)]
    if not seen:
        return None, response
    if _rows_of(world, role).count() == before:
        return f"{role} {method} {url} ({what}, {response.status_code}) shows {seen}", response
    return "", response


def test_every_page_that_shows_phi_writes_an_audit_row(facility):
    """Every page by GET; then every route by an empty POST, and every form of the pages by a
    POST that fails validation, so a form re-rendered with its errors is read like a page."""
    world = build(facility)
    unaudited, phi_pages = [], set()
    posts: list[tuple[str, str, str, dict[str, str]]] = []
    for role in ROLES:
        for what, url in world.urls:
            failure, page = _unaudited(world, role, "GET", what, url)
            if failure is not None:
                phi_pages.add(what)
            if failure:
                unaudited.append(failure)
            if not what.startswith("admin delete"):
                posts.append((role, what, url, {}))
            if page.status_code == 200 and page["Content-Type"].startswith("text/html"):
                body = page.content.decode("utf-8", "replace")
                posts += [(role, f"form of {what}", target, data) for target, data in form_posts(url, body)]
    seen_posts = set()
    for role, what, url, data in posts:
        key = (role, url, tuple(sorted(data)))
        if key in seen_posts:
            continue
        seen_posts.add(key)
        failure, _ = _unaudited(world, role, "POST", what, url, data)
        if failure is not None:
            phi_pages.add(f"POST {what}")
        if failure:
            unaudited.append(failure)
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
