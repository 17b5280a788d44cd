"""Retention purge of closed, non-admitted inquiries, and the audited per-person export."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from admissions.models import ContactConsent, Inquiry, InquiryEvent, InsurancePolicy, Person
from admissions.screening.models import Screening, ScreeningForm
from crm.models import AuditEvent
from tests.factories import InquiryFactory, PersonFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db


def _closed(facility, person, days_ago):  # type: ignore[no-untyped-def]
    inquiry = InquiryFactory(facility=facility, person=person, message="old words")
    Inquiry.objects.filter(pk=inquiry.pk).update(
        stage="closed", lost_reason="no_response", stage_changed_at=timezone.now() - timedelta(days=days_ago)
    )
    InquiryEvent.objects.create(inquiry=inquiry, kind="note", body="note")
    InsurancePolicy.objects.create(inquiry=inquiry, member_id="M1")
    Screening.objects.create(inquiry=inquiry, form=ScreeningForm.objects.get(version=1), answers={"a": 1})
    return inquiry


@pytest.fixture
def old(facility):  # type: ignore[no-untyped-def]
    person = PersonFactory(first_name="Oldname", email="old@example.org")
    ContactConsent.objects.create(
        person=person,
        medium="email",
        address="old@example.org",
        source="web",
        consent_text="ok",
        captured_at=timezone.now(),
    )
    return _closed(facility, person, days_ago=4000)


def test_dry_run_changes_nothing(old):  # type: ignore[no-untyped-def]
    call_command("retention_purge", "--older-than-days", "2555", "--dry-run", verbosity=0)
    assert InquiryEvent.objects.filter(inquiry=old).exists()
    assert Person.objects.get(pk=old.person_id).first_name == "Oldname"


def test_purge_removes_phi_keeps_recent_and_audit(old, facility):  # type: ignore[no-untyped-def]
    recent = _closed(facility, PersonFactory(), days_ago=10)
    audit_before = AuditEvent.objects.count()
    call_command("retention_purge", "--older-than-days", "2555", verbosity=0)
    old.refresh_from_db()
    assert old.message == ""
    assert not InquiryEvent.objects.filter(inquiry=old).exists()
    assert not InsurancePolicy.objects.filter(inquiry=old).exists()
    assert not Screening.objects.filter(inquiry=old).exists()
    person = Person.objects.get(pk=old.person_id)
    assert person.first_name == "Removed"
    assert person.email == ""
    assert not ContactConsent.objects.filter(person=person).exists()
    assert InquiryEvent.objects.filter(inquiry=recent).exists()
    assert AuditEvent.objects.count() == audit_before
    # running again finds nothing left to do
    call_command("retention_purge", "--older-than-days", "2555", verbosity=0)


def test_admitted_people_are_never_purged(facility):  # type: ignore[no-untyped-def]
    person = PersonFactory(first_name="Keepme")
    _closed(facility, person, days_ago=4000)
    admitted = InquiryFactory(facility=facility, person=person)
    Inquiry.objects.filter(pk=admitted.pk).update(stage="admitted", admitted_at=timezone.now())
    call_command("retention_purge", "--older-than-days", "2555", verbosity=0)
    assert Person.objects.get(pk=person.pk).first_name == "Keepme"


def test_export_is_a_separate_audited_permission(old, manager, coordinator, outsider):  # type: ignore[no-untyped-def]
    url = f"/people/{old.person_id}/export/"
    for user in (coordinator, outsider):
        client = Client()
        login_verified(client, user)
        assert client.get(url).status_code == 403
    client = Client()
    login_verified(client, manager)
    before = AuditEvent.objects.filter(action="export").count()
    response = client.get(url)
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["person"]["first_name"] == "Oldname"
    assert document["inquiries"][0]["message"] == "old words"
    assert "admissions.Screening" in document["related"]
    assert "admissions.InquiryEvent" in document["related"]
    assert "admissions.ContactConsent" in document["related"]
    assert AuditEvent.objects.filter(action="export").count() == before + 2
    assert AuditEvent.objects.filter(action="export", object_type="admissions.person").exists()


def test_export_of_another_facilitys_person_is_404(other_facility, manager):  # type: ignore[no-untyped-def]
    elsewhere = InquiryFactory(facility=other_facility)
    client = Client()
    login_verified(client, manager)
    assert client.get(f"/people/{elsewhere.person_id}/export/").status_code == 404
