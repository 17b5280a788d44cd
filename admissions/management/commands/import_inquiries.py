"""Import inquiries from a CSV or XLSX file with the same engine as the import page.

    manage.py import_inquiries leads.csv --facility "Harbor House" --preset salesforce --dry-run

The last line of the output is always ``new N, merged N, skipped N, invalid N``. The file is
read in this process, batch by batch, with a progress bar on standard error; an interrupted
import is resumed with ``--resume JOB``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from admissions.imports.columns import PRESETS, columns_for, columns_guess
from admissions.imports.engine import import_job_work, job_rate
from admissions.imports.models import ImportJob, ImportRefusal
from admissions.imports.services import ImportError_, import_job_create_from_path, import_job_map
from admissions.models import LeadSource
from crm.models import Facility

FIRST_REFUSALS_SHOWN = 20


class Command(BaseCommand):
    help = "Import inquiries from a CSV or XLSX file (dry run first with --dry-run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--facility", required=True, help="The facility's name.")
        parser.add_argument("--preset", choices=sorted(PRESETS), help="The system that wrote the file.")
        parser.add_argument("--on-duplicate", choices=["merge", "skip"], default="merge")
        parser.add_argument("--lead-source", default="", help="Lead source for rows that name none.")
        parser.add_argument("--dry-run", action="store_true", help="Count and check; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        facility = Facility.objects.filter(name=options["facility"]).first()
        if facility is None:
            raise CommandError(f"No facility is named {options['facility']!r}.")
        source = None
        if options["lead_source"]:
            source = LeadSource.objects.filter(name=options["lead_source"]).first()
            if source is None:
                raise CommandError(f"No lead source is named {options['lead_source']!r}.")
        try:
            job = import_job_create_from_path(path=path, facility=facility, actor_label="import_inquiries")
            preset = PRESETS.get(options["preset"] or "")
            columns = columns_for(preset, job.headers) if preset else columns_guess(job.headers)
            import_job_map(
                job=job,
                columns=columns,
                origin=preset.key if preset else "file",
                on_duplicate=options["on_duplicate"],
                lead_source=source,
            )
        except ImportError_ as exc:
            raise CommandError(str(exc)) from exc
        mapped = ", ".join(f"{name} <- {header!r}" for name, header in sorted(job.columns.items()))
        self.stderr.write(f"Import #{job.pk}: {mapped}")
        if options["dry_run"]:
            ImportJob.objects.filter(pk=job.pk).update(state=ImportJob.State.CHECKING)
            state = import_job_work(job_id=job.pk, progress=self._progress)
            self.stderr.write("")
            job.refresh_from_db()
            self._refusals(job, ImportJob.Phase.CHECK)
            counts = job.check_counts
            if job.file:  # this job is not imported later: the copy of the file goes now
                job.file.delete(save=False)
                ImportJob.objects.filter(pk=job.pk).update(file="")
        else:
            ImportJob.objects.filter(pk=job.pk).update(state=ImportJob.State.QUEUED)
            state = "more"
            while state == "more":
                state = import_job_work(
                    job_id=job.pk, deadline=time.monotonic() + 60, progress=self._progress
                )
            self.stderr.write("")
            job.refresh_from_db()
            self._refusals(job, ImportJob.Phase.IMPORT)
            counts = job.counts()
            if job.invalid:
                self.stderr.write(f"The refused rows with their reasons: /imports/{job.pk}/report.csv")
        if state == ImportJob.State.FAILED:
            raise CommandError(job.error)
        self.stdout.write(
            f"new {counts.get('new', 0)}, merged {counts.get('merged', 0)}, "
            f"skipped {counts.get('skipped', 0)}, invalid {counts.get('invalid', 0)}"
        )

    def _progress(self, job: ImportJob) -> None:
        total = job.total_rows
        rate, left = job_rate(job)
        width = 30
        if total:
            filled = int(width * min(job.rows_done / total, 1))
            bar = f"[{'#' * filled}{'.' * (width - filled)}] {job.rows_done:,}/{total:,}"
        else:
            bar = f"{job.rows_done:,} rows"
        tail = f" {rate:,.0f} rows/s" if rate else ""
        if left is not None:
            tail += f", {left:,.0f} s left"
        end = "\r" if sys.stderr.isatty() else "\n"
        self.stderr.write(bar + tail, ending=end)

    def _refusals(self, job: ImportJob, phase: str) -> None:
        refusals = ImportRefusal.objects.filter(job=job, phase=phase).order_by("row_number")
        for refusal in refusals[:FIRST_REFUSALS_SHOWN]:
            reasons = "; ".join(f"{e['field']}: {e['message']}" for e in refusal.errors)
            self.stderr.write(f"row {refusal.row_number}: {reasons}")
