"""Imports of inquiries from files: the job, its saved column mappings, the rows it wrote and
the rows it refused.

Loaded by ``admissions.models`` so the models belong to the admissions app. Rows are written
only by ``admissions.imports.services`` and ``admissions.imports.engine``.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone

from admissions.models import Inquiry, LeadSource
from crm.models import Facility

__all__ = ["ImportJob", "ImportMapping", "ImportRefusal", "ImportedRow"]


class ImportFilesStorage(FileSystemStorage):
    """Uploaded import files in ``settings.IMPORT_FILES_DIR`` (read at each use), outside any
    served folder; web and worker share the folder."""

    @property  # type: ignore[override]
    def base_location(self) -> str:
        return str(settings.IMPORT_FILES_DIR)

    @property  # type: ignore[override]
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def import_files_storage() -> FileSystemStorage:
    return ImportFilesStorage()


class ImportMapping(models.Model):
    """A column mapping saved by a manager under a name, offered beside the built-in presets."""

    name = models.CharField(max_length=80, unique=True)
    columns = models.JSONField(help_text="Field name -> the file's column header.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    """One file brought in: its mapping, the user's duplicate rule, where it stands and its counts.

    A job is checked (a dry run: counts and refused rows, nothing written) and then imported, in
    batches that each commit with the job's counts and ``rows_done``; a cancelled or interrupted
    job resumes from ``rows_done``."""

    class State(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        CHECKING = "checking", "Checking"
        CHECKED = "checked", "Checked"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    class OnDuplicate(models.TextChoices):
        MERGE = "merge", "Merge into the open inquiry"
        SKIP = "skip", "Skip the row"

    class Phase(models.TextChoices):
        CHECK = "check", "Dry run"
        IMPORT = "import", "Import"

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    lead_source = models.ForeignKey(
        LeadSource,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For rows that name no lead source.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    file = models.FileField(storage=import_files_storage, upload_to="%Y/%m/", max_length=200, blank=True)
    file_name = models.CharField(max_length=200, help_text="The name the file was uploaded under.")
    file_format = models.CharField(max_length=4, choices=[("csv", "CSV"), ("xlsx", "XLSX")])
    headers = models.JSONField(default=list)
    origin = models.CharField(
        max_length=40, default="file", help_text="The preset the mapping came from; keys rows per source."
    )
    columns = models.JSONField(default=dict, help_text="Field name -> the file's column header.")
    on_duplicate = models.CharField(max_length=5, choices=OnDuplicate.choices, default=OnDuplicate.MERGE)

    state = models.CharField(max_length=9, choices=State.choices, default=State.UPLOADED)
    phase = models.CharField(max_length=6, choices=Phase.choices, default=Phase.CHECK)
    cancel_requested = models.BooleanField(default=False)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    new = models.PositiveIntegerField(default=0)
    merged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    check_counts = models.JSONField(default=dict, blank=True, help_text="The dry run's counts.")
    phase_started_at = models.DateTimeField(null=True, blank=True)
    rows_at_phase_start = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("run_import", "Can import inquiries from files")]
        indexes = [models.Index(fields=["facility", "created_at"], name="importjob_facility_idx")]

    def __str__(self) -> str:
        return f"Import #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.state in {self.State.CHECKING, self.State.QUEUED, self.State.RUNNING}

    def counts(self) -> dict[str, int]:
        return {"new": self.new, "merged": self.merged, "skipped": self.skipped, "invalid": self.invalid}


class ImportedRow(models.Model):
    """A row an import wrote (new or merged), keyed per source by the row's external id or its
    fingerprint, so that importing the same file again changes nothing."""

    class Outcome(models.TextChoices):
        NEW = "new", "New inquiry"
        MERGED = "merged", "Merged"

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+", db_index=False)
    origin = models.CharField(max_length=40)
    key = models.CharField(max_length=120)
    job = models.ForeignKey(ImportJob, on_delete=models.PROTECT, related_name="+", db_index=False)
    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="+", db_index=False)
    outcome = models.CharField(max_length=6, choices=Outcome.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["facility", "origin", "key"], name="importedrow_unique_key"),
        ]
        indexes = [
            models.Index(fields=["inquiry"], name="importedrow_inquiry_idx"),
            models.Index(fields=["job"], name="importedrow_job_idx"),
        ]

    def __str__(self) -> str:
        return f"Imported row {self.key}"


class ImportRefusal(models.Model):
    """A row an import refused, with its field errors (messages only: never the row's values)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="refusals", db_index=False)
    phase = models.CharField(max_length=6, choices=ImportJob.Phase.choices)
    row_number = models.PositiveIntegerField(help_text="As a spreadsheet numbers it: the header is row 1.")
    errors = models.JSONField(help_text='[{"field": ..., "message": ...}]')

    class Meta:
        ordering = ["row_number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "phase", "row_number"], name="importrefusal_unique_row"),
        ]

    def __str__(self) -> str:
        return f"Row {self.row_number} of import {self.job_id}"
