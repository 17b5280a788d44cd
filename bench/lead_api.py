"""Benchmark of the lead API, with a one-row reference endpoint on the same server.

    .venv/bin/python bench/lead_api.py [--rounds 3] [--seconds 20] [--db-name crm_bench_lead_api]
        [--pg-url postgres://postgres@127.0.0.1:5432/postgres] [--redis-url redis://127.0.0.1:6379/9]
        [--port 8765] [--workers 4] [--worker-concurrency 1] [--concurrency 16] [--rate 100]

What it does:
1. creates a scratch database (``--db-name`` on the server of ``--pg-url``, dropped at the end),
   migrates it and seeds a facility, two on-duty coordinators, a lead source, an API key and
   20,000 existing people and inquiries (so duplicate lookups run against a populated table);
2. starts gunicorn (``--workers`` sync workers) and a Celery worker, both with production
   settings (``CRM_ENV=production``, DEBUG off, ``--redis-url`` as cache and broker,
   ``CRM_BENCH_ENDPOINTS=1`` so the reference endpoint is routed): the worker consumes the
   tasks the leads queue (the follow-up dispatch each new inquiry asks for) while they arrive;
3. per round, with the endpoints interleaved (their order alternates from round to round), runs
   a load generator in another process: a closed loop of ``--concurrency`` clients for
   ``--seconds`` against each endpoint (realistic leads, 10% duplicates of earlier ones, each
   with its own Idempotency-Key), then an open loop at ``--rate`` requests/s offered to each;
4. prints every round's figures and the medians as a table, and what the worker did.

The reference endpoint (``admissions.api.bench.BenchReferenceApi``) is authenticated and
rate-limited exactly like the lead API and inserts one row (an audit event).

Targets (issue 19): lead p99 under 50 ms at 100 requests/s offered, and at least 100 leads/s
sustained (the closed loop's lead throughput).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
CELERY = str(ROOT / ".venv" / "bin" / "celery")
HOST = "127.0.0.1"
PORT = 8765  # set from --port

FIRST = ["Jordan", "Taylor", "Morgan", "Casey", "Riley", "Avery", "Quinn", "Jamie", "Alex", "Sam", "Drew"]
LAST = ["Rivera", "Nguyen", "Okafor", "Smith", "Garcia", "Kowalski", "Haddad", "Brown", "Ito", "Silva"]
SUBSTANCES = ["alcohol", "rx_opioids", "heroin_fentanyl", "benzodiazepines", "stimulants", "cannabis"]
PAYERS = ["Florida Blue", "Aetna", "Cigna", "UnitedHealthcare", "Humana"]
CAMPAIGNS = ["fall-detox", "brand", "iop-evenings", "family-help"]
CONSENT = (
    "I agree to receive calls, texts and emails about treatment options at the number and address "
    "above. Consent is not a condition of service. Reply STOP to opt out."
)
ENDPOINTS = {"reference": "/api/v1/bench/reference/", "lead": "/api/v1/leads/"}


# --- the load generator (runs in its own process) ---------------------------------------------


class LeadMaker:
    """Realistic unique leads; ``duplicate_share`` of them reuse an earlier lead's phone."""

    def __init__(self, seed: int, duplicate_share: float = 0.10) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.count = 0
        self.sent: list[str] = []
        self.duplicate_share = duplicate_share
        self.lock = threading.Lock()

    def next(self) -> dict[str, object]:
        with self.lock:
            self.count += 1
            n = self.count
            duplicate = self.sent and self.rng.random() < self.duplicate_share
            if duplicate:
                phone = self.rng.choice(self.sent)
            else:
                # Unique, valid North American numbers: area 727, exchanges 200-999. Each seed
                # starts at its own exchange, so runs against the same database do not collide.
                phone = f"727{200 + (self.seed * 37 + n // 10_000) % 800:03d}{n % 10_000:04d}"
                self.sent.append(phone)
            rng = self.rng
            first, last = rng.choice(FIRST), rng.choice(LAST)
            body: dict[str, object] = {
                "first_name": first,
                "last_name": last,
                "phone": f"({phone[:3]}) {phone[3:6]}-{phone[6:]}",
                "email": f"{first}.{last}.{self.seed}.{n}@example.com".lower(),
                "state": "FL",
                "postal_code": "33602",
                "caller_relationship": rng.choice(["self", "self", "family"]),
                "substances": rng.sample(SUBSTANCES, rng.randint(1, 2)),
                "message": "Please call me back this evening.",
                "consent": {"sms": True, "email": True, "call": True, "text": CONSENT,
                            "ip": "203.0.113.24", "page_url": "https://www.example.org/get-help"},
                "attribution": {"utm_source": "google", "utm_medium": "cpc",
                                "utm_campaign": rng.choice(CAMPAIGNS), "gclid": uuid.uuid4().hex,
                                "landing_page": "https://www.example.org/get-help"},
                "external_id": f"bench-{self.seed}-{n}",
            }  # fmt: skip
            if rng.random() < 0.5:
                body["insurance"] = {
                    "payer": rng.choice(PAYERS),
                    "member_id": f"M{rng.randint(10**8, 10**9)}",
                }
            return body


