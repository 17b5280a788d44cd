"""Every disclosure path is refused without a valid consent covering recipient and purpose."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from admissions.models import InquiryEvent, InsurancePolicy
from crm.models import AuditEvent
from privacy.models import Disclosure, DisclosurePath, Information, Purpose, RecipientType, TpoClass
from privacy.notice import REDISCLOSURE_NOTICE
from privacy.services import DisclosureRefused, Recipient, disclosure_make
from tests.privacy.conftest import client_for, make_consent

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


def paths(partner):  # type: ignore[no-untyped-def]
    """(path, recipient, purpose, information, consent values that cover it) for each path."""
    return {
        DisclosurePath.OUTSIDE_VOB: (
            Recipient(type=RecipientType.VOB_COMPANY, name="Apex Benefits"),
            Purpose.BENEFITS,
            [Information.DEMOGRAPHICS, Information.INSURANCE],
            {"recipient_type": RecipientType.VOB_COMPANY, "recipient_name": "Apex Benefits"},
        ),
        DisclosurePath.REFERRAL_PACKET: (
            Recipient(type=RecipientType.PARTNER, partner=partner),
            Purpose.REFERRAL,
            [Information.DEMOGRAPHICS, Information.SCREENING],
            {
                "recipient_type": RecipientType.PARTNER,
                "recipient_name": "",
                "recipient_partner": partner,
                "purpose": Purpose.REFERRAL,
                "information": [Information.DEMOGRAPHICS, Information.SCREENING, Information.SUBSTANCE_USE],
            },
        ),
        DisclosurePath.PARTNER: (
            Recipient(type=RecipientType.PARTNER, partner=partner),
            Purpose.CARE_COORDINATION,
            [Information.TREATMENT_STATUS],
            {
                "recipient_type": RecipientType.PARTNER,
                "recipient_name": "",
                "recipient_partner": partner,
                "purpose": Purpose.CARE_COORDINATION,
                "information": [Information.TREATMENT_STATUS],
            },
        ),
    }


def _make(inquiry, actor, path, recipient, purpose, information):  # type: ignore[no-untyped-def]
    return disclosure_make(
        inquiry=inquiry, path=path, recipient=recipient, purpose=purpose, information=information, actor=actor
    )


def assert_nothing_written(inquiry):  # type: ignore[no-untyped-def]
    assert Disclosure.objects.count() == 0
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.DISCLOSE).exists()
    assert not InquiryEvent.objects.filter(inquiry=inquiry, data__has_key="disclosure").exists()


PATHS = [DisclosurePath.OUTSIDE_VOB, DisclosurePath.REFERRAL_PACKET, DisclosurePath.PARTNER]


@pytest.mark.parametrize("path", PATHS)
def test_valid_consent_gives_packet_ledger_row_and_audit(path, coordinator, inquiry, partner):
    recipient, purpose, information, values = paths(partner)[path]
    consent = make_consent(inquiry, coordinator, **values)
    InsurancePolicy.objects.create(inquiry=inquiry, payer_name="Blue Plan", member_id="XJ123")

    disclosure = _make(inquiry, coordinator, path, recipient, purpose, information)

    row = Disclosure.objects.get()
    assert row == disclosure
    assert (row.person_id, row.consent, row.made_by, row.path, row.purpose) == (
        inquiry.person_id,
        consent,
        coordinator,
        path,
        purpose,
    )
    assert row.recipient_label == recipient.label
    assert row.information == sorted(information)
    assert REDISCLOSURE_NOTICE in row.document
    assert "42 CFR part 2" in row.document
    assert f"Part 2 consent #{consent.pk}" in row.document
    audit = AuditEvent.objects.get(action=AuditEvent.Action.DISCLOSE)
    assert (audit.actor, audit.object_type, audit.object_id) == (
        coordinator,
        "privacy.disclosure",
        str(row.pk),
    )
    assert audit.fields == sorted(information)
    assert InquiryEvent.objects.filter(inquiry=inquiry, data__disclosure=row.pk).count() == 1


def test_packet_holds_only_the_consented_information(coordinator, inquiry):
    make_consent(inquiry, coordinator, information=[Information.DEMOGRAPHICS, Information.INSURANCE])
    InsurancePolicy.objects.create(inquiry=inquiry, payer_name="Blue Plan", member_id="XJ123")
    recipient = Recipient(type=RecipientType.VOB_COMPANY, name="apex  benefits")

    only_demographics = _make(
        inquiry,
        coordinator,
        DisclosurePath.OUTSIDE_VOB,
        recipient,
        Purpose.BENEFITS,
        [Information.DEMOGRAPHICS],
    )

    assert "Riley Marsh" in only_demographics.document
    assert "Apr 2, 1990" in only_demographics.document
    assert "XJ123" not in only_demographics.document
    assert "Blue Plan" not in only_demographics.document


def _refusal_cases(inquiry, coordinator, partner, court):  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    return {
        "no consent": lambda: None,
        "expired": lambda: make_consent(inquiry, coordinator, expires_on=today - dt.timedelta(days=1)),
        "revoked": lambda: make_consent(
            inquiry,
            coordinator,
            revoked_at=timezone.now(),
            revoked_by=coordinator,
            revocation_method="verbal",
        ),
        "wrong recipient": lambda: make_consent(inquiry, coordinator, recipient_name="Other Benefits LLC"),
        "wrong purpose": lambda: make_consent(inquiry, coordinator, purpose=Purpose.PATIENT_REQUEST),
        "information not covered": lambda: make_consent(
            inquiry, coordinator, information=[Information.DEMOGRAPHICS]
        ),
        "wrong tpo class": lambda: make_consent(
            inquiry,
            coordinator,
            recipient_type=RecipientType.TPO,
            recipient_name="",
            tpo_class=TpoClass.TREATMENT,
        ),
    }


REASONS = {
    "no consent": "No Part 2 consent is on file for this person.",
    "expired": "expired on",
    "revoked": "was revoked on",
    "wrong recipient": "names another recipient",
    "wrong purpose": "is for another purpose",
    "information not covered": "does not cover insurance and coverage details",
    "wrong tpo class": "covers the treatment class",
}


@pytest.mark.parametrize("case", list(REASONS))
def test_outside_vob_refused_without_a_covering_consent(case, coordinator, inquiry, partner, court):
    _refusal_cases(inquiry, coordinator, partner, court)[case]()
    recipient = Recipient(type=RecipientType.VOB_COMPANY, name="Apex Benefits")

    with pytest.raises(DisclosureRefused, match=REASONS[case]):
        _make(
            inquiry,
            coordinator,
            DisclosurePath.OUTSIDE_VOB,
            recipient,
            Purpose.BENEFITS,
            [Information.DEMOGRAPHICS, Information.INSURANCE],
        )
    assert_nothing_written(inquiry)


@pytest.mark.parametrize("path", [DisclosurePath.REFERRAL_PACKET, DisclosurePath.PARTNER])
@pytest.mark.parametrize("case", ["no consent", "expired", "revoked", "wrong recipient", "wrong purpose"])
def test_partner_paths_refused_without_a_covering_consent(path, case, coordinator, inquiry, partner, court):
    recipient, purpose, information, values = paths(partner)[path]
    today = timezone.localdate()
    changes = {
        "no consent": None,
        "expired": {"expires_on": today - dt.timedelta(days=1)},
        "revoked": {"revoked_at": timezone.now(), "revoked_by": coordinator, "revocation_method": "written"},
        "wrong recipient": {"recipient_partner": court},
        "wrong purpose": {"purpose": Purpose.PATIENT_REQUEST},
    }[case]
    if changes is not None:
        make_consent(inquiry, coordinator, **{**values, **changes})

    with pytest.raises(DisclosureRefused):
        _make(inquiry, coordinator, path, recipient, purpose, information)
    assert_nothing_written(inquiry)


def test_tpo_class_consent_covers_treating_providers_only(coordinator, inquiry, partner, court):
    make_consent(
        inquiry,
        coordinator,
        recipient_type=RecipientType.TPO,
        recipient_name="",
        tpo_class=TpoClass.TREATMENT,
        purpose=Purpose.REFERRAL,
        information=[Information.DEMOGRAPHICS],
    )
    to_court = Recipient(type=RecipientType.PARTNER, partner=court)
    with pytest.raises(DisclosureRefused, match="covers the treatment class"):
        _make(
            inquiry, coordinator, DisclosurePath.REFERRAL_PACKET, to_court, Purpose.REFERRAL, ["demographics"]
        )
    assert_nothing_written(inquiry)

    to_hospital = Recipient(type=RecipientType.PARTNER, partner=partner)
    made = _make(
        inquiry, coordinator, DisclosurePath.REFERRAL_PACKET, to_hospital, Purpose.REFERRAL, ["demographics"]
    )
    assert made.recipient_label == "Bayview Hospital"


def test_consent_of_another_facility_does_not_cover(coordinator, inquiry, other_facility):
    make_consent(inquiry, coordinator, discloser_id=other_facility.pk)
    with pytest.raises(DisclosureRefused, match="another facility"):
        _make(
            inquiry,
            coordinator,
            DisclosurePath.OUTSIDE_VOB,
            Recipient(type=RecipientType.VOB_COMPANY, name="Apex Benefits"),
            Purpose.BENEFITS,
            ["demographics"],
        )
    assert_nothing_written(inquiry)


def test_page_blocks_with_the_reason_and_writes_nothing(coordinator_client, inquiry):
    url = reverse("privacy:disclose", args=[inquiry.pk, "outside_vob"])
    response = coordinator_client.post(
        url, {"recipient_name": "Apex Benefits", "purpose": "benefits", "information": ["demographics"]}
    )

    assert response.status_code == 200
    assert "Not disclosed. No Part 2 consent is on file for this person." in response.content.decode()
    assert_nothing_written(inquiry)


def test_vob_specialist_makes_the_outside_vob_disclosure_only(vob_client, coordinator, inquiry, partner):
    make_consent(inquiry, coordinator)
    url = reverse("privacy:disclose", args=[inquiry.pk, "outside_vob"])

    response = vob_client.post(
        url,
        {
            "recipient_name": "Apex Benefits",
            "purpose": "benefits",
            "information": ["demographics", "insurance"],
        },
    )

    disclosure = Disclosure.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("privacy:disclosure", args=[disclosure.pk])
    for path in ("referral_packet", "partner"):
        other = reverse("privacy:disclose", args=[inquiry.pk, path])
        assert vob_client.get(other).status_code == 403
        assert (
            vob_client.post(other, {"recipient_partner": partner.pk, "purpose": "referral"}).status_code
            == 403
        )
    assert Disclosure.objects.count() == 1


@pytest.mark.parametrize("client_fixture", ["clinician_client", "outsider_client"])
def test_other_roles_cannot_disclose(request, client_fixture, coordinator, inquiry):
    make_consent(inquiry, coordinator)
    client = request.getfixturevalue(client_fixture)
    url = reverse("privacy:disclose", args=[inquiry.pk, "outside_vob"])
    data = {"recipient_name": "Apex Benefits", "purpose": "benefits", "information": ["demographics"]}

    assert client.post(url, data).status_code == 403
    assert client.get(reverse("privacy:ledger", args=[inquiry.pk])).status_code == 403
    assert_nothing_written(inquiry)


def test_other_facility_gets_404(other_manager, coordinator, inquiry):
    make_consent(inquiry, coordinator)
    client = client_for(other_manager)
    url = reverse("privacy:disclose", args=[inquiry.pk, "outside_vob"])
    data = {"recipient_name": "Apex Benefits", "purpose": "benefits", "information": ["demographics"]}

    assert client.post(url, data).status_code == 404
    assert client.get(reverse("privacy:ledger", args=[inquiry.pk])).status_code == 404
    assert_nothing_written(inquiry)


def test_ledger_lists_each_disclosure_and_escapes_free_text(manager_client, manager, coordinator, inquiry):
    make_consent(inquiry, coordinator, recipient_name=XSS, information_detail=XSS)
    made = _make(
        inquiry,
        coordinator,
        DisclosurePath.OUTSIDE_VOB,
        Recipient(type=RecipientType.VOB_COMPANY, name=XSS),
        Purpose.BENEFITS,
        ["demographics"],
    )

    ledger = manager_client.get(reverse("privacy:ledger", args=[inquiry.pk]))
    detail = manager_client.get(reverse("privacy:disclosure", args=[made.pk]))
    download = manager_client.get(reverse("privacy:disclosure", args=[made.pk]) + "?download=1")

    for page in (ledger, detail):
        body = page.content.decode()
        assert page.status_code == 200
        assert XSS not in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "Outside VOB request" in ledger.content.decode()
    assert download["Content-Type"] == "text/plain; charset=utf-8"
    assert download["Content-Disposition"] == f'attachment; filename="disclosure-{made.pk}.txt"'
    assert REDISCLOSURE_NOTICE in download.content.decode()
    reads = AuditEvent.objects.filter(actor=manager).values_list("action", "object_type")
    assert set(reads) == {
        ("view", "admissions.person"),
        ("view", "privacy.disclosure"),
        ("export", "privacy.disclosure"),
    }


def test_ledger_rows_cannot_be_changed(coordinator, inquiry):
    make_consent(inquiry, coordinator)
    made = _make(
        inquiry,
        coordinator,
        DisclosurePath.OUTSIDE_VOB,
        Recipient(type=RecipientType.VOB_COMPANY, name="Apex Benefits"),
        Purpose.BENEFITS,
        ["demographics"],
    )
    from django.core.exceptions import ValidationError

    made.recipient_label = "someone else"
    with pytest.raises(ValidationError):
        made.save()
    with pytest.raises(ValidationError):
        made.delete()
    # and the database itself refuses, whatever the application does
    from django.db import DatabaseError, connection, transaction

    for statement in (
        "UPDATE privacy_disclosure SET recipient_label = 'forged'",
        "DELETE FROM privacy_disclosure",
    ):
        with (
            pytest.raises(DatabaseError, match="disclosure ledger rows are append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert list(Disclosure.objects.values_list("recipient_label", flat=True)) == ["Apex Benefits"]
