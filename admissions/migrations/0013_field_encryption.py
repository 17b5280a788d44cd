"""Encrypt the free text of screenings and inquiries at rest; custom view and export permissions.

Existing rows are converted in place: the columns become text and every plaintext value is
encrypted with the newest key of FIELD_ENCRYPTION_KEYS (reversible: decrypts back).
"""

from django.db import migrations

import crm.fields
from crm.fields import column_rewrite, decrypt_str, json_to_stored, plain_to_stored
from crm.role_setup import roles_sync_migration

TEXT_COLUMNS = [
    ("admissions_inquiry", "message"),
    ("admissions_screening", "signoff_note"),
    ("admissions_screening", "override_reason"),
]
JSON_COLUMNS = [("admissions_screening", "answers")]


def encrypt_existing(apps, schema_editor):
    connection = schema_editor.connection
    for table, column in TEXT_COLUMNS:
        column_rewrite(connection, table=table, column=column, transform=plain_to_stored, encrypted=False)
    for table, column in JSON_COLUMNS:
        column_rewrite(connection, table=table, column=column, transform=json_to_stored, encrypted=False)


def decrypt_existing(apps, schema_editor):
    connection = schema_editor.connection
    for table, column in TEXT_COLUMNS + JSON_COLUMNS:
        column_rewrite(connection, table=table, column=column, transform=decrypt_str, encrypted=True)


class Migration(migrations.Migration):
    dependencies = [
        ("admissions", "0012_person_name_search_indexes"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="insurancepolicy",
            options={
                "permissions": [
                    ("view_insurance_ids", "Can see insurance member, group and subscriber details")
                ],
                "verbose_name_plural": "insurance policies",
            },
        ),
        migrations.AlterModelOptions(
            name="person",
            options={
                "permissions": [("export_person", "Can export everything recorded about a person")],
                "verbose_name_plural": "people",
            },
        ),
        migrations.AlterModelOptions(
            name="screening",
            options={
                "ordering": ["-created_at", "-pk"],
                "permissions": [("view_clinical_answers", "Can see pre-screen answers and clinical notes")],
            },
        ),
        migrations.AlterField(
            model_name="inquiry",
            name="message",
            field=crm.fields.EncryptedTextField(
                blank=True, help_text="The caller's own words; encrypted at rest."
            ),
        ),
        migrations.AlterField(
            model_name="screening",
            name="answers",
            field=crm.fields.EncryptedJSONField(
                blank=True, default=dict, help_text="Encrypted at rest (crm.fields)."
            ),
        ),
        migrations.AlterField(
            model_name="screening",
            name="override_reason",
            field=crm.fields.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="screening",
            name="signoff_note",
            field=crm.fields.EncryptedTextField(blank=True),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.RunPython(roles_sync_migration, migrations.RunPython.noop),
    ]
