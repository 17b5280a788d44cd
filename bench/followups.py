"""Follow-up dispatch benchmark: delivery throughput and the dispatch sweep, through the real worker.

    .venv/bin/python bench/followups.py                 # defaults below
    .venv/bin/python bench/followups.py --messages 4000 --total 1000000 --inquiries 100000
    .venv/bin/python bench/followups.py --db-name crm_bench7_followups --redis-db 7

Needs PostgreSQL (``--pg``) and Redis (``--redis``, ``--redis-db``; flushed at the end). Creates
the scratch database ``--db-name`` (dropped at the end, even on failure). The sinks are the
local SMTP server and Twilio-compatible HTTP server the tests use.

1. Throughput: N due messages (half texts, half emails), one ``celery -A crm worker`` (prefork,
   ``--concurrency`` processes), beat replaced by a dispatch every 0.5 s; messages/s from the
   first to the last delivery at the sinks.
2. Statements per delivery: a batch of 100 due messages (half texts, half emails) delivered in
   this process to the same sinks, every SQL statement counted.
3. Dispatch sweep: ``--total`` scheduled follow-ups spread over ``--inquiries`` inquiries (cloned
   from a seeded one; due rows scattered among them), 1,000 (then 10,000) due. A worker that
   consumes only the bench's queue runs ``followups_dispatch`` (plan cadences, claim every due
   row, publish the batches) ``--sweeps`` times; the figure is the task's run time the worker
   logs. Leases are dropped and the published batches discarded between sweeps. The plan of the
   claim statement is printed (EXPLAIN ANALYZE, rolled back).

Reference for the machine's state: one-row INSERT + COMMIT from one connection, rows/s, and the
load average before and after.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

DISPATCH_QUEUE = "bench-dispatch"
SUCCEEDED = re.compile(r"followups_dispatch\[[^\]]+\] succeeded in ([0-9.]+)s: (\d+)")


def _connect(args: argparse.Namespace) -> psycopg.Connection:
    url = harness.database_url(args).replace("postgres://", "postgresql://", 1)
    return psycopg.connect(url, autocommit=True)


def _columns(db: psycopg.Connection, table: str) -> list[str]:
    rows = db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id'"
        " ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [row[0] for row in rows]


def _clone(db: psycopg.Connection, table: str, source: str, overrides: dict[str, str]) -> None:
    """INSERT INTO ``table`` its columns from ``source`` (a FROM clause whose ``t`` is a row of the table)."""
    columns = _columns(db, table)
    values = ", ".join(overrides.get(column, f"t.{column}") for column in columns)
    db.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {source}")  # type: ignore[arg-type]  # noqa: S608


def seed_inquiries(db: psycopg.Connection, *, count: int) -> list[int]:
    """``count`` inquiries, each with its own person, cloned from the first seeded inquiry; their ids."""
    template = db.execute("SELECT min(id) FROM admissions_inquiry").fetchone()[0]  # type: ignore[index]
    person = db.execute("SELECT person_id FROM admissions_inquiry WHERE id = %s", (template,)).fetchone()[0]  # type: ignore[index]
    first_person = db.execute("SELECT coalesce(max(id), 0) + 1 FROM admissions_person").fetchone()[0]  # type: ignore[index]
    _clone(
        db,
        "admissions_person",
        f"admissions_person t, generate_series(1, {int(count)}) g WHERE t.id = {int(person)}",
        {"last_name": "'Clone ' || g", "phone": "''", "email": "''"},
    )
    first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM admissions_inquiry").fetchone()[0]  # type: ignore[index]
    _clone(
        db,
        "admissions_inquiry",
        "admissions_inquiry t, admissions_person p"
        f" WHERE t.id = {int(template)} AND p.id >= {int(first_person)}",
        {"person_id": "p.id", "phone": "''", "email": "''", "external_id": "''"},
    )
    rows = db.execute("SELECT id FROM admissions_inquiry WHERE id >= %s ORDER BY id", (first,)).fetchall()
    db.execute("ANALYZE admissions_person")
    db.execute("ANALYZE admissions_inquiry")
    return [row[0] for row in rows]


def seed_claim_rows(db: psycopg.Connection, *, inquiries: list[int], total: int, due: int) -> None:
    """``total`` scheduled call tasks spread over ``inquiries``, ``due`` of them (scattered) due now."""
    db.execute("TRUNCATE admissions_followup CASCADE")
    every = max(1, total // due)
    db.execute(
        """INSERT INTO admissions_followup (inquiry_id, kind, due_at, state, dedupe_key, attempts, created_at,
               outcome, channel, template_code, sequence, deferrals, error)
           SELECT (%(inquiries)s::bigint[])[1 + (g::bigint * 7919) %% cardinality(%(inquiries)s::bigint[])],
                  'call_task',
                  CASE WHEN g %% %(every)s = 0 AND g / %(every)s <= %(due)s THEN now() - interval '1 minute'
                       ELSE now() + ((g %% 86400 + 60) || ' seconds')::interval END,
                  'scheduled', 'bench:' || g, 0, now(), '', 'task', '', 0, 0, ''
           FROM generate_series(1, %(total)s) g""",
        {"inquiries": inquiries, "every": every, "due": due, "total": total},
    )
    db.execute("VACUUM ANALYZE admissions_followup")


def sweep_cost(
    args: argparse.Namespace, env: dict[str, str], *, inquiries: list[int], total: int, due: int, var_dir: str
) -> tuple[list[float], str]:
    """Run times of the dispatch task in a real worker, and the claim statement's plan."""
    from celery import Celery
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from admissions.followups import followups_claim

    with _connect(args) as db:
        seed_claim_rows(db, inquiries=inquiries, total=total, due=due)
        db.execute("TRUNCATE admissions_dispatchlease")
    processes = harness.Processes(env, var_dir)
    log = processes.worker(concurrency=1, queues=DISPATCH_QUEUE)
    app = Celery("bench", broker=harness.redis_url(args))
    timings: list[float] = []
    try:
        for number in range(args.sweeps + 1):  # the first sweep warms the worker up: not counted
            seen = len(SUCCEEDED.findall(log.read_text() if log.exists() else ""))
            app.send_task(
                "workers.tasks.followups_dispatch",
                kwargs={"batch": 500, "max_batches": max(1, due // 500)},
                queue=DISPATCH_QUEUE,
            )
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                found = SUCCEEDED.findall(log.read_text() if log.exists() else "")
                if len(found) > seen:
                    seconds, claimed = found[-1]
                    if int(claimed) != due:
                        raise RuntimeError(f"the sweep handed out {claimed} rows, expected {due}")
                    if number:
                        timings.append(float(seconds) * 1000)
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"no dispatch sweep finished; see {log}")
            with _connect(args) as db:
                db.execute("TRUNCATE admissions_dispatchlease")  # the batches are done: claim the rows again
            harness.redis_flush(args)  # drop the published batches nobody consumes
    finally:
        processes.stop()
    with CaptureQueriesContext(connection) as queries:
        followups_claim(limit=due)
    with _connect(args) as db:
        db.execute("TRUNCATE admissions_dispatchlease")
    statement = next(q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + statement.replace("%", "%%"))
        lines = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    plan = " / ".join(
        line.strip() for line in lines if "Scan" in line or "Execution Time" in line or "Insert" in line
    )
    return timings, plan


def commit_reference(args: argparse.Namespace, rows: int = 300) -> float:
    """Reference for the machine's state: one-row INSERT + COMMIT per row from one connection, rows/s."""
    url = harness.database_url(args).replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as db:
        db.execute("CREATE TABLE IF NOT EXISTS bench_commit_reference (n int)")
        db.commit()
        start = time.perf_counter()
        for n in range(rows):
            db.execute("INSERT INTO bench_commit_reference VALUES (%s)", (n,))
            db.commit()
        return rows / (time.perf_counter() - start)


def queries_per_delivery(
    args: argparse.Namespace, *, messages: int, env: dict[str, str]
) -> tuple[float, float]:
    """SQL statements per delivered message (and per batch task) for one batch of ``messages``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from admissions.followups import followups_claim_due, followups_deliver
    from tests.followups.sinks import sms_api_sink, smtp_sink
    from workers.channels import default_channels

    with _connect(args) as db:
        db.execute("UPDATE admissions_followup SET state = 'done' WHERE state IN ('scheduled', 'queued')")
    with sms_api_sink() as sms, smtp_sink() as (smtp_port, mails):
        subprocess.run(
            [sys.executable, "-m", "tests.workers.fault_seed", "queries", str(messages), "5000000", "mixed"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        with override_settings(
            SMS_API_URL=sms.base_url,
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=smtp_port,
            EMAIL_USE_TLS=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            FOLLOWUP_BATCH_SIZE=messages,
        ):
            ids = followups_claim_due(limit=messages)
            with CaptureQueriesContext(connection) as queries, default_channels() as channels:
                results = followups_deliver(ids=ids, channels=channels)
        sent = len(sms.ledger.unique) + len(mails.unique)
    if sent != messages or set(results.values()) != {"done"}:
        raise RuntimeError(f"delivered {sent} of {messages}: {set(results.values())}")
    return len(queries) / messages, float(len(queries))


def throughput(
    args: argparse.Namespace, *, messages: int, env: dict[str, str], concurrency: int = 2
) -> tuple[float, int]:
    from tests.followups.sinks import sms_api_sink, smtp_sink
    from tests.workers.faultkit import Beat, Worker, seed_mixed

    try:
        with sms_api_sink() as sms, smtp_sink() as (smtp_port, mails):
            env = {
                **env,
                "SMS_API_URL": sms.base_url,
                "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
                "FOLLOWUP_MAX_IN_FLIGHT": "400",
                "FOLLOWUP_LEASE_SECONDS": "60",
            }
            seed_mixed(env, count=messages)
            worker = Worker(env=env, log=Path(env["CRM_VAR_DIR"]) / "worker.log", concurrency=concurrency)
            worker.start()
            try:
                with Beat(harness.redis_url(args)):
                    while len(sms.ledger.unique) + len(mails.unique) == 0:
                        time.sleep(0.01)
                    first = time.perf_counter()
                    delivered = 0
                    deadline = first + 600
                    while delivered < messages and time.perf_counter() < deadline:
                        time.sleep(0.02)
                        delivered = len(sms.ledger.unique) + len(mails.unique)
                    elapsed = time.perf_counter() - first
            finally:
                worker.stop()
            return delivered / elapsed, sms.ledger.duplicates + mails.duplicates
    finally:
        harness.redis_flush(args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    harness.add_service_options(parser, db_name="crm_bench_followups", redis_db=12, port=0)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--total", type=int, default=1_000_000, help="scheduled follow-ups for the sweep")
    parser.add_argument("--inquiries", type=int, default=100_000, help="inquiries the follow-ups hang off")
    parser.add_argument("--sweeps", type=int, default=5, help="dispatch sweeps per size")
    parser.add_argument("--skip-throughput", action="store_true", help="sweep cost and statements only")
    parser.add_argument("--skip-claim", action="store_true", help="throughput and statements only")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes (one worker)")
    args = parser.parse_args()

    harness.database_drop(args)
    harness.admin_sql(args, f'CREATE DATABASE "{args.db_name}"')
    var = tempfile.mkdtemp(prefix="crm-bench-followups-")
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": harness.database_url(args),
            "REDIS_URL": harness.redis_url(args),
            "CRM_VAR_DIR": var,
            "SMS_PROVIDER": "http",
            "SMS_ACCOUNT_SID": "AC00000000000000000000000000000000",
            "SMS_AUTH_TOKEN": "test-auth-token-0123456789",
            "SMS_FROM_NUMBER": "+18135550199",
            "MESSAGING_QUIET_HOURS_DEFAULT": "00:00-23:59:59.999999",
            "LOG_LEVEL": "WARNING",
            "FOLLOWUP_MAX_IN_FLIGHT": "100000",
        }
        env.pop("TEST_DATABASE_NAME", None)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--skip-checks", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        os.environ.update(env)
        import django

        django.setup()

        load_before = harness.load_average()
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        reference = commit_reference(args)
        rate, duplicates = (
            (0.0, 0)
            if args.skip_throughput
            else throughput(args, messages=args.messages, env=env, concurrency=args.concurrency)
        )
        print(f"throughput: {rate:,.1f} msg/s, raw duplicates {duplicates}", flush=True)
        per_message, per_batch = queries_per_delivery(args, messages=100, env=env)
        rows = []
        if not args.skip_claim:
            with _connect(args) as db:
                inquiries = seed_inquiries(db, count=args.inquiries)
            sizes = ((args.total, 1000), (args.total, 10_000), (args.total // 10, 1000))
            for total, due in sizes:
                timings, plan = sweep_cost(args, env, inquiries=inquiries, total=total, due=due, var_dir=var)
                rows.append((total, due, timings, plan))
                print(
                    f"sweep, {total:,} rows, {due:,} due: " + ", ".join(f"{t:.1f}" for t in timings) + " ms",
                    flush=True,
                )
        load_after = harness.load_average()

        print()
        print(
            f"started {started}; {harness.machine()}; load average before {load_before}, after {load_after}"
        )
        print(f"reference: one-row INSERT + COMMIT from one connection, {reference:,.0f} rows/s")
        print("| measure | value | target |")
        print("|---|---|---|")
        print(
            f"| delivery throughput, 1 worker x {args.concurrency} processes, {args.messages} messages "
            f"(half SMS, half email), batches of 50 "
            f"| {rate:,.0f} msg/s (raw duplicates at the sinks: {duplicates}) | >= 200 msg/s |"
        )
        for total, due, timings, _plan in rows:
            per_round = ", ".join(f"{t:.1f}" for t in timings)
            print(
                f"| dispatch sweep in the worker, {total:,} scheduled rows over {len(inquiries):,} "
                f"inquiries, {due:,} due | median {statistics.median(timings):.1f} ms ({per_round}) "
                "| < 50 ms for 1,000 due |"
            )
        print(
            f"| SQL statements per delivered message, one batch of 100 (half SMS, half email) "
            f"| {per_message:.2f} ({per_batch:.0f} for the batch) | |"
        )
        print()
        if rows:
            print(f"claim plan ({rows[0][0]:,} rows, 1,000 due): {rows[0][3]}")
    finally:
        from django.db import connections

        connections.close_all()
        harness.database_drop(args)
        harness.redis_flush(args)
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
