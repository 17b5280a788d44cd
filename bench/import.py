"""Import benchmark: 100,000 rows (10% duplicates, 2% invalid) through the real worker.

    .venv/bin/python bench/import.py
    .venv/bin/python bench/import.py --rows 100000 --pg postgres://postgres@127.0.0.1:5432 \
        --redis redis://127.0.0.1:6379 --redis-db 5

Creates the scratch database ``--db-name`` (default ``crm_bench_import``) on the ``--pg`` server
(dropped at the end, even on failure), migrates it, and starts one ``celery -A crm worker`` with
production settings (``bench.harness.production_env``; solo pool: the import runs in the worker's
main process, whose peak RSS is read from /proc) on ``--redis`` / ``--redis-db``. Jobs are created and
started as the import page does (``import_job_create`` / ``import_job_map`` / ``import_job_check``
/ ``import_job_start``: the task is enqueued by name through Redis), and this process only polls
the job's row until it is done.

1. warm-up: a 10,000-row file, imported (the worker's peak RSS after it is the baseline);
2. import of the big file: wall time from enqueue to done, rows/s, the counts against the
   generator's, and the worker's peak RSS (flat memory: close to the warm-up's);
3. the same file again: every row skipped or invalid, and no table changed;
4. a dry run of a file of the same shape with other people (counts only, nothing written). It
   runs last because a dry run keeps the file's new people and open inquiries in memory.

The file is a CSV a spreadsheet might hold: phone numbers in several formats, 70% of the rows
open (new to scheduled), the rest closed, admitted or in nurture with their stage dates. Every
tenth row is a duplicate of an open row nine rows earlier (same phone, a later date, a new note:
merged); every fiftieth is invalid (bad phone, no first name, an unreadable date, an unknown
stage, a closed row without its lost reason, in turn).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import add_service_options, admin_sql, machine, production_env  # noqa: E402

HEADER = [
    "First name", "Last name", "Phone", "Email", "Created", "Stage", "Lead source", "Contacted",
    "Closed", "Admitted", "Lost reason", "Insurance payer", "Member id", "Notes",
]  # fmt: skip
_OPEN = ["new", "contact_attempted", "contacted", "prescreened", "vob"]
_INVALID = ("phone", "first_name", "date", "stage", "lost_reason")


def _phone(area: int, n: int, style: int) -> str:
    exchange, line = 200 + (n // 10_000) % 800, n % 10_000
    digits = f"{area}{exchange}{line:04d}"
    if style == 0:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    if style == 1:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return f"+1 {digits[:3]} {digits[3:6]} {digits[6:]}"


def file_write(path: Path, rows: int, *, area: int) -> dict[str, int]:
    """Write the benchmark file; returns the counts an import must report."""
    expected = {"new": 0, "merged": 0, "skipped": 0, "invalid": 0}
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(rows):
            day = 1 + i % 28
            created = f"2025-{1 + i % 12:02d}-{day:02d} {8 + i % 10}:{i % 60:02d}"
            phone = _phone(area, i, i % 3)
            first, last, email = f"Name{i}", f"Family{i}", f"p{i}.{area}@example.com"
            stage, contacted, closed, admitted, lost = _OPEN[i % 5], "", "", "", ""
            if i % 10 in (5, 6, 7, 8):
                kind = (i // 10) % 3
                contacted = f"2025-{1 + i % 12:02d}-{day:02d} {8 + i % 10}:{i % 60:02d}:30"
                if kind == 0:
                    stage, closed, lost = (
                        "closed",
                        f"2025-{1 + i % 12:02d}-{day:02d} 23:00",
                        "Declined / not ready",
                    )
                elif kind == 1:
                    stage, admitted = "admitted", f"2025-{1 + i % 12:02d}-{day:02d} 23:30"
                else:
                    stage = "nurture"
            elif stage != "new":
                contacted = f"2025-{1 + i % 12:02d}-{day:02d} {8 + i % 10}:{i % 60:02d}:30"
            payer, member = ("Aetna", f"W{i:09d}") if i % 2 else ("", "")
            notes = f"Row {i}: asked about outpatient care."
            if i % 10 == 9:  # a duplicate of row i - 9 (open): the same phone, a new note, later
                phone, email, first = _phone(area, i - 9, (i + 1) % 3), "", f"Name{i - 9}"
                stage, contacted, closed, admitted, lost = "new", "", "", "", ""
                created = f"2025-{1 + (i - 9) % 12:02d}-{1 + (i - 9) % 28:02d} 23:59"
                notes = f"Called again (row {i})."
                expected["merged"] += 1
            elif i % 50 == 7:
                broken = _INVALID[(i // 50) % len(_INVALID)]
                if broken == "phone":
                    phone, email = "555-12", ""
                elif broken == "first_name":
                    first = ""
                elif broken == "date":
                    created = "31/31/2025"
                elif broken == "stage":
                    stage = "maybe later"
                else:
                    stage, closed, lost, admitted = "closed", f"2025-{1 + i % 12:02d}-{day:02d} 23:00", "", ""
                expected["invalid"] += 1
            else:
                expected["new"] += 1
            w.writerow([first, last, phone, email, created, stage, "Web", contacted, closed, admitted, lost,
                        payer, member, notes])  # fmt: skip
    return expected


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tables() -> dict[str, int]:
    from admissions.models import ContactConsent, Inquiry, InquiryEvent, InsurancePolicy, Person, Touch

    return {
        m.__name__: m.objects.count()
        for m in (Person, Inquiry, Touch, InquiryEvent, InsurancePolicy, ContactConsent)
    }


def job_wait(job_id: int, until: set[str], timeout: float = 900) -> object:
    from admissions.imports.models import ImportJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job_id)
        if job.state in until:
            return job
        if job.state == ImportJob.State.FAILED:
            raise RuntimeError(f"import {job_id} failed: {job.error}")
        time.sleep(0.1)
    raise RuntimeError(f"import {job_id} did not finish in {timeout} s")


def job_new(path: Path, facility: object) -> object:
    from admissions.imports.columns import columns_guess
    from admissions.imports.services import import_job_create_from_path, import_job_map

    job = import_job_create_from_path(path=path, facility=facility, actor_label="bench")  # type: ignore[arg-type]
    return import_job_map(
        job=job, columns=columns_guess(job.headers), origin="file", on_duplicate="merge", lead_source=None
    )


def imported(path: Path, facility: object) -> tuple[object, float]:
    from admissions.imports.models import ImportJob
    from admissions.imports.services import import_job_start

    job = job_new(path, facility)
    start = time.perf_counter()
    import_job_start(job=job)  # type: ignore[arg-type]
    done = job_wait(job.pk, {ImportJob.State.DONE})  # type: ignore[attr-defined]
    return done, time.perf_counter() - start


def checked(path: Path, facility: object) -> tuple[object, float]:
    from admissions.imports.models import ImportJob
    from admissions.imports.services import import_job_check

    job = job_new(path, facility)
    start = time.perf_counter()
    import_job_check(job=job)  # type: ignore[arg-type]
    done = job_wait(job.pk, {ImportJob.State.CHECKED})  # type: ignore[attr-defined]
    return done, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--warmup-rows", type=int, default=10_000)
    add_service_options(parser, db_name="crm_bench_import", redis_db=5, port=0)
    args = parser.parse_args()

    admin_sql(args, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    admin_sql(args, f'CREATE DATABASE "{args.db_name}"')
    var = Path(tempfile.mkdtemp(prefix="crm-bench-import-"))
    worker = None
    try:
        env = production_env(args, str(var))
        migrate = [sys.executable, "manage.py", "migrate", "--skip-checks", "-v", "0"]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True)
        os.environ.update(env)
        import django

        django.setup()
        from admissions.models import LeadSource
        from tests.factories import FacilityFactory

        facility = FacilityFactory(name="Bench Facility")
        LeadSource.objects.create(name="Web", kind=LeadSource.Kind.WEBSITE, default_facility=facility)
        small, big = var / "warmup.csv", var / "bench.csv"
        file_write(small, args.warmup_rows, area=305)
        expected = file_write(big, args.rows, area=813)
        fresh = var / "fresh.csv"
        if file_write(fresh, args.rows, area=212) != expected:
            raise RuntimeError("the two files differ in shape")
        print(f"file: {args.rows:,} rows, {big.stat().st_size / 1e6:.1f} MB; expected {expected}", flush=True)

        log = (var / "worker.log").open("ab")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool=solo", "--loglevel=WARNING",
             "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        load_before = os.getloadavg()
        warm, warm_s = imported(small, facility)
        rss_warm = peak_rss_mb(worker.pid)
        first, first_s = imported(big, facility)
        rss_big = peak_rss_mb(worker.pid)
        before = tables()
        second, second_s = imported(big, facility)
        rss_second = peak_rss_mb(worker.pid)
        after = tables()
        # last, as a dry run remembers the file's new people and open inquiries (see the engine):
        # a file of the same shape with other people, so that every row is new to the database
        dry, dry_s = checked(fresh, facility)
        rss_dry = peak_rss_mb(worker.pid)
        load_after = os.getloadavg()

        got_first = first.counts()  # type: ignore[attr-defined]
        want_second = {
            "new": 0,
            "merged": 0,
            "skipped": expected["new"] + expected["merged"],
            "invalid": expected["invalid"],
        }
        checks = {
            "dry run counts exact": dry.check_counts == expected,  # type: ignore[attr-defined]
            "import counts exact": got_first == expected,
            "second run counts": second.counts() == want_second,  # type: ignore[attr-defined]
            "second run changed nothing": before == after,
        }
        print()
        print("| run | rows | wall s | rows/s | new | merged | skipped | invalid | worker peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, job, secs, rss in (
            ("warm-up import", warm, warm_s, f"{rss_warm:,.0f}"),
            ("import", first, first_s, f"{rss_big:,.0f}"),
            ("same file again", second, second_s, f"{rss_second:,.0f}"),
            ("dry run", dry, dry_s, f"{rss_dry:,.0f}"),
        ):
            counts = job.check_counts if name == "dry run" else job.counts()  # type: ignore[attr-defined]
            total = job.total_rows  # type: ignore[attr-defined]
            cells = [counts[k] for k in ("new", "merged", "skipped", "invalid")]
            print(
                f"| {name} | {total:,} | {secs:.1f} | {total / secs:,.0f} | "
                + " | ".join(f"{c:,}" for c in cells)
                + f" | {rss} |"
            )
        print()
        for name, ok in checks.items():
            print(f"{name}: {'yes' if ok else 'NO'}")
        print(f"tables after the import: {before}")
        print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}; {machine()}")
        if not all(checks.values()):
            sys.exit(1)
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        admin_sql(args, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
