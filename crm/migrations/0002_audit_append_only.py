"""Make the audit table append-only in the database itself, on PostgreSQL and SQLite."""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION crm_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER crm_auditevent_append_only
    BEFORE UPDATE OR DELETE ON crm_auditevent
    FOR EACH ROW EXECUTE FUNCTION crm_audit_refuse_change();
CREATE TRIGGER crm_auditevent_no_truncate
    BEFORE TRUNCATE ON crm_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION crm_audit_refuse_change();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS crm_auditevent_append_only ON crm_auditevent;
DROP TRIGGER IF EXISTS crm_auditevent_no_truncate ON crm_auditevent;
DROP FUNCTION IF EXISTS crm_audit_refuse_change();
"""
SQLITE_UP = [
    "CREATE TRIGGER crm_auditevent_no_update BEFORE UPDATE ON crm_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;",
    "CREATE TRIGGER crm_auditevent_no_delete BEFORE DELETE ON crm_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS crm_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS crm_auditevent_no_delete;",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_UP)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DOWN)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
