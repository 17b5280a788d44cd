"""Process smoke: run compose.yaml's process commands on this machine and drive one inquiry.

There is no Docker engine on the CI machine, so this script stands in for
``docker compose up``: it reads the migrate, web, worker and beat commands and
the shared environment from ``compose.yaml`` (the single source of truth),
interpolates them the way Compose does, and runs them directly against the
local PostgreSQL (127.0.0.1:5432, scratch database ``crm_process_smoke`` with
its own two roles standing in for ``crm_owner`` and ``crm_app``: migrate runs
as the owner, web, worker and beat as the application role) and Redis
(127.0.0.1:6379, database 11). Besides those addresses and role names, the static
root and ``SECURE_SSL_REDIRECT=false`` (no TLS proxy here), only three things
differ from compose, and each is printed: the web bind address (a free
loopback port), a node name per worker (two workers share one host name), and
the beat schedule path (a temp folder).

Then it drives one inquiry through the processes: a lead source key from
``manage.py create_lead_source_key``, ``POST /api/v1/leads/`` (201), the
inquiry and its follow-ups in the database, the first follow-up made due now,
and a worker (dispatched by beat) marking it done with an alert note on the
timeline; beat's heartbeat reaches the database and ``/healthz``; the application
role is refused when it deletes audit rows, and ``audit_verify`` finds the hash
chain intact. Finally every
process gets SIGTERM, as ``docker compose stop`` sends it, and must exit 0
within 30 s. Prints a PASS/FAIL table; exits 1 on any failure, with log tails.

    .venv/bin/python .ci/process_smoke.py [--keep]
"""
# ruff: noqa: T201

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import phonenumbers
import psycopg
import redis
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"

PG_HOST = os.environ.get("SMOKE_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SMOKE_PG_PORT", "5432"))
PG_USER = os.environ.get("SMOKE_PG_USER", "postgres")
SMOKE_DB = "crm_process_smoke"
# stand-ins for compose.yaml's crm_owner and crm_app, made and dropped with the scratch database
SMOKE_OWNER = "crm_process_smoke_owner"
SMOKE_APP = "crm_process_smoke_app"
COMPOSE_OWNER, COMPOSE_APP = "crm_owner", "crm_app"
REDIS_HOST = os.environ.get("SMOKE_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("SMOKE_REDIS_PORT", "6379"))
REDIS_DB = 11

STOP_TIMEOUT = 30.0  # each process must exit this long after SIGTERM
FOLLOWUP_TIMEOUT = 90.0  # beat dispatches every 30 s
HEARTBEAT_TIMEOUT = 100.0  # beat schedules the heartbeat every 30 s; allow three ticks on a loaded machine
READY_TIMEOUT = 120.0  # generous: CI machines are 2 cores and may be busy
LOG_TAIL_LINES = 40

T = TypeVar("T")


class SmokeError(Exception):
    """A check failed; the message says which and why."""


# --- results --------------------------------------------------------------------


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, str]]:
        """Time one step; the body may set ``info["detail"]``; an exception marks it FAIL."""
        info = {"detail": ""}
        t0 = time.monotonic()
        print(f"--> {name}", flush=True)
        try:
            yield info
        except BaseException as exc:  # interrupted (SIGTERM, Ctrl+C) counts as a failure too
            self.steps.append(
                Step(name, False, _one_line(str(exc) or type(exc).__name__), time.monotonic() - t0)
            )
            print(f"    FAIL: {exc}", flush=True)
            raise
        self.steps.append(Step(name, True, info["detail"], time.monotonic() - t0))
        if info["detail"]:
            print(f"    ok: {info['detail']}", flush=True)

    def record(self, name: str, ok: bool, detail: str, seconds: float = 0.0) -> None:
        self.steps.append(Step(name, ok, detail, seconds))

    @property
    def failed(self) -> bool:
        return any(not s.ok for s in self.steps)

    def print_table(self) -> None:
        width = max((len(s.name) for s in self.steps), default=10)
        print()
        print(f"{'result':6}  {'step':{width}}  {'secs':>6}  detail")
        print(f"{'-' * 6}  {'-' * width}  {'-' * 6}  {'-' * 40}")
        for s in self.steps:
            print(f"{'PASS' if s.ok else 'FAIL':6}  {s.name:{width}}  {s.seconds:6.1f}  {s.detail}")
        total = time.monotonic() - self.started
        print(f"\n{'FAIL' if self.failed else 'PASS'}: {len(self.steps)} steps in {total:.1f} s")


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def wait_for(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Poll ``check`` until it returns something other than None/False, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result is not None and result is not False:
                return result
        except SmokeError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last_error = exc
        if time.monotonic() >= deadline:
            suffix = f" (last error: {_one_line(str(last_error))})" if last_error else ""
            raise SmokeError(f"timed out after {timeout:.0f} s waiting for {what}{suffix}")
        time.sleep(interval)


# --- compose.yaml ---------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose-style ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``${VAR:+alt}``, ``$$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return variables.get(match.group("named"), "")
        braced = _BRACED.fullmatch(match.group("braced"))
        if braced is None:
            raise SmokeError(f"compose.yaml: invalid interpolation {match.group(0)!r}")
        name, op, arg = braced.group("name"), braced.group("op"), braced.group("arg") or ""
        present = name in variables
        value = variables.get(name, "")
        usable = bool(value) if op and op.startswith(":") else present
        if op in (":-", "-"):
            return value if usable else arg
        if op in (":?", "?"):
            if not usable:
                raise SmokeError(f"compose.yaml requires {name}: {arg}")
            return value
        if op in (":+", "+"):
            return arg if usable else ""
        return value

    return _INTERPOLATION.sub(replace, value)


@dataclass
class Service:
    name: str
    command: list[str]
    environment: dict[str, str]


def compose_load() -> dict[str, Any]:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict) or "services" not in data:
        raise SmokeError("compose.yaml has no services")
    return data


