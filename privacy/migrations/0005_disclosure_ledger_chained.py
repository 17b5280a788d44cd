"""Chain the disclosure ledger into the audit hash chain (crm/audit_guard.py), and put back its
truncate guard without the session switch."""

from django.db import migrations

from crm import audit_guard


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        audit_guard.install_append_only(cursor, ["privacy_disclosure"])
        audit_guard.install_chain(cursor, ["privacy_disclosure"])


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        audit_guard.remove_chain(cursor, ["privacy_disclosure"])


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0004_consent_named_individual"),
        ("crm", "0005_audit_chain"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
