"""Benchmark of the coordinator pages at 1,000,000 inquiries, through a real server.

    .venv/bin/python bench/pages.py                      # seed 1,000,000 inquiries, 15 s per page
    .venv/bin/python bench/pages.py --reuse --keep       # reuse an already seeded crm_bench_pages
    .venv/bin/python bench/pages.py --seconds 30 --concurrency 4

What it does:
1. creates the scratch PostgreSQL database ``crm_bench_pages``, migrates it and seeds it with
   ``manage.py seed_demo --inquiries N`` (COPY; about 5 minutes for 1,000,000 on a quiet
   2-core machine), then ``VACUUM ANALYZE``; with ``--reuse`` an existing seeded database is
   kept and only migrated;
2. picks its targets from the data: a seeded last name, a seeded phone written the way a
   caller reads it ("(727) 555-0123"), five inquiries (newest and oldest open, admitted,
   closed, a random one) and the inquiry with the longest timeline;
3. starts gunicorn with production settings (``CRM_ENV=production``, DEBUG off, Redis db 10,
   ``CRM_BENCH_ENDPOINTS=1`` so ``/bench/empty/`` is routed: an empty page on the same base
   template, behind the same sign-in);
4. signs in as the demo coordinator (every facility) through the login form and the code form
   (CSRF token from each page, form posts, session cookie; the code from a TOTP device the bench
   gives the coordinator);
5. probes each page once: a 404 is reported as "not built" (so the script can be re-run as
   pages land), a redirect or a 5xx is reported and not loaded; searches are checked against
   the plain queue (same rows: "q ignored") and for the target inquiry (phone search);
6. runs a load generator in another process per page: a closed loop of ``--concurrency``
   clients for ``--seconds`` (after a short warm-up), one connection per request;
7. prints req/s and p50/p95/p99 per page next to the empty page, and drops the database
   (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import base64
import html
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
DB_NAME = "crm_bench_pages"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
HOST, PORT = "127.0.0.1", int(os.environ.get("BENCH_PORT", "8766"))
USERNAME = "coordinator"
PASSWORD = "bench-pages-password"  # noqa: S105 - a synthetic demo login in a scratch database
TARGET_P95_MS = 50.0
INQUIRY_LINK = re.compile(r'href="/inquiries/(\d+)/"')
TAB_LINK = re.compile(r'href="(/?\?[^"]*\btab=[^"]*)"')


# --- HTTP -------------------------------------------------------------------------------------


def _get(path: str, cookie: str, timeout: float = 30) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
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


def _form(path: str, jar: dict[str, str]) -> str:
    """GET a form page with the cookies in ``jar``; returns its CSRF token (cookies land in ``jar``)."""
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    conn.request("GET", path, headers={"Host": "localhost", "Cookie": cookie})
    response = conn.getresponse()
    body = response.read().decode()
    jar.update(_cookies(response))
    conn.close()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if not token or "csrftoken" not in jar:
        raise RuntimeError(f"{path} carries no CSRF token (status {response.status})")
    return token.group(1)


def _post(path: str, fields: dict[str, str], jar: dict[str, str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
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


def sign_in(username: str, password: str, totp_key: str) -> str:
    """Sign in through the login and code forms; returns the Cookie header of the verified session."""
    from django_otp.oath import TOTP

    jar: dict[str, str] = {}
    token = _form("/login/", jar)
    fields = {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/"}
    response = _post("/login/", fields, jar)
    if response.status != 302 or "sessionid" not in jar:
        raise RuntimeError(f"sign-in as {username} failed (status {response.status})")
    token = _form("/mfa/", jar)
    code = f"{TOTP(bytes.fromhex(totp_key)).token():06d}"
    response = _post("/mfa/", {"csrfmiddlewaretoken": token, "code": code, "next": "/"}, jar)
    if response.status != 302 or "/mfa/" in (response.getheader("Location") or ""):
        raise RuntimeError(f"the second factor for {username} was refused (status {response.status})")
    return "; ".join(f"{k}={v}" for k, v in jar.items())


# --- the load generator (runs in its own process) ---------------------------------------------


def loadgen(paths: list[str], cookie: str, seconds: float, concurrency: int) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(10**12))
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            with lock:
                path = paths[next(counter) % len(paths)]
            started = time.perf_counter()
            try:
                status = _get(path, cookie)[0]
            except OSError:
                status = 0
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
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


def _run_loadgen(paths: list[str], cookie: str, seconds: float, concurrency: int) -> dict[str, object]:
    command = [PYTHON, __file__, "--loadgen", json.dumps(paths), "--cookie", cookie,
               "--seconds", str(seconds), "--concurrency", str(concurrency)]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


# --- set-up -----------------------------------------------------------------------------------


def _env(var_dir: str) -> dict[str, str]:
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
        # The production image compiles bytecode (Dockerfile); without it every gunicorn worker
        # compiles phonenumbers' 19 MB of geodata on its first request. Cached outside the repo.
        PYTHONPYCACHEPREFIX=str(Path(tempfile.gettempdir()) / "crm-bench-pycache"),
        CRM_ENV="production",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="localhost,127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME,
        REDIS_URL=REDIS_URL,
        CRM_BENCH_ENDPOINTS="1",
        CRM_VAR_DIR=var_dir,
        STATIC_ROOT=str(Path(var_dir) / "static"),
        # one fixed Fernet key for the scratch database, so a --reuse run reads what the seed wrote
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(b"crm-bench-pages-scratch-field-ky").decode(),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="crm.settings",
    )
    return env


def _admin_sql(sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
    import psycopg

    url = PG_ADMIN_URL.replace("postgres://", "postgresql://").rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


TARGETS = r"""
import django, json, random
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # import (and so compile) every view module once, before gunicorn
from django.db.models import Count
from admissions.models import Inquiry, InquiryEvent
from admissions.pipeline import OPEN_STAGES
from crm.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice
# the bench signs in with both factors: a device whose key the bench knows
bench_user = User.objects.get(username=__USERNAME__)
TOTPDevice.objects.filter(user=bench_user).delete()
totp_key = TOTPDevice.objects.create(user=bench_user, name="bench", confirmed=True).key
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
# a caller on an open inquiry, phone as it is read out: (727) 555-0123
row = (open_.exclude(phone="").filter(phone__startswith="+1").order_by("-pk")
       .values("pk", "phone", "person__first_name", "person__last_name").first())
