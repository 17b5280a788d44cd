"""Benchmark of the manager dashboards at a million inquiries, through gunicorn, beat and the worker.

    .venv/bin/python bench/dashboards.py                    # seed 1,000,000 inquiries, 3 rounds
    .venv/bin/python bench/dashboards.py --reuse --keep     # reuse (and migrate) a seeded database
    .venv/bin/python bench/dashboards.py --db-name crm_bench_1m --redis-db 7 --port 8772 --reuse --keep

1. creates the scratch database (``--db-name``), migrates it and seeds it with
   ``manage.py seed_demo --inquiries N`` (COPY); ``--reuse`` keeps an already seeded one;
2. times the rollup's batch work as the task runs it (``rollup_refresh`` in its own process): the
   full build, a quiet incremental refresh, and a refresh after 300 stage changes;
3. starts gunicorn (production settings), a Celery worker and beat, and signs in as the demo
   manager (every facility) through the login and code forms;
4. times every dashboard page with the default 90-day filter and a 12-month filter, interleaved
   with the empty base page (``/bench/empty/``) in rounds whose order rotates, and counts each
   page's SQL statements in a separate process;
5. freshness, ``--freshness`` times: admits one inquiry in the database and polls the funnel page
   through gunicorn until its Admitted tile counts it; beat schedules the refresh and the worker
   runs it, so the figure includes the wait for beat's next tick (every 30 s).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import Page  # noqa: E402

USERNAME = "manager"
TARGET_MEDIAN_MS = 200.0
REPORTS = ["funnel", "speed", "sources", "outcomes", "census", "coordinators", "trends"]
TILE = re.compile(
    r'<span class="dash-tile-value">([^<]*)</span><span class="dash-tile-label">Admitted</span>'
)

BATCH = r"""
import json, statistics
from datetime import timedelta
from django.db import connection
from django.utils import timezone
from admissions.models import Inquiry
from admissions.pipeline import Stage
from dashboards.services import rollup_refresh
full = rollup_refresh(full=True)
quiet = statistics.median(rollup_refresh().seconds for _ in range(3))
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_total_relation_size('dashboards_cohortrollup'), "
                   "pg_total_relation_size('admissions_inquiry')")
    sizes = cursor.fetchone()
now = timezone.now()
busy = list(Inquiry.objects.filter(stage=Stage.CONTACTED, created_at__gte=now - timedelta(days=60))
            .values_list("pk", flat=True)[:300])
Inquiry.objects.filter(pk__in=busy).update(stage=Stage.PRESCREENED, prescreened_at=now, stage_changed_at=now)
after = rollup_refresh()
print(json.dumps({"inquiries": Inquiry.objects.count(), "full": [full.seconds, full.rows, full.days],
                  "quiet": quiet, "busy": [after.seconds, after.days, len(busy)], "sizes": list(sizes)}))
"""

# Admits one inquiry scheduled in the last 30 days (a different one each time), stamped now.
ADMIT = r"""
import json
from datetime import timedelta
from django.utils import timezone
from admissions.models import Inquiry
from admissions.pipeline import Stage
now = timezone.now()
target = (Inquiry.objects.filter(stage=Stage.ADMISSION_SCHEDULED, created_at__gte=now - timedelta(days=30))
          .order_by("pk").first())