def _one_request(path: str, token: str, body: dict[str, object]) -> tuple[float, int]:
    payload = json.dumps(body).encode()
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    try:
        conn.request(
            "POST",
            path,
            body=payload,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": uuid.uuid4().hex,
                "Host": "localhost",
            },
        )
        response = conn.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return time.perf_counter() - started, status


def loadgen_closed(path: str, token: str, seconds: float, concurrency: int, seed: int) -> dict[str, object]:
    maker = LeadMaker(seed)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            took, status = _one_request(path, token, maker.next())
            with lock:
                latencies.append(took)
                statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _summary(latencies, statuses, time.perf_counter() - started)


def loadgen_open(path: str, token: str, seconds: float, rate: float, seed: int) -> dict[str, object]:
    """Fixed offered load; latency counts from the scheduled send time (no coordinated omission)."""
    from concurrent.futures import ThreadPoolExecutor

    maker = LeadMaker(seed)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    total = int(seconds * rate)
    start = time.perf_counter() + 0.2

    def fire(i: int) -> None:
        scheduled = start + i / rate
        body = maker.next()
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        took, status = _one_request(path, token, body)
        waited = time.perf_counter() - scheduled
        with lock:
            latencies.append(max(took, waited))
            statuses[status] = statuses.get(status, 0) + 1

    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(total):
            pool.submit(fire, i)
    return _summary(latencies, statuses, time.perf_counter() - start)


