"""Benchmark: matching one screened inquiry against 300 programs, through gunicorn.

    .venv/bin/python bench/matching.py [--programs 300] [--facilities 10] [--rounds 5] [--seconds 5]
    .venv/bin/python bench/matching.py --db-name crm_bench7_matching --redis-db 7 --port 8773

1. creates the scratch database (``--db-name``, dropped at the end) and migrates it (which
   seeds the level catalogue, substances and the pre-screen form);
2. seeds ``--facilities`` facilities, 6 payers, 4 specialties and ``--programs`` programs over
   every level, with census, expected discharges, open, released and expired holds, and screens
   one inquiry through the real service (daily alprazolam: 3.7-WM with a safety flag);
3. counts the SQL statements of the pre-screen page and the screening API at 30 and at
   ``--programs`` active programs (a separate process, not timed);
4. starts gunicorn with production settings and signs in as a coordinator (login and code
   forms), then times three endpoints interleaved in rounds whose order rotates: the empty base
   page (``/bench/empty/``), the pre-screen page (which matches the saved screen) and the
   screening API (``GET /api/v1/inquiries/<id>/screening/``: the screen with live matches);
5. prints p95 per round and medians; the cost of matching is the API's p50 less the empty
   page's p50 in the same round.

Target: matching adds less than 20 ms at the median, with a number of statements that does not
grow with programs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import Page  # noqa: E402

USERNAME = "bench-coordinator"
TARGET_MEDIAN_MS = 20.0

SETUP = r"""
import json
from django.db import connection
from bench.matching import screened_inquiry, seed_programs
sites, payers, _ = seed_programs(__PROGRAMS__, __FACILITIES__)
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")  # planner statistics, as a live database has them
print(json.dumps(screened_inquiry(sites[0], payers[1]).inquiry_id))
"""

ACTIVE = r"""
import json
from programs.models import Program
keep = list(Program.objects.order_by("pk").values_list("pk", flat=True)[:__KEEP__])
Program.objects.update(is_active=False)
Program.objects.filter(pk__in=keep).update(is_active=True)
print(json.dumps(Program.objects.filter(is_active=True).count()))
"""


def seed_programs(programs: int, facilities: int):  # type: ignore[no-untyped-def]
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


def screened_inquiry(site, payer):  # type: ignore[no-untyped-def]
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    harness.add_service_options(parser, db_name="crm_bench_matching", redis_db=11, port=8768)
    parser.add_argument("--programs", type=int, default=300)
    parser.add_argument("--facilities", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5, help="closed loop per endpoint per round")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up per endpoint, not counted")
    parser.add_argument("--clients", type=int, default=1, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    args = parser.parse_args()

    with harness.scratch_dir("crm-bench-matching-") as var_dir:
        env = harness.production_env(args, var_dir)
        processes = harness.Processes(env, var_dir)
        loadgen = None
        harness.database_drop(args)
        harness.admin_sql(args, f'CREATE DATABASE "{args.db_name}"')
        try:
            harness.manage(env, "migrate", "-v", "0")
            setup = SETUP.replace("__PROGRAMS__", str(args.programs)).replace(
                "__FACILITIES__", str(args.facilities)
            )
            inquiry = harness.run_python(env, setup)
            pages = [
                Page("empty page, base template", ["/bench/empty/"]),
                Page("pre-screen page (matches the saved screen)", [f"/inquiries/{inquiry}/screening/"]),
                Page("screening API, GET with live matches", [f"/api/v1/inquiries/{inquiry}/screening/"]),
            ]
            processes.gunicorn(port=args.port, workers=args.workers)
            cookie = harness.sign_in(args.port, env, USERNAME)
            paths = [page.paths[0] for page in pages]
            few = harness.run_python(env, ACTIVE.replace("__KEEP__", "30"))
            counts_few = harness.query_counts(env, USERNAME, paths)
            many = harness.run_python(env, ACTIVE.replace("__KEEP__", str(args.programs)))
            counts = harness.query_counts(env, USERNAME, paths)
            for page in pages:
                page.skipped = harness.probe(args.port, page.paths, cookie)[0]
                page.queries = counts[page.paths[0]]
                if page.queries != counts_few[page.paths[0]]:
                    page.note = f"statements at {few} programs: {counts_few[page.paths[0]]}"
            loadgen = harness.LoadGenerator()
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
        finally:
            if loadgen is not None:
                loadgen.close()
            processes.stop()
            harness.database_drop(args)
            harness.redis_flush(args)

    base, page, api = pages
    added = [
        harness.percentile(a.latencies, 0.5) - harness.percentile(b.latencies, 0.5)
        for a, b in zip(api.samples, base.samples, strict=True)
    ]
    constant = all(p.queries is not None and not p.note for p in pages)
    print()
    print(
        f"one screened inquiry (3.7-WM) against {many} programs at {args.facilities} facilities; "
        f"started {started}"
    )
    print(
        f"{args.rounds} interleaved rounds of {args.seconds:.0f} s per endpoint, {args.clients} client(s), "
        f"gunicorn {args.workers} sync workers, production settings; load average {load_before} before, "
        f"{load_after} after"
    )
    print(harness.rounds_table(pages, base=base, target_ms=None, ratio=None))
    print(
        "matching (API p50 less the empty page's p50) per round: "
        + ", ".join(f"{ms:.1f}" for ms in added)
        + f" ms; median {statistics.median(added):.1f} ms"
    )
    print(f"statements the same at {few} and {many} programs: {'yes' if constant else 'NO'}")
    verdict = statistics.median(added) < TARGET_MEDIAN_MS and constant
    print(
        f"target: matching adds < {TARGET_MEDIAN_MS:.0f} ms at the median, statements constant: "
        f"{'met' if verdict else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
