"""Make the disclosure ledger append-only in the database itself, as the audit table is."""

from django.db import migrations

from crm import audit_guard


def forwards(apps, schema_editor):
    audit_guard.install(
        schema_editor.connection.cursor(), schema_editor.connection.vendor, ["privacy_disclosure"]
    )


def backwards(apps, schema_editor):
    audit_guard.remove(
        schema_editor.connection.cursor(), schema_editor.connection.vendor, ["privacy_disclosure"]
    )


class Migration(migrations.Migration):
    dependencies = [("privacy", "0002_roles"), ("crm", "0002_audit_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]
