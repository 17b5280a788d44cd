"""Administrators may view and reset (delete) users' TOTP devices."""

from django.db import migrations

from crm.role_setup import roles_sync_migration


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_audit_append_only"),
        ("otp_totp", "0003_add_timestamps"),
        ("admissions", "0014_inquiry_open_queue_indexes"),
    ]

    operations = [
        migrations.RunPython(roles_sync_migration, migrations.RunPython.noop),
    ]