def _summary(latencies: list[float], statuses: dict[int, int], elapsed: float) -> dict[str, object]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else 0.0

    return {
        "requests": len(ordered),
        "rps": len(ordered) / elapsed if elapsed else 0.0,
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


# --- orchestration ------------------------------------------------------------------------------


def _env(args: argparse.Namespace, var_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "TEST_DATABASE_NAME", "DATABASE_APP_ROLE"):
        env.pop(name, None)
    env.update(
        CRM_ENV="production",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        # production refuses to start without a key for the fields encrypted at rest
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="localhost,127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=args.pg_url.rsplit("/", 1)[0] + "/" + args.db_name,
        REDIS_URL=args.redis_url,
        CRM_BENCH_ENDPOINTS="1",
        CRM_VAR_DIR=var_dir,
        LOG_LEVEL="WARNING",
        SMS_PROVIDER="timeline",  # texts are recorded, not sent
        EMAIL_URL="dummymail://",  # emails are composed, not sent
        DJANGO_SETTINGS_MODULE="crm.settings",
    )
    return env


def _admin_sql(pg_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql)


def _db_rows(env: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(
        env["DATABASE_URL"].replace("postgres://", "postgresql://"), autocommit=True
    ) as conn:
        return list(conn.execute(sql).fetchall())  # type: ignore[arg-type]


SEED = r"""
import django, json, sys
django.setup()
from django.contrib.auth.models import Group
from django.utils import timezone
from admissions.api.keys import lead_source_key_create
from admissions.models import Inquiry, LeadSource, Person
from crm.models import Facility, User
from crm.roles import Role
facility = Facility.objects.create(name="Harbor Point Tampa", neutral_sender_name="Harbor Health",
    street="1 Main St", city="Tampa", state="FL", postal_code="33602", time_zone="America/New_York",
    phone="+18135550100")
group = Group.objects.get(name=Role.COORDINATOR.value)
for n in range(2):
    user = User.objects.create(username=f"coord{n}", is_on_duty=True)
    user.groups.add(group); user.facilities.add(facility)
source = LeadSource.objects.create(name="Bench Web Forms", kind="website", default_facility=facility)
people = Person.objects.bulk_create(
    [Person(first_name="Seed", last_name=f"P{i}", phone=f"+1941{200 + i // 10000:03d}{i % 10000:04d}",
            email=f"seed{i}@example.com") for i in range(20000)], batch_size=2000)
stages = ["new", "contacted", "closed", "admitted", "vob"]
now = timezone.now()
Inquiry.objects.bulk_create(
    [Inquiry(person=p, facility=facility, channel="web_form", lead_source=source, phone=p.phone,
             email=p.email, stage=stages[i % 5], lost_reason="declined" if stages[i % 5] == "closed" else "",
             admitted_at=now if stages[i % 5] == "admitted" else None)
     for i, p in enumerate(people)], batch_size=2000)
key, token = lead_source_key_create(lead_source=source, rate_limit_per_minute=10**9)
print(json.dumps({"token": token}))
"""


def _wait_for_server(timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, PORT, timeout=1)
            conn.request("GET", "/api/v1/leads/1/", headers={"Host": "localhost"})  # 401, no database
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def _run_loadgen(
    mode: str, endpoint: str, token: str, args: argparse.Namespace, seed: int, seconds: float
) -> dict[str, Any]:
    command = [PYTHON, __file__, "--loadgen", mode, "--path", ENDPOINTS[endpoint], "--token", token,
               "--port", str(args.port), "--seconds", str(seconds), "--concurrency", str(args.concurrency),
               "--rate", str(args.rate), "--seed", str(seed)]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603
    return dict(json.loads(out))


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


ROW = "{:<7}{:<10}{:<11}{:>7}{:>9}{:>9}{:>9}  {}"


def _row(round_: str, endpoint: str, loop: str, r: dict[str, Any]) -> str:
    return ROW.format(
        round_, endpoint, loop, f"{r['rps']:.0f}", f"{r['p50']:.1f}", f"{r['p95']:.1f}", f"{r['p99']:.1f}",
        r.get("statuses", ""),
    )  # fmt: skip


def main() -> None:
    global PORT  # noqa: PLW0603 - one server per run; the load generator reads it too
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20, help="per endpoint and loop, per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16, help="clients of the closed loop")
    parser.add_argument("--rate", type=float, default=100, help="requests/s offered in the open loop")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--worker-concurrency", type=int, default=1, help="Celery worker processes")
    parser.add_argument(
        "--db-name", default="crm_bench_lead_api", help="scratch database (dropped at the end)"
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a superuser's URL on the server to use",
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/9", help="cache and broker (flushed at the end)"
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--loadgen", choices=["closed", "open"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    PORT = args.port

    if args.loadgen == "closed":
        print(json.dumps(loadgen_closed(args.path, args.token, args.seconds, args.concurrency, args.seed)))
        return
    if args.loadgen == "open":
        print(json.dumps(loadgen_open(args.path, args.token, args.seconds, args.rate, args.seed)))
        return

    var_dir = tempfile.mkdtemp(prefix="crm-bench-")
    env = _env(args, var_dir)
    _admin_sql(args.pg_url, f"DROP DATABASE IF EXISTS {args.db_name} WITH (FORCE)")
    _admin_sql(args.pg_url, f"CREATE DATABASE {args.db_name}")
    server = worker = None
    runs: list[tuple[int, str, str, dict[str, Any]]] = []
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)  # noqa: S603
        seeded = subprocess.run(  # noqa: S603
            [PYTHON, "-c", SEED], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        )
        token = json.loads(seeded.stdout.strip().splitlines()[-1])["token"]
        server = subprocess.Popen(  # noqa: S603
            [GUNICORN, "crm.wsgi:application", "--workers", str(args.workers), "--bind", f"{HOST}:{PORT}",
             "--log-level", "warning", "--access-logfile", "/dev/null", "--graceful-timeout", "5",
             # as the production image runs it: the app is imported once, before the fork
             "--preload",
             # a worker's first request imports the URL conf (phonenumbers' geocoder data among
             # it), which takes more than gunicorn's default 30 s on a loaded 2-core machine
             "--timeout", "120"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        worker = subprocess.Popen(  # noqa: S603
            [CELERY, "-A", "crm", "worker", "--loglevel", "WARNING",
             "--concurrency", str(args.worker_concurrency), "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        _wait_for_server()
        for n, endpoint in enumerate(ENDPOINTS):  # warm every worker's connections and imports
            _run_loadgen("closed", endpoint, token, args, 90 + n, 3)
        for round_ in range(1, args.rounds + 1):
            order = list(ENDPOINTS) if round_ % 2 else list(reversed(ENDPOINTS))
            for loop in ("closed", "open"):
                for endpoint in order:
                    seed = round_ * 10 + (endpoint == "lead") + (loop == "open") * 2
                    result = _run_loadgen(loop, endpoint, token, args, seed, args.seconds)
                    runs.append((round_, endpoint, loop, result))
                    print(_row(str(round_), endpoint, loop, result), flush=True)
        time.sleep(5)  # the last dispatch kicks are due a second after their leads
        followups = dict(_db_rows(env, "SELECT state, count(*) FROM admissions_followup GROUP BY state"))
        import redis

        queued = redis.Redis.from_url(args.redis_url).llen("celery")
        worker_alive = worker.poll() is None
    finally:
        _stop(server)
        _stop(worker)
        _admin_sql(args.pg_url, f"DROP DATABASE IF EXISTS {args.db_name} WITH (FORCE)")
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()

    print(
        f"\nLead API: {args.rounds} rounds, endpoints interleaved; closed loop {args.concurrency} clients, "
        f"open loop {args.rate:.0f} requests/s offered; {args.seconds:.0f} s each; gunicorn "
        f"{args.workers} sync workers, Celery worker x{args.worker_concurrency}; production settings"
    )
    print(ROW.format("round", "endpoint", "loop", "req/s", "p50 ms", "p95 ms", "p99 ms", "statuses"))
    for round_, endpoint, loop, result in runs:
        print(_row(str(round_), endpoint, loop, result))
    medians = {}
    for endpoint in ENDPOINTS:
        for loop in ("closed", "open"):
            mine = [r for _, e, lp, r in runs if e == endpoint and lp == loop]
            medians[endpoint, loop] = {
                k: statistics.median(float(r[k]) for r in mine) for k in ("rps", "p50", "p95", "p99")
            }
            print(_row("median", endpoint, loop, medians[endpoint, loop]))
    leads_per_s = medians["lead", "closed"]["rps"]
    p99 = medians["lead", "open"]["p99"]
    print(f"\nleads/s sustained (closed loop, median): {leads_per_s:.0f} (target >= 100): "
          f"{'met' if leads_per_s >= 100 else 'NOT met'}")  # fmt: skip
    print(f"lead p99 at {args.rate:.0f} requests/s offered (median): {p99:.1f} ms (target < 50 ms): "
          f"{'met' if p99 < 50 else 'NOT met'}")  # fmt: skip
    print(f"worker: {'running' if worker_alive else 'DIED'}; tasks left in the queue: {queued}; "
          f"follow-ups by state: {followups}")  # fmt: skip


if __name__ == "__main__":
    main()
