# ruff: noqa: E501  (one bypass per line reads best)
"""The application's database role cannot erase or edit the audit trail, whatever it tries.

A role made for the test (inside the test's transaction, so it vanishes with it) gets the grants
``migrate`` gives ``DATABASE_APP_ROLE``; then each way the audit trail could be erased or edited
is run with that role as the current user, against the real PostgreSQL, and must be refused for
lack of privilege (SQLSTATE 42501). The application's own reads and writes still work as it.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client, override_settings

from admissions.api.keys import lead_source_key_create
from admissions.models import Inquiry, Person
from crm import db_roles
from crm.audit import audit_record
from crm.models import AuditChainLink, AuditEvent
from tests.factories import InquiryFactory, LeadSourceFactory
from tests.signin import login_verified

pytestmark = pytest.mark.django_db

# Every way found to erase or edit the audit trail as the role that ran the application.
BYPASSES = {
    "the old session switch, then truncate": "SET LOCAL crm.audit_maintenance = 'on'; TRUNCATE crm_auditevent",
    "truncate the audit events": "TRUNCATE crm_auditevent",
    "truncate the disclosure ledger": "TRUNCATE privacy_disclosure",
    "truncate the chain": "TRUNCATE crm_auditchainlink",
    "truncate with cascade": "TRUNCATE crm_auditevent, privacy_disclosure CASCADE",
    "update an audit event": "UPDATE crm_auditevent SET object_id = 'forged'",
    "delete audit events": "DELETE FROM crm_auditevent",
    "update a ledger row": "UPDATE privacy_disclosure SET recipient_label = 'someone else'",
    "delete ledger rows": "DELETE FROM privacy_disclosure",
    "forge a chain link": "INSERT INTO crm_auditchainlink VALUES (999999, 'crm_auditevent', 1, repeat('0', 64))",
    "edit a chain link": "UPDATE crm_auditchainlink SET hash = repeat('0', 64)",
    "delete chain links": "DELETE FROM crm_auditchainlink",
    "move the chain head": "UPDATE crm_auditchainhead SET seq = 0",
    "delete the chain head": "DELETE FROM crm_auditchainhead",
    "lock the chain head": "SELECT * FROM crm_auditchainhead FOR UPDATE",
    "block every audit write": "LOCK TABLE crm_auditchainhead IN ACCESS EXCLUSIVE MODE",
    "disable the guard trigger": "ALTER TABLE crm_auditevent DISABLE TRIGGER crm_auditevent_append_only",
    "disable every trigger": "ALTER TABLE crm_auditevent DISABLE TRIGGER ALL",
    "disable the ledger's triggers": "ALTER TABLE privacy_disclosure DISABLE TRIGGER ALL",
    "disable the chain's triggers": "ALTER TABLE crm_auditchainlink DISABLE TRIGGER ALL",
    "drop the guard trigger": "DROP TRIGGER crm_auditevent_append_only ON crm_auditevent",
    "drop the truncate guard": "DROP TRIGGER crm_auditevent_no_truncate ON crm_auditevent",
    "drop the chain trigger": "DROP TRIGGER crm_auditevent_chain ON crm_auditevent",
    "drop the ledger's guard": "DROP TRIGGER privacy_disclosure_append_only ON privacy_disclosure",
    "add a trigger of its own": (
        "CREATE TRIGGER sneak BEFORE INSERT ON crm_auditevent FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"
    ),
    "replace the guard function": (
        "CREATE OR REPLACE FUNCTION crm_audit_refuse_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$"
    ),
    "replace the truncate guard": (
        "CREATE OR REPLACE FUNCTION crm_audit_refuse_truncate() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$"
    ),
    "replace the chain function": (
        "CREATE OR REPLACE FUNCTION crm_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$"
    ),
    "drop the guard function": "DROP FUNCTION crm_audit_refuse_change() CASCADE",
    "take over the guard function": "ALTER FUNCTION crm_audit_refuse_change() OWNER TO CURRENT_USER",
    "call the chain's writer": "SELECT crm_audit_chain_link('crm_auditevent', 1, '{}')",
    "turn triggers off for the session": "SET session_replication_role = replica",
    "take over the table": "ALTER TABLE crm_auditevent OWNER TO CURRENT_USER",
    "drop the table": "DROP TABLE crm_auditevent CASCADE",
    "rename the table": "ALTER TABLE crm_auditevent RENAME TO crm_auditevent_old",
    "change a column": "ALTER TABLE crm_auditevent ALTER COLUMN object_id TYPE text",
    "rewind the id sequence": "SELECT setval('crm_auditevent_id_seq', 1)",
    "fake a migration": "INSERT INTO django_migrations (app, name, applied) VALUES ('crm', 'undo', now())",
    "forget a migration": "DELETE FROM django_migrations WHERE app = 'crm'",
}


@pytest.fixture
def app_role(facility, coordinator) -> str:  # type: ignore[no-untyped-def]
    """A fresh application role with the grants ``migrate`` gives, and a chained audit row and a
    ledger row to aim at. The role is created in the test's transaction and rolled back with it."""
    name = f"{connection.settings_dict['NAME']}_app"[:63]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" NOLOGIN')
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # chain at each statement, not at commit
    db_roles.app_role_grant(role=name)
    audit_record(action="view", obj=InquiryFactory(facility=facility), actor=coordinator)
    return name


