"""Make the audit table append-only in the database itself, on PostgreSQL and SQLite."""

from django.db import migrations

from crm import audit_guard


def forwards(apps, schema_editor):
    audit_guard.install(
        schema_editor.connection.cursor(), schema_editor.connection.vendor, ["crm_auditevent"]
    )


def backwards(apps, schema_editor):
    audit_guard.remove(
        schema_editor.connection.cursor(), schema_editor.connection.vendor, ["crm_auditevent"], functions=True
    )


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
