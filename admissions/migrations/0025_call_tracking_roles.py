from django.db import migrations

from crm.role_setup import roles_sync_migration


class Migration(migrations.Migration):
    """Managers and administrators set up call-tracking sources and tracking numbers."""

    dependencies = [
        ("admissions", "0024_waitlist"),
    ]

    operations = [
        migrations.RunPython(roles_sync_migration, migrations.RunPython.noop),
    ]
