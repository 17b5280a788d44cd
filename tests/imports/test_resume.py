"""Cancel, crash and resume: batches commit whole, with the job's position; nothing twice."""

from __future__ import annotations

import pytest
from django.db import connection

from admissions.imports import engine
from admissions.imports.engine import import_job_work
from admissions.imports.models import ImportedRow, ImportJob
from admissions.imports.services import import_job_cancel, import_job_start
from admissions.models import Inquiry, InquiryEvent, Person, Touch
from tests.imports.conftest import csv_bytes, job_for, run

HEADER = ["First name", "Phone", "Created", "Notes"]


def _rows(n: int) -> list[list[str]]:
    rows = [[f"P{i}", f"813 555 {1000 + i:04d}", "2025-03-01", f"row {i}"] for i in range(n)]
    rows[3][0] = ""  # refused
    rows[7][1] = rows[1][1]  # the person of row 1 again: merged
    return rows


def _tables() -> tuple[int, ...]:
    return (
        Person.objects.count(),
        Inquiry.objects.count(),
        Touch.objects.count(),
        InquiryEvent.objects.count(),
        ImportedRow.objects.count(),
    )


@pytest.mark.django_db
def test_cancel_keeps_whole_batches_and_resume_finishes_like_one_run(facility, monkeypatch) -> None:
    monkeypatch.setattr(engine, "BATCH_ROWS", 4)
    data = csv_bytes(HEADER, _rows(10))
    job = job_for(data, facility=facility)
    import_job_start(job=job)
    assert import_job_work(job_id=job.pk, deadline=0) == "more"  # one batch, then the slice ends
    job.refresh_from_db()
    assert (job.state, job.rows_done, job.counts()) == (
        ImportJob.State.RUNNING, 4, {"new": 3, "merged": 0, "skipped": 0, "invalid": 1},
    )  # fmt: skip
    import_job_cancel(job=job)  # between two slices: no process holds it, so at once
    job.refresh_from_db()
    assert (job.state, job.rows_done) == (ImportJob.State.CANCELLED, 4)
    assert import_job_work(job_id=job.pk) == ImportJob.State.CANCELLED  # the next slice does nothing
    assert Inquiry.objects.count() == 3

    import_job_start(job=job)
    assert import_job_work(job_id=job.pk) == ImportJob.State.DONE
    job.refresh_from_db()
    assert job.counts() == {"new": 8, "merged": 1, "skipped": 0, "invalid": 1}
    resumed = _tables()

    # the same file in one run elsewhere writes the same rows
    Inquiry.objects.all().delete()
    Person.objects.all().delete()
    ImportJob.objects.all().delete()
    one_run = run(job_for(data, facility=facility))
    assert one_run.counts() == job.counts()
    assert _tables() == resumed


@pytest.mark.django_db(transaction=True)
def test_a_crash_mid_batch_leaves_nothing_of_it_and_the_import_resumes(facility, monkeypatch) -> None:
    monkeypatch.setattr(engine, "BATCH_ROWS", 4)
    job = job_for(csv_bytes(HEADER, _rows(10)), facility=facility)
    import_job_start(job=job)
    assert import_job_work(job_id=job.pk, deadline=0) == "more"
    committed = _tables()
    # A worker dies inside the second batch's transaction: the connection goes away after its
    # inserts and before its commit (a real terminated backend, as when the process is killed).
    original = engine._write

    def write_then_die(**kwargs):  # type: ignore[no-untyped-def]
        original(**kwargs)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(engine, "_write", write_then_die)
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the dead connection raises
        import_job_work(job_id=job.pk)
    connection.close()
    assert _tables() == committed
    job.refresh_from_db()
    assert (job.state, job.rows_done) == (ImportJob.State.RUNNING, 4)

    monkeypatch.setattr(engine, "_write", original)
    assert import_job_work(job_id=job.pk) == ImportJob.State.DONE  # picked up where it stood
    job.refresh_from_db()
    assert job.counts() == {"new": 8, "merged": 1, "skipped": 0, "invalid": 1}
    assert Inquiry.objects.count() == 8
    assert ImportedRow.objects.count() == 9


@pytest.mark.django_db
def test_a_job_another_process_holds_is_left_alone(facility) -> None:
    job = job_for(csv_bytes(HEADER, _rows(10)), facility=facility)
    import_job_start(job=job)
    with engine.job_lock(job.pk) as held:
        assert held
        # the same connection may take a session lock twice; another process may not
        import psycopg
        from django.conf import settings

        db = settings.DATABASES["default"]
        other = psycopg.connect(
            host=db["HOST"],
            port=db["PORT"] or 5432,
            user=db["USER"],
            dbname=db["NAME"],
            password=db["PASSWORD"],
        )
        try:
            got = other.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", [engine._LOCK_CLASS, job.pk]
            ).fetchone()
            assert got == (False,)
        finally:
            other.close()
    assert import_job_work(job_id=job.pk) == ImportJob.State.DONE


@pytest.mark.django_db(transaction=True)
def test_cancel_while_a_worker_holds_the_job_waits_for_its_batch(facility, monkeypatch) -> None:
    import threading

    def cancel_elsewhere() -> None:  # another process's connection: the web's
        try:
            result.append(import_job_cancel(job=ImportJob.objects.get(pk=job.pk)))
        finally:
            connection.close()

    monkeypatch.setattr(engine, "BATCH_ROWS", 4)
    job = job_for(csv_bytes(HEADER, _rows(10)), facility=facility)
    import_job_start(job=job)
    assert import_job_work(job_id=job.pk, deadline=0) == "more"
    result: list[ImportJob] = []
    with engine.job_lock(job.pk):  # a worker is on it
        thread = threading.Thread(
            target=lambda: result.append(import_job_cancel(job=ImportJob.objects.get(pk=job.pk)))
        )
        thread.start()
        thread.join()
    assert (result[0].state, result[0].cancel_requested) == (ImportJob.State.RUNNING, True)
    assert import_job_work(job_id=job.pk) == ImportJob.State.CANCELLED
    job.refresh_from_db()
    assert (job.state, job.rows_done, job.cancel_requested) == (ImportJob.State.CANCELLED, 4, False)
