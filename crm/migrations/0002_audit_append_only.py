"""Make the audit table append-only in the database itself."""

from django.db import migrations

from crm import audit_guard


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        audit_guard.install_append_only(cursor, ["crm_auditevent"])


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        audit_guard.remove_append_only(cursor, ["crm_auditevent"], functions=True)


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
