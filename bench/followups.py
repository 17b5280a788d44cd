"""Follow-up dispatch benchmark: delivery throughput with one worker, and the dispatcher's claim cost.

    .venv/bin/python bench/followups.py                 # defaults below
    .venv/bin/python bench/followups.py --messages 4000 --total 1000000

Needs the machine's PostgreSQL on 127.0.0.1:5432 (user ``postgres``). Creates the
scratch database ``crm_bench_followups`` (dropped at the end, even on failure) and
a private Redis on a free port (no persistence). The worker is a real
``celery -A crm worker`` (prefork, 2 processes, one machine with 2 cores); the
sinks are the same local SMTP server and Twilio-compatible HTTP server the tests use.

1. Throughput: N due messages (half texts, half emails), beat replaced by a
   dispatch every 0.5 s; messages/s from the first to the last delivery at the sinks.
2. Queries per delivery: a batch of 100 due messages (half texts, half emails)
   delivered in this process to the same sinks, every SQL statement counted.
3. Claim cost: 1,000,000 scheduled rows, of which 1,000 (then 10,000) are due;
   one sweep claims every due row. Median of 5 sweeps, leases dropped in between.
   The plan of the claim statement is printed (EXPLAIN ANALYZE, rolled back).

The load average is printed with the results: the machine is shared, so
figures taken under load are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
DB = "crm_bench_followups"


def admin(sql: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as db:
        db.execute(sql)  # type: ignore[arg-type]


def seed_claim_rows(db: psycopg.Connection, *, total: int, due: int) -> None:
    """``total`` scheduled rows on one inquiry, ``due`` of them due now, via INSERT ... SELECT."""
    db.execute("TRUNCATE admissions_followup CASCADE")
    inquiry = db.execute("SELECT min(id) FROM admissions_inquiry").fetchone()[0]  # type: ignore[index]
    db.execute(
        """INSERT INTO admissions_followup (inquiry_id, kind, due_at, state, dedupe_key, attempts, created_at,
               outcome, channel, template_code, sequence, deferrals, error)
           SELECT %s, 'call_task',
                  CASE WHEN g <= %s THEN now() - interval '1 minute'
                       ELSE now() + (g || ' seconds')::interval END,
                  'scheduled', 'bench:' || g, 0, now(), '', 'task', '', 0, 0, ''
           FROM generate_series(1, %s) g""",
        (inquiry, due, total),
    )
    db.execute("ANALYZE admissions_followup")


def claim_cost(*, total: int, due: int, rounds: int = 5) -> tuple[float, str]:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from admissions.followups import followups_claim_due

    with psycopg.connect(f"{SERVER}/{DB}", autocommit=True) as db:
        seed_claim_rows(db, total=total, due=due)
        db.execute("TRUNCATE admissions_dispatchlease")
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            ids = followups_claim_due(limit=due)
            timings.append((time.perf_counter() - start) * 1000)
            if len(ids) != due:
                raise RuntimeError(f"claimed {len(ids)} rows, expected {due}")
            db.execute("TRUNCATE admissions_dispatchlease")  # the batch is done: claim the same rows again
        with CaptureQueriesContext(connection) as queries:
            followups_claim_due(limit=due)
        db.execute("TRUNCATE admissions_dispatchlease")
        statement = next(q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"])
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + statement.replace("%", "%%"))
            lines = [row[0] for row in cursor.fetchall()]
            transaction.set_rollback(True)
    plan = " / ".join(
        line.strip() for line in lines if "Scan" in line or "Execution Time" in line or "Insert" in line
    )
    return statistics.median(timings), plan


def commit_reference(rows: int = 300) -> float:
    """Reference for the machine's state: one-row INSERT + COMMIT per row from one connection, rows/s."""
    with psycopg.connect(f"{SERVER}/{DB}") as db:
        db.execute("CREATE TABLE IF NOT EXISTS bench_commit_reference (n int)")
        db.commit()
        start = time.perf_counter()
        for n in range(rows):
            db.execute("INSERT INTO bench_commit_reference VALUES (%s)", (n,))
            db.commit()
        return rows / (time.perf_counter() - start)


