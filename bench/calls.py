"""Benchmark: a call-tracking webhook until its row shows in a signed-in coordinator's queue.

    .venv/bin/python bench/calls.py                       # 40 calls and 40 leads, interleaved
    .venv/bin/python bench/calls.py --arrivals 100 --keep
    .venv/bin/python bench/calls.py --pg-admin-url postgres://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/6 --port 8767

What it does:
1. creates the scratch PostgreSQL database (``--database``, default ``crm_bench_calls``),
   migrates it and seeds one facility, an on-duty coordinator with a TOTP device, 5,000 closed
   inquiries (history) and 20 open new ones (the queue's first page), a call-tracking lead
   source with a CallRail and a CallTrackingMetrics account (signing secrets), a tracking number
   with a campaign, and a web-form lead source with an API key;
2. starts gunicorn (sync workers, production settings, DEBUG off) and a Celery worker on the
   given Redis database, as the Procfile runs them;
3. opens Debian's Chromium (Playwright) at ``/usr/bin/chromium``, signs the coordinator in
   through the login and code forms, and opens the work queue's "New and uncontacted" tab;
4. sends arrivals one at a time, alternating a CallRail pre-call webhook, a lead through the
   lead API (the reference: the same path a web form takes) and a CallTrackingMetrics
   start-of-call webhook, each signed as its service signs it, from this process over HTTP.
   For each it measures the time from sending the request until the browser shows a row for
   the new caller marked new (``tr.row-new``), without a reload; then it sends the call's end
   (missed, so a call-back task is written) and times that response. After each arrival the
   bench marks the new inquiry contacted in SQL, so the "New" tab keeps one page;
5. prints p50 / p95 / max per kind, with the 2 s target, and drops the database and flushes
   the Redis database (``--keep`` keeps the database).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
CELERY = str(ROOT / ".venv" / "bin" / "celery")
CHROMIUM = os.environ.get("CRM_CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "bench-calls-password"  # noqa: S105 - a synthetic login in a scratch database
SECRET = "bench-calls-signing-secret"  # noqa: S105 - synthetic
TARGET_P95_S = 2.0

SEED = r"""
import json, secrets, sys
from datetime import timedelta
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # compile every view module once, before gunicorn forks
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from admissions.api.keys import lead_source_key_create
from admissions.calls.models import CallTrackingSource, TrackingNumber
from admissions.calls.services import call_tracking_source_create
from admissions.models import Campaign, Inquiry, LeadSource, Person
from admissions.pipeline import Stage
from crm.models import Facility, User
from crm.roles import Role
from django.contrib.auth.models import Group

