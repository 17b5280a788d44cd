"""Benchmark of the manager dashboards at a million inquiries (issue 7).

    .venv/bin/python bench/dashboards.py [--inquiries 1000000] [--runs 20] [--reuse] [--keep]

1. creates the scratch PostgreSQL database ``crm_bench_dashboards``, migrates it and seeds it
   with ``manage.py seed_demo --inquiries N`` (``--reuse``: keep an already seeded one);
2. builds the rollup once (full) and times it, then times a quiet incremental refresh;
3. times every dashboard page through the Django test client, signed in as the demo manager,
   with the default 90-day filter and a 12-month filter (median and p95 of ``--runs`` runs
   after two warm-up runs) and counts the queries of each;
4. measures freshness: changes an inquiry, runs the refresh task as beat would, and times
   until the funnel page shows the change;
5. prints a table, appends it to bench/README.md and drops the database (``--keep`` keeps it).

Run it on an otherwise quiet machine; other load inflates every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "crm_bench_dashboards"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PASSWORD = "bench-dashboards-demo-password"  # noqa: S105 - synthetic demo logins in a scratch database


def _psql(sql: str) -> str:
    out = subprocess.run(["psql", f"{PG}/postgres", "-tAc", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _manage(*args: str, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, env=env, cwd=ROOT)
    return time.perf_counter() - began


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"benchmark check failed: {what}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inquiries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="reuse an existing seeded scratch database")
    parser.add_argument("--keep", action="store_true", help="do not drop the scratch database at the end")
    parser.add_argument(
        "--no-readme", action="store_true", help="do not append the results to bench/README.md"
    )
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "crm.settings",
    }
    seed_seconds = None
    exists = _psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'") == "1"  # noqa: S608 - constant
    if not (args.reuse and exists):
        _psql(f"DROP DATABASE IF EXISTS {DB_NAME}")
        _psql(f"CREATE DATABASE {DB_NAME}")
    _manage("migrate", "-v0", env=env)
    if not (args.reuse and exists):
        seed_seconds = _manage(
            "seed_demo", "--inquiries", str(args.inquiries), "--password", PASSWORD, "-v0", env=env
        )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    try:
        results = _measure(args.runs)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    results["seed_seconds"] = seed_seconds
    report = _render(results)
    print(report)
    if not args.no_readme:
        readme = ROOT / "bench" / "README.md"
        with readme.open("a") as fh:
            fh.write(report)


def _measure(runs: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from admissions.models import Inquiry
    from admissions.pipeline import Stage
    from crm.models import User
    from dashboards.selectors import Filters, funnel_report
    from dashboards.services import rollup_refresh
    from dashboards.tasks import dashboards_refresh

    out: dict[str, Any] = {"inquiries": Inquiry.objects.count()}
    full = rollup_refresh(full=True)
    out["full_refresh"] = (full.seconds, full.rows, full.days)
    quiet = [rollup_refresh() for _ in range(3)]
    out["quiet_refresh"] = statistics.median(r.seconds for r in quiet)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('dashboards_cohortrollup'), "
            "pg_total_relation_size('admissions_inquiry')"
        )
        out["sizes"] = cursor.fetchone()

    # a busy 30 s: 300 inquiries of the last 60 days move on, then one refresh
    now = timezone.now()
    busy = list(
        Inquiry.objects.filter(stage=Stage.CONTACTED, created_at__gte=now - timedelta(days=60)).values_list(
            "pk", flat=True
        )[:300]
    )
    Inquiry.objects.filter(pk__in=busy).update(
        stage=Stage.PRESCREENED, prescreened_at=now, stage_changed_at=now
    )
    busy_refresh = rollup_refresh()
    out["busy_refresh"] = (busy_refresh.seconds, busy_refresh.days, len(busy))

    client = Client()
    manager = User.objects.get(username="manager")
    client.force_login(manager)
    # signed in with the second factor too, as the MFA middleware requires
    device, _ = TOTPDevice.objects.get_or_create(user=manager, confirmed=True, defaults={"name": "bench"})
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    today = timezone.localdate()
    ranges = {
        "90 days": "",
        "12 months": f"?start={(today - timedelta(days=364)).isoformat()}&end={today.isoformat()}",
    }
    pages = ["funnel", "speed", "sources", "outcomes", "census", "coordinators", "trends"]
    timings: list[tuple[str, str, float, float, int]] = []
    for page in pages:
        for label, query in ranges.items():
            url = reverse(f"dashboards:{page}") + query
            for _ in range(2):
                _check(client.get(url).status_code == 200, url)
            samples = []
            for _ in range(runs):
                began = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - began) * 1000)
                _check(response.status_code == 200, url)
            with CaptureQueriesContext(connection) as ctx:
                client.get(url)
            timings.append(
                (page, label, statistics.median(samples), _pct(samples, 0.95), len(ctx.captured_queries))
            )
    out["timings"] = timings

    # freshness: one change, the refresh task (as beat runs it), the page shows it
    manager = User.objects.get(username="manager")

    def admitted() -> int:
        _check(client.get(reverse("dashboards:funnel")).status_code == 200, "funnel page")
        tile = funnel_report(user=manager, filters=Filters.default()).tiles[2]
        return int(str(tile.value))

    before = admitted()
    target = Inquiry.objects.filter(
        stage=Stage.ADMISSION_SCHEDULED, created_at__gte=now - timedelta(days=30)
    ).first()
    _check(target is not None, "no scheduled inquiry in the last 30 days")
    assert target is not None  # noqa: S101 - narrows the type after _check
    changed_at = time.perf_counter()
    stamp = timezone.now()
    Inquiry.objects.filter(pk=target.pk).update(
        stage=Stage.ADMITTED, admitted_at=stamp, stage_changed_at=stamp
    )
    dashboards_refresh.apply()
    seen = admitted()
    out["freshness"] = (time.perf_counter() - changed_at, seen == before + 1)
    return out


def _render(r: dict[str, Any]) -> str:
    full_s, full_rows, full_days = r["full_refresh"]
    busy_s, busy_days, busy_n = r["busy_refresh"]
    fresh_s, fresh_ok = r["freshness"]
    rollup_bytes, inquiry_bytes = r["sizes"]
    cpu = os.cpu_count()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()[0]
    lines = [
        "",
        f"## Dashboards at {r['inquiries']:,} inquiries ({stamp})",
        "",
        f"`bench/dashboards.py`, PostgreSQL, Django test client, {cpu} cores, "
        f"load average {load:.1f} at the end "
        "(other load on the machine inflates every figure).",
        "",
    ]
    if r.get("seed_seconds"):
        lines.append(f"- seed_demo: {r['seed_seconds']:.0f} s")
    lines += [
        f"- full rollup build: {full_s:.1f} s ({full_rows:,} rows over {full_days:,} facility-days); "
        f"rollup table {rollup_bytes / 2**20:.0f} MB with indexes "
        f"(inquiry table {inquiry_bytes / 2**20:.0f} MB)",
        f"- quiet incremental refresh (reconcile sweep only): {r['quiet_refresh']:.2f} s",
        f"- busy refresh after {busy_n} stage changes: {busy_s:.2f} s ({busy_days} facility-days recomputed)",
        f"- freshness: change -> refresh task -> page shows it in {fresh_s:.2f} s (correct: {fresh_ok}); "
        f"worst case = beat interval 30 s + refresh time",
        "",
        "| page | range | median ms | p95 ms | queries |",
        "|---|---|---:|---:|---:|",
    ]
    for page, label, median, p95, queries in r["timings"]:
        lines.append(f"| {page} | {label} | {median:.1f} | {p95:.1f} | {queries} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