Inquiry.objects.filter(pk=target.pk).update(stage=Stage.ADMITTED, admitted_at=now, stage_changed_at=now)
print(json.dumps(target.pk))
"""


def _admitted(port: int, cookie: str) -> int:
    status, body, _ = harness.get(port, "/dashboards/", cookie)
    found = TILE.search(body.decode(errors="replace"))
    if status != 200 or not found:
        raise RuntimeError(f"the funnel page shows no Admitted tile (status {status})")
    return int(found.group(1).replace(",", ""))


def _freshness(port: int, cookie: str, env: dict[str, str], timeout: float = 180) -> float:
    before = _admitted(port, cookie)
    harness.run_python(env, ADMIT)
    changed = time.monotonic()
    while time.monotonic() - changed < timeout:
        if _admitted(port, cookie) > before:
            return time.monotonic() - changed
        time.sleep(0.25)
    raise RuntimeError(f"the funnel page did not show the admission within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    harness.add_service_options(parser, db_name="crm_bench_dashboards", redis_db=13, port=8767)
    parser.add_argument("--inquiries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8, help="closed loop per page per round")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up per page, not counted")
    parser.add_argument("--clients", type=int, default=2, help="concurrent clients (one per core)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--freshness", type=int, default=3, help="freshness measurements")
    parser.add_argument("--reuse", action="store_true", help="reuse an already seeded scratch database")
    parser.add_argument("--keep", action="store_true", help="do not drop the scratch database at the end")
    args = parser.parse_args()

    today = date.today()  # noqa: DTZ011 - the server's date is the facilities' within a day; a wide range
    twelve = f"?start={(today - timedelta(days=364)).isoformat()}&end={today.isoformat()}"
    pages = [Page("empty page, base template", ["/bench/empty/"])]
    for report in REPORTS:
        path = "/dashboards/" if report == "funnel" else f"/dashboards/{report}/"
        pages.append(Page(f"{report}, 90 days", [path]))
        pages.append(Page(f"{report}, 12 months", [path + twelve]))

    with harness.scratch_dir("crm-bench-dashboards-") as var_dir:
        env = harness.production_env(args, var_dir)
        processes = harness.Processes(env, var_dir)
        loadgen = None
        try:
            seed_seconds = harness.seed(args, env, args.inquiries)
            batch = harness.run_python(env, BATCH)
            processes.gunicorn(port=args.port, workers=args.workers)
            processes.worker(concurrency=2)
            processes.beat()
            cookie = harness.sign_in(args.port, env, USERNAME)
            loadgen = harness.LoadGenerator()
            loadgen.run(
                port=args.port,
                paths=["/bench/empty/", "/dashboards/"],
                cookie=cookie,
                seconds=args.warmup * 2,
                clients=args.workers * 2,
            )
            for page in pages:
                page.skipped = harness.probe(args.port, page.paths, cookie)[0]
            counts = harness.query_counts(env, USERNAME, [p.paths[0] for p in pages if p.skipped is None])
            for page in pages:
                page.queries = counts.get(page.paths[0])
            load_before = harness.load_average()
            started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            harness.interleaved_rounds(
                pages,
                loadgen=loadgen,
                port=args.port,
                cookie=cookie,
                rounds=args.rounds,
                seconds=args.seconds,
                warmup=args.warmup,
                clients=args.clients,
            )
            load_after = harness.load_average()
            fresh = [_freshness(args.port, cookie, env) for _ in range(args.freshness)]
        finally:
            if loadgen is not None:
                loadgen.close()
            processes.stop()
            if not args.keep and harness.database_exists(args):
                harness.database_drop(args)
            harness.redis_flush(args)

    full_s, full_rows, full_days = batch["full"]
    busy_s, busy_days, busy_n = batch["busy"]
    rollup_bytes, inquiry_bytes = batch["sizes"]
    print()
    if seed_seconds is not None:
        print(f"seed_demo --inquiries {args.inquiries}: {seed_seconds:.0f} s")
    print(f"{batch['inquiries']:,} inquiries, signed in as {USERNAME} (every facility); started {started}")
    print(
        f"rollup, in one process as the task runs it: full build {full_s:.1f} s ({full_rows:,} rows, "
        f"{full_days:,} facility-days; {rollup_bytes / 2**20:.0f} MB with indexes, inquiry table "
        f"{inquiry_bytes / 2**20:.0f} MB); quiet refresh {batch['quiet']:.2f} s (median of 3); "
        f"after {busy_n} stage changes {busy_s:.2f} s ({busy_days} facility-days)"
    )
    print(
        "freshness through beat (every 30 s) and the worker, change -> funnel page shows it: "
        + ", ".join(f"{s:.1f} s" for s in fresh)
        + f" (median {statistics.median(fresh):.1f} s; target: at most 60 s old)"
    )
    print(
        f"{args.rounds} interleaved rounds of {args.seconds:.0f} s per page, {args.clients} clients, "
        f"gunicorn {args.workers} sync workers + worker + beat, production settings; load average "
        f"{load_before} before, {load_after} after the pages"
    )
    print(harness.rounds_table(pages, base=pages[0], target_ms=TARGET_MEDIAN_MS, ratio=None, on="p50"))
    print(f"target: median (p50) < {TARGET_MEDIAN_MS:.0f} ms for every page and range")


if __name__ == "__main__":
    main()