by_name = open_.order_by("pk").values("person__last_name").exclude(person__last_name="")[1000:1001]
phone = getattr(row["phone"], "as_e164", str(row["phone"])) if row else ""
print(json.dumps({
    "inquiries": total,
    "open": open_.count(),
    "inquiry_pks": [pk for pk in (newest, oldest, admitted, closed, some) if pk],
    "heaviest": [heaviest["inquiry_id"], heaviest["n"]],
    "phone_pk": row["pk"] if row else None,
    "phone": f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}" if row else None,
    "phone_name": f"{row['person__first_name']} {row['person__last_name']}" if row else None,
    "last_name": by_name[0]["person__last_name"] if by_name else None,
    "totp_key": totp_key,
}))
"""


def _prepare(args: argparse.Namespace, env: dict[str, str]) -> float | None:
    exists = bool(_admin_sql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"))  # noqa: S608
    seeded = exists and bool(
        _admin_sql(
            "SELECT to_regclass('admissions_inquiry') IS NOT NULL"
            " AND EXISTS (SELECT 1 FROM pg_class WHERE relname = 'admissions_inquiry' AND reltuples > 0)",
            DB_NAME,
        )[0][0]
    )
    if args.reuse and seeded:
        print(f"reusing {DB_NAME}; migrating it", flush=True)
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        return None
    _admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    _admin_sql(f"CREATE DATABASE {DB_NAME}")
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    print(f"seeding {args.inquiries:,} inquiries into {DB_NAME}", flush=True)
    started = time.monotonic()
    subprocess.run(
        [PYTHON, "manage.py", "seed_demo", "--inquiries", str(args.inquiries), "--password", PASSWORD,
         "-v", "0"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    seconds = time.monotonic() - started
    _admin_sql("VACUUM ANALYZE", DB_NAME)
    return seconds


def _wait_for_server(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _get("/login/", "", timeout=5)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


# --- the pages ----------------------------------------------------------------------------------


def _links(body: bytes) -> list[str]:
    """The inquiries a page links to, once each, in page order."""
    return list(dict.fromkeys(INQUIRY_LINK.findall(body.decode(errors="replace"))))


def _probe(paths: list[str], cookie: str) -> tuple[str | None, bytes]:
    """None when every path answers 200, else why the page is not measured."""
    body = b""
    for path in paths:
        status, body, headers = _get(path, cookie)
        if status == 404:
            return "404 / not built", body
        if status in (301, 302, 303):
            where = headers.get("location", "")
            return f"{status} to {where}" + (" (session lost?)" if "/login/" in where else ""), body
        if status != 200:
            return f"status {status}", body
    return None, body


def _pages(targets: dict[str, object], queue_body: bytes) -> list[tuple[str, list[str]]]:
    pages: list[tuple[str, list[str]]] = [("empty page, base template", ["/bench/empty/"]),
                                          ("work queue /", ["/"])]  # fmt: skip
    tabs = []
    for href in TAB_LINK.findall(queue_body.decode(errors="replace")):
        href = html.unescape(href)
        href = href if href.startswith("/") else "/" + href
        if href not in tabs:
            tabs.append(href)
    for href in tabs[:6]:
        pages.append((f"queue tab {urllib.parse.urlsplit(href).query}"[:40], [href]))
    if targets.get("last_name"):
        pages.append(("search, last name", ["/?" + urllib.parse.urlencode({"q": targets["last_name"]})]))
    if targets.get("phone"):
        query = urllib.parse.urlencode({"q": targets["phone"]})
        pages.append(("search, phone (727) 555-0123 style", ["/?" + query]))
    pks = targets.get("inquiry_pks") or []
    if pks:
        pages.append((f"inquiry page, {len(pks)} inquiries", [f"/inquiries/{pk}/" for pk in pks]))  # type: ignore[union-attr]
    heaviest = targets.get("heaviest") or [None, 0]
    if heaviest[0]:  # type: ignore[index]
        name = f"inquiry page, longest timeline ({heaviest[1]} events)"  # type: ignore[index]
        pages.append((name, [f"/inquiries/{heaviest[0]}/"]))  # type: ignore[index]
    return pages


def _search_check(name: str, body: bytes, queue_links: list[str], targets: dict[str, object]) -> str:
    links = _links(body)
    if links == queue_links:
        return "same rows as the queue: q ignored (search not built?)"
    if name.startswith("search, phone"):
        found = str(targets["phone_pk"]) in links
        return f"{len(links)} rows, target inquiry {'found' if found else 'NOT found'}"
    return f"{len(links)} rows on the first page"


def _table(rows: list[tuple[str, dict[str, object] | None, str]]) -> str:
    head = f"{'page':<44}{'req/s':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  {'p95<50':<7}notes"
    lines = [head, "-" * len(head)]
    for name, r, note in rows:
        if r is None:
            lines.append(f"{name:<44}{'-':>7}{'-':>9}{'-':>9}{'-':>9}  {'-':<7}{note}")
            continue
        ok = "yes" if float(r["p95"]) < TARGET_P95_MS and set(r["statuses"]) == {"200"} else "NO"  # type: ignore[arg-type]
        statuses = "" if set(r["statuses"]) == {"200"} else f" statuses {r['statuses']}"  # type: ignore[arg-type]
        lines.append(
            f"{name:<44}{r['rps']:>7.0f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}  {ok:<7}"
            f"{note}{statuses}"
        )
    return "\n".join(lines)


def _load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inquiries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15, help="closed-loop run per page")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up per page, not counted")
    parser.add_argument("--concurrency", type=int, default=2, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--reuse", action="store_true", help="reuse an already seeded scratch database")
    parser.add_argument("--keep", action="store_true", help="do not drop the scratch database at the end")
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--cookie", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.loadgen:
        print(json.dumps(loadgen(json.loads(args.loadgen), args.cookie, args.seconds, args.concurrency)))
        return

    var_dir = tempfile.mkdtemp(prefix="crm-bench-pages-")
    env = _env(var_dir)
    server = None
    rows: list[tuple[str, dict[str, object] | None, str]] = []
    load_before = _load()
    try:
        seed_seconds = _prepare(args, env)
        picked = subprocess.run(
            [PYTHON, "-c", TARGETS.replace("__USERNAME__", repr(USERNAME))],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if picked.returncode:
            raise RuntimeError(f"picking the targets failed:\n{picked.stderr}")
        targets = json.loads(picked.stdout.strip().splitlines()[-1])
        # production serves hashed static names from a manifest, as the image builds it
        subprocess.run(
            [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        server = subprocess.Popen(  # noqa: S603
            [GUNICORN, "crm.wsgi:application", "--workers", str(args.workers), "--bind", f"{HOST}:{PORT}",
             "--log-level", "warning", "--access-logfile", "/dev/null", "--graceful-timeout", "5",
             "--timeout", "120"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        _wait_for_server()
        cookie = sign_in(USERNAME, PASSWORD, targets["totp_key"])
        # every worker imports its views on its first request: warm them all up
        _run_loadgen(["/bench/empty/", "/login/"], cookie, args.warmup * 2, args.workers * 2)
        queue_reason, queue_body = _probe(["/"], cookie)
        queue_links = _links(queue_body)
        load_before = _load()
        for name, paths in _pages(targets, queue_body if queue_reason is None else b""):
            reason, body = _probe(paths, cookie)
            if reason:
                rows.append((name, None, reason))
                print(f"  {name}: {reason}", flush=True)
                continue
            note = _search_check(name, body, queue_links, targets) if name.startswith("search") else ""
            _run_loadgen(paths, cookie, args.warmup, args.concurrency)
            result = _run_loadgen(paths, cookie, args.seconds, args.concurrency)
            rows.append((name, result, note))
            print(f"  {name}: p95 {float(result['p95']):.1f} ms", flush=True)  # type: ignore[arg-type]
        load_after = _load()
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)
        if not args.keep:
            _admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()

    print()
    if seed_seconds is not None:
        print(f"seed_demo --inquiries {args.inquiries}: {seed_seconds:.0f} s")
    print(f"{targets['inquiries']:,} inquiries ({targets['open']:,} open), signed in as {USERNAME} "
          f"(every facility); search targets: last name {targets['last_name']!r}, "
          f"phone {targets['phone']!r}")  # fmt: skip
    print(f"Closed loop, {args.concurrency} concurrent clients, {args.seconds:.0f} s per page, "
          f"gunicorn {args.workers} sync workers, production settings, PostgreSQL + Redis; "
          f"load average {load_before} before, {load_after} after "
          f"(1/5/15 min, {os.cpu_count()} cores)")  # fmt: skip
    print(_table(rows))
    print(f"target: p95 < {TARGET_P95_MS:.0f} ms for every page")


if __name__ == "__main__":
    sys.exit(main())
