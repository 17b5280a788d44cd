"""Import tests: files written to a temporary folder, jobs worked by the engine in this process
(the worker runs the same function, ``import_job_work``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from admissions.imports.columns import PRESETS, columns_for, columns_guess
from admissions.imports.engine import import_job_work
from admissions.imports.models import ImportJob
from admissions.imports.services import import_job_create, import_job_map
from tests.factories import LeadSourceFactory


@pytest.fixture(autouse=True)
def import_files(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.IMPORT_FILES_DIR = tmp_path / "imports"
    return settings.IMPORT_FILES_DIR


@pytest.fixture
def web_source(facility):  # type: ignore[no-untyped-def]
    return LeadSourceFactory(name="Web", default_facility=facility)


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def job_for(
    data: bytes,
    *,
    facility,  # type: ignore[no-untyped-def]
    name: str = "leads.csv",
    preset: str = "",
    on_duplicate: str = "merge",
    lead_source=None,  # type: ignore[no-untyped-def]
    actor=None,  # type: ignore[no-untyped-def]
) -> ImportJob:
    job = import_job_create(upload=io.BytesIO(data), file_name=name, facility=facility, actor=actor)
    columns = columns_for(PRESETS[preset], job.headers) if preset else columns_guess(job.headers)
    return import_job_map(
        job=job, columns=columns, origin=preset or "file", on_duplicate=on_duplicate, lead_source=lead_source
    )


def dry_run(job: ImportJob) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(state=ImportJob.State.CHECKING)
    assert import_job_work(job_id=job.pk) == ImportJob.State.CHECKED
    job.refresh_from_db()
    return job


def run(job: ImportJob) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(state=ImportJob.State.QUEUED)
    assert import_job_work(job_id=job.pk) == ImportJob.State.DONE
    job.refresh_from_db()
    return job


__all__ = ["Path", "csv_bytes", "dry_run", "job_for", "run"]
