"""``copy_insert`` writes what ``bulk_create`` writes: every kind of field the import copies."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.db.models import Value

from admissions.models import Inquiry, InquiryEvent, Person
from crm.bulkcopy import copy_insert
from crm.models import AuditEvent
from tests.factories import InquiryFactory

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


def _people(tag: str) -> list[dict[str, object]]:
    return [
        {
            "first_name": f"Ana {tag}",
            "last_name": "O'Neil\tTab",
            "date_of_birth": date(1988, 2, 29),
            "phone": "+17045558765",
            "email": f"ana.{tag}@example.org",
            "street": "12 Back\\slash Rd\nUnit 4",
            "state": "NC",
            "created_at": AT,
        },
        {"first_name": f"Bo {tag}", "created_at": AT},  # the rest left to the fields' defaults
    ]


def _rows(model, pks, *exclude: str):  # type: ignore[no-untyped-def]
    names = [f.attname for f in model._meta.concrete_fields if not f.primary_key and f.attname not in exclude]
    return [tuple(row) for row in model.objects.filter(pk__in=pks).order_by("pk").values_list(*names)]


def test_people_read_back_as_bulk_create_writes_them():
    by_orm = Person.objects.bulk_create([Person(**values) for values in _people("x")])
    copy_insert(Person, _people("x"))
    copied = Person.objects.exclude(pk__in=[p.pk for p in by_orm]).order_by("pk")
    assert _rows(Person, [p.pk for p in by_orm]) == _rows(Person, list(copied.values_list("pk", flat=True)))


def test_encrypted_json_and_array_fields_are_written_in_their_stored_form(facility):
    inquiry = InquiryFactory(facility=facility)
    events = [
        {
            "inquiry_id": inquiry.pk,
            "kind": InquiryEvent.Kind.NOTE,
            "at": AT,
            "data": {"n": n, "ok": True},
            "body": "b",
        }
        for n in range(2)
    ]
    InquiryEvent.objects.bulk_create([InquiryEvent(**events[0])])
    copy_insert(InquiryEvent, events[1:])
    orm, copied = InquiryEvent.objects.filter(inquiry=inquiry).order_by("pk")
    assert (copied.data, copied.at, copied.body) == ({"n": 1, "ok": True}, AT, "b")
    assert orm.data == {"n": 0, "ok": True}

    copy_insert(
        AuditEvent, [{"action": "view", "object_type": "x", "fields": ["a"], "listed": [1, 2], "at": AT}]
    )
    stored = AuditEvent.objects.get(object_type="x")
    assert (stored.listed, stored.fields) == ([1, 2], ["a"])
    assert stored.at > AT  # auto_now_add: stamped at the write, as bulk_create and save() do

    person = Person.objects.create(first_name="Cy")
    copy_insert(
        Inquiry, [{"person_id": person.pk, "facility_id": facility.pk, "message": "Please call after 5"}]
    )
    written = Inquiry.objects.get(person=person)
    assert written.message == "Please call after 5"
    with connection.cursor() as cursor:
        cursor.execute("SELECT message FROM admissions_inquiry WHERE id = %s", [written.pk])
        assert "Please call" not in cursor.fetchone()[0]  # encrypted at rest, as save() writes it


def test_chosen_primary_keys_are_kept():
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('admissions_person', 'id'))")
        pk = cursor.fetchone()[0]
    copy_insert(Person, [{"id": pk, "first_name": "Kept", "created_at": AT}])
    assert Person.objects.get(pk=pk).first_name == "Kept"


def test_mixed_keys_unknown_columns_and_expressions_are_refused():
    with pytest.raises(ValueError, match="all give a primary key or none"):
        copy_insert(Person, [{"id": 10**9, "first_name": "A"}, {"first_name": "B"}])
    with pytest.raises(ValueError, match=r"no column for \['person'\]"):
        copy_insert(Inquiry, [{"person": 1}])  # the attribute is person_id
    with pytest.raises(ValueError, match="cannot write an expression"):
        copy_insert(Person, [{"first_name": Value("A")}])
    copy_insert(Person, [])
    assert not Person.objects.exists()
