"""Benchmark: matching one screened inquiry against 300 programs, on PostgreSQL.

    .venv/bin/python bench/matching.py [--programs 300] [--facilities 10] [--runs 200]

What it does:
1. creates a scratch PostgreSQL database (``crm_bench_matching``, dropped at the end) and
   migrates it (which seeds the level catalogue, substances and the pre-screen form);
2. seeds ``--facilities`` facilities with coordinates, 6 payers, 4 specialties and
   ``--programs`` programs spread over every level, with census, expected discharges,
   open, released and expired holds;
3. screens one inquiry (daily alprazolam: 3.7-WM with a safety flag) through the real
   service, then times, ``--runs`` times each after a warm-up:
   - ``screening_matches``: the whole match of the saved screen (needs + capacity + ranking),
   - ``program_facts_active``: the three capacity / payer / specialty queries alone,
   - ``rank``: the pure ranking in Python alone;
   and counts the queries of one match at 30 and at ``--programs`` programs;
4. prints median and p95 per step and the query counts, with two references timed in the same
   run (a one-row ORM query and a fixed CPU loop) so a busy machine shows as such.
   Target: median < 20 ms, queries constant.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get("BENCH_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
DB_NAME = "crm_bench_matching"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{DB_NAME}"


def _admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql)


def _environment() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "DJANGO_SETTINGS_MODULE": "crm.settings",
    }


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _time(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    for _ in range(10):
        fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), _percentile(samples, 0.95)


def _seed(programs: int, facilities: int):  # type: ignore[no-untyped-def]
    """Facilities, payers, specialties and programs with capacity data; returns the catalogue ids."""
    from django.utils import timezone

    from crm.models import Facility
    from programs.models import CapacityHold, Census, LevelOfCare, Payer, Program, Specialty

    sites = [
        Facility.objects.create(
            name=f"Bench site {i}",
            neutral_sender_name="Bench Health",
            street="1 Main St",
            city="Tampa",
            state=("FL", "NC", "GA", "TN")[i % 4],
            postal_code="33602",
            time_zone="America/New_York",
            phone="+18135550100",
            latitude=Decimal("27.9") + Decimal(i) / 3,
            longitude=Decimal("-82.4") + Decimal(i) / 5,
        )
        for i in range(facilities)
    ]
    payers = [Payer.objects.create(name=f"Bench payer {i}", is_self_pay=i == 0) for i in range(6)]
    specialties = [Specialty.objects.create(code=f"bench-{i}", name=f"Bench {i}") for i in range(3)]
    specialties.append(Specialty.objects.create(code="co-occurring", name="Co-occurring"))
    levels = list(LevelOfCare.objects.filter(edition="ASAM 3", is_active=True))
    beds = {"withdrawal", "residential"}
    rows = Program.objects.bulk_create(
        [
            Program(
                facility=sites[i % facilities],
                name=f"Bench program {i}",
                setting=levels[i % len(levels)].setting,
                level_of_care=levels[i % len(levels)],
                capacity_kind="beds" if levels[i % len(levels)].setting in beds else "slots",
                capacity=12,
                min_age=18,
                max_age=None if i % 5 else 64,
                gender=("any", "any", "women", "men")[i % 4],
            )
            for i in range(programs)
        ]
    )
    Census.objects.bulk_create(
        [Census(program=p, occupied=i % 13, expected_discharges_7d=i % 3) for i, p in enumerate(rows)]
    )
    through = Program.accepted_payers.through
    through.objects.bulk_create(
        [through(program=p, payer=payer) for i, p in enumerate(rows) for payer in payers[i % 3 : i % 3 + 3]]
    )
    spec_through = Program.specialties.through
    spec_through.objects.bulk_create(
        [spec_through(program=p, specialty=specialties[i % 4]) for i, p in enumerate(rows) if i % 3 == 0]
    )
    now = timezone.now()
    holds = []
    for i, p in enumerate(rows):
        if i % 4 == 0:
            holds.append(
                CapacityHold(program=p, reference=f"open:{p.pk}", held_until=now + timedelta(days=1 + i % 5))
            )
        if i % 7 == 0:
            holds.append(CapacityHold(program=p, reference=f"old:{p.pk}", held_until=now - timedelta(days=1)))
        if i % 9 == 0:
            holds.append(
                CapacityHold(
                    program=p,
                    reference=f"done:{p.pk}",
                    held_until=now + timedelta(days=2),
                    released_at=now,
                    release_reason="cancelled",
                )
            )
    CapacityHold.objects.bulk_create(holds)
    return sites, payers, rows


def _screened_inquiry(site, payer):  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import Group

    from admissions.models import Inquiry, Person
    from admissions.screening.services import screening_save
    from crm.models import User
    from crm.roles import Role

    user = User.objects.create(username="bench-coordinator")
    user.groups.add(Group.objects.get(name=Role.COORDINATOR.value))
    user.facilities.add(site)
    person = Person.objects.create(first_name="Bench", last_name="Person", state="FL", gender="female")
    inquiry = Inquiry.objects.create(person=person, facility=site, channel="phone", stage="contacted")
    answers = {
        "emergency": dict.fromkeys(
            ("overdose_now", "seizure_now", "chest_pain", "confused_now", "fever_rigidity"), False
        ),
        "use": {"substances_30d": ["benzodiazepines"]},
        "substances": {
            "benzodiazepines": {
                "days_used_30": 30,
                "amount_per_day": 6,
                "unit": "mg",
                "drug": "alprazolam",
                "last_use": "2026-11-24T07:30:00-05:00",
            }
        },
        "withdrawal": dict.fromkeys(
            ("past_seizures", "past_dts", "past_hallucinations", "symptoms_now"), False
        ),
        "medical": {"pregnant": "no", "baclofen_pump": False},
        "psychiatric": {"psychosis_now": False, "severe_symptoms": False},
        "suicide": {"wish_dead": False, "thoughts": False, "recent_behaviour": False},
        "insurance": {"payer_id": payer.pk},
        "logistics": {"latitude": 28.0, "longitude": -82.5, "age": 35},
    }
    return screening_save(inquiry_id=inquiry.pk, answers=answers, actor=user).screening


def measure(programs: int, facilities: int, runs: int) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from admissions.screening.services import screening_latest, screening_matches, screening_needs
    from programs.matching import rank
    from programs.models import Program
    from programs.selectors import program_facts_active

    sites, payers, _ = _seed(programs, facilities)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as a live database has them
    saved = _screened_inquiry(sites[0], payers[1])
    screening = screening_latest(inquiry_id=saved.inquiry_id)
    if screening is None:
        raise SystemExit("the screening was not saved")
    needs = screening_needs(screening=screening)
    facts = program_facts_active()

    with CaptureQueriesContext(connection) as full:
        result = screening_matches(screening=screening)
    queries_full = len(full.captured_queries)
    with CaptureQueriesContext(connection) as matching_only:
        program_facts_active()
    queries_matching = len(matching_only.captured_queries)

    from programs.models import Payer

    steps = [
        ("screening_matches (needs + capacity + rank)", lambda: screening_matches(screening=screening)),
        ("program_facts_active (3 queries)", program_facts_active),
        ("rank (pure Python)", lambda: rank(needs=needs, programs=facts)),
        # References measured in the same run, to read the figures above on a busy or slow machine.
        ("reference: one-row ORM query (payer by pk)", lambda: list(Payer.objects.filter(pk=payers[0].pk))),
        ("reference: CPU, sum(range(10**6))", lambda: sum(range(10**6))),
    ]
    timings = [(name, *_time(fn, runs)) for name, fn in steps]

    # Same match with only 30 active programs: the query count must not change.
    keep = list(Program.objects.order_by("pk").values_list("pk", flat=True)[:30])
    Program.objects.exclude(pk__in=keep).update(is_active=False)
    with CaptureQueriesContext(connection) as small:
        small_result = screening_matches(screening=screening)
    Program.objects.update(is_active=True)

    top = result.top
    print(
        f"\nMatching one screened inquiry (minimum {needs.min_intensity}, WM {needs.withdrawal_management})"
    )
    print(f"against {programs} programs at {facilities} facilities, PostgreSQL, {runs} runs each\n")
    print(f"| {'step':<46} | {'median ms':>9} | {'p95 ms':>7} |")
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 9}|")
    for name, median, p95 in timings:
        print(f"| {name:<46} | {median:>9.2f} | {p95:>7.2f} |")
    print()
    print(f"| {'queries per match':<46} | {'programs':>9} | {'queries':>7} |")
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 9}|")
    print(f"| {'screening_matches':<46} | {30:>9} | {len(small.captured_queries):>7} |")
    print(f"| {'screening_matches':<46} | {programs:>9} | {queries_full:>7} |")
    print(f"| {'program_facts_active':<46} | {programs:>9} | {queries_matching:>7} |")
    print()
    included = sum(not m.excluded for m in result.matches)
    top_name = top.program_name if top else "refer out"
    print(f"{len(result.matches)} programs ranked, {included} fit; top: {top_name}")
    print(f"(30-program run ranked {len(small_result.matches)})")
    median_full = timings[0][1]
    ok = median_full < 20 and queries_full == len(small.captured_queries)
    print(f"\nTarget median < 20 ms with a constant number of queries: {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=300)
    parser.add_argument("--facilities", type=int, default=10)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        sys.path.insert(0, str(ROOT))
        measure(args.programs, args.facilities, args.runs)
        return
    env = _environment()
    _admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    _admin_sql(f"CREATE DATABASE {DB_NAME}")
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [
                PYTHON,
                str(Path(__file__).resolve()),
                "--inner",
                f"--programs={args.programs}",
                f"--facilities={args.facilities}",
                f"--runs={args.runs}",
            ],
            cwd=ROOT,
            env=env,
            check=True,
        )
    finally:
        _admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()
