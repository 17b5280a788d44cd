"""Re-encrypt every encrypted column with the newest key of ``FIELD_ENCRYPTION_KEYS``.

Put the new key first, keep the old ones after it, deploy, run this, then remove the old
keys (docs/security.md). Safe to run twice or to resume after an interruption: every value
is decrypted with whichever key still works and written back under the newest one.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from crm.fields import FIELD_PREFIX_PATTERN, column_rewrite, encrypted_fields, rotate_str


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column with the newest key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count the values, change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model, columns in encrypted_fields(list(apps.get_models())):
            table, pk = model._meta.db_table, model._meta.pk.column  # type: ignore[union-attr]
            for column in columns:
                if options["dry_run"]:
                    quote = connection.ops.quote_name
                    with connection.cursor() as cursor:
                        cursor.execute(
                            f"SELECT COUNT(*) FROM {quote(table)} WHERE {quote(column)} LIKE %s",  # noqa: S608
                            [FIELD_PREFIX_PATTERN],
                        )
                        count = cursor.fetchone()[0]
                else:
                    with transaction.atomic():
                        count = column_rewrite(
                            connection,
                            table=table,
                            column=column,
                            transform=rotate_str,
                            encrypted=True,
                            pk=pk,
                        )
                total += count
                self.stdout.write(f"{model._meta.label}.{column}: {count} value(s)")
        verb = "would be re-encrypted" if options["dry_run"] else "re-encrypted with the newest key"
        self.stdout.write(self.style.SUCCESS(f"{total} value(s) {verb}."))
