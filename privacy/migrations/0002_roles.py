"""Give the role groups the Part 2 consent and disclosure permissions listed in ``crm.roles``."""

from django.db import migrations

from crm.role_setup import roles_sync_migration


class Migration(migrations.Migration):
    dependencies = [
        ("privacy", "0001_initial"),
        ("admissions", "0003_roles"),
    ]

    operations = [migrations.RunPython(roles_sync_migration, migrations.RunPython.noop)]
