"""Import discharges from the EHR: ``manage.py import_discharges FILE [--format csv|json]``.

The file's columns are those of ``programs.discharge_import``. All rows are checked first; a file
with any bad row changes nothing and the errors are printed by row and field. Importing the same
file again changes nothing (rows are matched by program and ``external_id``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from programs.discharge_import import DischargeFileError, discharge_records_read, discharge_rows_check
from programs.services import discharges_import


class Command(BaseCommand):
    help = "Import expected and done discharges from an EHR export (CSV or JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["csv", "json"], help="Default: from the file's extension.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        kind = options["format"] or path.suffix.lower().lstrip(".")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        try:
            records = discharge_records_read(text=text, kind=kind)
        except DischargeFileError as exc:
            raise CommandError(str(exc)) from None
        rows, errors = discharge_rows_check(records=records, facility_ids=None)
        if errors:
            for n, problems in sorted(errors.items()):
                for field, message in problems.items():
                    self.stderr.write(f"row {n}, {field}: {message}")
            raise CommandError(f"{len(errors)} bad row(s); nothing imported.")
        result = discharges_import(rows=rows, actor=None)
        self.stdout.write(
            f"{result.created} new, {result.changed} changed, {result.unchanged} unchanged discharge(s)."
        )
