"""Recording and revoking Part 2 consent: every element required, roles, facility scoping, escaping."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from admissions.models import InquiryEvent
from crm.models import AuditEvent
from privacy.models import Part2Consent
from tests.privacy.conftest import make_consent

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


def valid_post(inquiry, **overrides):  # type: ignore[no-untyped-def]
    data = {
        "discloser": str(inquiry.facility_id),
        "information": ["demographics", "insurance"],
        "information_detail": "",
        "recipient_type": "vob_company",
        "recipient_name": "Apex Benefits",
        "purpose": "benefits",
        "right_to_revoke": "You may revoke this consent at any time by calling the admissions team.",
        "expires_on": (timezone.localdate() + dt.timedelta(days=30)).isoformat(),
        "expiry_event": "",
        "signature_method": "e_signature",
        "signer_name": "Riley Marsh",
        "signer_capacity": "patient",
        "signature_reference": "",
        "signed_on": timezone.localdate().isoformat(),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def url(inquiry):  # type: ignore[no-untyped-def]
    return reverse("privacy:consent-new", args=[inquiry.pk])


def test_valid_consent_is_recorded_with_audit_and_timeline(coordinator_client, coordinator, inquiry):
    response = coordinator_client.post(url(inquiry), valid_post(inquiry))

    assert response.status_code == 302
    consent = Part2Consent.objects.get()
    assert consent.person_id == inquiry.person_id
    assert consent.discloser_id == inquiry.facility_id
    assert consent.information == ["demographics", "insurance"]
    assert (consent.recipient_type, consent.recipient_name, consent.purpose) == (
        "vob_company",
        "Apex Benefits",
        "benefits",
    )
    assert consent.captured_by == coordinator
    assert consent.status() == "valid"
    audit = AuditEvent.objects.get(object_type="privacy.part2consent")
    assert (audit.action, audit.actor, audit.object_id) == ("create", coordinator, str(consent.pk))
    assert InquiryEvent.objects.filter(inquiry=inquiry, data__part2_consent=consent.pk).count() == 1


@pytest.mark.parametrize(
    ("missing", "field", "message"),
    [
        ({"discloser": ""}, "discloser", "Name the facility that discloses."),
        ({"information": None}, "information", "Choose the information the person allows to be disclosed."),
        ({"recipient_type": ""}, "recipient_type", "Choose who may receive the information."),
        ({"recipient_name": ""}, "recipient_name", "Name the recipient."),
        (
            {"recipient_type": "partner", "recipient_name": ""},
            "recipient_partner",
            "Choose the referral partner.",
        ),
        ({"recipient_type": "tpo", "recipient_name": ""}, "tpo_class", "Choose the class of recipients."),
        ({"purpose": ""}, "purpose", "State the purpose of the disclosure."),
        (
            {"right_to_revoke": ""},
            "right_to_revoke",
            "Include the right-to-revoke statement and how to revoke.",
        ),
        ({"expires_on": ""}, "expires_on", "Give an expiry date or the event that ends the consent."),
        ({"signature_method": ""}, "signature_method", "Say how the consent was signed."),
        ({"signer_name": ""}, "signer_name", "Give the signer&#x27;s name."),
        ({"signed_on": ""}, "signed_on", "Give the date it was signed."),
        (
            {"signature_method": "paper"},
            "signature_reference",
            "Say where the recording or the scanned paper is kept.",
        ),
        (
            {"signature_method": "verbal"},
            "signature_reference",
            "Say where the recording or the scanned paper is kept.",
        ),
    ],
)
def test_each_missing_element_is_a_field_error(coordinator_client, inquiry, missing, field, message):
    response = coordinator_client.post(url(inquiry), valid_post(inquiry, **missing))

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert message in response.content.decode()
    assert Part2Consent.objects.count() == 0
    assert not AuditEvent.objects.filter(object_type="privacy.part2consent").exists()


def test_an_expiry_event_stands_in_for_a_date(coordinator_client, inquiry):
    response = coordinator_client.post(
        url(inquiry), valid_post(inquiry, expires_on="", expiry_event="On admission")
    )

    assert response.status_code == 302
    consent = Part2Consent.objects.get()
    assert (consent.expires_on, consent.expiry_event) == (None, "On admission")


def test_dates_are_checked(coordinator_client, inquiry):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = coordinator_client.post(
        url(inquiry), valid_post(inquiry, expires_on=yesterday.isoformat(), signed_on=tomorrow.isoformat())
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "expires_on": ["That expiry date has passed."],
        "signed_on": ["The signature date cannot be in the future."],
    }
    assert Part2Consent.objects.count() == 0


@pytest.mark.parametrize("client_fixture", ["clinician_client", "vob_client", "outsider_client"])
def test_other_roles_cannot_record_consent(request, client_fixture, inquiry):
    client = request.getfixturevalue(client_fixture)
    assert client.get(url(inquiry)).status_code == 403
    assert client.post(url(inquiry), valid_post(inquiry)).status_code == 403
    assert Part2Consent.objects.count() == 0


def test_other_facility_inquiry_is_not_found(coordinator_client, other_inquiry):
    assert coordinator_client.get(url(other_inquiry)).status_code == 404
    assert coordinator_client.post(url(other_inquiry), valid_post(other_inquiry)).status_code == 404
    assert Part2Consent.objects.count() == 0


def test_discloser_must_be_one_of_the_users_facilities(coordinator_client, inquiry, other_facility):
    response = coordinator_client.post(url(inquiry), valid_post(inquiry, discloser=str(other_facility.pk)))

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["discloser"]
    assert Part2Consent.objects.count() == 0


def test_revocation_records_when_how_and_who(coordinator_client, coordinator, inquiry):
    consent = make_consent(inquiry, coordinator)

    response = coordinator_client.post(
        reverse("privacy:consent-revoke", args=[consent.pk]), {"method": "verbal", "note": "Called in"}
    )

    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.revoked_at is not None
    assert (consent.revoked_by, consent.revocation_method, consent.revocation_note) == (
        coordinator,
        "verbal",
        "Called in",
    )
    assert consent.status() == "revoked"
    assert AuditEvent.objects.filter(
        object_type="privacy.part2consent", object_id=str(consent.pk), action="update"
    ).exists()


def test_revocation_needs_how(coordinator_client, coordinator, inquiry):
    consent = make_consent(inquiry, coordinator)

    response = coordinator_client.post(reverse("privacy:consent-revoke", args=[consent.pk]), {"method": ""})

    assert response.status_code == 200
    assert "Say how the person revoked." in response.content.decode()
    consent.refresh_from_db()
    assert consent.revoked_at is None


def test_vob_cannot_revoke_and_other_facility_cannot_see(vob_client, manager, other_manager, inquiry):
    consent = make_consent(inquiry, manager)
    revoke = reverse("privacy:consent-revoke", args=[consent.pk])

    assert vob_client.post(revoke, {"method": "verbal"}).status_code == 403
    assert vob_client.get(reverse("privacy:consent", args=[consent.pk])).status_code == 200
    from tests.privacy.conftest import client_for

    stranger = client_for(other_manager)
    assert stranger.get(reverse("privacy:consent", args=[consent.pk])).status_code == 404
    assert stranger.post(revoke, {"method": "verbal"}).status_code == 404
    consent.refresh_from_db()
    assert consent.revoked_at is None


def test_free_text_is_rendered_escaped(coordinator_client, coordinator, inquiry):
    response = coordinator_client.post(
        url(inquiry),
        valid_post(
            inquiry,
            recipient_name=XSS,
            information_detail=XSS,
            right_to_revoke=XSS,
            expiry_event=XSS,
            signer_name=XSS,
        ),
    )
    assert response.status_code == 302
    consent = Part2Consent.objects.get()

    pages = [
        coordinator_client.get(reverse("privacy:consent", args=[consent.pk])),
        coordinator_client.get(reverse("admissions:inquiry", args=[inquiry.pk])),
    ]
    for page in pages:
        body = page.content.decode()
        assert page.status_code == 200
        assert XSS not in body
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body


def test_inquiry_page_shows_the_section_by_role(
    coordinator_client, clinician_client, vob_client, coordinator, inquiry
):
    make_consent(inquiry, coordinator)
    page = reverse("admissions:inquiry", args=[inquiry.pk])

    coordinator_body = coordinator_client.get(page).content.decode()
    assert "Consents and disclosures" in coordinator_body
    assert reverse("privacy:consent-new", args=[inquiry.pk]) in coordinator_body
    assert reverse("privacy:disclose", args=[inquiry.pk, "referral_packet"]) in coordinator_body

    vob_body = vob_client.get(page).content.decode()
    assert reverse("privacy:disclose", args=[inquiry.pk, "outside_vob"]) in vob_body
    assert reverse("privacy:disclose", args=[inquiry.pk, "referral_packet"]) not in vob_body
    assert reverse("privacy:consent-new", args=[inquiry.pk]) not in vob_body

    assert "Consents and disclosures" not in clinician_client.get(page).content.decode()
