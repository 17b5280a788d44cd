"""Benchmark of the coordinator pages and the capacity board at a million inquiries, through gunicorn.

    .venv/bin/python bench/pages.py                        # seed 1,000,000 inquiries, 3 rounds
    .venv/bin/python bench/pages.py --seed-only            # seed and keep the database, measure later
    .venv/bin/python bench/pages.py --reuse --keep         # reuse (and migrate) a seeded database
    .venv/bin/python bench/pages.py --db-name crm_bench_1m --redis-db 7 --port 8771 --reuse --keep

1. creates the scratch database (``--db-name``), migrates it and seeds it with
   ``manage.py seed_demo --inquiries N`` (COPY), then ``VACUUM ANALYZE``; ``--reuse`` keeps an
   already seeded database and only migrates it;
2. picks its targets from the data: a seeded last name, the phone of an open inquiry written the
   way a caller reads it, five inquiries (newest and oldest open, latest admitted, latest closed,
   one at random), the inquiry with the longest timeline and an open inquiry with a pre-screen;
3. starts gunicorn with production settings (``CRM_BENCH_ENDPOINTS=1`` routes ``/bench/empty/``:
   an empty page on the same base template, behind the same sign-in and middleware) and signs in
   as the demo coordinator (every facility) through the login and code forms;
4. probes each page once (a 404 is reported as "not built", so the script runs as pages land),
   counts each page's SQL statements in a separate process, then times the pages in interleaved
   rounds: every round runs a closed loop of ``--clients`` clients for ``--seconds`` on each
   page, the order rotating from round to round;
5. the capacity board (URL name ``capacity-board``), when it is routed: tops the programs up to
   ``--board-programs`` active programs (bench programs with census, payers and holds, removed at
   the end), counts the board's statements at the demo's programs and at the top-up, and times
   the board interleaved with the empty page;
6. prints p95 per round, the median of the rounds' p95, p50/p99 over every request, and each
   page's p95 as a multiple of the empty page's in the same round.

Targets: p95 <= 50 ms for every page, and <= 3 times the empty page's p95 in the same run.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import Page  # noqa: E402

USERNAME = "coordinator"
TARGET_P95_MS = 50.0
TARGET_RATIO = 3.0
INQUIRY_LINK = re.compile(r'href="/inquiries/(\d+)/"')
TAB_LINK = re.compile(r'href="(/?\?[^"]*\btab=[^"]*)"')

TARGETS = r"""
import json, random
from django.db.models import Count
from django.urls import NoReverseMatch, get_resolver, reverse
get_resolver().url_patterns  # import (and so compile) every view module once, before gunicorn
from admissions.models import Inquiry, InquiryEvent, Screening
from admissions.pipeline import OPEN_STAGES
rng = random.Random(7)
open_ = Inquiry.objects.filter(stage__in=OPEN_STAGES)
total = Inquiry.objects.count()
newest = open_.order_by("-pk").values_list("pk", flat=True).first()
oldest = open_.order_by("pk").values_list("pk", flat=True).first()
admitted = Inquiry.objects.filter(stage="admitted").order_by("-pk").values_list("pk", flat=True).first()
closed = Inquiry.objects.filter(stage="closed").order_by("-pk").values_list("pk", flat=True).first()
top = Inquiry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
some = (Inquiry.objects.filter(pk__gte=rng.randint(1, max(top, 1))).order_by("pk")
        .values_list("pk", flat=True).first())
heaviest = (InquiryEvent.objects.values("inquiry_id").annotate(n=Count("id")).order_by("-n").first()
            or {"inquiry_id": None, "n": 0})
screened = (Screening.objects.filter(inquiry__stage__in=OPEN_STAGES).order_by("-pk")
            .values_list("inquiry_id", flat=True).first())
row = (open_.exclude(phone="").filter(phone__startswith="+1").order_by("-pk")
       .values("pk", "phone").first())
