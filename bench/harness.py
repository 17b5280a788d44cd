"""What the page benchmarks share: options, production processes, sign-in, load, rounds, tables.

Each benchmark runs the application the way production runs it (gunicorn with production
settings, a Celery worker and beat where the work goes through them, PostgreSQL and Redis) and
times it from a load generator in another process. Compared endpoints are interleaved: every
round measures each of them once, in an order that rotates from round to round, so a machine
whose speed drifts weighs on all of them alike. Per-round figures are printed next to their
medians.

The load generator is this file run as a script (``harness.py loadgen``): a long-lived process
that reads one JSON job a line on stdin (paths, cookie, seconds, clients) and answers with the
latency of every request, so the parent computes every percentile from raw samples.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
# One fixed Fernet key for scratch databases, so a --reuse run reads what the seed wrote.
SCRATCH_FIELD_KEY = base64.urlsafe_b64encode(b"crm-bench-pages-scratch-field-ky").decode()
DEMO_PASSWORD = "bench-pages-password"  # noqa: S105 - a synthetic demo login in a scratch database


# --- options ----------------------------------------------------------------------------------


def add_service_options(parser: argparse.ArgumentParser, *, db_name: str, redis_db: int, port: int) -> None:
    """``--pg``, ``--db-name``, ``--redis``, ``--redis-db`` and ``--port``, with this bench's defaults."""
    parser.add_argument(
        "--pg",
        default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database (default %(default)s)",
    )
    parser.add_argument("--db-name", default=db_name, help="scratch database (default %(default)s)")
    parser.add_argument(
        "--redis",
        default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379"),
        help="Redis server URL without a database number (default %(default)s)",
    )
    parser.add_argument("--redis-db", type=int, default=redis_db, help="Redis database (default %(default)s)")
    parser.add_argument("--port", type=int, default=port, help="gunicorn port (default %(default)s)")


def database_url(args: argparse.Namespace, name: str | None = None) -> str:
    return f"{args.pg.rstrip('/')}/{name or args.db_name}"


def redis_url(args: argparse.Namespace) -> str:
    return f"{args.redis.rstrip('/')}/{args.redis_db}"