def _as(role: str, statement: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{role}"')
        cursor.execute(statement)


@pytest.mark.parametrize("statement", BYPASSES.values(), ids=BYPASSES.keys())
def test_the_application_role_cannot_erase_or_edit_the_audit_trail(app_role, statement):
    rows = AuditEvent.objects.count()
    links = list(AuditChainLink.objects.values_list("seq", "hash"))

    with pytest.raises(DatabaseError) as refused:
        _as(app_role, statement)

    assert isinstance(refused.value.__cause__, psycopg.errors.InsufficientPrivilege), refused.value
    assert AuditEvent.objects.count() == rows
    assert list(AuditChainLink.objects.values_list("seq", "hash")) == links
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, current_setting('session_replication_role')")
        assert cursor.fetchone() == ("postgres", "origin")
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'crm_auditevent'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        assert cursor.fetchall() == [
            ("crm_auditevent_append_only", "O"),
            ("crm_auditevent_chain", "O"),
            ("crm_auditevent_no_truncate", "O"),
        ]


def test_rows_the_application_role_inserts_are_chained_whatever_it_sends(app_role):
    before = AuditChainLink.objects.count()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{app_role}"')
        cursor.execute(
            "INSERT INTO crm_auditevent (at, actor_label, action, object_type, object_id, fields, request_id) "
            "VALUES (now(), 'app', 'view', 'admissions.inquiry', '1', '[]', '') RETURNING id"
        )
        row_id = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM crm_auditevent")
        assert cursor.fetchone()[0] == before + 1
    assert AuditChainLink.objects.filter(table_name="crm_auditevent", row_id=row_id, seq=before + 1).exists()


def test_the_application_works_as_the_application_role(app_role, coordinator, facility):
    """The lead API's write path, a page view and a disclosure-free read, with the connection's
    current user the application role: the grants are enough for the application itself."""
    source = LeadSourceFactory(name="Role Check Source", default_facility=facility)
    _, token = lead_source_key_create(lead_source=source, rate_limit_per_minute=1000)
    staff = Client()
    login_verified(staff, coordinator)
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{app_role}"')
    try:
        created = Client().post(
            "/api/v1/leads/",
            data=json.dumps({"first_name": "Role", "phone": "(813) 555-0147", "substances": ["alcohol"]}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY="role-check-1",
        )
        assert created.status_code == 201, created.content
        inquiry_id = created.json()["id"]
        page = staff.get(f"/inquiries/{inquiry_id}/")
        assert page.status_code == 200
        assert (
            Client().get(f"/api/v1/leads/{inquiry_id}/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code
            == 200
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == app_role
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert Inquiry.objects.filter(pk=inquiry_id, person__in=Person.objects.filter(first_name="Role")).exists()
    assert set(AuditEvent.objects.filter(object_id=str(inquiry_id)).values_list("action", flat=True)) == {
        "api_write",
        "view",
        "api_read",
    }
    linked = AuditChainLink.objects.filter(table_name="crm_auditevent").values_list("row_id", flat=True)
    assert set(AuditEvent.objects.values_list("pk", flat=True)) == set(linked)


def _privileges(role: str) -> dict[str, set[str]]:
    kinds = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
    tables = ("crm_auditevent", "privacy_disclosure", "crm_auditchainlink", "crm_auditchainhead",
              "django_migrations", "admissions_person", "admissions_inquiry")  # fmt: skip
    out = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT array_agg(k) FROM unnest(%s::text[]) k WHERE has_table_privilege(%s, %s, k)",
                [list(kinds), role, table],
            )
            out[table] = set(cursor.fetchone()[0] or [])
    return out


def test_grants_are_exactly_what_the_application_needs_and_idempotent(app_role):
    granted = _privileges(app_role)
    assert granted == {
        "crm_auditevent": {"SELECT", "INSERT"},
        "privacy_disclosure": {"SELECT", "INSERT"},
        "crm_auditchainlink": {"SELECT"},
        "crm_auditchainhead": {"SELECT"},
        "django_migrations": {"SELECT"},
        "admissions_person": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "admissions_inquiry": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    }
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT TRUNCATE, UPDATE ON crm_auditevent TO "{app_role}"')  # granted by hand
    db_roles.app_role_grant(role=app_role)
    assert _privileges(app_role) == granted
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_sequence_privilege(%s, 'admissions_inquiry_id_seq', 'USAGE')", [app_role])
        assert cursor.fetchone()[0] is True


def test_every_migrate_grants_the_role_named_in_the_settings(facility):
    name = f"{connection.settings_dict['NAME']}_app2"[:63]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" NOLOGIN')
    assert _privileges(name)["crm_auditevent"] == set()
    with override_settings(DATABASE_APP_ROLE=name):
        call_command("migrate", verbosity=0)
    assert _privileges(name)["crm_auditevent"] == {"SELECT", "INSERT"}


def test_migrate_refuses_to_run_as_the_application_role(app_role):
    with override_settings(DATABASE_APP_ROLE=app_role), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f'SET LOCAL ROLE "{app_role}"')
        with pytest.raises(ImproperlyConfigured, match="migrate connects as the application role"):
            db_roles.refuse_migrating_as_app_role()


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ("SUPERUSER", "is a superuser"),
        ("CREATEROLE", "may create roles"),
        ("IN ROLE postgres", "is a member of the owner role"),
    ],
)
def test_an_unfit_application_role_is_refused(attributes, problem):
    name = f"{connection.settings_dict['NAME']}_unfit"[:63]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" NOLOGIN {attributes}')
    with pytest.raises(ImproperlyConfigured, match=problem):
        db_roles.app_role_grant(role=name)


def test_an_application_role_owning_tables_is_refused():
    name = f"{connection.settings_dict['NAME']}_owns"[:63]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" NOLOGIN')
        cursor.execute(f'ALTER TABLE admissions_substance OWNER TO "{name}"')
    with pytest.raises(
        ImproperlyConfigured, match=r"owns admissions_substance, .*: make the owner role own them"
    ):
        db_roles.app_role_grant(role=name)


def test_a_missing_application_role_is_refused():
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        db_roles.app_role_grant(role="no_such_role_for_the_crm")


def test_production_warns_when_no_application_role_is_named():
    with override_settings(PRODUCTION=True, DATABASE_APP_ROLE=""):
        warnings = db_roles.check_app_role_set()
    assert [(type(w), w.id) for w in warnings] == [(CheckWarning, "crm.W001")]
    with override_settings(PRODUCTION=True, DATABASE_APP_ROLE="crm_app"):
        assert db_roles.check_app_role_set() == []
    with override_settings(PRODUCTION=False, DATABASE_APP_ROLE=""):
        assert db_roles.check_app_role_set() == []
