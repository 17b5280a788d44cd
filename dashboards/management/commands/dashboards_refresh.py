"""``manage.py dashboards_refresh [--full]``: bring the dashboard rollup up to date now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboards.services import rollup_refresh


class Command(BaseCommand):
    help = "Refresh the dashboard rollup (changed cohort days; --full rebuilds everything)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="rebuild every cohort day")

    def handle(self, *args: Any, **options: Any) -> None:
        result = rollup_refresh(full=options["full"])
        self.stdout.write(
            f"Refreshed {result.days} cohort days ({result.rows} rows, full={result.full}) "
            f"in {result.seconds:.2f} s."
        )
