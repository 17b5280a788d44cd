"""Dispatch leases: which follow-ups are with the broker, kept apart from the wide follow-up row."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("admissions", "0001_initial"),
        ("workers", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="DispatchLease",
            fields=[
                (
                    "followup",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="admissions.followup",
                    ),
                ),
                (
                    "due_at",
                    models.DateTimeField(
                        help_text="The follow-up's due time when leased; a new due time ends the lease."
                    ),
                ),
                ("lease_until", models.DateTimeField()),
            ],
        ),
    ]