def compose_service(data: dict[str, Any], name: str, variables: Mapping[str, str]) -> Service:
    """One service's command (exec form) and environment, interpolated as Compose would."""
    try:
        svc = data["services"][name]
    except KeyError:
        raise SmokeError(f"compose.yaml has no service {name!r}") from None
    command = svc.get("command")
    if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
        raise SmokeError(f"compose.yaml: {name}.command must be an exec-form list of strings")
    raw_env = svc.get("environment") or {}
    if isinstance(raw_env, list):  # ["KEY=value", ...]
        raw_env = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw_env)
    environment = {
        str(k): interpolate("" if v is None else str(v).lower() if isinstance(v, bool) else str(v), variables)
        for k, v in raw_env.items()
    }
    return Service(name, [interpolate(a, variables) for a in command], environment)


def compose_check_topology(data: dict[str, Any]) -> str:
    """The shape the issue asks for; the JSON-schema check covers syntax, this covers intent."""
    services = data["services"]
    problems: list[str] = []
    for name in ("postgres", "redis", "migrate", "web", "worker", "beat"):
        if name not in services:
            problems.append(f"no {name} service")
    if problems:
        raise SmokeError("; ".join(problems))
    if "version" in data:
        problems.append("obsolete top-level version key")
    for name in ("web", "worker", "beat"):
        deps = services[name].get("depends_on") or {}
        if (deps.get("migrate") or {}).get("condition") != "service_completed_successfully":
            problems.append(f"{name} must wait for migrate to complete successfully")
        for dep in ("postgres", "redis"):
            if (deps.get(dep) or {}).get("condition") != "service_healthy":
                problems.append(f"{name} must wait for {dep} to be healthy")
        if not services[name].get("restart"):
            problems.append(f"{name} has no restart policy")
    worker = services["worker"]
    for key in ("container_name", "ports", "hostname"):
        if key in worker:
            problems.append(f"worker sets {key}, which breaks --scale worker=N")
    redis_cmd = " ".join(services["redis"].get("command") or [])
    for flag in ("--appendonly yes", "--maxmemory-policy noeviction"):
        if flag not in redis_cmd:
            problems.append(f"redis command lacks {flag}")
    for name in ("postgres", "redis", "web"):
        if "healthcheck" not in services[name]:
            problems.append(f"{name} has no healthcheck")
    secret = str((services["web"].get("environment") or {}).get("SECRET_KEY", ""))
    if not re.fullmatch(r"\$\{SECRET_KEY:\?[^}]*\}", secret):
        problems.append("SECRET_KEY must come from ${SECRET_KEY:?...}")
    if problems:
        raise SmokeError("; ".join(problems))
    return "6 services, depends_on conditions, scalable worker, redis AOF + noeviction"


