"""Prefix search on names for the work queue's search box.

``istartswith`` compiles to ``UPPER(col::text) LIKE UPPER('abc%')``; on PostgreSQL an index on
``UPPER(col)`` with ``text_pattern_ops`` serves it whatever the database's collation. SQLite
has no operator classes and keeps its plain name index.
"""

from django.db import migrations

INDEXES = {
    "person_first_name_prefix_idx": "first_name",
    "person_last_name_prefix_idx": "last_name",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON admissions_person (UPPER("{column}"::text) text_pattern_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("admissions", "0011_followup_callback_kind")]

    operations = [migrations.RunPython(create, drop)]
