"""Seed the role groups. Runs after every model (and so every permission) exists."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from crm.role_setup import roles_sync


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_sync(
        group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("admissions", "0002_initial"),
        ("programs", "0001_initial"),
        ("crm", "0002_audit_append_only"),
        ("workers", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
