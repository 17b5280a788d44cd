"""The import runs on a real Celery worker over the configured broker, in slices that enqueue
their own continuation."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from admissions.imports import engine
from admissions.imports.models import ImportJob
from admissions.imports.services import import_job_check, import_job_start
from admissions.models import Inquiry
from crm.celery import app
from tests.imports.conftest import csv_bytes, job_for
from workers import tasks

HEADER = ["First name", "Phone", "Created"]
ROWS = [[f"P{i}", f"813 555 {2000 + i:04d}", "2025-03-01"] for i in range(7)] + [
    ["", "813 555 2999", "2025-03-01"]
]


def _wait_for(job: ImportJob, state: str, timeout: float = 60) -> ImportJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.state == state:
            return job
        time.sleep(0.1)
    raise AssertionError(f"import {job.pk} is {job.state}, not {state}")


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_dry_run_and_import_run_on_the_worker_in_slices(facility, monkeypatch) -> None:
    monkeypatch.setattr(engine, "BATCH_ROWS", 2)
    monkeypatch.setattr(tasks, "IMPORT_SLICE_SECONDS", 0)  # one batch per task, then the next task
    job = job_for(csv_bytes(HEADER, ROWS), facility=facility)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        import_job_check(job=job)
        job = _wait_for(job, ImportJob.State.CHECKED)
        assert job.check_counts == {"new": 7, "merged": 0, "skipped": 0, "invalid": 1}
        assert Inquiry.objects.count() == 0
        import_job_start(job=job)
        job = _wait_for(job, ImportJob.State.DONE)
    assert job.counts() == {"new": 7, "merged": 0, "skipped": 0, "invalid": 1}
    assert job.rows_done == job.total_rows == 8
    assert Inquiry.objects.count() == 7
