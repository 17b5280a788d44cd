"""Contract tests of the lead API: every response code, dedup, normalisation, scoping, budgets."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from admissions.api.idempotency import STALE_CLAIM, idempotency_claim, request_fingerprint
from admissions.api.keys import lead_source_key_create, lead_source_key_revoke
from admissions.followup_policy import NEW_INQUIRY_CADENCE
from admissions.lead_write import lead_duplicates_query
from admissions.leads import LeadData
from admissions.models import (
    ContactConsent,
    FollowUp,
    IdempotencyRecord,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    LeadSourceKey,
    Person,
    Touch,
)
from admissions.pipeline import Stage
from crm.models import AuditEvent
from crm.roles import Role
from tests.factories import InquiryFactory, LeadSourceFactory, PersonFactory, UserFactory
from tests.signin import login_verified

LEADS_URL = "/api/v1/leads/"
CONSENT_TEXT = "I agree to receive calls, texts and emails about treatment options. Reply STOP to opt out."


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def source(facility):  # type: ignore[no-untyped-def]
    return LeadSourceFactory(name="Sunrise Web Forms", default_facility=facility)


@pytest.fixture
def other_source(other_facility):  # type: ignore[no-untyped-def]
    return LeadSourceFactory(name="Bright Chat", default_facility=other_facility)


@pytest.fixture
def key_and_token(source):  # type: ignore[no-untyped-def]
    return lead_source_key_create(lead_source=source, label="tests", rate_limit_per_minute=10_000)


@pytest.fixture
def api_key(key_and_token):  # type: ignore[no-untyped-def]
    return key_and_token[0]


@pytest.fixture
def token(key_and_token):  # type: ignore[no-untyped-def]
    return key_and_token[1]


@pytest.fixture
def other_token(other_source):  # type: ignore[no-untyped-def]
    return lead_source_key_create(lead_source=other_source, rate_limit_per_minute=10_000)[1]


def post(body: object, token: str | None, *, raw: bytes | None = None, **headers: str):  # type: ignore[no-untyped-def]
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    content_type = extra.pop("HTTP_CONTENT_TYPE", "application/json")
    data = raw if raw is not None else json.dumps(body)
    return Client().post(LEADS_URL, data=data, content_type=content_type, **extra)


def get(url: str, token: str | None):  # type: ignore[no-untyped-def]
    extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return Client().get(url, **extra)


def full_lead(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "first_name": "  Jordan\u200b ",
        "last_name": "Rivera\x07",
        "phone": "(813) 555-0142",
        "email": "  Jordan.Rivera@Example.COM ",
        "date_of_birth": "1990-04-12",
        "postal_code": "33602",
        "state": "fl",
        "caller_relationship": "self",
        "substances": ["alcohol", "benzodiazepines"],
        "message": "Please call\r\nafter 5pm.\x00",
        "insurance": {"payer": "Florida Blue", "member_id": "XJH123456789"},
        "consent": {
            "sms": True,
            "email": True,
            "call": False,
            "text": CONSENT_TEXT,
            "captured_at": "2026-11-20T14:03:11Z",
            "ip": "203.0.113.24",
            "page_url": "https://www.example.org/get-help",
        },
        "attribution": {
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "fall-detox",
            "gclid": "EAIaIQ-example",
            "landing_page": "https://www.example.org/get-help",
        },
        "external_id": "form-000142",
    }
    body.update(overrides)
    return body


def snapshot() -> dict[str, int]:
    """Row counts of everything a lead can write."""
    return {
        "person": Person.objects.count(),
        "inquiry": Inquiry.objects.count(),
        "touch": Touch.objects.count(),
        "event": InquiryEvent.objects.count(),
        "followup": FollowUp.objects.count(),
        "insurance": InsurancePolicy.objects.count(),
        "consent": ContactConsent.objects.count(),
        "idempotency": IdempotencyRecord.objects.count(),
    }


def audit_rows() -> list[tuple[str, str, str, list[str]]]:
    return [
        (a.action, a.actor_label, f"{a.object_type}:{a.object_id}", a.fields)
        for a in AuditEvent.objects.order_by("pk")
    ]


# --- 201: a new inquiry ----------------------------------------------------------------------


def test_new_lead_opens_an_inquiry_with_everything_it_carries(source, api_key, token, coordinator):
    coordinator.is_on_duty = True
    coordinator.save()

    response = post(full_lead(), token)

    inquiry = Inquiry.objects.get()
    assert response.status_code == 201
    assert response.json() == {"id": inquiry.pk, "status": "created", "stage": "new"}
    person = inquiry.person
    assert (person.first_name, person.last_name, str(person.phone), person.email) == (
        "Jordan",
        "Rivera",
        "+18135550142",
        "jordan.rivera@example.com",
    )
    assert (person.state, person.postal_code, str(person.date_of_birth)) == ("FL", "33602", "1990-04-12")
    assert (str(inquiry.phone), inquiry.email, inquiry.stage, inquiry.channel) == (
        "+18135550142",
        "jordan.rivera@example.com",
        Stage.NEW,
        "web_form",
    )
    assert (inquiry.lead_source, inquiry.facility, inquiry.external_id) == (
        source,
        source.default_facility,
        "form-000142",
    )
    assert inquiry.message == "Please call\nafter 5pm."
    assert inquiry.caller.relationship == "self"
    assert inquiry.assigned_to == coordinator
    assert sorted(inquiry.substances.values_list("code", flat=True)) == ["alcohol", "benzodiazepines"]
    touch = Touch.objects.get()
    assert (touch.inquiry, touch.lead_source, touch.utm_source, touch.utm_campaign, touch.gclid) == (
        inquiry,
        source,
        "google",
        "fall-detox",
        "EAIaIQ-example",
    )
    assert sorted(InquiryEvent.objects.values_list("kind", flat=True)) == ["assigned", "created"]
    assert FollowUp.objects.filter(inquiry=inquiry).count() == len(NEW_INQUIRY_CADENCE)
    policy = InsurancePolicy.objects.get()
    assert (policy.inquiry, policy.rank, policy.payer_name, policy.member_id) == (
        inquiry,
        "primary",
        "Florida Blue",
        "XJH123456789",
    )
    consents = {
        (c.medium, c.address, c.source, c.consent_text, c.ip, c.page_url, c.captured_at.isoformat())
        for c in ContactConsent.objects.filter(person=person)
    }
    assert consents == {
        (medium, address, "Sunrise Web Forms web form", CONSENT_TEXT, "203.0.113.24",
         "https://www.example.org/get-help", "2026-11-20T14:03:11+00:00")
        for medium, address in (("sms", "+18135550142"), ("email", "jordan.rivera@example.com"))
    }  # fmt: skip
    label = f"api key {api_key.prefix} / Sunrise Web Forms"
    assert audit_rows() == [
        (
            "api_write",
            label,
            f"admissions.inquiry:{inquiry.pk}",
            sorted(
                ["result:created", "status:201", "first_name", "last_name", "phone", "email", "date_of_birth",
                 "postal_code", "state", "caller_relationship", "substances", "message", "external_id",
                 "attribution", "insurance", "consent"]
            ),
        )
    ]  # fmt: skip


def test_response_never_echoes_insurance_or_contact_details(token, source):
    response = post(full_lead(), token)

    assert response.status_code == 201
    text = response.content.decode()
    for secret in ("XJH123456789", "Florida Blue", "5550142", "jordan", "Rivera", "alcohol"):
        assert secret.lower() not in text.lower()


def test_minimal_lead_without_on_duty_coordinator_waits_unassigned(token, source):
    response = post({"first_name": "Sam", "email": "sam@example.com"}, token)

    inquiry = Inquiry.objects.get()
    assert response.status_code == 201
    assert response.json() == {"id": inquiry.pk, "status": "created", "stage": "new"}
    assert (inquiry.assigned_to, inquiry.phone, inquiry.email, inquiry.caller) == (
        None,
        "",
        "sam@example.com",
        None,
    )
    assert list(InquiryEvent.objects.values_list("kind", flat=True)) == ["created"]
    assert (InsurancePolicy.objects.count(), ContactConsent.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("813-555-0142", "+18135550142"),
        ("+1 (813) 555 0142", "+18135550142"),
        ("1.813.555.0142", "+18135550142"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_are_stored_as_e164(token, source, raw, e164):
    response = post({"first_name": "Sam", "phone": raw}, token)

    assert response.status_code == 201
    assert str(Inquiry.objects.get().phone) == e164
    assert str(Person.objects.get().phone) == e164


def test_names_and_text_lose_control_characters(token, source):
    response = post(
        {"first_name": "\tAna\x1b[31m ", "last_name": " de\u202e la Cruz ", "email": "ANA@EXAMPLE.ORG",
         "message": "line one\nline\ttwo\x00"},
        token,
    )  # fmt: skip

    assert response.status_code == 201
    person = Person.objects.get()
    assert (person.first_name, person.last_name, person.email) == ("Ana[31m", "de la Cruz", "ana@example.org")
    assert Inquiry.objects.get().message == "line one\nline\ttwo"


def test_lone_surrogates_are_dropped_and_characters_beyond_the_bmp_kept(token, source):
    # JSON can escape half of a UTF-16 pair on its own ("\ud800"), which no stored text can hold.
    response = post({"first_name": "Jo\ud800rdan", "last_name": "Ito \U0001f600", "email": "j@example.org",
                     "message": "help\udfff"}, token)  # fmt: skip

    assert response.status_code == 201
    person = Person.objects.get()
    assert (person.first_name, person.last_name) == ("Jordan", "Ito \U0001f600")
    assert Inquiry.objects.get().message == "help"


# --- 200: merged into an open inquiry ------------------------------------------------------------


def test_lead_with_phone_of_open_inquiry_merges_as_a_touch(token, api_key, source):
    existing = InquiryFactory(person__phone="+18135550142", facility=source.default_facility)
    before = snapshot()

    response = post(full_lead(email="new-address@example.com"), token)

    assert response.status_code == 200
    assert response.json() == {"id": existing.pk, "status": "merged"}
    after = snapshot()
    assert after == {**before, "touch": before["touch"] + 1, "event": before["event"] + 1,
                     "insurance": 1, "consent": 2}  # fmt: skip
    touch = Touch.objects.get(inquiry=existing)
    assert (touch.lead_source, touch.utm_campaign) == (source, "fall-detox")
    event = InquiryEvent.objects.get(inquiry=existing)
    label = f"api key {api_key.prefix} / Sunrise Web Forms"
    assert (event.kind, event.actor_label, event.body) == ("touch", label, "Please call\nafter 5pm.")
    assert event.data == {"source": "Sunrise Web Forms", "channel": "web_form", "touch": touch.pk}
    assert sorted(existing.substances.values_list("code", flat=True)) == ["alcohol", "benzodiazepines"]
    assert audit_rows()[-1][:3] == ("api_write", label, f"admissions.inquiry:{existing.pk}")
    assert "result:merged" in audit_rows()[-1][3]


def test_a_merged_lead_takes_no_coordinator(token, source, coordinator):
    coordinator.is_on_duty = True
    coordinator.save()
    InquiryFactory(person__phone="+18135550142", facility=source.default_facility)

    assert post(full_lead(), token).status_code == 200
    coordinator.refresh_from_db()
    assert coordinator.last_lead_assigned_at is None  # routing is for new inquiries only

    assert post(full_lead(phone="8135550143", email="other@example.com"), token).status_code == 201
    coordinator.refresh_from_db()
    assert coordinator.last_lead_assigned_at is not None


def test_lead_with_email_of_open_inquiry_merges_whatever_the_case(token, source):
    existing = InquiryFactory(person__email="sam@example.com", person__phone="")

    response = post({"first_name": "Sam", "email": " SAM@Example.com "}, token)

    assert response.status_code == 200
    assert response.json() == {"id": existing.pk, "status": "merged"}
    assert Inquiry.objects.count() == 1


def test_merge_keeps_the_insurance_a_coordinator_entered(token, source):
    existing = InquiryFactory(person__phone="+18135550142")
    InsurancePolicy.objects.create(inquiry=existing, payer_name="Aetna", member_id="A1")

    response = post(full_lead(), token)

    assert response.status_code == 200
    assert list(InsurancePolicy.objects.values_list("payer_name", "member_id")) == [("Aetna", "A1")]


def test_lead_of_a_person_with_a_closed_inquiry_opens_a_new_one_for_that_person(token, source):
    closed = InquiryFactory(person__phone="+18135550142", stage=Stage.CLOSED, lost_reason="declined")

    response = post({"first_name": "Jordan", "phone": "813 555 0142"}, token)

    assert response.status_code == 201
    new = Inquiry.objects.exclude(pk=closed.pk).get()
    assert response.json() == {"id": new.pk, "status": "created", "stage": "new"}
    assert new.person_id == closed.person_id
    assert Person.objects.count() == 1


def test_new_inquiry_links_to_the_person_with_that_email(token, source):
    person = PersonFactory(email="sam@example.com", phone="", last_name="")

    response = post({"first_name": "Sam", "last_name": "Okafor", "email": "sam@example.com"}, token)

    assert response.status_code == 201
    inquiry = Inquiry.objects.get()
    assert inquiry.person_id == person.pk
    person.refresh_from_db()
    assert person.last_name == "Okafor"  # blanks are filled, nothing is overwritten
    assert Person.objects.count() == 1


def test_external_id_of_an_open_inquiry_merges(token, source):
    existing = InquiryFactory(lead_source=source, external_id="form-1", person__phone="+18135550100")

    response = post({"first_name": "Sam", "email": "other@example.com", "external_id": "form-1"}, token)

    assert response.status_code == 200
    assert response.json() == {"id": existing.pk, "status": "merged"}


def test_external_id_reused_after_close_opens_a_new_inquiry(token, source):
    InquiryFactory(lead_source=source, external_id="form-1", stage=Stage.INVALID)

    response = post({"first_name": "Sam", "email": "other@example.com", "external_id": "form-1"}, token)

    assert response.status_code == 201
    assert Inquiry.objects.get(pk=response.json()["id"]).external_id == ""


# --- 400: every invalid field at once --------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True], ids=["new", "merge"])
def test_an_unknown_substance_alone_is_a_400_that_writes_nothing_and_keeps_the_key(token, existing):
    # With every other field valid the codes are checked inside the lead's transaction.
    if existing:
        InquiryFactory(person__phone="+18135550142", phone="+18135550142")
    before = snapshot()

    response = post(full_lead(substances=["alcohol", "Kratom"]), token, **{"Idempotency-Key": "sub-1"})

    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "substances": [
                "Unknown substance code(s): kratom. Use one of: alcohol, rx_opioids, heroin_fentanyl, "
                "benzodiazepines, barbiturates, baclofen, carisoprodol, gabapentinoids, rx_stimulants, "
                "stimulants, cannabis, other."
            ]
        }
    }
    assert snapshot() == before
    # A 400 does not use up the key: the corrected lead goes through with it.
    assert post(full_lead(), token, **{"Idempotency-Key": "sub-1"}).status_code == (200 if existing else 201)


def test_invalid_fields_are_all_reported_and_nothing_is_written(token, api_key, source):
    before = snapshot()
    body = {
        "first_name": " \x00 ",
        "phone": "12345",
        "email": "not-an-email",
        "date_of_birth": "2999-01-01",
        "state": "ZZ",
        "caller_relationship": "neighbour",
        "substances": ["alcohol", "kratom"],
        "consent": {"sms": True, "captured_at": "yesterday"},
        "attribution": {"utm_source": "x" * 121},
        "insurance": "Aetna",
    }

    response = post(body, token)

    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "first_name": ["This field may not be blank."],
            "phone": ["Enter a valid phone number."],
            "email": ["Enter a valid email address."],
            "date_of_birth": ["The date of birth is in the future."],
            "state": ["Use a two-letter US state or territory code."],
            "caller_relationship": ['"neighbour" is not a valid choice.'],
            "substances": [
                "Unknown substance code(s): kratom. Use one of: alcohol, rx_opioids, heroin_fentanyl, "
                "benzodiazepines, barbiturates, baclofen, carisoprodol, gabapentinoids, rx_stimulants, "
                "stimulants, cannabis, other."
            ],
            "consent.captured_at": [
                "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
            ],
            "consent.text": ["Send the exact consent wording when any consent is true."],
            "attribution.utm_source": ["Ensure this field has no more than 120 characters."],
            "insurance": ["Expected a JSON object, got str."],
        }
    }
    assert snapshot() == before
    label = f"api key {api_key.prefix} / Sunrise Web Forms"
    assert audit_rows() == [("api_write", label, f"admissions.leadsourcekey:{api_key.pk}", ["status:400"])]


def test_a_lead_needs_a_phone_or_an_email(token, source):
    response = post({"first_name": "Sam", "consent": {"sms": True, "email": True, "text": "ok"}}, token)

    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "non_field_errors": ["Send a phone number or an email address (or both)."],
            "consent": [
                "Consent to texts or calls needs a phone number.",
                "Consent to email needs an email address.",
            ],
        }
    }
    assert Inquiry.objects.count() == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "The body is not valid JSON."),
        (b"   ", "The body is not valid JSON."),
        (b'{"first_name": NaN}', "The body is not valid JSON."),
        (b"[" * 15000 + b"]" * 15000, "The body is not valid JSON."),
        (b'["a lead"]', "Send one lead as a JSON object."),
    ],
)
def test_a_body_that_is_not_one_json_object_is_400(token, source, raw, message):
    response = post(None, token, raw=raw)

    assert response.status_code == 400
    assert response.json() == {"errors": {"non_field_errors": [message]}}
    assert Inquiry.objects.count() == 0


def test_malformed_idempotency_key_is_400(token, source):
    response = post(full_lead(), token, **{"Idempotency-Key": "has spaces in it"})

    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "Idempotency-Key": ["Use 1 to 255 printable ASCII characters without spaces (a UUID is ideal)."]
        }
    }
    assert snapshot()["inquiry"] == 0


# --- 401 / 403 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Send an API key: Authorization: Bearer <key>."),
        ("Basic dXNlcjpwYXNz", "Send the API key as: Authorization: Bearer <key>."),
        ("Bearer nonsense", "Invalid API key."),
        ("Bearer lsk_00000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Invalid API key."),
    ],
)
def test_missing_or_unknown_key_is_401_and_writes_nothing(source, api_key, authorization, message):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = Client().post(
        LEADS_URL, data=json.dumps(full_lead()), content_type="application/json", **extra
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["detail"] == message
    assert snapshot() == dict.fromkeys(snapshot(), 0)
    assert AuditEvent.objects.count() == 0


def test_right_prefix_with_wrong_secret_is_401(api_key, token, source):
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    response = post(full_lead(), forged)

    assert (response.status_code, response.json()) == (
        401,
        {"detail": "Invalid API key.", "code": "authentication_failed"},
    )
    assert Inquiry.objects.count() == 0


def test_revoked_key_is_401(api_key, token, source):
    lead_source_key_revoke(key=api_key)

    response = post(full_lead(), token)

    assert response.status_code == 401
    assert response.json() == {"detail": "This API key has been revoked.", "code": "authentication_failed"}
    assert (Inquiry.objects.count(), AuditEvent.objects.count()) == (0, 0)


def test_expired_key_is_401(api_key, token, source):
    LeadSourceKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = post(full_lead(), token)

    assert response.status_code == 401
    assert response.json() == {"detail": "This API key has expired.", "code": "authentication_failed"}
    assert Inquiry.objects.count() == 0


def test_staff_session_is_not_an_api_credential(coordinator_client, source):
    response = coordinator_client.post(
        LEADS_URL, data=json.dumps(full_lead()), content_type="application/json"
    )

    assert response.status_code == 401
    assert Inquiry.objects.count() == 0


def test_key_of_an_inactive_source_is_403(api_key, token, source):
    source.is_active = False
    source.save()

    response = post(full_lead(), token)

    assert response.status_code == 403
    assert response.json() == {
        "detail": "This API key's lead source is inactive.",
        "code": "permission_denied",
    }
    assert snapshot()["inquiry"] == 0
    assert audit_rows()[0][3] == ["status:403"]


# --- 409 / 422: idempotency ------------------------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_first_response(token, api_key, source):
    first = post(full_lead(), token, **{"Idempotency-Key": "lead-7f3a"})
    before = snapshot()

    again = post(full_lead(), token, **{"Idempotency-Key": "lead-7f3a"})

    assert first.status_code == 201
    assert (again.status_code, again.json()) == (201, first.json())
    assert snapshot() == before
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.inquiry_id, record.response_status, record.result) == (
        "lead-7f3a",
        first.json()["id"],
        201,
        "created",
    )
    assert record.expires_at - record.created_at == timedelta(hours=72)
    assert audit_rows()[-1][3] == ["result:replayed", "status:201"]


def test_replay_of_a_merge_is_200_merged(token, source):
    existing = InquiryFactory(person__phone="+18135550142")
    first = post(full_lead(), token, **{"Idempotency-Key": "k-1"})

    again = post(full_lead(), token, **{"Idempotency-Key": "k-1"})

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json() == {"id": existing.pk, "status": "merged"}
    assert Touch.objects.count() == 1


def test_body_order_and_whitespace_do_not_change_the_fingerprint(token, source):
    post(full_lead(), token, **{"Idempotency-Key": "k-1"})
    reordered = json.dumps(dict(reversed(list(full_lead().items()))), indent=2).encode()

    again = post(None, token, raw=reordered, **{"Idempotency-Key": "k-1"})

    assert again.status_code == 201
    assert Inquiry.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_422(token, source):
    post(full_lead(), token, **{"Idempotency-Key": "k-1"})
    before = snapshot()

    response = post(full_lead(phone="8135550199"), token, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 422
    assert response.json() == {
        "detail": "This Idempotency-Key was already used with a different request body.",
        "code": "idempotency_key_reused",
    }
    assert snapshot() == before


def test_idempotency_key_in_flight_is_409(token, api_key, source):
    body = full_lead()
    idempotency_claim(api_key=api_key, key="k-1", fingerprint=request_fingerprint(body))
    before = snapshot()

    response = post(body, token, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 409
    assert response.json() == {
        "detail": "A request with this Idempotency-Key is still being processed; retry shortly.",
        "code": "idempotency_key_in_flight",
    }
    assert snapshot() == before


def test_a_claim_abandoned_by_a_dead_process_is_taken_over(token, api_key, source):
    body = full_lead()
    idempotency_claim(api_key=api_key, key="k-1", fingerprint=request_fingerprint(body))
    IdempotencyRecord.objects.update(created_at=timezone.now() - STALE_CLAIM - timedelta(seconds=1))

    response = post(body, token, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 201
    assert IdempotencyRecord.objects.get().response_status == 201


def test_invalid_body_does_not_use_up_the_idempotency_key(token, source):
    rejected = post({"first_name": "Sam"}, token, **{"Idempotency-Key": "k-1"})
    assert rejected.status_code == 400
    assert IdempotencyRecord.objects.count() == 0

    accepted = post({"first_name": "Sam", "phone": "8135550100"}, token, **{"Idempotency-Key": "k-1"})

    assert accepted.status_code == 201
    assert IdempotencyRecord.objects.get().response_status == 201


def test_idempotency_keys_of_different_api_keys_do_not_collide(token, other_token, source, other_source):
    first = post({"first_name": "Sam", "phone": "8135550100"}, token, **{"Idempotency-Key": "k-1"})
    second = post({"first_name": "Ann", "phone": "8135550101"}, other_token, **{"Idempotency-Key": "k-1"})

    assert (first.status_code, second.status_code) == (201, 201)
    assert Inquiry.objects.count() == 2


def test_expired_idempotency_record_is_reused(token, source):
    post({"first_name": "Sam", "phone": "8135550100"}, token, **{"Idempotency-Key": "k-1"})
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = post({"first_name": "Ann", "phone": "8135550101"}, token, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 201
    assert Inquiry.objects.count() == 2
    assert IdempotencyRecord.objects.get().inquiry_id == response.json()["id"]


def _post_concurrently(bodies_and_keys: list[tuple[dict[str, object], str]], token: str) -> list[object]:
    barrier = threading.Barrier(len(bodies_and_keys))
    responses: list[object] = [None] * len(bodies_and_keys)

    def run(index: int, body: dict[str, object], key: str) -> None:
        try:
            barrier.wait()
            responses[index] = post(body, token, **{"Idempotency-Key": key})
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, b, k)) for i, (b, k) in enumerate(bodies_and_keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


@pytest.mark.django_db(transaction=True)
def test_two_threads_with_one_idempotency_key_create_one_inquiry(source, token):
    for attempt in range(5):
        body = full_lead(phone=f"81355502{attempt:02d}", email=f"t{attempt}@example.com", external_id="")
        responses = _post_concurrently([(body, f"race-{attempt}"), (body, f"race-{attempt}")], token)

        statuses = sorted(r.status_code for r in responses)  # type: ignore[attr-defined]
        created = [r for r in responses if r.status_code == 201]  # type: ignore[attr-defined]
        assert statuses in ([201, 409], [201, 201])
        assert all(r.json() == created[0].json() for r in created)  # type: ignore[attr-defined]
        assert Inquiry.objects.filter(phone=f"+181355502{attempt:02d}").count() == 1
    assert Inquiry.objects.count() == 5
    assert IdempotencyRecord.objects.filter(response_status=201).count() == 5


@pytest.mark.django_db(transaction=True)
def test_two_threads_with_the_same_new_person_create_one_inquiry(source, token):
    body = {"first_name": "Sam", "phone": "8135550177"}

    responses = _post_concurrently([(body, "a-1"), (body, "b-1")], token)

    assert sorted(r.status_code for r in responses) == [200, 201]  # type: ignore[attr-defined]
    inquiry = Inquiry.objects.get()
    assert {r.json()["id"] for r in responses} == {inquiry.pk}  # type: ignore[attr-defined]
    assert (Person.objects.count(), Touch.objects.count()) == (1, 2)


# --- 413 / 415 / 429 -------------------------------------------------------------------------------


def test_body_over_32_kib_is_413_before_parsing(token, source):
    body = full_lead(message="x" * 40_000)

    response = post(body, token)

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body may be at most 32768 bytes.",
        "code": "payload_too_large",
    }
    assert snapshot()["inquiry"] == 0


def test_declared_length_over_the_limit_is_413(token, source):
    response = Client().post(
        LEADS_URL, data=b"{}", content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}", CONTENT_LENGTH="10000000",
    )  # fmt: skip

    assert response.status_code == 413


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/json; charset=latin-1"]
)
def test_non_json_body_is_415(token, source, content_type):
    response = post(None, token, raw=b"first_name=Sam&phone=8135550100", **{"Content-Type": content_type})

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert snapshot()["inquiry"] == 0


def test_key_over_its_rate_gets_429_with_retry_after(source):
    key, token = lead_source_key_create(lead_source=source, rate_limit_per_minute=2)

    responses = [post({"first_name": "Sam", "phone": f"81355501{i:02d}"}, token) for i in range(3)]

    assert [r.status_code for r in responses] == [201, 201, 429]
    limited = responses[2]
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["code"] == "throttled"
    assert Inquiry.objects.count() == 2
    assert audit_rows()[-1][2:] == (f"admissions.leadsourcekey:{key.pk}", ["status:429"])


# --- GET /api/v1/leads/{id}/ --------------------------------------------------------------------------


def test_status_of_own_lead(token, api_key, source):
    created = post(full_lead(), token).json()
    inquiry = Inquiry.objects.get(pk=created["id"])

    response = get(f"{LEADS_URL}{inquiry.pk}/", token)

    assert response.status_code == 200
    assert response.json() == {
        "id": inquiry.pk,
        "stage": "new",
        "created_at": inquiry.created_at.isoformat().replace("+00:00", "Z"),
        "first_contact_at": None,
        "admitted": False,
        "admitted_at": None,
    }
    assert audit_rows()[-1] == (
        "api_read",
        f"api key {api_key.prefix} / Sunrise Web Forms",
        f"admissions.inquiry:{inquiry.pk}",
        ["admitted", "admitted_at", "created_at", "first_contact_at", "stage", "status:200"],
    )


@pytest.mark.parametrize(
    ("stage", "shown"),
    [
        (Stage.CONTACT_ATTEMPTED, "contact_attempted"),
        (Stage.CLINICAL_REVIEW, "in_progress"),
        (Stage.INSURANCE_VERIFICATION, "in_progress"),
        (Stage.CRISIS_ROUTED, "closed"),
        (Stage.REFERRED_OUT, "closed"),
        (Stage.DUPLICATE, "duplicate"),
    ],
)
def test_status_shows_coarse_stages_only(token, source, stage, shown):
    attempt = timezone.now()
    exits = {Stage.REFERRED_OUT: {"referred_out_to": "Bayview Hospital"},
             Stage.DUPLICATE: {"duplicate_of": InquiryFactory(stage=Stage.INVALID)}}  # fmt: skip
    inquiry = InquiryFactory(
        lead_source=source, stage=stage, first_attempt_at=attempt, **exits.get(stage, {})
    )

    response = get(f"{LEADS_URL}{inquiry.pk}/", token)

    assert response.status_code == 200
    assert (response.json()["stage"], response.json()["first_contact_at"]) == (
        shown,
        attempt.isoformat().replace("+00:00", "Z"),
    )


def test_status_of_admitted_lead(token, source):
    admitted_at = timezone.now()
    inquiry = InquiryFactory(lead_source=source, stage=Stage.ADMITTED, admitted_at=admitted_at)

    body = get(f"{LEADS_URL}{inquiry.pk}/", token).json()

    assert (body["stage"], body["admitted"], body["admitted_at"]) == (
        "admitted",
        True,
        admitted_at.isoformat().replace("+00:00", "Z"),
    )


@pytest.mark.parametrize("lead_id", ["other", "missing", "99999999999999999999999"])
def test_status_of_any_other_lead_is_404(token, api_key, source, other_source, lead_id):
    other = InquiryFactory(lead_source=other_source)
    unsourced = InquiryFactory()
    ids = {"other": other.pk, "missing": unsourced.pk + 1000, "99999999999999999999999": lead_id}

    response = get(f"{LEADS_URL}{ids[lead_id]}/", token)

    assert response.status_code == 404
    assert response.json() == {"detail": "No such lead.", "code": "not_found"}
    assert audit_rows()[-1][2] == f"admissions.leadsourcekey:{api_key.pk}"


def test_status_needs_a_key(source):
    inquiry = InquiryFactory(lead_source=source)

    response = get(f"{LEADS_URL}{inquiry.pk}/", None)

    assert response.status_code == 401
    assert AuditEvent.objects.count() == 0


# --- GET /api/v1/sources/{source}/stats/ ----------------------------------------------------------------


def test_stats_count_own_inquiries_per_stage_in_range(token, api_key, source, other_source):
    now = timezone.now()
    InquiryFactory.create_batch(2, lead_source=source)
    InquiryFactory(lead_source=source, stage=Stage.CLINICAL_REVIEW)
    InquiryFactory(lead_source=source, stage=Stage.CRISIS_ROUTED)
    InquiryFactory(lead_source=source, stage=Stage.ADMITTED, admitted_at=now)
    InquiryFactory(lead_source=source, created_at=now - timedelta(days=90))  # out of range
    InquiryFactory(lead_source=other_source)  # another source

    response = get(f"/api/v1/sources/{source.pk}/stats/", token)

    today = timezone.localdate()
    assert response.status_code == 200
    assert response.json() == {
        "source": {"id": source.pk, "name": "Sunrise Web Forms"},
        "from": str(today - timedelta(days=29)),
        "to": str(today),
        "total": 5,
        "stages": {"new": 2, "contact_attempted": 0, "contacted": 0, "in_progress": 1, "admitted": 1,
                   "nurture": 0, "closed": 1, "duplicate": 0, "invalid": 0},
    }  # fmt: skip
    assert audit_rows()[-1][2:] == (f"admissions.leadsource:{source.pk}", ["stats", "status:200"])


def test_stats_by_slug_with_a_date_range(token, source):
    old = timezone.now() - timedelta(days=90)
    InquiryFactory(lead_source=source, created_at=old)
    day = timezone.localtime(old).date()

    response = get(f"/api/v1/sources/sunrise-web-forms/stats/?from={day}&to={day}", token)

    assert response.status_code == 200
    assert (response.json()["total"], response.json()["stages"]["new"]) == (1, 1)


def test_stats_of_another_source_is_403(token, source, other_source):
    InquiryFactory(lead_source=other_source)

    for ref in (str(other_source.pk), "bright-chat", "no-such-source"):
        response = get(f"/api/v1/sources/{ref}/stats/", token)
        assert response.status_code == 403
        assert response.json() == {
            "detail": "A key reads the statistics of its own lead source only.",
            "code": "permission_denied",
        }


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "from=2026-13-01",
            {"from": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        ("from=2026-02-01&to=2026-01-01", {"from": ["`from` is after `to`."]}),
        ("from=2020-01-01&to=2026-01-01", {"to": ["Ask for at most 731 days at a time."]}),
        ("to=9999-12-31", {"to": ["Use a date between 2000-01-01 and 2100-12-31."]}),
    ],
)
def test_stats_with_bad_dates_is_400(token, source, query, errors):
    response = get(f"/api/v1/sources/{source.pk}/stats/?{query}", token)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}


# --- query budgets: counts do not grow with rows ------------------------------------------------------


def _queries(call) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    assert response.status_code in (200, 201), response.content
    return len(ctx.captured_queries)


def _grow(source, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        InquiryFactory(lead_source=source, facility=source.default_facility)


def test_create_query_budget_does_not_grow(token, source, coordinator, django_assert_max_num_queries):
    coordinator.is_on_duty = True
    coordinator.save()
    small = _queries(lambda: post(full_lead(), token, **{"Idempotency-Key": "q-1"}))
    _grow(source, 40)
    large = _queries(
        lambda: post(full_lead(phone="8135550999", email="b@example.com", external_id="x2"), token,
                     **{"Idempotency-Key": "q-2"})
    )  # fmt: skip
    assert small == large
    # The key; then in one transaction: the Idempotency-Key's locks and record, substance ids,
    # the identity locks, person, duplicates, campaign; person, caller, routing (the coordinator
    # and their stamp), inquiry, touch, timeline, follow-ups, substance links, insurance,
    # consents, audit, idempotency record; and the transaction's pair. A statement per table,
    # none per row.
    with django_assert_max_num_queries(23):
        post(full_lead(phone="8135550998", email="c@example.com", external_id="x3"), token,
             **{"Idempotency-Key": "q-3"})  # fmt: skip


def test_merge_query_budget_does_not_grow(token, source, django_assert_max_num_queries):
    # At the source's own facility; at another, tests/privacy/test_cross_facility.py counts.
    InquiryFactory(person__phone="+18135550142", facility=source.default_facility)
    small = _queries(lambda: post(full_lead(), token))
    _grow(source, 40)
    large = _queries(lambda: post(full_lead(), token))
    assert small == large
    # The key; then in one transaction: substance ids, the identity locks, person, duplicates,
    # campaign; touch, timeline, substance links, insurance, consents, audit; and the pair.
    with django_assert_max_num_queries(14):
        post(full_lead(), token)


def test_status_and_stats_query_budgets_do_not_grow(token, source, django_assert_max_num_queries):
    inquiry = InquiryFactory(lead_source=source)
    small = (_queries(lambda: get(f"{LEADS_URL}{inquiry.pk}/", token)),
             _queries(lambda: get(f"/api/v1/sources/{source.pk}/stats/", token)))  # fmt: skip
    _grow(source, 40)
    large = (_queries(lambda: get(f"{LEADS_URL}{inquiry.pk}/", token)),
             _queries(lambda: get(f"/api/v1/sources/{source.pk}/stats/", token)))  # fmt: skip
    assert small == large
    with django_assert_max_num_queries(3):  # key, inquiry, audit
        get(f"{LEADS_URL}{inquiry.pk}/", token)
    with django_assert_max_num_queries(3):  # key, counts, audit
        get(f"/api/v1/sources/{source.pk}/stats/", token)


def test_duplicate_lookup_uses_indexes_not_a_table_scan(source):
    person = PersonFactory(phone="+18135550142", email="p@example.com")
    lead = LeadData(first_name="Sam", phone="+18135550142", email="sam@example.com", external_id="form-1")
    query = lead_duplicates_query(lead=lead, source=source, person=person)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
    assert "Seq Scan" not in plan, plan


# --- create_lead_source_key ------------------------------------------------------------------------------


def test_create_lead_source_key_prints_the_key_once_and_stores_its_hash(source):
    out, err = StringIO(), StringIO()

    call_command("create_lead_source_key", "Sunrise Web Forms", "--label", "web form", "--days", "30",
                 stdout=out, stderr=err)  # fmt: skip

    token = out.getvalue().strip()
    key = LeadSourceKey.objects.get()
    assert token.startswith(key.prefix + ".")
    assert key.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {key.prefix, key.key_hash, key.label}
    assert (key.lead_source, key.label, key.rate_limit_per_minute) == (source, "web form", 120)
    assert abs(key.expires_at - key.created_at - timedelta(days=30)) < timedelta(seconds=5)
    assert "shown once" in err.getvalue()
    assert token not in err.getvalue()
    assert post({"first_name": "Sam", "phone": "8135550100"}, token).status_code == 201


def test_create_lead_source_key_for_an_unknown_source_fails(db):
    with pytest.raises(CommandError, match="No lead source named 'Nobody'"):
        call_command("create_lead_source_key", "Nobody", stdout=StringIO(), stderr=StringIO())
    assert LeadSourceKey.objects.count() == 0


def test_admin_shows_a_new_key_once(administrator, source):
    administrator.is_superuser = True
    administrator.save()
    client = Client()
    login_verified(client, administrator)

    response = client.post(
        reverse("admin:admissions_leadsourcekey_add"),
        {"lead_source": source.pk, "label": "chat", "expires_at_0": "2030-01-01", "expires_at_1": "00:00:00",
         "rate_limit_per_minute": 60},
    )  # fmt: skip

    key = LeadSourceKey.objects.get()
    token = response.content.decode().split("user-select:all'>")[1].split("<")[0]
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert key.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (key.label, key.rate_limit_per_minute, key.created_by) == ("chat", 60, administrator)


def test_marketing_user_cannot_use_the_api_with_a_session(source):
    user = UserFactory(username="marketer", role=Role.MARKETING)
    client = Client()
    login_verified(client, user)

    response = client.get(f"/api/v1/sources/{source.pk}/stats/")

    assert response.status_code == 401


def test_bench_reference_endpoint_is_not_routed_by_default(token, source):
    response = Client().post(
        "/api/v1/bench/reference/",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 404
    assert AuditEvent.objects.count() == 0
