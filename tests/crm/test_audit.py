# ruff: noqa: S608  (the tampering statements carry ids the test itself made)
"""The audit trail is append-only, in the application and in the database, and hash-chained."""

from __future__ import annotations

import io
import logging
import threading

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from crm.audit import audit_record
from crm.audit_guard import chain_link, chain_verify
from crm.models import AuditChainHead, AuditChainLink, AuditEvent
from crm.roles import Role
from tests.factories import FacilityFactory, InquiryFactory, UserFactory
from tests.signin import login_verified

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


# --- the hash chain ----------------------------------------------------------------------------
# Links are written at commit by a deferred trigger; inside a test's transaction, SET CONSTRAINTS
# ALL IMMEDIATE fires it at the end of each statement instead.


def _chained_rows(count: int, facility, actor) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    inquiry = InquiryFactory(facility=facility)
    return [audit_record(action=AuditEvent.Action.VIEW, obj=inquiry, actor=actor) for _ in range(count)]


def _as_superuser(*statements: str) -> None:
    """Tamper as the database superuser would: triggers off for this session, then the statements."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        for statement in statements:
            cursor.execute(statement)
        cursor.execute("SET session_replication_role = DEFAULT")


def _canonical(cursor, pk: int) -> str:  # type: ignore[no-untyped-def]
    cursor.execute("SELECT jsonb_strip_nulls(to_jsonb(e))::text FROM crm_auditevent e WHERE id = %s", [pk])
    return str(cursor.fetchone()[0])


def _verify_fails() -> str:
    err = io.StringIO()
    with pytest.raises(CommandError, match="Audit chain broken"):
        call_command("audit_verify", stderr=err)
    return err.getvalue()


def test_each_row_gets_one_link_in_commit_order_and_verifies(facility, coordinator):
    rows = _chained_rows(3, facility, coordinator)
    links = list(AuditChainLink.objects.order_by("seq").values_list("seq", "table_name", "row_id"))
    assert links == [(n + 1, "crm_auditevent", row.pk) for n, row in enumerate(rows)]
    head = AuditChainHead.objects.get()
    assert (head.seq, head.hash) == (3, AuditChainLink.objects.get(seq=3).hash)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue() == f"Audit chain intact: 3 links, head 3:{head.hash}.\n"


def test_a_link_is_the_hash_of_the_previous_link_and_the_row(facility, coordinator):
    rows = _chained_rows(2, facility, coordinator)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL timezone = 'UTC'")
        cursor.execute(
            "SELECT jsonb_strip_nulls(to_jsonb(e))::text FROM crm_auditevent e WHERE id = %s", [rows[1].pk]
        )
        canonical = cursor.fetchone()[0]
    first, second = AuditChainLink.objects.order_by("seq")
    assert second.hash == chain_link(first.hash, 2, "crm_auditevent", canonical)
    assert f'"object_id": "{rows[1].object_id}"' in canonical


def test_verify_names_a_row_a_superuser_changed(facility, coordinator):
    rows = _chained_rows(3, facility, coordinator)
    _as_superuser(f"UPDATE crm_auditevent SET object_id = 'forged' WHERE id = {rows[1].pk}")
    assert _verify_fails().startswith(
        f"position 2 (crm_auditevent id {rows[1].pk}): the row does not match its hash: it was changed"
    )


def test_verify_names_a_row_a_superuser_deleted(facility, coordinator):
    rows = _chained_rows(3, facility, coordinator)
    _as_superuser(f"DELETE FROM crm_auditevent WHERE id = {rows[1].pk}")
    assert _verify_fails().startswith(f"position 2 (crm_auditevent id {rows[1].pk}): the row was deleted")


def test_verify_finds_links_deleted_with_their_row(facility, coordinator):
    rows = _chained_rows(3, facility, coordinator)
    _as_superuser(
        f"DELETE FROM crm_auditevent WHERE id = {rows[1].pk}",
        f"DELETE FROM crm_auditchainlink WHERE row_id = {rows[1].pk}",
    )
    assert _verify_fails().startswith("links 2 to 2 are missing")


def test_verify_finds_the_end_cut_off(facility, coordinator):
    rows = _chained_rows(3, facility, coordinator)
    _as_superuser(
        f"DELETE FROM crm_auditevent WHERE id = {rows[2].pk}",
        f"DELETE FROM crm_auditchainlink WHERE row_id = {rows[2].pk}",
    )
    assert _verify_fails().startswith("the chain ends at position 2 but its head says 3")


def test_verify_finds_a_row_inserted_outside_the_chain(facility, coordinator):
    rows = _chained_rows(2, facility, coordinator)
    _as_superuser(
        "INSERT INTO crm_auditevent (at, actor_label, action, object_type, object_id, fields, request_id) "
        f"SELECT at - interval '1 day', 'backdated', action, object_type, object_id, fields, '' "
        f"FROM crm_auditevent WHERE id = {rows[0].pk}"
    )
    forged = AuditEvent.objects.get(actor_label="backdated")
    assert _verify_fails().startswith(
        f"crm_auditevent ids {forged.pk} are not in the chain: inserted while it was switched off"
    )


def test_verify_finds_a_row_spliced_into_the_middle(facility, coordinator):
    """The superuser inserts a backdated row at position 2 with a correct hash for that position and
    moves the later links along: the row that was at 2 no longer matches its hash at 3."""
    rows = _chained_rows(3, facility, coordinator)
    _as_superuser(
        "INSERT INTO crm_auditevent (at, actor_label, action, object_type, object_id, fields, request_id) "
        "SELECT at, 'spliced', action, object_type, object_id, fields, '' "
        f"FROM crm_auditevent WHERE id = {rows[0].pk}"
    )
    forged = AuditEvent.objects.get(actor_label="spliced")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL timezone = 'UTC'")
        cursor.execute(
            "SELECT jsonb_strip_nulls(to_jsonb(e))::text FROM crm_auditevent e WHERE id = %s", [forged.pk]
        )
        canonical = cursor.fetchone()[0]
    spliced = chain_link(AuditChainLink.objects.get(seq=1).hash, 2, "crm_auditevent", canonical)
    _as_superuser(
        "UPDATE crm_auditchainlink SET seq = seq + 10 WHERE seq >= 2",
        "UPDATE crm_auditchainlink SET seq = seq - 9 WHERE seq >= 12",
        f"INSERT INTO crm_auditchainlink VALUES (2, 'crm_auditevent', {forged.pk}, '{spliced}')",
        "UPDATE crm_auditchainhead SET seq = 4",
    )
    assert _verify_fails().startswith(
        f"position 3 (crm_auditevent id {rows[1].pk}): the row does not match its hash: it was changed, "
        "or inserted or moved here out of order"
    )


def test_verify_finds_two_rows_swapped(facility, coordinator):
    rows = _chained_rows(3, facility, coordinator)
    _as_superuser(
        "UPDATE crm_auditchainlink SET seq = 12 WHERE seq = 2",
        "UPDATE crm_auditchainlink SET seq = 2 WHERE seq = 3",
        "UPDATE crm_auditchainlink SET seq = 3 WHERE seq = 12",
    )
    assert _verify_fails().startswith(f"position 2 (crm_auditevent id {rows[2].pk}): the row does not match")


def test_a_logged_head_catches_a_rewrite_of_the_whole_chain(facility, coordinator):
    rows = _chained_rows(3, facility, coordinator)
    logged = str(AuditChainHead.objects.get())
    # The superuser changes a row, then recomputes every link and the head after it.
    _as_superuser(f"UPDATE crm_auditevent SET object_id = 'forged' WHERE id = {rows[1].pk}")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL timezone = 'UTC'")
        previous = AuditChainLink.objects.get(seq=1).hash
        for seq, row in ((2, rows[1]), (3, rows[2])):
            cursor.execute(
                "SELECT jsonb_strip_nulls(to_jsonb(e))::text FROM crm_auditevent e WHERE id = %s", [row.pk]
            )
            previous = chain_link(previous, seq, "crm_auditevent", cursor.fetchone()[0])
            _as_superuser(f"UPDATE crm_auditchainlink SET hash = '{previous}' WHERE seq = {seq}")
    _as_superuser(f"UPDATE crm_auditchainhead SET hash = '{previous}'")
    call_command("audit_verify", stdout=io.StringIO())  # consistent again ...
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("audit_verify", "--expect", logged, stderr=err)
    assert err.getvalue().startswith(  # ... but not with the head logged before
        f"position 3 (crm_auditevent id {rows[2].pk}): the hash differs from the head logged"
    )


def test_disclosure_ledger_rows_join_the_same_chain(facility, coordinator):
    from privacy.models import Information, Purpose, RecipientType
    from privacy.services import Recipient, disclosure_make
    from tests.privacy.conftest import make_consent

    _chained_rows(1, facility, coordinator)
    inquiry = InquiryFactory(facility=facility)
    make_consent(inquiry, coordinator)
    disclosure = disclosure_make(
        inquiry=inquiry,
        path="outside_vob",
        recipient=Recipient(type=RecipientType.VOB_COMPANY, name="Apex Benefits"),
        purpose=Purpose.BENEFITS,
        information=[Information.DEMOGRAPHICS],
        actor=coordinator,
    )
    chained = list(AuditChainLink.objects.order_by("seq").values_list("table_name", "row_id"))
    disclose_row = AuditEvent.objects.get(action="disclose")
    assert chained[-2:] == [("privacy_disclosure", disclosure.pk), ("crm_auditevent", disclose_row.pk)]
    call_command("audit_verify", stdout=io.StringIO())
    _as_superuser(
        f"UPDATE privacy_disclosure SET recipient_label = 'someone else' WHERE id = {disclosure.pk}"
    )
    assert _verify_fails().startswith(
        f"position {len(chained) - 1} (privacy_disclosure id {disclosure.pk}): the row does not match"
    )


def test_head_log_line_names_a_position_and_a_hash_only(facility, coordinator, caplog):
    from privacy.tasks import audit_chain_head_log

    _chained_rows(2, facility, coordinator)
    head = AuditChainHead.objects.get()
    with caplog.at_level(logging.INFO, logger="privacy.tasks"):
        assert audit_chain_head_log() == f"2:{head.hash}"
    assert [r.getMessage() for r in caplog.records] == [f"audit chain head 2:{head.hash} (position 2)"]
    assert "audit-chain-head-log" in settings.CELERY_BEAT_SCHEDULE


@pytest.mark.django_db(transaction=True)
def test_chain_order_is_commit_order_under_concurrent_writers(facility, coordinator):
    """Writers take ids from the sequence in one order and commit in another; some roll back.
    The chain follows the commits, has no gaps, and verifies."""
    inquiry = InquiryFactory(facility=facility)
    first_inserted = threading.Event()
    second_committed = threading.Event()
    ids: dict[str, int] = {}

    def early_id_late_commit() -> None:
        try:
            with transaction.atomic():
                ids["early"] = audit_record(action="view", obj=inquiry, actor=coordinator).pk
                first_inserted.set()
                second_committed.wait(10)
        finally:
            connection.close()

    def writer(n: int) -> None:
        try:
            for i in range(10):
                try:
                    with transaction.atomic():
                        audit_record(action="view", obj=inquiry, actor=coordinator, fields=[f"w{n}:{i}"])
                        if i % 4 == 3:
                            raise RuntimeError("rolled back")
                except RuntimeError:
                    pass
        finally:
            connection.close()

    early = threading.Thread(target=early_id_late_commit)
    early.start()
    assert first_inserted.wait(10)
    ids["late"] = audit_record(action="view", obj=inquiry, actor=coordinator).pk
    second_committed.set()
    early.join(10)
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(30)

    assert ids["early"] < ids["late"]
    order = list(AuditChainLink.objects.order_by("seq").values_list("row_id", flat=True))
    assert order.index(ids["late"]) < order.index(ids["early"])
    assert list(AuditChainLink.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, AuditEvent.objects.count() + 1)
    )
    assert AuditEvent.objects.count() == 2 + 4 * 8
    report = chain_verify()
    assert (report.ok, report.links) == (True, 34)


@pytest.mark.django_db
def test_the_audit_admin_is_for_administrators_only(client):  # type: ignore[no-untyped-def]
    url = reverse("admin:crm_auditevent_changelist")
    manager = UserFactory(role=Role.MANAGER, facilities=[FacilityFactory()], is_staff=True)
    assert login_verified(client, manager).get(url).status_code == 403
    assert "crm_auditevent" not in client.get(reverse("admin:index")).content.decode()
    admin_user = UserFactory(role=Role.ADMINISTRATOR, is_staff=True)
    assert login_verified(client, admin_user).get(url).status_code == 200
