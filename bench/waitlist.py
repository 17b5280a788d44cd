"""Waitlist offer benchmark: free places while real worker processes race to offer them.

    .venv/bin/python bench/waitlist.py                        # 1,000 places, 4 workers
    .venv/bin/python bench/waitlist.py --places 200 --workers 2 \\
        --postgres postgresql://postgres@127.0.0.1:5432 --redis redis://127.0.0.1:6379/11

Creates the scratch database ``crm_bench_waitlist`` on ``--postgres`` (dropped at the end, even on
failure), migrates it and seeds ``--programs`` full residential programs and 1.5 waiting
inquiries per place to be freed, each waitlisted for three programs (so programs compete for
the same people), all eligible. Starts ``--workers`` real ``celery -A crm worker`` processes (one
pool process each) on ``--redis`` (its database is flushed before and after). Then it frees
``--places`` places at ``--rate`` per second, each a done discharge through
``programs.services.discharge_record`` (which sends ``workers.tasks.capacity_freed`` after
commit) plus a second ``capacity_freed`` for the same program sent straight away, so two workers
handle every freed place at once.

Offer latency: per program, the k-th discharge's commit time against the k-th offer's time
(``offered_at``). Double offers: offers beyond the places freed in a program, a hold count above
capacity less occupied, an entry offered twice, or an inquiry holding two offers at once. The
load average is printed: the machine is shared, so figures under load are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "crm_bench_waitlist"


def admin(server: str, sql: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as db:
        db.execute(sql)  # type: ignore[arg-type]


def flush(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()


def seed(*, programs: int, people: int) -> list[int]:
    """Full programs and waiting inquiries (bulk inserts); returns the program ids."""
    from django.utils import timezone

    from admissions.models import Inquiry, InsurancePolicy, Person, WaitlistEntry
    from admissions.pipeline import Stage
    from crm.models import Facility
    from programs.models import Census, LevelOfCare, Payer, Program

    now = timezone.now()
    facility = Facility.objects.create(
        name="Bench Facility",
        neutral_sender_name="Harbor Health",
        city="Tampa",
        state="FL",
        postal_code="33602",
        time_zone="America/New_York",
        phone="+18135550100",
    )
    level = LevelOfCare.objects.get(edition="ASAM 3", code="3.5")
    payer = Payer.objects.create(name="Bench Payer")
    rows = Program.objects.bulk_create(
        Program(
            facility=facility,
            name=f"Residential {n:04d}",
            setting="residential",
            level_of_care=level,
            capacity_kind="beds",
            capacity=1000,
        )
        for n in range(programs)
    )
    Program.accepted_payers.through.objects.bulk_create(
        Program.accepted_payers.through(program_id=p.pk, payer_id=payer.pk) for p in rows
    )
    Census.objects.bulk_create(Census(program=p, occupied=p.capacity) for p in rows)
    persons = Person.objects.bulk_create(
        Person(first_name="Bench", last_name=f"Person{n}", phone=f"+1727{n:07d}", state="FL")
        for n in range(people)
    )
    inquiries = Inquiry.objects.bulk_create(
        Inquiry(
            person=p,
            facility=facility,
            channel="phone",
            phone=p.phone,
            stage=Stage.APPROVED,
            approved_level=level,
            created_at=now - timedelta(days=1),
            stage_changed_at=now,
        )
        for p in persons
    )
    InsurancePolicy.objects.bulk_create(InsurancePolicy(inquiry=i, payer=payer) for i in inquiries)
    entries = []
    for n, inquiry in enumerate(inquiries):
        for k in range(3):
            entries.append(
                WaitlistEntry(
                    inquiry=inquiry,
                    program=rows[(n + k * 7) % len(rows)],
                    urgency=n % 3,
                    earliest_start=now.date(),
                    contact="call",
                    payer=payer,
                    created_at=now - timedelta(minutes=n),
                )
            )
    WaitlistEntry.objects.bulk_create(entries, ignore_conflicts=True)
    return [p.pk for p in rows]


def start_workers(n: int, env: dict[str, str], log_dir: Path) -> list[subprocess.Popen[bytes]]:
    workers = []
    for k in range(n):
        log = (log_dir / f"worker{k}.log").open("ab")
        workers.append(
            subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "crm",
                    "worker",
                    "--pool=prefork",
                    "--concurrency=1",
                    "--prefetch-multiplier=1",
                    f"--hostname=bench{k}@%h",
                    "--loglevel=WARNING",
                    "--without-heartbeat",
                    "--without-mingle",
                    "--without-gossip",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        if w.poll() is None:
            os.killpg(w.pid, signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(w.pid, signal.SIGKILL)
            w.wait(timeout=10)


def free_places(program_ids: list[int], *, places: int, rate: float) -> None:
    """``places`` done discharges, round robin over the programs, at ``rate`` per second."""
    from celery import current_app
    from django.utils import timezone

    from programs.models import Program
    from programs.services import discharge_record

    programs = list(Program.objects.filter(pk__in=program_ids).order_by("pk"))
    start = time.perf_counter()
    for n in range(places):
        due = start + n / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        program = programs[n % len(programs)]
        discharge_record(program=program, on=timezone.localdate(), done=True, actor=None)
        # a second worker handles the same freed place at the same moment
        current_app.send_task("workers.tasks.capacity_freed", args=[program.pk])


def wait_for_offers(places: int, timeout: float) -> int:
    from admissions.models import WaitlistEntry

    deadline = time.monotonic() + timeout
    offered = 0
    while time.monotonic() < deadline:
        offered = WaitlistEntry.objects.exclude(offered_at=None).count()
        if offered >= places:
            break
        time.sleep(0.25)
    time.sleep(2)  # late duplicates, if any, would land now
    return WaitlistEntry.objects.exclude(offered_at=None).count()


def measure() -> tuple[list[float], int, dict[str, int]]:
    from django.db.models import Count

    from admissions.models import WaitlistEntry
    from programs.models import CapacityHold, Census, Discharge, Program

    done: dict[int, list] = defaultdict(list)
    for program_id, at in Discharge.objects.filter(state="done").values_list("program_id", "done_at"):
        done[program_id].append(at)
    offers: dict[int, list] = defaultdict(list)
    for program_id, at in WaitlistEntry.objects.exclude(offered_at=None).values_list(
        "program_id", "offered_at"
    ):
        offers[program_id].append(at)
    latencies = []
    missing = 0
    for program_id, freed in done.items():
        made = sorted(offers.get(program_id, []))
        freed.sort()
        missing += max(len(freed) - len(made), 0)
        latencies.extend((o - f).total_seconds() for f, o in zip(freed, made, strict=False))
    over_offers = sum(max(len(offers[p]) - len(done.get(p, [])), 0) for p in offers)
    occupied = dict(Census.objects.values_list("program_id", "occupied"))
    held = dict(
        CapacityHold.objects.filter(released_at=None)
        .values("program_id")
        .annotate(n=Count("pk"))
        .values_list("program_id", "n")
    )
    over_capacity = sum(
        1
        for p, capacity in Program.objects.values_list("pk", "capacity")
        if held.get(p, 0) + occupied.get(p, 0) > capacity
    )
    twice = WaitlistEntry.objects.filter(offers__gt=1).count()
    two_at_once = (
        WaitlistEntry.objects.filter(state="offered")
        .values("inquiry_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    doubles = {
        "offers beyond places freed": over_offers,
        "programs over capacity": over_capacity,
        "entries offered twice": twice,
        "inquiries with two offers": two_at_once,
    }
    return latencies, missing, doubles


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--places", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--programs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="places freed per second")
    parser.add_argument(
        "--postgres", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/11"))
    args = parser.parse_args()

    admin(args.postgres, f"DROP DATABASE IF EXISTS {DB}")
    admin(args.postgres, f"CREATE DATABASE {DB}")
    workers: list[subprocess.Popen[bytes]] = []
    var = Path(tempfile.mkdtemp(prefix="crm-bench-var-"))
    try:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "DATABASE_URL": f"{args.postgres.replace('postgresql://', 'postgres://')}/{DB}",
            "REDIS_URL": args.redis,
            "CRM_VAR_DIR": str(var),
            "LOG_LEVEL": "WARNING",
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
        flush(args.redis)
        program_ids = seed(programs=args.programs, people=args.places * 3 // 2)
        print(f"seeded {args.programs} programs, {args.places * 3 // 2} waiting inquiries", flush=True)
        load_before = os.getloadavg()
        workers = start_workers(args.workers, env, var)
        time.sleep(8)  # the workers import Django and connect
        started = time.perf_counter()
        free_places(program_ids, places=args.places, rate=args.rate)
        freeing = time.perf_counter() - started
        offered = wait_for_offers(args.places, timeout=300)
        elapsed = time.perf_counter() - started
        latencies, missing, doubles = measure()
        load_after = os.getloadavg()
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        print()
        print("| measure | value | target |")
        print("|---|---|---|")
        print(
            f"| places freed ({args.rate:.0f}/s, each signalled twice) | {args.places} in {freeing:.1f} s | |"
        )
        print(f"| offers made | {offered} ({missing} places not offered) | {args.places} |")
        worst = max(latencies, default=0.0)
        print(f"| offer latency p50 / p95 / max | {p50:.2f} s / {p95:.2f} s / {worst:.2f} s | p95 <= 10 s |")
        kinds = ", ".join(f"{k}: {v}" for k, v in doubles.items())
        print(f"| double offers | {sum(doubles.values())} ({kinds}) | 0 |")
        print(f"| workers | {args.workers} processes, 1 pool process each | |")
        print(f"| all offers made after | {elapsed:.1f} s | |")
        print(
            "load average (1/5/15 min): before "
            + " / ".join(f"{v:.2f}" for v in load_before)
            + ", after "
            + " / ".join(f"{v:.2f}" for v in load_after)
        )
        if sum(doubles.values()):
            sys.exit(1)
    finally:
        stop_workers(workers)
        try:
            flush(args.redis)
        finally:
            from django.conf import settings

            if settings.configured:  # a failure before django.setup() keeps its own traceback
                from django.db import connections

                connections.close_all()
            admin(args.postgres, f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