facility = Facility.objects.create(
    name="Bench Point", street="1 Bench Way", city="Tampa", state="FL", postal_code="33602",
    time_zone="America/New_York",
)
user = User.objects.create_user("coordinator", password=sys.argv[1], first_name="Casey", last_name="Bench")
user.groups.add(Group.objects.get(name=Role.COORDINATOR.value))
user.facilities.add(facility)
user.is_on_duty = True
user.save()
totp_key = TOTPDevice.objects.create(user=user, name="bench", confirmed=True).key
now = timezone.now()
people = Person.objects.bulk_create(
    Person(first_name="Past", last_name=f"Caller{n:05d}", phone=f"+1813{2000000 + n:07d}")
    for n in range(5020)
)
inquiries = [
    Inquiry(person=p, facility=facility, channel="phone", phone=p.phone, stage=Stage.CLOSED,
            lost_reason="unreachable", created_at=now - timedelta(days=1 + n % 300),
            stage_changed_at=now - timedelta(days=n % 300), closed_at=now - timedelta(days=n % 300))
    for n, p in enumerate(people[:5000])
]
inquiries += [
    Inquiry(person=p, facility=facility, channel="web_form", phone=p.phone, stage=Stage.NEW,
            created_at=now - timedelta(minutes=30 + n), stage_changed_at=now - timedelta(minutes=30 + n))
    for n, p in enumerate(people[5000:])
]
Inquiry.objects.bulk_create(inquiries)
calls = LeadSource.objects.create(
    name="Call tracking", kind=LeadSource.Kind.CALL_TRACKING, default_facility=facility
)
paid = LeadSource.objects.create(name="Google Ads", kind=LeadSource.Kind.WEBSITE, default_facility=facility)
campaign = Campaign.objects.create(lead_source=paid, name="Detox search", utm_campaign="detox-search")
TrackingNumber.objects.create(number="+18885550111", lead_source=paid, campaign=campaign, label="Google Ads")
callrail = call_tracking_source_create(lead_source=calls, provider="callrail", secret=sys.argv[2])
ctm = call_tracking_source_create(lead_source=calls, provider="ctm", secret=sys.argv[2])
web = LeadSource.objects.create(name="Website form", kind=LeadSource.Kind.WEBSITE, default_facility=facility)
_, token = lead_source_key_create(lead_source=web, label="bench", rate_limit_per_minute=100000)
print(json.dumps({"totp_key": totp_key, "callrail": callrail.ref, "ctm": ctm.ref, "token": token}))
"""


def _env(args: argparse.Namespace, var_dir: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "TEST_DATABASE_NAME", "CELERY_BROKER_URL")
    }
    env.update(
        PYTHONPYCACHEPREFIX=str(Path(tempfile.gettempdir()) / "crm-bench-pycache"),
        CRM_ENV="production",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="localhost,127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=args.pg_admin_url.rsplit("/", 1)[0] + "/" + args.database,
        REDIS_URL=args.redis_url,
        CRM_VAR_DIR=var_dir,
        STATIC_ROOT=str(Path(var_dir) / "static"),
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="crm.settings",
    )
    return env


def _admin_sql(args: argparse.Namespace, sql: str, database: str = "postgres", params: Any = None) -> None:
    import psycopg

    url = args.pg_admin_url.replace("postgres://", "postgresql://").rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, params)


# --- what the services send ---------------------------------------------------------------


def _callrail(n: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    now = datetime.now(UTC)
    call = {
        "resource_id": f"CALbench{n:08d}{secrets.token_hex(12)}",
        "answered": False,
        "customer_name": f"Bench Caller{n:04d}",
        "customer_phone_number": f"+1727{3000000 + n:07d}",
        "tracking_phone_number": "+18885550111",
        "direction": "inbound",
        "duration": 0,
        "start_time": now.isoformat(),
        "source_name": "Google Paid",
        "voicemail": False,
    }
    end = {**call, "duration": 25, "answered": False, "call_type": "missed"}
    return call, end, _sign_callrail(call), _sign_callrail(end)


def _sign_callrail(data: dict[str, Any]) -> dict[str, str]:
    body = json.dumps(data).encode()
    return {"Signature": base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha1).digest()).decode()}


def _ctm(n: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    now = int(time.time())
    call = {
        "id": 5_000_000_000 + n,
        "name": f"Bench Caller{n:04d}",
        "caller_number": f"+1727{3000000 + n:07d}",
        "tracking_number": "+18005550100",
        "direction": "inbound",
        "unix_time": now,
        "duration": 0,
        "talk_time": 0,
        "dial_status": "in-progress",
        "source": "Google Organic",
    }
    end = {**call, "duration": 31, "dial_status": "no-answer"}
    return call, end, _sign_ctm(call), _sign_ctm(end)


def _sign_ctm(data: dict[str, Any]) -> dict[str, str]:
    stamp = str(int(time.time()))
    body = json.dumps(data).encode()
    digest = hmac.new(SECRET.encode(), stamp.encode() + body, hashlib.sha1).digest()
    return {"X-CTM-Time": stamp, "X-CTM-Signature": base64.b64encode(digest).decode()}


def _post(port: int, path: str, data: dict[str, Any], headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(data).encode(),
            headers={"Host": "localhost", "Content-Type": "application/json", **headers},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _wait_for_server(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/login/", headers={"Host": "localhost"})
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --- the run ------------------------------------------------------------------------------------


# The queue page's poll for arrivals (``admissions/_queue_pulse.html``: every 1 s).
POLL_SECONDS = 1.0


def run(args: argparse.Namespace) -> dict[str, list[float]]:
    from django_otp.oath import TOTP
    from playwright.sync_api import sync_playwright

    var_dir = tempfile.mkdtemp(prefix="crm-bench-calls-")
    env = _env(args, var_dir)
    phase = random.Random(7)  # noqa: S311 - spreads arrivals over the poll's period, no secret
    _admin_sql(args, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
    _admin_sql(args, f"CREATE DATABASE {args.database}")
    processes: list[subprocess.Popen[bytes]] = []
    worker_log = (Path(var_dir) / "worker.log").open("wb")
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        seeded = subprocess.run(
            [PYTHON, "-c", SEED, PASSWORD, SECRET], cwd=ROOT, env=env, check=True, capture_output=True
        )
        refs = json.loads(seeded.stdout.decode().strip().splitlines()[-1])
        _admin_sql(args, "VACUUM ANALYZE", args.database)
        processes.append(
            subprocess.Popen(  # noqa: S603 - fixed arguments
                [
                    GUNICORN,
                    "crm.wsgi:application",
                    "--workers",
                    str(args.workers),
                    "--bind",
                    f"127.0.0.1:{args.port}",
                    "--log-level",
                    "warning",
                    "--access-logfile",
                    "/dev/null",
                    "--timeout",
                    "120",
                    "--no-control-socket",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )  # fmt: skip
        )
        processes.append(
            subprocess.Popen(  # noqa: S603 - fixed arguments
                [
                    CELERY,
                    "-A",
                    "crm",
                    "worker",
                    "--loglevel",
                    "WARNING",
                    "--concurrency",
                    "1",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
        )
        _wait_for_server(args.port)
        timings: dict[str, list[float]] = {
            "CallRail start": [],
            "lead API": [],
            "CTM start": [],
            "call end": [],
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(base_url=f"http://localhost:{args.port}")
            page.set_default_timeout(20_000)
            page.goto("/login/")
            page.get_by_label("Username").fill("coordinator")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/mfa/**")
            page.get_by_label("Six-digit code").fill(f"{TOTP(bytes.fromhex(refs['totp_key'])).token():06d}")
            page.get_by_role("button", name="Verify").click()
            page.wait_for_url(lambda url: "/mfa/" not in url and "/login/" not in url)
            page.goto("/?tab=new")
            page.wait_for_selector("#queue-pulse[hx-trigger='every 1s']", state="attached")
            for n in range(args.arrivals * 3):
                kind = ("CallRail start", "lead API", "CTM start")[n % 3]
                name = f"Bench Caller{n:04d}"
                end: tuple[str, dict[str, Any], dict[str, str]] | None = None
                if kind == "lead API":
                    path = "/api/v1/leads/"
                    data: dict[str, Any] = {
                        "first_name": "Bench",
                        "last_name": f"Caller{n:04d}",
                        "phone": f"+1727{3000000 + n:07d}",
                    }
                    headers = {
                        "Authorization": f"Bearer {refs['token']}",
                        "Idempotency-Key": secrets.token_hex(16),
                    }
                elif kind == "CallRail start":
                    data, end_data, headers, end_headers = _callrail(n)
                    path = f"/api/v1/calls/{refs['callrail']}/start/"
                    end = (f"/api/v1/calls/{refs['callrail']}/end/", end_data, end_headers)
                else:
                    data, end_data, headers, end_headers = _ctm(n)
                    path = f"/api/v1/calls/{refs['ctm']}/start/"
                    end = (f"/api/v1/calls/{refs['ctm']}/end/", end_data, end_headers)
                row = page.locator("#queue-results tbody tr.row-new", has_text=name)
                sent = time.monotonic()
                status = _post(args.port, path, data, headers)
                if status not in (200, 201):
                    raise RuntimeError(f"{kind} answered {status}")
                row.wait_for(state="visible")
                timings[kind].append(time.monotonic() - sent)
                href = row.locator("a[href^='/inquiries/']").first.get_attribute("href") or ""
                if end is not None:
                    started = time.monotonic()
                    if _post(args.port, *end) != 200:
                        raise RuntimeError("call end refused")
                    timings["call end"].append(time.monotonic() - started)
                inquiry_id = int(href.strip("/").split("/")[-1])
                # Out of the "New" tab, so the next arrival lands on its first page.
                _admin_sql(
                    args,
                    "UPDATE admissions_inquiry SET stage = 'contacted', contacted_at = now() WHERE id = %s",
                    args.database,
                    [inquiry_id],
                )
                # A random share of the poll's period on top: arrivals that followed the last row's
                # poll by a fixed time would all land at the same point of the next poll's wait.
                time.sleep(args.pause + phase.uniform(0, POLL_SECONDS))
            browser.close()
        return timings
    finally:
        for process in processes:
            process.terminate()  # the master; it stops its own workers
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        worker_log.close()
        if not args.keep:
            _admin_sql(args, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arrivals", type=int, default=40, help="arrivals of each kind")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between arrivals")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--database", default="crm_bench_calls")
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8767")))
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    timings = run(args)
    print()
    print(f"| arrival ({args.arrivals} each, interleaved) | p50 | p95 | max | target p95 |")
    print("|---|---|---|---|---|")
    for kind, values in timings.items():
        what = "response" if kind == "call end" else "request sent -> row marked new in the browser"
        target = "" if kind == "call end" else f"<= {TARGET_P95_S:.1f} s"
        print(
            f"| {kind}: {what} | {statistics.median(values):.2f} s | {_percentile(values, 0.95):.2f} s "
            f"| {max(values):.2f} s | {target} |"
        )
    print(
        f"\n{os.cpu_count()} cores; gunicorn {args.workers} sync workers, 1 Celery worker, production "
        "settings, PostgreSQL + Redis, Chromium headless; the queue polls every 1 s."
    )
    slow = [k for k, v in timings.items() if k != "call end" and _percentile(v, 0.95) > TARGET_P95_S]
    sys.exit(1 if slow else 0)


if __name__ == "__main__":
    main()