def dockerfile_cmd() -> list[str]:
    """The exec-form CMD of the Dockerfile (the last one wins, as in Docker)."""
    cmds = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if line.startswith("CMD ")]
    if not cmds:
        raise SmokeError("Dockerfile has no CMD")
    try:
        cmd = json.loads(cmds[-1][4:])
    except json.JSONDecodeError as exc:
        raise SmokeError(f"Dockerfile CMD is not exec form: {exc}") from None
    return [str(a) for a in cmd]


def replace_option(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with the value after ``option`` replaced; the option must be there exactly once."""
    positions = [i for i, a in enumerate(argv) if a == option]
    if len(positions) != 1 or positions[0] + 1 >= len(argv):
        raise SmokeError(f"expected exactly one {option} VALUE in {argv}")
    out = list(argv)
    out[positions[0] + 1] = value
    return out


# --- processes --------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None
    stop_seconds: float | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None  # noqa: S101 - programming error, not a check
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def group_alive(self) -> bool:
        """Any process left in this process group (the leader's children included)."""
        if self.popen is None:
            return False
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Runner:
    """Starts and stops only the processes it created, each in its own process group."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.procs: list[Proc] = []
        self.oneoff_logs: list[Path] = []

    def resolve(self, argv: list[str]) -> list[str]:
        exe = shutil.which(argv[0], path=self.env["PATH"])
        if exe is None:
            raise SmokeError(f"{argv[0]} not found on PATH {self.env['PATH']}")
        return [exe, *argv[1:]]

    def run(
        self,
        name: str,
        argv: list[str],
        timeout: float,
        secret_stdout: bool = False,
        env: dict[str, str] | None = None,
    ) -> str:
        """Run a one-off command to completion; returns stdout; fails on a non-zero exit.

        With ``secret_stdout`` its stdout (a key) is kept out of the log file; ``env`` replaces
        the runner's environment (migrate's, which connects as the owner role).
        """
        log_path = self.workdir / f"{name}.log"
        self.oneoff_logs.append(log_path)
        try:
            done = subprocess.run(  # noqa: S603 - argv from compose.yaml / this script
                self.resolve(argv),
                cwd=ROOT,
                env=self.env if env is None else env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            log_path.write_bytes((b"" if secret_stdout else exc.stdout or b"") + (exc.stderr or b""))
            raise SmokeError(f"{name} did not finish within {timeout:.0f} s") from None
        out = done.stdout.decode("utf-8", "replace")
        logged = f"(stdout withheld: {len(out)} chars)\n" if secret_stdout else out
        log_path.write_text(logged + done.stderr.decode("utf-8", "replace"), encoding="utf-8")
        if done.returncode != 0:
            tail = _tail(done.stderr.decode("utf-8", "replace") or out, 5)
            raise SmokeError(f"{name} exited {done.returncode}: {tail}")
        return out

    def start(self, name: str, argv: list[str]) -> Proc:
        proc = Proc(name, argv, self.workdir / f"{name}.log")
        with proc.log_path.open("wb") as log:
            proc.popen = subprocess.Popen(  # noqa: S603 - argv from compose.yaml
                self.resolve(argv),
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: signals reach only what we started
            )
        self.procs.append(proc)
        return proc

    def check_running(self) -> None:
        for proc in self.procs:
            if proc.popen is not None and proc.popen.poll() is not None and proc.exit_code is None:
                raise SmokeError(
                    f"{proc.name} (pid {proc.pid}) exited early with code {proc.popen.returncode}"
                )

    def stop_all(self, timeout: float) -> None:
        """SIGTERM to each main process (as ``docker compose stop`` does), then wait, all in parallel."""
        t0 = time.monotonic()
        for proc in self.procs:
            if proc.alive():
                with suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = t0 + timeout
        waiting = [p for p in self.procs if p.popen is not None]
        while waiting and time.monotonic() < deadline:
            for proc in list(waiting):
                assert proc.popen is not None  # noqa: S101
                code = proc.popen.poll()
                if code is not None:
                    proc.exit_code, proc.stop_seconds = code, time.monotonic() - t0
                    waiting.remove(proc)
            time.sleep(0.05)

    def kill_leftovers(self) -> list[str]:
        """SIGKILL any process group of ours that is still populated; returns what was killed."""
        killed = []
        for proc in self.procs:
            if proc.popen is None:
                continue
            if proc.alive() or proc.group_alive():
                killed.append(f"{proc.name} (pgid {proc.pid})")
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(timeout=10)
        return killed

    def print_log_tails(self) -> None:
        for path in self.oneoff_logs:
            _print_tail(path.stem, path)
        for proc in self.procs:
            _print_tail(f"{proc.name} (pid {proc.popen.pid if proc.popen else '-'})", proc.log_path)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _print_tail(title: str, path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    print(f"\n===== {title}: last {LOG_TAIL_LINES} lines of {path} =====")
    print(_tail(text, LOG_TAIL_LINES) or "(empty)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- services on this machine ---------------------------------------------------------


def pg_admin_url() -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"


def pg_smoke_url(user: str = PG_USER) -> str:
    return f"postgres://{user}@{PG_HOST}:{PG_PORT}/{SMOKE_DB}"


def scratch_database_create() -> None:
    """The scratch database and its two roles, as deploy/postgres-init/10-crm-roles.sh makes them."""
    scratch_database_drop()
    with psycopg.connect(pg_admin_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE ROLE "{SMOKE_OWNER}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
        conn.execute(f'CREATE ROLE "{SMOKE_APP}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT')
        conn.execute(f'CREATE DATABASE "{SMOKE_DB}" OWNER "{SMOKE_OWNER}"')
        conn.execute(f'REVOKE ALL ON DATABASE "{SMOKE_DB}" FROM PUBLIC')
        conn.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{SMOKE_DB}" TO "{SMOKE_APP}"')
    with psycopg.connect(pg_smoke_url().replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'ALTER SCHEMA public OWNER TO "{SMOKE_OWNER}"')
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def scratch_database_drop() -> None:
    with psycopg.connect(pg_admin_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SMOKE_DB}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{SMOKE_APP}"')
        conn.execute(f'DROP ROLE IF EXISTS "{SMOKE_OWNER}"')


def redis_client() -> redis.Redis:
    return redis.Redis(
        host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=5, socket_connect_timeout=5
    )


# --- the run ----------------------------------------------------------------------------


def build_environment(service: Service, variables: Mapping[str, str], workdir: Path) -> dict[str, str]:
    """A container-like environment: the image's ENV, compose's environment, then host overrides.

    Nothing is inherited from the caller's environment but PATH, so a CI job's
    own DATABASE_URL, DEBUG or CELERY_* cannot leak into the processes.
    """
    venv_bin = Path(sys.prefix) / "bin"
    env = {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(workdir / "var"),  # the image's user has HOME=/var/lib/crm
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": str(workdir),
        # the Dockerfile's ENV
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "CRM_VAR_DIR": str(workdir / "var"),
    }
    env.update(service.environment)
    # where this machine differs from the compose network: the address, and the roles' names
    env.update(
        {
            "DATABASE_URL": pg_smoke_url(SMOKE_APP),
            "DATABASE_APP_ROLE": SMOKE_APP,
            "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "STATIC_ROOT": str(workdir / "static"),
        }
    )
    expected = {
        "CRM_ENV": "production",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECRET_KEY": variables["SECRET_KEY"],
    }
    wrong = [k for k, v in expected.items() if env.get(k) != v]
    if wrong:
        raise SmokeError(f"environment derived from compose.yaml has unexpected {', '.join(wrong)}")
    return env


def shell(runner: Runner, name: str, code: str, timeout: float = 90.0) -> str:
    """``manage.py shell -c`` with the production environment; returns stdout."""
    return runner.run(name, ["python", "manage.py", "shell", "-c", code], timeout=timeout)


SETUP_CODE = """
from crm.models import Facility, User
from crm.roles import Role
from django.contrib.auth.models import Group
from admissions.models import LeadSource
facility = Facility.objects.create(
    name="Smoke Test Recovery Center", neutral_sender_name="Smoke Health",
    street="1 Main St", city="Boston", state="MA", postal_code="02110",
    time_zone="America/New_York", phone="+16175550100",
)
LeadSource.objects.create(
    name="Process smoke web form", kind=LeadSource.Kind.WEBSITE, default_facility=facility
)
user = User.objects.create_user(username="smoke-coordinator", is_on_duty=True)  # unusable password
user.groups.add(Group.objects.get(name=Role.COORDINATOR.value))
user.facilities.add(facility)
print(facility.pk, user.pk)
"""

LEAD_SOURCE_NAME = "Process smoke web form"


def api_key_from_output(output: str) -> str:
    """``create_lead_source_key`` prints the raw key alone on stdout (its notes go to stderr)."""
    lines = output.strip().splitlines()
    if len(lines) != 1 or len(lines[0]) < 32 or any(c.isspace() for c in lines[0]):
        raise SmokeError(f"expected one key on stdout, got {len(lines)} lines ({len(output)} chars)")
    return lines[0]


def lead_payload() -> dict[str, Any]:
    example = phonenumbers.example_number("US")  # valid by the library's own metadata
    if example is None:
        raise SmokeError("phonenumbers has no US example number")
    phone = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    return {
        "first_name": "Smoke",
        "last_name": "Tester",
        "phone": phone,
        "email": "Smoke.Tester@Example.org",
        "postal_code": "02110",
        "state": "MA",
        "caller_relationship": "self",
        "message": "Process smoke: looking for help.",
        "consent": {
            "sms": False,
            "email": True,
            "call": True,
            "text": "I agree to be contacted by phone and email about treatment options.",
            "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "ip": "203.0.113.10",
            "page_url": "https://example.org/contact",
        },
        "attribution": {
            "utm_source": "process-smoke",
            "utm_medium": "ci",
            "landing_page": "https://example.org/",
        },
        "external_id": f"smoke-{secrets.token_hex(6)}",
    }


def run(args: argparse.Namespace, report: Report) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="crm-process-smoke-"))
    (workdir / "var").mkdir()
    runner: Runner | None = None
    db_created = False
    try:
        # 1. static checks: compose.yaml against the Compose spec, its intent, the Dockerfile CMD
        with report.step("compose.yaml schema") as info:
            checker = Path(sys.prefix) / "bin" / "check-jsonschema"
            done = subprocess.run(  # noqa: S603
                [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
                capture_output=True,
                timeout=60,
                check=False,
            )
            if done.returncode != 0:
                raise SmokeError(_one_line((done.stdout + done.stderr).decode("utf-8", "replace"), 400))
            info["detail"] = "valid against vendor.compose-spec"

        data = compose_load()
        with report.step("compose.yaml topology") as info:
            info["detail"] = compose_check_topology(data)

        # What an operator would export before `docker compose up`.
        variables = {
            "SECRET_KEY": secrets.token_urlsafe(48)[:64],
            # a Fernet key: 32 random bytes, URL-safe base64
            "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            # unused: DATABASE_URL is overridden below
            "POSTGRES_PASSWORD": secrets.token_hex(16),
            "POSTGRES_OWNER_PASSWORD": secrets.token_hex(16),
            "POSTGRES_APP_PASSWORD": secrets.token_hex(16),
            "ALLOWED_HOSTS": "127.0.0.1",  # compose appends ",localhost"
            "SECURE_SSL_REDIRECT": "false",  # no TLS proxy in front of gunicorn here
            "EMAIL_URL": "consolemail://",
        }
        assert len(variables["SECRET_KEY"]) == 64  # noqa: S101
        migrate = compose_service(data, "migrate", variables)
        web = compose_service(data, "web", variables)
        worker = compose_service(data, "worker", variables)
        beat = compose_service(data, "beat", variables)

        with report.step("Dockerfile CMD == web command") as info:
            raw_web = [str(a) for a in data["services"]["web"]["command"]]
            if dockerfile_cmd() != raw_web:
                raise SmokeError(f"Dockerfile CMD {dockerfile_cmd()} != compose web command {raw_web}")
            info["detail"] = "identical"

        env = build_environment(web, variables, workdir)
        shared = {k: v for k, v in web.environment.items() if k not in ("WEB_CONCURRENCY", "DATABASE_URL")}
        for svc in (migrate, worker, beat):
            if {k: v for k, v in svc.environment.items() if k != "DATABASE_URL"} != shared:
                raise SmokeError(f"{svc.name} environment differs from web's shared environment")
        with report.step("compose.yaml database roles") as info:
            roles = {
                svc.name: re.sub(r"^postgres://([^:@]+).*$", r"\1", svc.environment.get("DATABASE_URL", ""))
                for svc in (migrate, web, worker, beat)
            }
            wanted = {"migrate": COMPOSE_OWNER} | dict.fromkeys(("web", "worker", "beat"), COMPOSE_APP)
            if roles != wanted or shared.get("DATABASE_APP_ROLE") != COMPOSE_APP:
                raise SmokeError(
                    f"DATABASE_URL roles {roles}, DATABASE_APP_ROLE {shared.get('DATABASE_APP_ROLE')!r}; "
                    f"expected {wanted} and {COMPOSE_APP!r}"
                )
            info["detail"] = (
                f"migrate as {COMPOSE_OWNER}, web/worker/beat as {COMPOSE_APP} "
                f"(here {SMOKE_OWNER} and {SMOKE_APP})"
            )
        migrate_env = {**env, "DATABASE_URL": pg_smoke_url(SMOKE_OWNER)}
        runner = Runner(workdir, env)

        port = free_port()
        web_argv = replace_option(web.command, "--bind", f"127.0.0.1:{port}")
        worker_argvs = [[*worker.command, "-n", f"smoke-w{i}@%h"] for i in (1, 2)]
        beat_argv = replace_option(beat.command, "--schedule", str(workdir / "celerybeat-schedule"))
        print("    commands (from compose.yaml; overrides: --bind, -n, --schedule):")
        for name, argv in (
            ("migrate", migrate.command),
            ("web", web_argv),
            ("worker-1", worker_argvs[0]),
            ("worker-2", worker_argvs[1]),
            ("beat", beat_argv),
        ):
            print(f"      {name:9} {' '.join(argv)}")

        # 2. fresh services on this machine
        with report.step("scratch PostgreSQL + Redis") as info:
            scratch_database_create()
            db_created = True
            client = redis_client()
            client.flushdb()
            info["detail"] = (
                f"database {SMOKE_DB} owned by {SMOKE_OWNER}, role {SMOKE_APP}, redis db {REDIS_DB} flushed"
            )

        with report.step("collectstatic (as the image build)") as info:
            runner.run("collectstatic", ["python", "manage.py", "collectstatic", "--noinput"], timeout=180)
            info["detail"] = "manifest storage"

        with report.step("migrate (compose command, as the owner role)") as info:
            runner.run("migrate", migrate.command, timeout=300, env=migrate_env)
            info["detail"] = f"{' '.join(migrate.command)} as {SMOKE_OWNER}"

        with report.step("facility, lead source, coordinator") as info:
            out = shell(runner, "setup", SETUP_CODE)
            info["detail"] = "facility id {}, coordinator id {}".format(*out.split()[-2:])

        # 3. the long-running processes
        with report.step("start web, 2 workers, beat") as info:
            runner.start("web", web_argv)
            worker_procs = [runner.start(f"worker-{i}", argv) for i, argv in enumerate(worker_argvs, 1)]
            runner.start("beat", beat_argv)
            beat_started = time.monotonic()
            info["detail"] = "pids " + ", ".join(f"{p.name}={p.pid}" for p in runner.procs)

        base = f"http://127.0.0.1:{port}"
        http = httpx.Client(base_url=base, timeout=10.0)

        def healthz() -> dict[str, Any] | None:
            runner.check_running()
            response = http.get("/healthz")
            return response.json() if response.status_code == 200 else None

        with report.step("web /healthz 200") as info:
            body = wait_for("/healthz to answer 200", healthz, READY_TIMEOUT)
            info["detail"] = json.dumps(body["checks"], sort_keys=True)

        def workers_ready() -> bool:
            runner.check_running()
            return all(
                re.search(rf"smoke-w{i}@\S+ ready", p.log_text()) for i, p in enumerate(worker_procs, 1)
            )

        with report.step("both workers ready") as info:
            wait_for("both workers to log 'ready'", workers_ready, READY_TIMEOUT)
            host = socket.gethostname()
            nodes = [f"smoke-w{i}@{host}" for i in (1, 2)]
            out = runner.run(
                "inspect-ping",
                [
                    "celery",
                    "-A",
                    "crm",
                    "inspect",
                    "ping",
                    "--json",
                    "--timeout",
                    "10",
                    "-d",
                    ",".join(nodes),
                ],
                timeout=60,
            )
            replies = json.loads(out.strip().splitlines()[-1])
            if sorted(replies) != nodes:
                raise SmokeError(f"inspect ping answered by {sorted(replies)}, expected {nodes}")
            info["detail"] = "inspect ping answered by " + ", ".join(nodes)

        with report.step("static files (manifest, WhiteNoise)") as info:
            page = http.get("/login/")
            if page.status_code != 200:
                raise SmokeError(f"/login/ answered {page.status_code}")
            css = re.search(r'href="(/static/crm/app\.[0-9a-f]{12}\.css)"', page.text)
            if css is None:
                raise SmokeError("/login/ does not link a hashed crm/app.<hash>.css")
            asset = http.get(css.group(1))
            if asset.status_code != 200:
                raise SmokeError(f"{css.group(1)} answered {asset.status_code}")
            info["detail"] = f"/login/ 200, {css.group(1)} 200"

        # 4. one inquiry through the API, the database, beat and a worker
        with report.step("lead source API key") as info:
            out = runner.run(
                "create-key",
                [
                    "python",
                    "manage.py",
                    "create_lead_source_key",
                    LEAD_SOURCE_NAME,
                    "--label",
                    "process smoke",
                ],
                timeout=90,
                secret_stdout=True,
            )
            api_key = api_key_from_output(out)
            info["detail"] = f"key of {len(api_key)} chars printed"

        with report.step("POST /api/v1/leads/ -> 201") as info:
            response = http.post(
                "/api/v1/leads/",
                json=lead_payload(),
                headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": secrets.token_hex(16)},
            )
            if response.status_code != 201:
                raise SmokeError(f"answered {response.status_code}: {_one_line(response.text, 300)}")
            created = response.json()
            inquiry_id = int(created["id"])
            info["detail"] = json.dumps(created, sort_keys=True)

        db = psycopg.connect(pg_smoke_url().replace("postgres://", "postgresql://", 1), autocommit=True)
        try:
            with report.step("inquiry + follow-ups in PostgreSQL") as info:
                row = db.execute(
                    "SELECT stage, channel, assigned_to_id FROM admissions_inquiry WHERE id = %s",
                    (inquiry_id,),
                ).fetchone()
                if row is None:
                    raise SmokeError(f"inquiry {inquiry_id} not in admissions_inquiry")
                followups = db.execute(
                    "SELECT id, kind, state FROM admissions_followup"
                    " WHERE inquiry_id = %s ORDER BY due_at, id",
                    (inquiry_id,),
                ).fetchall()
                if not followups:
                    raise SmokeError(f"inquiry {inquiry_id} has no follow-ups")
                alerts = [(pk, state) for pk, kind, state in followups if kind == "coordinator_alert"]
                if not alerts or alerts[0][1] != "scheduled":
                    raise SmokeError(f"expected a scheduled coordinator_alert follow-up, found {alerts}")
                alert_id = alerts[0][0]
                info["detail"] = (
                    f"inquiry {inquiry_id} stage={row[0]} channel={row[1]} assigned_to={row[2]}; "
                    f"{len(followups)} follow-ups: " + ",".join(k for _, k, _ in followups)
                )

            with report.step("due follow-up done by a worker") as info:
                t0 = time.monotonic()
                db.execute("UPDATE admissions_followup SET due_at = now() WHERE id = %s", (alert_id,))

                def followup_done() -> tuple[str, str] | None:
                    runner.check_running()
                    state, outcome = db.execute(
                        "SELECT state, outcome FROM admissions_followup WHERE id = %s", (alert_id,)
                    ).fetchone() or ("missing", "")
                    if state not in ("scheduled", "queued", "done"):  # cancelled, blocked, failed
                        raise SmokeError(f"follow-up {alert_id} ended {state}: {outcome}")
                    return (state, outcome) if state == "done" else None

                state, outcome = wait_for(f"follow-up {alert_id} to be done", followup_done, FOLLOWUP_TIMEOUT)
                note = db.execute(
                    "SELECT id FROM admissions_inquiryevent"
                    " WHERE inquiry_id = %s AND kind = 'note' AND data->>'alert' = 'true'",
                    (inquiry_id,),
                ).fetchone()
                if note is None:
                    raise SmokeError(f"no alert note on inquiry {inquiry_id} after follow-up {alert_id}")
                ran_on = [
                    p.name
                    for p in worker_procs
                    if re.search(r"followup_run\[[^\]]+\] succeeded", p.log_text())
                ]
                info["detail"] = (
                    f"{state} ({outcome}) {time.monotonic() - t0:.1f} s after due; alert note {note[0]}; "
                    f"followup_run ran on {', '.join(ran_on) or '?'}"
                )

            with report.step("heartbeat from beat + worker") as info:

                def heartbeat() -> tuple[Any, str] | None:
                    runner.check_running()
                    return db.execute(
                        "SELECT beat_at, worker FROM workers_heartbeat WHERE name = 'celery'"
                    ).fetchone()

                # beat may take a while to boot on a loaded machine: always leave one full tick
                remaining = max(40.0, HEARTBEAT_TIMEOUT - (time.monotonic() - beat_started))
                beat_at, host = wait_for("the workers_heartbeat row", heartbeat, remaining)
                body = http.get("/healthz").json()
                if body.get("workers") != "ok":
                    raise SmokeError(f"/healthz says workers={body.get('workers')!r}")
                info["detail"] = f"row written by {host} at {beat_at:%H:%M:%S %Z}; /healthz workers=ok"

            with report.step("audit trail: append-only for the app role, chain intact") as info:
                app_db = psycopg.connect(pg_smoke_url(SMOKE_APP).replace("postgres://", "postgresql://", 1))
                try:
                    app_db.execute("DELETE FROM crm_auditevent")
                except psycopg.errors.InsufficientPrivilege:
                    pass
                else:
                    raise SmokeError(f"{SMOKE_APP} could delete audit rows")
                finally:
                    app_db.close()
                out = runner.run("audit-verify", ["python", "manage.py", "audit_verify"], timeout=90)
                info["detail"] = f"DELETE refused to {SMOKE_APP}; {out.strip()}"
        finally:
            db.close()
            http.close()

        # 5. SIGTERM, as `docker compose stop` sends it
        with report.step("SIGTERM: all exit 0 within 30 s") as info:
            runner.stop_all(STOP_TIMEOUT)
            bad = [p for p in runner.procs if p.exit_code != 0]
            leftovers = runner.kill_leftovers()
            for proc in runner.procs:
                report.record(
                    f"  stop {proc.name}",
                    proc.exit_code == 0,
                    f"exit {proc.exit_code if proc.exit_code is not None else 'none (timed out)'}",
                    proc.stop_seconds or STOP_TIMEOUT,
                )
            if bad or leftovers:
                raise SmokeError(
                    "; ".join(
                        [f"{p.name} exit {p.exit_code}" for p in bad]
                        + [f"left running: {x}" for x in leftovers]
                    )
                )
            info["detail"] = f"slowest {max(p.stop_seconds or 0 for p in runner.procs):.1f} s, no leftovers"
    finally:
        if runner is not None:
            if any(p.alive() for p in runner.procs):  # a step failed while they ran: stop them gently first
                runner.stop_all(10.0)
            leftovers = runner.kill_leftovers()
            if leftovers:
                report.record("cleanup: kill leftovers", False, "SIGKILL " + ", ".join(leftovers))
            if report.failed:
                runner.print_log_tails()
        if db_created and not args.keep:
            try:
                scratch_database_drop()
                redis_client().flushdb()
            except Exception as exc:  # noqa: BLE001
                report.record("cleanup: drop scratch database", False, _one_line(str(exc)))
        if args.keep:
            print(f"\nkept {workdir} and database {SMOKE_DB}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp folder, logs and scratch database")
    args = parser.parse_args()

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally blocks: our processes get stopped

    signal.signal(signal.SIGTERM, terminate)
    report = Report()
    try:
        run(args, report)
    except (KeyboardInterrupt, SystemExit) as exc:
        report.record("interrupted", False, f"{type(exc).__name__}; processes stopped, scratch data removed")
        report.print_table()
        return 130 if isinstance(exc, KeyboardInterrupt) else int(exc.code or 1)
    except Exception as exc:  # noqa: BLE001 - anything unexpected is a failure, reported the same way
        if not report.failed:  # a failing step has recorded itself already
            name = "error" if isinstance(exc, SmokeError) else f"unexpected {type(exc).__name__}"
            report.record(name, False, _one_line(str(exc)))
    report.print_table()
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