def admin_sql(args: argparse.Namespace, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
    import psycopg

    url = database_url(args, database).replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def database_exists(args: argparse.Namespace) -> bool:
    return bool(admin_sql(args, f"SELECT 1 FROM pg_database WHERE datname = '{args.db_name}'"))  # noqa: S608


def database_seeded(args: argparse.Namespace) -> bool:
    return database_exists(args) and bool(
        admin_sql(
            args,
            "SELECT to_regclass('admissions_inquiry') IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM pg_class WHERE relname = 'admissions_inquiry' AND reltuples > 0)",
            args.db_name,
        )[0][0]
    )


def database_drop(args: argparse.Namespace) -> None:
    admin_sql(args, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')


def redis_flush(args: argparse.Namespace) -> None:
    import redis

    redis.Redis.from_url(redis_url(args)).flushdb()


# --- the environment of the production processes ----------------------------------------------


def production_env(args: argparse.Namespace, var_dir: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "TEST_DATABASE_NAME",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(name, None)
    env.update(
        # The production image compiles bytecode (Dockerfile); without it every process compiles
        # phonenumbers' geodata on its first use. Cached outside the repository.
        PYTHONPYCACHEPREFIX=str(Path(tempfile.gettempdir()) / "crm-bench-pycache"),
        CRM_ENV="production",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="localhost,127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url(args),
        REDIS_URL=redis_url(args),
        CRM_BENCH_ENDPOINTS="1",
        CRM_VAR_DIR=var_dir,
        STATIC_ROOT=str(Path(var_dir) / "static"),
        FIELD_ENCRYPTION_KEYS=SCRATCH_FIELD_KEY,
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="crm.settings",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *command: str) -> float:
    """Run ``manage.py`` with ``env``; returns its wall time in seconds."""
    started = time.monotonic()
    subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True)
    return time.monotonic() - started


def seed(args: argparse.Namespace, env: dict[str, str], inquiries: int) -> float | None:
    """Create, migrate and seed the scratch database with ``seed_demo`` (COPY); keep it with ``--reuse``.

    Returns the seed's seconds, or None when an already seeded database was reused (migrated only).
    """
    if args.reuse and database_seeded(args):
        print(f"reusing {args.db_name}; migrating it", flush=True)
        manage(env, "migrate", "-v", "0")
        return None
    database_drop(args)
    admin_sql(args, f'CREATE DATABASE "{args.db_name}"')
    manage(env, "migrate", "-v", "0")
    print(f"seeding {inquiries:,} inquiries into {args.db_name}", flush=True)
    seconds = manage(env, "seed_demo", "--inquiries", str(inquiries), "--password", DEMO_PASSWORD, "-v", "0")
    admin_sql(args, "VACUUM ANALYZE", args.db_name)
    return seconds


def run_python(env: dict[str, str], script: str) -> Any:
    """Run ``script`` with Django set up; returns the JSON its last output line holds."""
    done = subprocess.run(
        [PYTHON, "-c", "import django\ndjango.setup()\n" + script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"a bench step failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- processes ----------------------------------------------------------------------------------


class Processes:
    """gunicorn, Celery worker and beat started for one run; all stopped at the end, even on failure."""

    def __init__(self, env: dict[str, str], var_dir: str) -> None:
        self.env = env
        self.var_dir = Path(var_dir)
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def gunicorn(self, *, port: int, workers: int) -> None:
        # production serves hashed static names from a manifest, as the image builds it
        manage(self.env, "collectstatic", "--noinput", "-v", "0")
        command = [
            str(BIN / "gunicorn"),
            "crm.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"{HOST}:{port}",
            "--log-level",
            "warning",
            "--access-logfile",
            "/dev/null",
            "--graceful-timeout",
            "5",
            "--timeout",
            "120",
            "--preload",
        ]
        self._start("gunicorn", command)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                get(port, "/login/", "", timeout=5)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def worker(self, *, concurrency: int = 2, queues: str | None = None) -> Path:
        log = self.var_dir / f"worker-{len(self.started)}.log"
        command = [
            str(BIN / "celery"),
            "-A",
            "crm",
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        if queues:
            command += ["-Q", queues]
        self._start("worker", command, log)
        return log

    def beat(self) -> Path:
        log = self.var_dir / "beat.log"
        schedule = self.var_dir / "beat-schedule"
        command = [
            str(BIN / "celery"),
            "-A",
            "crm",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(schedule),
        ]
        self._start("beat", command, log)
        return log

    def _start(self, name: str, command: list[str], log: Path | None = None) -> None:
        """Start ``command``; its output goes to ``log`` when given (the project logs to stderr)."""
        if log is None:
            process = subprocess.Popen(command, cwd=ROOT, env=self.env)  # noqa: S603
        else:
            with log.open("ab") as out:
                process = subprocess.Popen(
                    command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
                )  # noqa: S603
        self.started.append((name, process))

    def stop(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for _name, process in reversed(self.started):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
        self.started.clear()


@contextmanager
def scratch_dir(prefix: str) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- HTTP and sign-in ---------------------------------------------------------------------------


def get(port: int, path: str, cookie: str, timeout: float = 30) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "localhost", "Cookie": cookie})
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    jar: dict[str, str] = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        jar.update({name: morsel.value for name, morsel in parsed.items()})
    return jar


def _form(port: int, path: str, jar: dict[str, str]) -> str:
    """GET a form page with the cookies in ``jar``; returns its CSRF token (cookies land in ``jar``)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request(
        "GET", path, headers={"Host": "localhost", "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
    )
    response = conn.getresponse()
    body = response.read().decode()
    jar.update(_cookies(response))
    conn.close()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if not token or "csrftoken" not in jar:
        raise RuntimeError(f"{path} carries no CSRF token (status {response.status})")
    return token.group(1)


def _post(port: int, path: str, fields: dict[str, str], jar: dict[str, str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request(
        "POST",
        path,
        body=urllib.parse.urlencode(fields),
        headers={
            "Host": "localhost",
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
        },
    )
    response = conn.getresponse()
    response.read()
    jar.update(_cookies(response))
    conn.close()
    return response


# Gives a demo login a TOTP device whose key the bench knows, so it can sign in with both factors.
TOTP_DEVICE = """
import json
from crm.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice
user = User.objects.get(username=__USERNAME__)
user.set_password(__PASSWORD__)
user.save(update_fields=["password"])
TOTPDevice.objects.filter(user=user, name="bench").delete()
print(json.dumps(TOTPDevice.objects.create(user=user, name="bench", confirmed=True).key))
"""


def sign_in(port: int, env: dict[str, str], username: str, password: str = DEMO_PASSWORD) -> str:
    """Sign in through the login and code forms; returns the Cookie header of the verified session."""
    from django_otp.oath import TOTP

    script = TOTP_DEVICE.replace("__USERNAME__", repr(username)).replace("__PASSWORD__", repr(password))
    totp_key = run_python(env, script)
    jar: dict[str, str] = {}
    token = _form(port, "/login/", jar)
    fields = {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/"}
    response = _post(port, "/login/", fields, jar)
    if response.status != 302 or "sessionid" not in jar:
        raise RuntimeError(f"sign-in as {username} failed (status {response.status})")
    token = _form(port, "/mfa/", jar)
    code = f"{TOTP(bytes.fromhex(totp_key)).token():06d}"
    response = _post(port, "/mfa/", {"csrfmiddlewaretoken": token, "code": code, "next": "/"}, jar)
    if response.status != 302 or "/mfa/" in (response.getheader("Location") or ""):
        raise RuntimeError(f"the second factor for {username} was refused (status {response.status})")
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def probe(port: int, paths: Sequence[str], cookie: str) -> tuple[str | None, bytes]:
    """None when every path answers 200, else why the page is not measured."""
    body = b""
    for path in paths:
        status, body, headers = get(port, path, cookie)
        if status == 404:
            return "404 / not built", body
        if status in (301, 302, 303):
            where = headers.get("location", "")
            return f"{status} to {where}" + (" (session lost?)" if "/login/" in where else ""), body
        if status != 200:
            return f"status {status}", body
    return None, body


# Counts the SQL statements of one request per page, in a process of its own (Django's test client
# signed in as the user, the same settings and database as the server). Not timed.
QUERY_COUNT = """
import json
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from crm.models import User
user = User.objects.get(username=__USERNAME__)
client = Client(HTTP_HOST="localhost")
client.force_login(user)
session = client.session
session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.filter(user=user, name="bench").get().persistent_id
session.save()
counts = {}
for path in __PATHS__:
    client.get(path)
    with CaptureQueriesContext(connection) as queries:
        status = client.get(path).status_code
    counts[path] = len(queries.captured_queries) if status == 200 else None
print(json.dumps(counts))
"""


def query_counts(env: dict[str, str], username: str, paths: Sequence[str]) -> dict[str, int | None]:
    script = QUERY_COUNT.replace("__USERNAME__", repr(username)).replace("__PATHS__", repr(list(paths)))
    return run_python(env, script)  # type: ignore[no-any-return]


# --- the load generator (its own process) -------------------------------------------------------


def _closed_loop(port: int, paths: list[str], cookie: str, seconds: float, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(10**12))
    deadline = time.perf_counter() + seconds

    def client() -> None:
        while time.perf_counter() < deadline:
            with lock:
                path = paths[next(counter) % len(paths)]
            started = time.perf_counter()
            try:
                status = get(port, path, cookie)[0]
            except OSError:
                status = 0
            took = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(took)
                statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "latencies": latencies,
        "seconds": time.perf_counter() - started,
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def _loadgen_main() -> None:
    for line in sys.stdin:
        job = json.loads(line)
        result = _closed_loop(job["port"], job["paths"], job["cookie"], job["seconds"], job["clients"])
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


class LoadGenerator:
    """The load generator process; ``run`` hands it one closed-loop job and waits for its samples."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [PYTHON, __file__, "loadgen"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, *, port: int, paths: Sequence[str], cookie: str, seconds: float, clients: int) -> Sample:
        assert self.process.stdin  # noqa: S101 - pipes opened above
        assert self.process.stdout  # noqa: S101
        job = {"port": port, "paths": list(paths), "cookie": cookie, "seconds": seconds, "clients": clients}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        result = json.loads(self.process.stdout.readline())
        return Sample(result["latencies"], result["seconds"], result["statuses"])

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


# --- rounds and tables --------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(-(-share * len(ordered) // 1)) - 1))]


@dataclass
class Sample:
    latencies: list[float]
    seconds: float
    statuses: dict[str, int]

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return set(self.statuses) == {"200"}


@dataclass
class Page:
    name: str
    paths: list[str]
    note: str = ""
    skipped: str | None = None  # why the page is not measured
    queries: int | None = None
    samples: list[Sample] = field(default_factory=list)

    def all_latencies(self) -> list[float]:
        return [ms for sample in self.samples for ms in sample.latencies]

    def statuses(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for sample in self.samples:
            for status, n in sample.statuses.items():
                total[status] = total.get(status, 0) + n
        return total


def interleaved_rounds(
    pages: Sequence[Page],
    *,
    loadgen: LoadGenerator,
    port: int,
    cookie: str,
    rounds: int,
    seconds: float,
    warmup: float,
    clients: int,
) -> None:
    """Each round measures every measured page once; the order rotates by one page a round."""
    measured = [page for page in pages if page.skipped is None]
    for page in measured:
        loadgen.run(port=port, paths=page.paths, cookie=cookie, seconds=warmup, clients=clients)
    for number in range(rounds):
        shift = number % max(1, len(measured))
        order = measured[shift:] + measured[:shift]
        for page in order:
            sample = loadgen.run(port=port, paths=page.paths, cookie=cookie, seconds=seconds, clients=clients)
            page.samples.append(sample)
        print(f"  round {number + 1}/{rounds} done (load average {load_average()})", flush=True)


def rounds_table(
    pages: Sequence[Page], *, base: Page, target_ms: float | None, ratio: float | None, on: str = "p95"
) -> str:
    """A row per page: p95 per round, the median of the rounds' p95, p50/p99 over every request, req/s,
    p95 as a multiple of ``base``'s in the same round, SQL statements. The verdict holds the median of
    the rounds' p95 (``on="p50"``: the p50 over every request) against ``target_ms``, and the multiple
    against ``ratio``."""
    rounds = max((len(page.samples) for page in pages), default=0)
    head = f"{'page':<46}" + "".join(f"{f'r{n + 1} p95':>9}" for n in range(rounds))
    head += f"{'p95 med':>9}{'p50':>8}{'p99':>8}{'req/s':>7}{'x base':>8}{'queries':>8}  verdict"
    lines = [head, "-" * len(head)]
    for page in pages:
        if page.skipped is not None:
            lines.append(f"{page.name:<46}  {page.skipped}")
            continue
        p95s = [sample.p95 for sample in page.samples]
        median_p95 = statistics.median(p95s)
        ratios = [s.p95 / b.p95 for s, b in zip(page.samples, base.samples, strict=False) if b.p95]
        times_base = statistics.median(ratios) if ratios else 0.0
        pooled = page.all_latencies()
        rps = statistics.median(sample.rps for sample in page.samples)
        statuses = page.statuses()
        verdict = []
        if target_ms is not None and page is not base:
            measured = median_p95 if on == "p95" else percentile(pooled, 0.5)
            verdict.append(f"{on} ok" if measured <= target_ms else f"{on} OVER")
        if ratio is not None and page is not base:
            verdict.append("ratio ok" if times_base <= ratio else "ratio OVER")
        if set(statuses) != {"200"}:
            verdict.append(f"statuses {statuses}")
        line = f"{page.name:<46}" + "".join(f"{p:>9.1f}" for p in p95s)
        line += (
            f"{median_p95:>9.1f}{percentile(pooled, 0.5):>8.1f}{percentile(pooled, 0.99):>8.1f}"
            f"{rps:>7.0f}{times_base:>8.2f}{page.queries if page.queries is not None else '-':>8}"
            f"  {', '.join(verdict)}{'  ' + page.note if page.note else ''}"
        )
        lines.append(line)
    return "\n".join(lines)


def load_average() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def machine() -> str:
    return f"{os.cpu_count()} cores, load average {load_average()} (1/5/15 min)"


if __name__ == "__main__":
    if sys.argv[1:] == ["loadgen"]:
        _loadgen_main()
    else:
        sys.exit("usage: harness.py loadgen  (started by the benchmarks)")
