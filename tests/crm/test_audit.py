"""The audit trail is append-only, in the application and in the database."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from crm.audit import audit_record
from crm.models import AuditEvent
from tests.factories import InquiryFactory

pytestmark = pytest.mark.django_db


def test_audit_record_writes_actor_object_and_fields(facility, coordinator):
    inquiry = InquiryFactory(facility=facility)
    event = audit_record(
        action=AuditEvent.Action.VIEW, obj=inquiry, actor=coordinator, fields=["phone", "email"]
    )
    assert (event.actor, event.object_type, event.object_id) == (
        coordinator,
        "admissions.inquiry",
        str(inquiry.pk),
    )
    assert event.fields == ["email", "phone"]


def test_application_cannot_change_or_delete_audit_rows(facility, coordinator):
    event = audit_record(
        action=AuditEvent.Action.VIEW, obj=InquiryFactory(facility=facility), actor=coordinator
    )
    event.object_id = "forged"
    with pytest.raises(ValidationError):
        event.save()
    with pytest.raises(ValidationError):
        event.delete()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE crm_auditevent SET object_id = 'forged'", "DELETE FROM crm_auditevent"],
)
def test_database_refuses_update_and_delete(facility, coordinator, statement):
    audit_record(action=AuditEvent.Action.VIEW, obj=InquiryFactory(facility=facility), actor=coordinator)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.filter(object_id="forged").count() == 0
    assert AuditEvent.objects.count() == 1


def test_queryset_update_is_refused_too(facility, coordinator):
    audit_record(action=AuditEvent.Action.VIEW, obj=InquiryFactory(facility=facility), actor=coordinator)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.update(object_id="forged")
    assert not AuditEvent.objects.filter(object_id="forged").exists()
