#!/usr/bin/env python3
"""One entry point for a fresh machine with Python 3.11 and nothing else.

    python3.11 run.py demo    install, migrate, seed demo data, start web + worker + beat
    python3.11 run.py test    run the full test suite (extra arguments go to pytest)

Only the standard library is used here: it installs uv into ``.tools/``, lets uv
build ``.venv/`` from the committed lock file, and hands over to the project. ``test`` also
installs the browser tests' npm packages (axe-core) from ``package-lock.json`` with ``npm ci``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.parse
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
VENV = ROOT / ".venv"
UV_VERSION = "0.13.8"
DEMO_LOGINS = ("coordinator", "clinician", "vob", "manager", "admin")


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _uv() -> Path:
    """A pinned uv in .tools/, installed from PyPI with pip the first time."""
    uv = TOOLS / "bin" / "uv"
    if uv.exists():
        return uv
    _say(f"installing uv {UV_VERSION} into {TOOLS.name}/")
    venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
    subprocess.run(
        [str(TOOLS / "bin" / "python"), "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}"],
        check=True,
    )
    return uv


def sync(*, dev: bool) -> Path:
    """Install the locked dependencies into .venv/ and return its python."""
    env = {
        **os.environ,
        "UV_PYTHON": sys.executable,
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PROJECT_ENVIRONMENT": str(VENV),
    }
    # Bytecode compiled at install time: a process started with PYTHONDONTWRITEBYTECODE would
    # otherwise compile large modules (phonenumbers' geodata) again on every start.
    command = [str(_uv()), "sync", "--frozen", "--quiet", "--compile-bytecode"]
    if not dev:
        # --inexact keeps the test tools a developer already installed in the same .venv
        command += ["--no-dev", "--inexact"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return VENV / "bin" / "python"


def npm_packages() -> None:
    """Install the locked npm packages (axe-core, for the browser tests' accessibility checks)
    into node_modules/ with ``npm ci``, once per version of package-lock.json. Without npm, or
    when the registry cannot be reached and npm's cache lacks a package, it says so and goes on:
    the accessibility test then fails (CRM_REQUIRE_SERVICES=1) or skips, naming what is missing."""
    lock = ROOT / "package-lock.json"
    stamp = ROOT / "node_modules" / ".crm-installed-lock"
    wanted = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        _say("npm not found: the accessibility tests need Node.js and npm (Debian: apt-get install npm)")
        return
    _say("installing the locked npm packages into node_modules/ (npm ci)")
    # --prefer-offline: npm's cache answers first, so a machine that installed them once needs no network
    command = [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel", "error"]
    if subprocess.run(command, cwd=ROOT, check=False).returncode != 0:  # noqa: S603
        _say("npm ci failed: the accessibility tests will report axe-core as missing")
        return
    stamp.write_text(wanted + "\n")


def _var_dir() -> Path:
    path = Path(os.environ.get("CRM_VAR_DIR", ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _demo_password(var_dir: Path) -> str:
    """One random demo password per installation, kept in var/ so restarts reuse it."""
    stored = var_dir / "demo-password"
    if stored.exists():
        return stored.read_text().strip()
    password = "demo-" + secrets.token_urlsafe(12)
    stored.write_text(password + "\n")
    stored.chmod(0o600)
    return password


def _embedded_postgres(python: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start the embedded PostgreSQL (``python -m crm.embedded postgres``) and wait until it is
    ready; returns the process that keeps it up and its ``DATABASE_URL`` per role."""
    holder = subprocess.Popen(  # noqa: S603
        [str(python), "-m", "crm.embedded", "postgres"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    urls: dict[str, str] = {}
    assert holder.stdout is not None  # noqa: S101 - stdout=PIPE
    for line in holder.stdout:
        role, _, url = line.strip().partition(" ")
        if role == "ready":
            return holder, urls
        urls[role] = url
    holder.wait()
    raise SystemExit("The embedded PostgreSQL did not start; see var/postgres/log.")


def demo(args: argparse.Namespace) -> int:
    _say("installing the locked dependencies into .venv/ (a minute or two the first time)")
    python = sync(dev=False)
    var_dir = _var_dir()
    env = {
        **os.environ,
        "CRM_VAR_DIR": str(var_dir),
        "PYTHONUNBUFFERED": "1",
        "VIRTUAL_ENV": str(VENV),
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    embedded = not env.get("REDIS_URL")
    processes = ["web", "worker", "beat"]
    if embedded:
        processes.insert(0, "redis")
    database: subprocess.Popen[str] | None = None
    owner_env = env
    if not env.get("DATABASE_URL"):
        _say("starting the embedded PostgreSQL (var/postgres)")
        database, urls = _embedded_postgres(python, env)
        # Two roles, as in production: the owner migrates and seeds; web, worker and beat run as
        # the application role, which may only append to the audit trail (crm/db_roles.py).
        app_role = urllib.parse.urlsplit(urls["app"]).username or ""
        owner_env = {**env, "DATABASE_URL": urls["owner"], "DATABASE_APP_ROLE": app_role}
        env = {**env, "DATABASE_URL": urls["app"]}
    try:
        return _demo_run(args, python, var_dir, owner_env, env, processes)
    finally:
        if database is not None:
            database.terminate()  # the server stops with it, unless a test run still holds it
            database.wait(timeout=60)


def _demo_run(
    args: argparse.Namespace,
    python: Path,
    var_dir: Path,
    owner_env: dict[str, str],
    env: dict[str, str],
    processes: list[str],
) -> int:
    """Migrate, seed and build the dashboards with ``owner_env``, then run the processes with ``env``."""
    manage = [str(python), "manage.py"]
    # The demo runs as a deployment would: DEBUG off (so an error is the CRM's own page, never
    # Django's debug page with its settings and stack), static files collected into var/static
    # and served by WhiteNoise from there.
    for e in (owner_env, env):
        e.setdefault("DEBUG", "false")
    _say("collecting the static files into var/static")
    subprocess.run([*manage, "collectstatic", "--noinput", "-v1"], cwd=ROOT, env=owner_env, check=True)
    _say("migrating the database")
    subprocess.run([*manage, "migrate", "--noinput", "-v1"], cwd=ROOT, env=owner_env, check=True)
    password = _demo_password(var_dir)
    _say("seeding demo data (first run only)")
    subprocess.run(
        [*manage, "seed_demo", "--if-empty", "--inquiries", str(args.inquiries), "--password", password],
        cwd=ROOT,
        env=owner_env,
        check=True,
    )
    # The dashboards are built here, before anyone can sign in: left to the worker, the first full
    # build ran while the first sign-ins were answered and slowed them down.
    _say("bringing the dashboards up to date")
    subprocess.run([*manage, "dashboards_refresh"], cwd=ROOT, env=owner_env, check=True)
    env["CRM_PORT"] = str(args.port)  # honcho overwrites PORT per process
    url = f"http://127.0.0.1:{args.port}/"
    print(
        "\n"
        f"  Admissions CRM: {url}\n"
        f"  Demo logins (password {password}):\n"
        + "".join(f"    {name}\n" for name in DEMO_LOGINS)
        + "  Each login sets up an authenticator app (any TOTP app) at its first sign-in.\n"
        + f"  Processes: {', '.join(processes)}. Stop with Ctrl+C.\n",
        flush=True,
    )
    honcho = VENV / "bin" / "honcho"
    child = subprocess.Popen(  # noqa: S603
        [str(honcho), "--no-colour", "-f", "Procfile", "start", *processes], cwd=ROOT, env=env
    )

    def _stop(signum: int, frame: object) -> None:
        child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = child.wait()
    # honcho reports the signal it stopped on; a requested stop is a clean exit
    return 0 if code in (0, -signal.SIGTERM, 128 + signal.SIGTERM, 130) else code


def test(args: argparse.Namespace, rest: list[str]) -> int:
    python = sync(dev=True)
    npm_packages()
    return subprocess.call([str(python), "-m", "pytest", *rest], cwd=ROOT)  # noqa: S603


def main() -> int:
    if sys.version_info[:2] != (3, 11):
        print(f"Python 3.11 is required; this is {sys.version.split()[0]}.", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="run the whole CRM with demo data")
    demo_parser.add_argument("--port", type=int, default=int(os.environ.get("CRM_PORT", "8000")))
    demo_parser.add_argument("--inquiries", type=int, default=3000, help="demo inquiries on first run")
    commands.add_parser("test", help="run the full test suite; extra arguments go to pytest")
    args, rest = parser.parse_known_args()
    if args.command == "demo":
        if rest:
            parser.error(f"unrecognised arguments: {' '.join(rest)}")
        return demo(args)
    return test(args, rest)


if __name__ == "__main__":
    sys.exit(main())
