"""Dispatch leases move here from ``workers``: they are part of the follow-up state machine.

A new, empty table: ``workers.0003`` drops the old one (leases are short-lived; see there).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("admissions", "0019_screening_form_v2"),
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
