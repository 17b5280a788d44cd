"""Make the disclosure ledger append-only in the database itself, as the audit table is."""

from django.db import migrations

from crm import audit_guard


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        audit_guard.install_append_only(cursor, ["privacy_disclosure"])


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        audit_guard.remove_append_only(cursor, ["privacy_disclosure"])


class Migration(migrations.Migration):
    dependencies = [("privacy", "0002_roles"), ("crm", "0002_audit_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]
