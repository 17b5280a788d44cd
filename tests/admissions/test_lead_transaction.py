"""The lead's one-transaction write path on PostgreSQL: the Idempotency-Key lock, the combined
lookup, routing under concurrency, the lean inserts, and the purge of expired keys."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from admissions.api.idempotency import TransactionClaim, request_fingerprint
from admissions.api.keys import lead_source_key_create
from admissions.lead_write import lead_duplicates_query, person_matching
from admissions.leads import LeadData
from admissions.models import (
    IdempotencyRecord,
    Inquiry,
)
from admissions.services import TouchData, inquiry_create
from crm.models import User
from crm.roles import Role
from tests.factories import InquiryFactory, LeadSourceFactory, PersonFactory, UserFactory
from workers import tasks

LEADS_URL = "/api/v1/leads/"


@pytest.fixture
def source(facility):  # type: ignore[no-untyped-def]
    return LeadSourceFactory(name="Sunrise Web Forms", default_facility=facility)


@pytest.fixture
def key_and_token(source):  # type: ignore[no-untyped-def]
    return lead_source_key_create(lead_source=source, rate_limit_per_minute=10_000)


def post(body: object, token: str, key: str | None = None):  # type: ignore[no-untyped-def]
    extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return Client().post(LEADS_URL, data=json.dumps(body), content_type="application/json", **extra)


@contextmanager
def held_in_another_transaction(work: Callable[[], object]) -> Iterator[None]:
    """Run ``work`` in a transaction on another connection and keep it open for the block."""
    started, finish = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with transaction.atomic():
                work()
                started.set()
                finish.wait(timeout=30)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            failure.append(exc)
            started.set()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(timeout=30)
    try:
        assert not failure, failure
        yield
    finally:
        finish.set()
        thread.join(timeout=30)


# --- the Idempotency-Key lock ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_key_held_by_a_running_request_is_409_for_the_same_body_and_422_for_another(
    key_and_token,
):  # type: ignore[no-untyped-def]
    api_key, token = key_and_token
    body = {"first_name": "Sam", "phone": "8135550170"}
    claim = TransactionClaim(api_key=api_key, key="k-1", fingerprint=request_fingerprint(body))

    with held_in_another_transaction(claim.check):
        same = post(body, token, "k-1")
        other = post({"first_name": "Ann", "phone": "8135550171"}, token, "k-1")
        invalid = post({"first_name": "Ann"}, token, "k-1")
        free = post({"first_name": "Bo", "phone": "8135550172"}, token, "k-2")

    assert (same.status_code, same.json()["code"]) == (409, "idempotency_key_in_flight")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert (invalid.status_code, invalid.json()["code"]) == (422, "idempotency_key_reused")
    assert free.status_code == 201
    assert list(Inquiry.objects.values_list("phone", flat=True)) == ["+18135550172"]
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["k-2"]

    # The lock ended with that transaction: the key is free again.
    assert post(body, token, "k-1").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_request_refused_for_a_held_key_waits_for_no_row_lock(key_and_token):  # type: ignore[no-untyped-def]
    api_key, token = key_and_token
    inquiry = InquiryFactory(person__phone="+18135550170", phone="+18135550170")
    body = {"first_name": "Sam", "phone": "8135550170"}  # merges into that inquiry
    claim = TransactionClaim(api_key=api_key, key="k-1", fingerprint=request_fingerprint(body))

    def running_request() -> None:  # holds the key and, as its lookup does, the inquiry's row
        claim.check()
        Inquiry.objects.select_for_update().get(pk=inquiry.pk)

    with held_in_another_transaction(running_request):
        started = time.monotonic()
        same = post(body, token, "k-1")
        waited = time.monotonic() - started

    assert (same.status_code, same.json()["code"]) == (409, "idempotency_key_in_flight")
    assert waited < 5  # the lookup skipped its row locks once the claim failed


def test_the_result_is_stored_in_the_leads_own_transaction(key_and_token):  # type: ignore[no-untyped-def]
    api_key, token = key_and_token
    body = {"first_name": "Sam", "phone": "8135550170"}

    first = post(body, token, "k-1")
    replay = post(body, token, "k-1")

    assert first.status_code == 201
    assert (replay.status_code, replay.json()) == (201, first.json())
    record = IdempotencyRecord.objects.get()
    assert (record.api_key_id, record.key, record.request_hash) == (
        api_key.pk,
        "k-1",
        request_fingerprint(body),
    )
    assert (record.inquiry_id, record.response_status, record.result, record.stage) == (
        first.json()["id"],
        201,
        "created",
        "new",
    )
    assert record.expires_at - record.created_at == timedelta(hours=72)


# --- the lookup ------------------------------------------------------------------------------------


def test_the_lookup_uses_indexes_not_a_table_scan(source):  # type: ignore[no-untyped-def]
    PersonFactory(phone="+18135550142", email="p@example.com")
    lead = LeadData(first_name="Sam", phone="+18135550142", email="s@example.com", external_id="f-1")
    plans: list[str] = []

    def explain(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        cursor = context["cursor"].cursor  # the driver's cursor: not wrapped again
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(explain):
        person = person_matching(phone=lead.phone, email=lead.email, for_update=True)
        list(lead_duplicates_query(lead=lead, source=source, person=person).select_for_update())

    assert len(plans) == 2
    for plan in plans:
        assert "Seq Scan" not in plan, plan


# --- routing -------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_lead_routed_while_another_holds_a_coordinator_goes_to_the_next_one(facility, source):  # type: ignore[no-untyped-def]
    first = UserFactory(username="c1", role=Role.COORDINATOR, facilities=[facility], is_on_duty=True)
    second = UserFactory(username="c2", role=Role.COORDINATOR, facilities=[facility], is_on_duty=True)
    touch = TouchData(channel="web_form", lead_source=source)

    def create(phone: str) -> Inquiry:
        return inquiry_create(person=PersonFactory(phone=phone), facility=facility, touch=touch)

    with held_in_another_transaction(lambda: create("+18135550161")):
        inquiry = create("+18135550162")

    owners = dict(Inquiry.objects.values_list("phone", "assigned_to_id"))
    assert owners == {"+18135550161": first.pk, "+18135550162": second.pk}
    assert inquiry.assigned_to_id == second.pk


# --- purge -----------------------------------------------------------------------------------------------


def test_purge_task_deletes_expired_idempotency_records_only(key_and_token):  # type: ignore[no-untyped-def]
    api_key, _ = key_and_token
    now = timezone.now()
    for key, expires_at in (("old", now - timedelta(seconds=1)), ("live", now + timedelta(hours=1))):
        IdempotencyRecord.objects.create(
            api_key=api_key, key=key, request_hash="0" * 64, created_at=now, expires_at=expires_at
        )

    assert tasks.idempotency_records_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["live"]
    assert tasks.idempotency_records_purge() == 0


def test_purge_task_is_on_the_beat_schedule():
    entries = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == tasks.idempotency_records_purge.name
    ]
    assert len(entries) == 1
    assert entries[0]["schedule"] <= 24 * 3600


# --- routing while other leads hold the coordinators -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_lead_is_routed_while_every_coordinator_is_held_by_leads_in_flight(key_and_token, source):  # type: ignore[no-untyped-def]
    _, token = key_and_token
    on_duty = [
        UserFactory(
            username=f"rr{n}", role=Role.COORDINATOR, facilities=[source.default_facility], is_on_duty=True
        )
        for n in range(2)
    ]
    mine = [c.pk for c in on_duty]

    def hold_both() -> None:
        list(User.objects.select_for_update(no_key=True).filter(pk__in=mine))  # as a lead routing

    with held_in_another_transaction(hold_both):
        started = time.monotonic()
        response = post({"first_name": "Rae", "phone": "8135550190"}, token, "rr-1")
        waited = time.monotonic() - started

    assert response.status_code == 201
    assert waited < 10  # skipped the held rows rather than waiting for them
    inquiry = Inquiry.objects.get(pk=response.json()["id"])
    assert inquiry.assigned_to_id == on_duty[0].pk  # routed to the next in turn, not left unassigned