def queries_per_delivery(*, messages: int, env: dict[str, str]) -> tuple[float, float]:
    """SQL statements per delivered message (and per batch task) for one batch of ``messages``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from admissions.followups import followups_claim_due, followups_deliver
    from tests.followups.sinks import sms_api_sink, smtp_sink
    from workers.channels import default_channels

    with psycopg.connect(f"{SERVER}/{DB}", autocommit=True) as db:
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


def throughput(*, messages: int, env: dict[str, str], concurrency: int = 2) -> tuple[float, int]:
    from tests.followups.sinks import sms_api_sink, smtp_sink
    from tests.workers.faultkit import Beat, PrivateRedis, Worker, seed_mixed

    redis = PrivateRedis()
    redis.start()
    try:
        with sms_api_sink() as sms, smtp_sink() as (smtp_port, mails):
            env = {
                **env,
                "REDIS_URL": redis.url,
                "SMS_API_URL": sms.base_url,
                "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
                "FOLLOWUP_MAX_IN_FLIGHT": "400",
                "FOLLOWUP_LEASE_SECONDS": "60",
            }
            seed_mixed(env, count=messages)
            worker = Worker(env=env, log=Path(tempfile.mkdtemp()) / "worker.log", concurrency=concurrency)
            worker.start()
            try:
                with Beat(redis.url):
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
        redis.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--skip-throughput", action="store_true", help="claim cost and queries only")
    parser.add_argument("--skip-claim", action="store_true", help="throughput and queries only")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes (one worker)")
    args = parser.parse_args()

    admin(f"DROP DATABASE IF EXISTS {DB}")
    admin(f"CREATE DATABASE {DB}")
    try:
        var = tempfile.mkdtemp(prefix="crm-bench-var-")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "CRM_VAR_DIR": var,
            "SMS_PROVIDER": "http",
            "SMS_ACCOUNT_SID": "AC00000000000000000000000000000000",
            "SMS_AUTH_TOKEN": "test-auth-token-0123456789",
            "SMS_FROM_NUMBER": "+18135550199",
            "MESSAGING_QUIET_HOURS_DEFAULT": "00:00-23:59:59.999999",
            "LOG_LEVEL": "WARNING",
            "FOLLOWUP_MAX_IN_FLIGHT": "100000",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--skip-checks", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        os.environ.update(env)
        import django

        django.setup()

        load_before = os.getloadavg()
        reference = commit_reference()
        rate, duplicates = (
            (0.0, 0)
            if args.skip_throughput
            else throughput(messages=args.messages, env=env, concurrency=args.concurrency)
        )
        print(f"throughput: {rate:,.1f} msg/s, raw duplicates {duplicates}", flush=True)
        per_message, per_batch = queries_per_delivery(messages=100, env=env)
        rows = []
        sizes = ((args.total, 1000), (args.total, 10_000), (args.total // 10, 1000))
        if args.skip_claim:
            sizes = ()
        for total, due in sizes:
            median, plan = claim_cost(total=total, due=due)
            rows.append((total, due, median, plan))

        print()
        print(f"reference: one-row INSERT + COMMIT from one connection, {reference:,.0f} rows/s")
        print("| measure | value | target |")
        print("|---|---|---|")
        print(
            f"| delivery throughput, 1 worker x {args.concurrency} processes, {args.messages} messages "
            f"(half SMS, half email), batches of 50 "
            f"| {rate:,.0f} msg/s (raw duplicates at the sinks: {duplicates}) | >= 200 msg/s |"
        )
        for total, due, median, _plan in rows:
            target = "< 50 ms for 1,000 due"
            print(f"| claim sweep, {total:,} scheduled rows, {due:,} due | {median:.1f} ms | {target} |")
        print(
            f"| SQL statements per delivered message, one batch of 100 (half SMS, half email) "
            f"| {per_message:.2f} ({per_batch:.0f} for the batch) | |"
        )
        print()
        if rows:
            print(f"plan ({rows[0][0]:,} rows, 1,000 due): {rows[0][3]}")
        load_after = os.getloadavg()
        print(
            "load average (1/5/15 min): before "
            + "/".join(f"{x:.2f}" for x in load_before)
            + ", after "
            + "/".join(f"{x:.2f}" for x in load_after)
        )
    finally:
        from django.db import connections

        connections.close_all()
        admin(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
