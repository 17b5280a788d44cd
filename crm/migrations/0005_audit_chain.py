"""The audit hash chain (links and head), list rows of the audit trail, and the truncate guard
without its session switch (crm/audit_guard.py)."""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models

from crm import audit_guard


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        audit_guard.install_append_only(cursor, ["crm_auditevent", "crm_auditchainlink"])
        audit_guard.install_chain(cursor, ["crm_auditevent"])


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        audit_guard.remove_chain(cursor, ["crm_auditevent"], functions=True)
        audit_guard.remove_append_only(cursor, ["crm_auditchainlink"])


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0004_phone_numbers_normalised_once"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("seq", models.BigIntegerField()),
                ("hash", models.CharField(max_length=64)),
                ("at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="AuditChainLink",
            fields=[
                ("seq", models.BigIntegerField(primary_key=True, serialize=False)),
                ("table_name", models.CharField(max_length=63)),
                ("row_id", models.BigIntegerField()),
                ("hash", models.CharField(max_length=64)),
            ],
            options={
                "ordering": ["seq"],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="listed",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.BigIntegerField(), blank=True, null=True, size=None
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("view", "Viewed"),
                    ("create", "Created"),
                    ("update", "Changed"),
                    ("export", "Exported"),
                    ("api_read", "Read through the API"),
                    ("api_write", "Written through the API"),
                    ("disclose", "Disclosed"),
                    ("list", "Listed"),
                ],
                max_length=12,
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=django.contrib.postgres.indexes.GinIndex(fields=["listed"], name="audit_listed_idx"),
        ),
        migrations.AddConstraint(
            model_name="auditchainlink",
            constraint=models.UniqueConstraint(
                fields=("table_name", "row_id"), name="audit_chain_one_link_per_row"
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
