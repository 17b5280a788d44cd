"""Seed the role groups. Runs after every model (and so every permission) exists."""

from django.db import migrations

from crm.role_setup import roles_sync_migration


class Migration(migrations.Migration):
    dependencies = [
        ("admissions", "0002_initial"),
        ("programs", "0001_initial"),
        ("crm", "0002_audit_append_only"),
        ("workers", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