named = open_.exclude(person__last_name="").order_by("pk").values("person__last_name")
by_name = named[min(1000, named.count() // 2):][:1]  # a name from the older open inquiries
phone = getattr(row["phone"], "as_e164", str(row["phone"])) if row else ""
board = None
for name in ("capacity-board", "programs:capacity-board", "admissions:capacity-board"):
    try:
        board = reverse(name)
        break
    except NoReverseMatch:
        pass
print(json.dumps({
    "inquiries": total,
    "open": open_.count(),
    "inquiry_pks": [pk for pk in (newest, oldest, admitted, closed, some) if pk],
    "heaviest": [heaviest["inquiry_id"], heaviest["n"]],
    "screened": screened,
    "phone_pk": row["pk"] if row else None,
    "phone": f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}" if row else None,
    "last_name": by_name[0]["person__last_name"] if by_name else None,
    "board": board,
}))
"""

# Active programs up to the wanted number: bench programs spread over the demo's facilities and
# levels, each with census, three accepted payers and, for every third, an open hold.
PROGRAMS_TOP_UP = r"""
import json
from datetime import timedelta
from django.utils import timezone
from admissions.models import Inquiry
from crm.models import Facility
from programs.models import CapacityHold, Census, LevelOfCare, Payer, Program
wanted = __WANTED__
before = Program.objects.filter(is_active=True).count()
sites = list(Facility.objects.filter(is_active=True).order_by("pk"))
levels = list(LevelOfCare.objects.filter(is_active=True, programs__isnull=False).distinct().order_by("pk"))
payers = list(Payer.objects.order_by("pk")[:6])
rows = Program.objects.bulk_create([
    Program(facility=sites[i % len(sites)], name=f"Bench program {i}", setting=level.setting,
            level_of_care=level, capacity=12, gender=("any", "any", "women", "men")[i % 4],
            capacity_kind="beds" if level.setting in ("withdrawal", "residential") else "slots")
    for i, level in ((i, levels[i % len(levels)]) for i in range(max(0, wanted - before)))
])
Census.objects.bulk_create([Census(program=p, occupied=i % 13, expected_discharges_7d=i % 3)
                            for i, p in enumerate(rows)])
through = Program.accepted_payers.through
through.objects.bulk_create([through(program=p, payer=payer) for i, p in enumerate(rows)
                             for payer in payers[i % 3: i % 3 + 3]])
now = timezone.now()
# holds for new inquiries (which hold nothing yet), so the board names who holds each place
holders = list(Inquiry.objects.filter(stage="new").order_by("-pk").values_list("pk", flat=True)[:len(rows)])
CapacityHold.objects.bulk_create([CapacityHold(program=p, reference=f"inquiry:{holders[i]}",
                                               held_until=now + timedelta(days=1 + i % 5))
                                  for i, p in enumerate(rows) if i % 3 == 0 and i < len(holders)])
print(json.dumps([before, Program.objects.filter(is_active=True).count()]))
"""

PROGRAMS_REMOVE = r"""
import json
from programs.models import CapacityHold, Program
bench = Program.objects.filter(name__startswith="Bench program ")
CapacityHold.objects.filter(program__in=bench).delete()
Program.accepted_payers.through.objects.filter(program__in=bench).delete()
print(json.dumps(bench.delete()[0]))
"""


def _links(body: bytes) -> list[str]:
    """The inquiries a page links to, once each, in page order."""
    return list(dict.fromkeys(INQUIRY_LINK.findall(body.decode(errors="replace"))))


def _pages(targets: dict[str, object], queue_body: bytes) -> list[Page]:
    pages = [Page("empty page, base template", ["/bench/empty/"]), Page("work queue /", ["/"])]
    tabs: list[str] = []
    for href in TAB_LINK.findall(queue_body.decode(errors="replace")):
        href = html.unescape(href)
        href = href if href.startswith("/") else "/" + href
        if href not in tabs:
            tabs.append(href)
    for href in tabs[:6]:
        pages.append(Page(f"queue tab {urllib.parse.urlsplit(href).query}"[:44], [href]))
    if targets.get("last_name"):
        pages.append(Page("search, last name", ["/?" + urllib.parse.urlencode({"q": targets["last_name"]})]))
    if targets.get("phone"):
        pages.append(
            Page(
                "search, phone (727) 555-0123 style", ["/?" + urllib.parse.urlencode({"q": targets["phone"]})]
            )
        )
    pks = targets.get("inquiry_pks") or []
    if pks:
        pages.append(Page(f"inquiry page, {len(pks)} inquiries", [f"/inquiries/{pk}/" for pk in pks]))  # type: ignore[union-attr]
    heaviest = targets.get("heaviest") or [None, 0]
    if heaviest[0]:  # type: ignore[index]
        pages.append(Page(f"inquiry page, longest timeline ({heaviest[1]})", [f"/inquiries/{heaviest[0]}/"]))  # type: ignore[index]
    if targets.get("screened"):
        pages.append(
            Page(
                "pre-screen page, saved screen with matches", [f"/inquiries/{targets['screened']}/screening/"]
            )
        )
    return pages


def _search_note(page: Page, body: bytes, queue_links: list[str], targets: dict[str, object]) -> str:
    links = _links(body)
    if links == queue_links:
        return "same rows as the queue: q ignored"
    if page.name.startswith("search, phone"):
        return f"{len(links)} rows, target {'found' if str(targets['phone_pk']) in links else 'NOT found'}"
    return f"{len(links)} rows on the first page"


def _prepare_pages(
    port: int,
    env: dict[str, str],
    cookie: str,
    pages: list[Page],
    targets: dict[str, object],
    queue_links: list[str],
) -> None:
    for page in pages:
        reason, body = harness.probe(port, page.paths, cookie)
        page.skipped = reason
        if reason is None and page.name.startswith("search"):
            page.note = _search_note(page, body, queue_links, targets)
    counts = harness.query_counts(env, USERNAME, [p.paths[-1] for p in pages if p.skipped is None])
    for page in pages:
        if page.skipped is None:
            page.queries = counts.get(page.paths[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    harness.add_service_options(parser, db_name="crm_bench_pages", redis_db=10, port=8766)
    parser.add_argument("--inquiries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10, help="closed loop per page per round")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up per page, not counted")
    parser.add_argument("--clients", type=int, default=2, help="concurrent clients (one per core)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--board-programs", type=int, default=300, help="active programs for the board")
    parser.add_argument("--reuse", action="store_true", help="reuse an already seeded scratch database")
    parser.add_argument("--keep", action="store_true", help="do not drop the scratch database at the end")
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="seed the scratch database, keep it and stop (measure later with --reuse)",
    )
    args = parser.parse_args()
    if args.seed_only:
        with harness.scratch_dir("crm-bench-pages-") as var_dir:
            seconds = harness.seed(args, harness.production_env(args, var_dir), args.inquiries)
        print(f"seed_demo --inquiries {args.inquiries}: {seconds or 0:.0f} s; kept as {args.db_name}")
        return

    with harness.scratch_dir("crm-bench-pages-") as var_dir:
        env = harness.production_env(args, var_dir)
        processes = harness.Processes(env, var_dir)
        loadgen = None
        board: list[Page] = []
        programs = (0, 0)
        topped = False
        try:
            seed_seconds = harness.seed(args, env, args.inquiries)
            targets = harness.run_python(env, TARGETS)
            processes.gunicorn(port=args.port, workers=args.workers)
            cookie = harness.sign_in(args.port, env, USERNAME)
            loadgen = harness.LoadGenerator()
            # every worker imports its views on its first request: warm them all up
            loadgen.run(
                port=args.port,
                paths=["/bench/empty/", "/"],
                cookie=cookie,
                seconds=args.warmup * 2,
                clients=args.workers * 2,
            )
            queue_reason, queue_body = harness.probe(args.port, ["/"], cookie)
            pages = _pages(targets, queue_body if queue_reason is None else b"")
            _prepare_pages(args.port, env, cookie, pages, targets, _links(queue_body))
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
            if targets.get("board"):
                base = Page("empty page, base template", ["/bench/empty/"])
                page = Page(f"capacity board {targets['board']}", [str(targets["board"])])
                _prepare_pages(args.port, env, cookie, [base, page], targets, [])
                few = page.queries
                topped = True
                programs = tuple(
                    harness.run_python(env, PROGRAMS_TOP_UP.replace("__WANTED__", str(args.board_programs)))
                )  # type: ignore[assignment]
                _prepare_pages(args.port, env, cookie, [base, page], targets, [])
                page.note = f"queries at {programs[0]} programs: {few}, at {programs[1]}: {page.queries}"
                board = [base, page]
                harness.interleaved_rounds(
                    board,
                    loadgen=loadgen,
                    port=args.port,
                    cookie=cookie,
                    rounds=args.rounds,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    clients=args.clients,
                )
        finally:
            if loadgen is not None:
                loadgen.close()
            processes.stop()
            if harness.database_exists(args):
                if topped:
                    harness.run_python(env, PROGRAMS_REMOVE)
                if not args.keep:
                    harness.database_drop(args)
            harness.redis_flush(args)

    print()
    if seed_seconds is not None:
        print(f"seed_demo --inquiries {args.inquiries}: {seed_seconds:.0f} s")
    print(
        f"{targets['inquiries']:,} inquiries ({targets['open']:,} open), signed in as {USERNAME} "
        f"(every facility); started {started}"
    )
    print(
        f"{args.rounds} interleaved rounds of {args.seconds:.0f} s per page, {args.clients} clients, "
        f"gunicorn {args.workers} sync workers, production settings; load average {load_before} "
        f"before, {load_after} after the coordinator pages"
    )
    print(harness.rounds_table(pages, base=pages[0], target_ms=TARGET_P95_MS, ratio=TARGET_RATIO))
    if board:
        print(
            f"\ncapacity board at {programs[1]} active programs; load average {harness.load_average()} after"
        )
        print(harness.rounds_table(board, base=board[0], target_ms=TARGET_P95_MS, ratio=None))
    else:
        print("\ncapacity board: not routed (no URL named capacity-board)")
    print(
        f"\ntargets: p95 <= {TARGET_P95_MS:.0f} ms for every page, "
        f"and <= {TARGET_RATIO:.0f} x the empty page's p95"
    )


if __name__ == "__main__":
    main()
