"""Writes of imports: a job from an uploaded file, its mapping, the dry run, the import, cancel
and resume. The work itself runs in a worker (``workers.tasks.import_job_run``), enqueued by
name after commit: admissions never imports workers."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING

from celery import current_app
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from admissions.imports.columns import FIELD_NAMES, PRESETS
from admissions.imports.models import ImportJob, ImportMapping
from admissions.imports.readers import FileUnreadable, format_of, rows_open
from admissions.models import LeadSource
from crm.audit import audit_record
from crm.models import AuditEvent, Facility

if TYPE_CHECKING:
    from django.http import HttpRequest

    from crm.models import User

TASK = "workers.tasks.import_job_run"


class ImportError_(ValueError):  # noqa: N801 - ImportError is a builtin
    """A request about an import that cannot be done; the message says why, for the person."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _enqueue(job: ImportJob) -> None:
    job_id = job.pk
    transaction.on_commit(lambda: current_app.send_task(TASK, args=[job_id]))


def import_job_create(
    *,
    upload: IO[bytes],
    file_name: str,
    facility: Facility,
    actor: User | None,
    actor_label: str = "",
    request: HttpRequest | None = None,
) -> ImportJob:
    """Store an uploaded file and read its header row; the mapping comes next."""
    try:
        file_format = format_of(file_name)
    except FileUnreadable as exc:
        raise ImportError_(str(exc), field="file") from exc
    job = ImportJob(
        facility=facility,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor_label,
        file_name=Path(file_name).name[:200],
        file_format=file_format,
    )
    job.file.save(f"import.{file_format}", File(upload), save=False)
    try:
        with rows_open(Path(job.file.path), file_format) as (headers, _):
            job.headers = headers
    except FileUnreadable as exc:
        job.file.delete(save=False)
        raise ImportError_(str(exc), field="file") from exc
    with transaction.atomic():
        job.save()
        audit_record(
            action=AuditEvent.Action.CREATE,
            obj=job,
            actor=actor,
            actor_label=actor_label,
            fields=["file"],
            request=request,
        )
    return job


def import_job_create_from_path(*, path: Path, facility: Facility, actor_label: str) -> ImportJob:
    """A job for a file on this machine (the management command); the file is copied in."""
    with path.open("rb") as f:
        return import_job_create(
            upload=f, file_name=path.name, facility=facility, actor=None, actor_label=actor_label
        )


@transaction.atomic
def import_job_map(
    *,
    job: ImportJob,
    columns: dict[str, str],
    origin: str,
    on_duplicate: str,
    lead_source: LeadSource | None,
    save_as: str = "",
    actor: User | None = None,
) -> ImportJob:
    """Set how the file's columns fill the inquiry, and the duplicate rule; optionally save the
    mapping under a name."""
    if job.state not in (ImportJob.State.UPLOADED, ImportJob.State.CHECKED):
        raise ImportError_("This import has started; its mapping can no longer change.")
    unknown = sorted(set(columns) - FIELD_NAMES)
    missing = sorted({h for h in columns.values() if h not in job.headers})
    if unknown or missing:
        raise ImportError_("The mapping names columns the file does not have.", field="columns")
    if "first_name" not in columns:
        raise ImportError_("Choose the column with the first name.", field="first_name")
    if not ({"phone", "mobile", "email"} & columns.keys()):
        raise ImportError_("Choose a column with a phone number or an email address.", field="phone")
    if "created_at" not in columns:
        raise ImportError_("Choose the column with the date the inquiry arrived.", field="created_at")
    if on_duplicate not in ImportJob.OnDuplicate.values:
        raise ImportError_("Choose merge or skip for duplicates.", field="on_duplicate")
    job.columns = {name: header for name, header in columns.items() if header}
    job.origin = origin if origin in PRESETS else "file"
    job.on_duplicate = on_duplicate
    job.lead_source = lead_source
    job.state = ImportJob.State.UPLOADED
    job.check_counts = {}
    job.save(update_fields=["columns", "origin", "on_duplicate", "lead_source", "state", "check_counts"])
    if save_as:
        ImportMapping.objects.update_or_create(
            name=save_as[:80], defaults={"columns": job.columns, "created_by": actor}
        )
    return job


def import_job_check(*, job: ImportJob) -> ImportJob:
    """Start the dry run."""
    changed = ImportJob.objects.filter(
        pk=job.pk, state__in=[ImportJob.State.UPLOADED, ImportJob.State.CHECKED]
    ).update(state=ImportJob.State.CHECKING, cancel_requested=False, rows_done=0, updated_at=timezone.now())
    if changed != 1:
        raise ImportError_("This import has started already.")
    job.refresh_from_db()
    _enqueue(job)
    return job


def import_job_start(
    *, job: ImportJob, actor: User | None = None, request: HttpRequest | None = None
) -> ImportJob:
    """Start (or resume after a cancel or a failure) the import itself."""
    with transaction.atomic():
        changed = ImportJob.objects.filter(
            pk=job.pk,
            state__in=[
                ImportJob.State.CHECKED,
                ImportJob.State.UPLOADED,
                ImportJob.State.CANCELLED,
                ImportJob.State.FAILED,
            ],
        ).update(state=ImportJob.State.QUEUED, cancel_requested=False, error="", updated_at=timezone.now())
        if changed != 1:
            raise ImportError_("This import is running or finished.")
        job.refresh_from_db()
        if not job.file:
            raise ImportError_("The file of this import is gone; upload it again.")
        _enqueue(job)
    return job


def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """Ask the worker to stop after the batch it is writing; what is committed stays, and the
    import can be resumed from there. A job no process is working on (queued, between two
    slices, or left behind by a worker that died) is cancelled at once."""
    from admissions.imports.engine import job_lock

    now = timezone.now()
    jobs = ImportJob.objects.filter(pk=job.pk)
    jobs.filter(state__in=[ImportJob.State.CHECKING, ImportJob.State.RUNNING]).update(cancel_requested=True)
    jobs.filter(state=ImportJob.State.QUEUED).update(state=ImportJob.State.CANCELLED, updated_at=now)
    with job_lock(job.pk) as held:
        if held:
            jobs.filter(state=ImportJob.State.CHECKING).update(
                state=ImportJob.State.UPLOADED, cancel_requested=False, rows_done=0, updated_at=now
            )
            jobs.filter(state=ImportJob.State.RUNNING).update(
                state=ImportJob.State.CANCELLED, cancel_requested=False, updated_at=now
            )
    job.refresh_from_db()
    return job
