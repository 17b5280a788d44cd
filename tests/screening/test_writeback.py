"""What the pre-screen records goes back to the person and the insurance, through the services intake
and the lead API use; consent follows who answered."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from admissions.models import (
    Caller,
    ContactConsent,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    Person,
)
from admissions.screening.services import PRESCREEN_TEXT_CONSENT, screening_save
from tests.factories import CallerFactory
from tests.screening.builders import intake_inquiry, screen

pytestmark = pytest.mark.django_db

# --- write-back ------------------------------------------------------------------------------


def _notes(inquiry):
    return list(
        InquiryEvent.objects.filter(inquiry=inquiry, kind=InquiryEvent.Kind.NOTE, data__from="pre-screen")
    )


def test_ok_to_text_from_the_person_records_a_text_consent(catalogue, facility, coordinator):
    inquiry = intake_inquiry(facility, coordinator, None, ok_to_text=None, member_id="")
    screening_save(inquiry_id=inquiry.pk, answers={"logistics": {"ok_to_text": True}}, actor=coordinator)
    person = Person.objects.get(pk=inquiry.person_id)
    assert person.ok_to_text is True
    [consent] = ContactConsent.objects.filter(person=person, medium="sms", revoked_at__isnull=True)
    assert (consent.address, consent.consent_text, consent.captured_by) == (
        "+17275550177",
        PRESCREEN_TEXT_CONSENT,
        coordinator,
    )
    [note] = _notes(inquiry)
    assert "OK to text: blank → yes" in note.body
    assert "Text consent recorded from the person on the call." in note.body
    # Said again: nothing new.
    screening_save(inquiry_id=inquiry.pk, answers={"logistics": {"ok_to_text": True}}, actor=coordinator)
    assert ContactConsent.objects.filter(person=person, medium="sms").count() == 1
    assert len(_notes(inquiry)) == 1


def test_no_to_texts_from_the_person_revokes_their_text_consent(catalogue, facility, coordinator):
    inquiry = intake_inquiry(facility, coordinator, None, consent_sms=True, consent_text="May we text you?")
    screening_save(inquiry_id=inquiry.pk, answers={"logistics": {"ok_to_text": False}}, actor=coordinator)
    person = Person.objects.get(pk=inquiry.person_id)
    assert person.ok_to_text is False
    consent = ContactConsent.objects.get(person=person, medium="sms")
    assert (consent.revoked_at is not None, consent.revocation_source) == (True, "said no on the pre-screen")
    assert "Text consent revoked" in _notes(inquiry)[0].body


def test_a_family_callers_yes_is_not_the_persons_consent(catalogue, facility, coordinator):
    inquiry = intake_inquiry(
        facility,
        coordinator,
        None,
        relationship=Caller.Relationship.FAMILY,
        ok_to_text=None,
        ok_to_voicemail=None,
    )
    screening_save(
        inquiry_id=inquiry.pk,
        answers={"logistics": {"ok_to_text": True, "ok_to_voicemail": True}},
        actor=coordinator,
    )
    person = Person.objects.get(pk=inquiry.person_id)
    assert (person.ok_to_text, person.ok_to_voicemail) == (None, None)
    assert not ContactConsent.objects.filter(person=person, medium="sms").exists()
    [note] = _notes(inquiry)
    assert (
        "said by the caller (family member), not the person: not recorded as the person's consent"
        in note.body
    )
    assert note.data["not_the_persons_consent"] == ["OK to text", "OK to leave a voicemail"]


def test_a_family_callers_no_stops_texts_but_keeps_the_persons_consent(catalogue, facility, coordinator):
    inquiry = intake_inquiry(facility, coordinator, None)
    ContactConsent.objects.create(
        person_id=inquiry.person_id,
        medium="sms",
        address="+17275550177",
        source="web form",
        consent_text="Text me.",
        captured_at=timezone.now() - timedelta(days=1),
    )
    Inquiry.objects.filter(pk=inquiry.pk).update(
        caller=CallerFactory(
            relationship=Caller.Relationship.FAMILY, relationship_detail="mother", name="Dana"
        )
    )
    screening_save(inquiry_id=inquiry.pk, answers={"logistics": {"ok_to_text": False}}, actor=coordinator)
    assert Person.objects.get(pk=inquiry.person_id).ok_to_text is False
    assert ContactConsent.objects.get(person_id=inquiry.person_id, medium="sms").revoked_at is None


def test_a_newer_payer_wins_and_the_timeline_says_what_changed(catalogue, facility, coordinator):
    inquiry = intake_inquiry(facility, coordinator, catalogue.payers["aetna"])
    screening_save(
        inquiry_id=inquiry.pk,
        answers={"insurance": {"payer_id": catalogue.payers["cigna"].pk, "member_id": "NEW445"}},
        actor=coordinator,
    )
    policy = InsurancePolicy.objects.get(inquiry=inquiry)
    assert (policy.payer, policy.member_id) == (catalogue.payers["cigna"], "NEW445")
    [event] = InquiryEvent.objects.filter(inquiry=inquiry, kind=InquiryEvent.Kind.INSURANCE)
    assert event.body == "Payer changed on the pre-screen: Aetna → Cigna."
    assert event.data["from"] == "pre-screen"
    assert event.data["fields"] == ["member_id", "payer_id"]
    assert "NEW445" not in event.body + json.dumps(event.data)


def test_location_and_gender_from_the_screen_replace_the_record(catalogue, facility, coordinator):
    inquiry = intake_inquiry(facility, coordinator, None, state="FL", postal_code="33606")
    Person.objects.filter(pk=inquiry.person_id).update(time_zone="America/New_York")
    screening_save(
        inquiry_id=inquiry.pk,
        answers={"logistics": {"postal_code": "85251", "state": "AZ", "gender": "woman"}},
        actor=coordinator,
    )
    person = Person.objects.get(pk=inquiry.person_id)
    assert (person.postal_code, person.state, person.time_zone, person.gender) == (
        "85251",
        "AZ",
        "America/Phoenix",
        "woman",
    )
    [note] = _notes(inquiry)
    assert "State: FL → AZ" in note.body
    assert "ZIP code: 33606 → 85251" in note.body
    assert "Gender: blank → woman" in note.body
    assert set(note.data["fields"]) == {"state", "postal_code", "time_zone", "gender"}


def test_pregnancy_stays_on_the_screen(catalogue, inquiry, coordinator):
    before = Person.objects.filter(pk=inquiry.person_id).values().get()
    screening_save(inquiry_id=inquiry.pk, answers=screen(medical={"pregnant": "yes"}), actor=coordinator)
    assert Person.objects.filter(pk=inquiry.person_id).values().get() == before


def test_an_ok_to_text_carried_over_from_intake_grants_no_consent(catalogue, facility, coordinator):
    """Intake recorded "OK to text" without a text consent; the pre-screen pre-fills it and the first
    save sends it back unchanged: that is no consent given on the call."""
    inquiry = intake_inquiry(facility, coordinator, None, ok_to_text=True)
    screening_save(inquiry_id=inquiry.pk, answers={"logistics": {"ok_to_text": True}}, actor=coordinator)
    assert not ContactConsent.objects.filter(person_id=inquiry.person_id, medium="sms").exists()
    assert not _notes(inquiry)
