"""The lead's one-transaction write path on PostgreSQL: the Idempotency-Key lock, the combined
lookup, routing under concurrency, the lean inserts, and the purge of expired keys."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from admissions.api.idempotency import TransactionClaim, request_fingerprint
from admissions.api.keys import lead_source_key_create
from admissions.leads import LeadData, _lead_lookup_postgresql, lead_duplicates_query, person_matching
from admissions.models import (
    ContactConsent,
    FollowUp,
    IdempotencyRecord,
    Inquiry,
    InquiryEvent,
    InsurancePolicy,
    Touch,
)
from admissions.pipeline import Stage
from admissions.services import (
    TouchData,
    inquiry_create,
    records_insert_later,
    rows_insert,
    rows_insert_batch,
    rows_insert_later,
)
from crm.models import AuditEvent
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


# --- the combined lookup ---------------------------------------------------------------------------


def _orm_lookup(lead: LeadData, source):  # type: ignore[no-untyped-def]
    person = person_matching(phone=lead.phone, email=lead.email)
    candidates = lead_duplicates_query(lead=lead, source=source, person=person)
    return person, sorted(candidates.values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("phone", "email", "external_id"),
    [
        ("+18135550142", "", ""),  # the person by phone, and an open inquiry under their email
        ("", "other@example.com", ""),  # a second person by email only
        ("+18135550142", "other@example.com", ""),  # phone outranks email
        ("+18135550199", "nobody@example.com", "form-7"),  # only the external id
        ("+18135550198", "", ""),  # nothing at all
    ],
)
def test_combined_lookup_finds_what_the_orm_lookup_finds(source, phone, email, external_id):  # type: ignore[no-untyped-def]
    person = PersonFactory(phone="+18135550142", email="p@example.com")
    InquiryFactory(person=person, phone="+18135550142", email="")
    # Another person's open inquiry under the first person's email, and a third person's.
    InquiryFactory(person=PersonFactory(phone="+18135550143"), phone="+18135550143", email="p@example.com")
    other = PersonFactory(phone="+18135550144", email="other@example.com")
    InquiryFactory(person=other, phone="+18135550144", email="other@example.com")
    InquiryFactory(lead_source=source, external_id="form-7", stage=Stage.CLOSED, lost_reason="declined")
    PersonFactory(phone="", email="other@example.com")  # a newer record with the same email
    lead = LeadData(first_name="Sam", phone=phone, email=email, external_id=external_id)

    with transaction.atomic():
        lookup = _lead_lookup_postgresql(lead=lead, source=source, route_at=timezone.now())
        found_person, found, campaign = lookup.person, lookup.candidates, lookup.campaign

    expected_person, expected = _orm_lookup(lead, source)
    assert (found_person.pk if found_person else None) == (expected_person.pk if expected_person else None)
    assert sorted(i.pk for i in found) == expected
    assert campaign is None


def test_combined_lookup_uses_indexes_not_a_table_scan(source):  # type: ignore[no-untyped-def]
    PersonFactory(phone="+18135550142", email="p@example.com")
    lead = LeadData(
        first_name="Sam", phone="+18135550142", email="s@example.com", external_id="f-1",
        attribution={"utm_campaign": "fall"},
    )  # fmt: skip
    plans: list[str] = []

    def explain(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        cursor = context["cursor"].cursor  # the driver's cursor: not wrapped again
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(explain):
        _lead_lookup_postgresql(lead=lead, source=source, route_at=timezone.now())

    lookup = next(plan for plan in plans if "admissions_person" in plan)
    assert "Seq Scan" not in lookup, lookup


@pytest.mark.django_db(transaction=True)
def test_the_lookup_is_prepared_and_its_generic_plan_uses_the_indexes(source):  # type: ignore[no-untyped-def]
    # PostgreSQL plans a prepared statement afresh for its first five executions, then keeps a
    # generic plan (planned once, without the values) if that costs no more. With table scans
    # priced out, a generic plan is chosen only if every arm can use its index without knowing
    # the values: the partial indexes' predicates must be spelt out next to the parameters.
    if settings.DATABASES["default"]["OPTIONS"].get("prepare_threshold") is None:
        pytest.skip("prepared statements are turned off (DB_PREPARED_STATEMENTS=false)")
    connection.close()  # a new connection: no statement prepared yet, no plan cached
    PersonFactory(phone="+18135550142", email="p@example.com")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        for n in range(8):
            lead = LeadData(first_name="Sam", phone=f"+1813555{n:04d}", email=f"s{n}@example.com",
                            external_id=f"f-{n}", attribution={"utm_campaign": "fall"})  # fmt: skip
            _lead_lookup_postgresql(lead=lead, source=source, route_at=timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, cardinality(parameter_types), generic_plans, custom_plans"
                " FROM pg_prepared_statements WHERE statement LIKE '%%candidate AS MATERIALIZED%%'"
            )
            prepared = cursor.fetchall()
            assert len(prepared) == 1, prepared  # prepared once, reused
            name, parameters, generic, custom = prepared[0]
            # The generic plan itself (the values do not matter to it).
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cursor.execute(f"EXPLAIN EXECUTE {name}({', '.join(['NULL'] * parameters)})")
            plan = "\n".join(row[0] for row in cursor.fetchall())
    assert (custom, generic) == (5, 2)  # prepared at the second run, generic from the seventh
    assert "Seq Scan" not in plan, plan
    # Every index is searched by a key, none read whole (a partial index's predicate the generic
    # plan cannot prove makes PostgreSQL read another open-inquiry index from end to end).
    lines = plan.splitlines()
    for n, line in enumerate(lines):
        if "Index Scan" in line:
            assert "Index Cond" in lines[n + 1], plan


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


# --- lean inserts --------------------------------------------------------------------------------------


def test_rows_insert_writes_what_bulk_create_writes(facility, source):  # type: ignore[no-untyped-def]
    inquiry = InquiryFactory(facility=facility)
    now = timezone.now()

    def touch() -> Touch:
        return Touch(inquiry=inquiry, at=now, channel="web_form", lead_source=source, utm_source="google")

    lean = rows_insert([touch(), touch()])
    orm = Touch.objects.bulk_create([touch()])

    assert all(t.pk is not None and not t._state.adding for t in lean)
    rows = list(Touch.objects.order_by("pk").values())
    assert [r["id"] for r in rows] == [lean[0].pk, lean[1].pk, orm[0].pk]
    for row in rows:
        row.pop("id")
    assert rows[0] == rows[1] == rows[2]


def test_rows_insert_ignores_conflicts_like_bulk_create(facility):  # type: ignore[no-untyped-def]
    inquiry = InquiryFactory(facility=facility)
    due = timezone.now()

    def followup() -> FollowUp:
        return FollowUp(inquiry=inquiry, kind=FollowUp.Kind.CALL_TASK, due_at=due, dedupe_key="k")

    rows_insert([followup()], ignore_conflicts=True)
    rows_insert([followup()], ignore_conflicts=True)

    assert FollowUp.objects.filter(dedupe_key="k").count() == 1


def _row_kinds(inquiry: Inquiry, at: datetime, n: int) -> list[list[Any]]:
    """Rows of several column types (timestamps with microseconds, inet, numeric, jsonb, booleans,
    NULLs, the encrypted message and the E.164 phone, text with quotes and newlines)."""
    text = "Ærø 'quoted' \"double\" back\\slash\nnext line"
    return [
        [ContactConsent(person=inquiry.person, medium="sms", address=f"+1813555{n:04d}", source=text,
                        consent_text=text, captured_at=at, ip="2001:db8::1" if n else "203.0.113.24",
                        page_url="https://example.org/ü?a=1&b=2")],
        [InsurancePolicy(inquiry=inquiry, rank="primary" if n else "secondary", payer_name=text,
                         member_id="M1", deductible_remaining=Decimal("1234.50"), vob_requested_at=at,
                         in_network=True)],
        [InquiryEvent(inquiry=inquiry, kind="note", body=text, at=at,
                      data={"n": 1.5, "text": text, "nested": {"list": [1, None, True]}}) for _ in range(2)],
        [Inquiry(person=PersonFactory(phone=f"+1727555{n:04d}"), facility=inquiry.facility,
                 channel="web_form", phone=f"+1727555{n:04d}", message=text, created_at=at,
                 stage_changed_at=at)],
    ]  # fmt: skip


def test_rows_held_for_a_batch_are_stored_as_rows_inserted_at_once(facility):  # type: ignore[no-untyped-def]
    inquiry = InquiryFactory(facility=facility)
    at = timezone.now().replace(microsecond=123456)
    models = [ContactConsent, InsurancePolicy, InquiryEvent, Inquiry]
    before = {model: max(model.objects.values_list("pk", flat=True), default=0) for model in models}
    for rows in _row_kinds(inquiry, at, 0):
        rows_insert(rows)
    held_rows = _row_kinds(inquiry, at, 1)
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), rows_insert_batch():
        for rows in held_rows:
            assert rows_insert_later(rows) == rows
        held = [q["sql"].split()[0] for q in queries.captured_queries]
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert held == ["SAVEPOINT"]  # nothing before the batch ends, then one statement
    assert statements == ["SAVEPOINT", "WITH", "RELEASE"]
    # Every insert's rows travel as one JSON parameter, JSON columns and addresses included.
    batch = queries.captured_queries[1]["sql"]
    assert batch.count("jsonb_populate_recordset") == len(held_rows)
    assert "VALUES" not in batch

    differs = {"id", "person_id", "phone", "address", "ip", "rank"}
    for model in models:
        rows = list(model.objects.filter(pk__gt=before[model]).order_by("pk"))
        assert len(rows) == (4 if model is InquiryEvent else 2)
        now_row, held_row = rows[0], rows[len(rows) // 2]
        for name in (f.attname for f in model._meta.concrete_fields if f.attname not in differs):
            assert getattr(held_row, name) == getattr(now_row, name), (model, name)
    held_consent = ContactConsent.objects.get(pk__gt=before[ContactConsent], address="+18135550001")
    assert held_consent.ip == "2001:db8::1"


def _records(inquiry: Inquiry, api_key: Any, at: datetime, n: int) -> dict[type, list[dict[str, Any]]]:
    """Records of every model a lead writes as records, with values of every kind and defaults left
    out (constant ones, one computed per row, an auto_now_add time)."""
    text = "Ærø 'quoted' \"double\" back\\slash\nnext line"
    return {
        FollowUp: [{"inquiry_id": inquiry.pk, "kind": FollowUp.Kind.CALL_TASK, "due_at": at,
                    "dedupe_key": f"records:{n}:{step}", "created_at": at} for step in range(2)],
        ContactConsent: [{"person_id": inquiry.person_id, "medium": "sms", "address": f"+1813555{n:04d}",
                          "source": text, "consent_text": text, "captured_at": at,
                          "ip": "2001:db8::1" if n else "203.0.113.24", "page_url": "https://example.org/ü"}],
        InquiryEvent: [{"inquiry_id": inquiry.pk, "kind": InquiryEvent.Kind.CREATED, "actor_label": text,
                        "data": {"n": 1.5, "text": text, "nested": [1, None, True]}, "at": at},
                       {"inquiry_id": inquiry.pk, "kind": "note", "at": at}],
        Touch: [{"inquiry_id": inquiry.pk, "at": at, "channel": "web_form", "utm_source": text}],
        InsurancePolicy: [{"inquiry_id": inquiry.pk, "rank": "primary" if n else "secondary",
                           "payer_name": text, "member_id": "M1", "deductible_remaining": Decimal("12.50")}],
        IdempotencyRecord: [{"api_key_id": api_key.pk, "key": f"k{n}", "request_hash": "0" * 64,
                             "inquiry_id": inquiry.pk, "response_status": 201, "result": "created",
                             "stage": "new", "created_at": at, "expires_at": at}],
        AuditEvent: [{"actor_id": None, "actor_label": text, "action": "api_write",
                      "object_type": "admissions.inquiry", "object_id": str(inquiry.pk), "fields": ["a", "b"],
                      "ip": "203.0.113.24", "request_id": "r1", "at": at - timedelta(days=9)}],
    }  # fmt: skip


def test_records_held_for_a_batch_are_stored_as_instances_saved_at_once(facility, key_and_token):  # type: ignore[no-untyped-def]
    api_key, _ = key_and_token
    inquiry = InquiryFactory(facility=facility)
    at = timezone.now().replace(microsecond=123456)
    models = list(_records(inquiry, api_key, at, 0))
    for model, records in _records(inquiry, api_key, at, 0).items():
        for record in records:
            model(**record).save()
    saved = {model: set(model.objects.values_list("pk", flat=True)) for model in models}
    started = timezone.now()
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), rows_insert_batch():
        for model, records in _records(inquiry, api_key, at, 1).items():
            assert records_insert_later(model, records) is None
        held = len(queries.captured_queries)
    assert held == 1  # the savepoint: nothing before the batch ends, then one statement
    [batch] = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("WITH")]
    assert batch.count("jsonb_populate_recordset(jsonb_populate_record(") == len(models)

    differs = {"id", "dedupe_key", "address", "ip", "rank", "key"}
    for model in models:
        rows = list(model.objects.order_by("pk").values())
        now_rows = [r for r in rows if r["id"] in saved[model]]
        held_rows = [r for r in rows if r["id"] not in saved[model]]
        assert len(now_rows) == len(held_rows) == len(_records(inquiry, api_key, at, 0)[model])
        for now_row, held_row in zip(now_rows, held_rows, strict=True):
            if model is AuditEvent:  # auto_now_add: the time of the insert, whatever the record says
                assert started <= held_row.pop("at") <= timezone.now()
                assert now_row.pop("at") < started
            assert {k: v for k, v in held_row.items() if k not in differs} == {
                k: v for k, v in now_row.items() if k not in differs
            }, model
    # A default computed per row: a follow-up's creation time left out of the record.
    with transaction.atomic(), rows_insert_batch():
        records_insert_later(FollowUp, [{"inquiry_id": inquiry.pk, "kind": "call_task", "due_at": at,
                                         "dedupe_key": "records:default"}])  # fmt: skip
    assert FollowUp.objects.get(dedupe_key="records:default").created_at >= started


def test_records_outside_a_batch_are_inserted_at_once(facility):  # type: ignore[no-untyped-def]
    inquiry = InquiryFactory(facility=facility)
    records_insert_later(
        FollowUp,
        [{"inquiry_id": inquiry.pk, "kind": "call_task", "due_at": timezone.now(), "dedupe_key": "once"}] * 2,
        ignore_conflicts=True,
    )
    assert list(FollowUp.objects.filter(inquiry=inquiry).values_list("dedupe_key", "state")) == [
        ("once", "scheduled")
    ]


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
