"""Smoke run of the README's demo command on the embedded default.

Starts ``python3.11 run.py demo`` in a fresh var directory with no service
environment, waits for the login page, waits for a worker to run a task that
beat scheduled (the heartbeat seen through /healthz), then stops it with
SIGTERM and expects a clean exit, with no task failure or traceback in the output of the first
start. Exits non-zero on any failure.
"""
# ruff: noqa: T201, S603, S607, S310

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE_VARS = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CRM_ENV", "CRM_REQUIRE_SERVICES"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def wait_for(what: str, check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            print(f"ok: {what}")
            return True
        time.sleep(1)
    print(f"FAILED: {what} (after {timeout:.0f} s)")
    return False


def app_role_checked(data_dir: Path) -> bool:
    """Web, worker and beat connect to the embedded PostgreSQL as the application role, which
    cannot erase the audit trail (docs/security.md)."""
    import psycopg  # the project's virtual environment runs this script

    with psycopg.connect(host=str(data_dir), user="postgres", dbname="crm", autocommit=True) as admin:
        users = {
            row[0]
            for row in admin.execute(
                "SELECT usename FROM pg_stat_activity WHERE datname = 'crm' AND pid <> pg_backend_pid()"
            )
        }
    if users != {"crm_app"}:
        print(f"FAILED: the processes connect as {sorted(users)}, not only as crm_app")
        return False
    print("ok: web, worker and beat connect as crm_app")
    with psycopg.connect(host=str(data_dir), user="crm_app", dbname="crm", autocommit=True) as app:
        try:
            app.execute("DELETE FROM crm_auditevent")
        except psycopg.errors.InsufficientPrivilege:
            print("ok: crm_app may not delete audit rows")
            return True
    print("FAILED: crm_app deleted audit rows")
    return False


def pages_served_as_deployed(base: str) -> bool:
    """DEBUG is off: a missing page is the CRM's 404 page, not Django's debug page; the static
    files (collected at start) and the favicon are served."""
    checks = []
    status, body = fetch(base + "/no-such-page/")
    checks.append(("a missing page is the CRM's own 404", status == 404 and "Page not found" in body))
    checks.append(("no debug page", "URLconf" not in body and "DEBUG = True" not in body))
    for path in ("/static/crm/app.css", "/favicon.ico"):
        checks.append((f"{path} is served", fetch_bytes(base + path) > 0))
    for what, passed in checks:
        print(("ok" if passed else "FAILED") + f": {what}")
    return all(passed for _, passed in checks)


def fetch_bytes(url: str) -> int:
    """The size of a 200 answer's body, or 0."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return len(response.read()) if response.status == 200 else 0
    except OSError:
        return 0


def main() -> int:
    port = free_port()
    var_dir = Path(tempfile.mkdtemp(prefix="crm-demo-"))
    log_path = var_dir / "demo.log"
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["CRM_VAR_DIR"] = str(var_dir)
    python = os.environ.get("DEMO_PYTHON", "python3.11")
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            [python, "run.py", "demo", "--port", str(port), "--inquiries", "200"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    ok = wait_for("login page answers", lambda: fetch(base + "/login/")[0] == 200, 300)
    ok = ok and "Demo logins" in log_path.read_text() and "coordinator" in log_path.read_text()
    if ok:
        print("ok: URL and demo logins printed")
    ok = ok and pages_served_as_deployed(base)

    def worker_ran() -> bool:
        status, body = fetch(base + "/healthz")
        return status == 200 and json.loads(body).get("workers") == "ok"

    # beat schedules the heartbeat every 30 s; a worker must run it
    ok = ok and wait_for("a worker ran a task scheduled by beat", worker_ran, 120)
    ok = ok and app_role_checked(var_dir / "postgres")
    demo.send_signal(signal.SIGTERM)
    try:
        code = demo.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        code = "timeout"
    stopped = code == 0
    print(("ok" if stopped else "FAILED") + f": stops cleanly (exit {code})")
    failures = [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if re.search(r"\bERROR\b|Traceback|raised unexpected", line)
    ]
    print(("FAILED" if failures else "ok") + f": no task failure or traceback logged ({len(failures)})")
    ok = ok and not failures
    leftovers = subprocess.run(["pgrep", "-s", str(demo.pid)], capture_output=True, text=True, check=False)
    if leftovers.stdout.strip():
        print(f"FAILED: processes left running: {leftovers.stdout.split()}")
        os.killpg(demo.pid, signal.SIGKILL)
        stopped = False
    if not (ok and stopped):
        print("--- demo output (tail) ---")
        print("\n".join(log_path.read_text(errors="replace").splitlines()[-80:]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
