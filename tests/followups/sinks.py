"""Real local sinks: an SMTP server (aiosmtpd) and an HTTP server speaking the SMS provider's REST protocol.

Both record every raw delivery and the deliveries seen once per idempotency key
(SMTP Message-ID, ``Idempotency-Key`` header), like a provider that dedupes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "test-auth-token-0123456789"  # noqa: S105 - a test secret


def free_port() -> int:
    """A port that is free now (asked of the OS, then released; servers are given the number)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Ledger:
    """What a sink received: every delivery, and the first delivery per idempotency key."""

    raw: list[dict[str, object]] = field(default_factory=list)
    unique: dict[str, dict[str, object]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, record: dict[str, object]) -> bool:
        with self.lock:
            self.raw.append(record)
            if key in self.unique:
                return False
            self.unique[key] = record
            return True

    @property
    def duplicates(self) -> int:
        with self.lock:
            return len(self.raw) - len(self.unique)

    def keys(self) -> set[str]:
        with self.lock:
            return set(self.unique)

    def clear(self) -> None:
        with self.lock:
            self.raw.clear()
            self.unique.clear()


class _SmtpHandler:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        message = message_from_bytes(envelope.content)
        self.ledger.add(
            str(message["Message-ID"]),
            {"message": message, "rcpt": list(envelope.rcpt_tos), "from": envelope.mail_from},
        )
        return "250 OK"


@contextlib.contextmanager
def smtp_sink() -> Iterator[tuple[int, Ledger]]:
    ledger = Ledger()
    port = free_port()
    controller = Controller(_SmtpHandler(ledger), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, ledger
    finally:
        controller.stop()


@dataclass
class SmsApi:
    """Behaviour of the fake provider: answer these statuses first, wait this long per request."""

    ledger: Ledger
    port: int = 0
    fail_with: list[int] = field(default_factory=list)
    latency: float = 0.0
    requests: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def messages(self) -> list[dict[str, str]]:
        with self.ledger.lock:
            return [dict(r["form"]) for r in self.ledger.unique.values()]  # type: ignore[call-overload]


def _handler(api: SmsApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            return

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            api.requests += 1
            expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            if self.path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
                self._answer(404, {"code": 20404, "message": "not found"})
                return
            if self.headers.get("Authorization") != expected:
                self._answer(401, {"code": 20003, "message": "authenticate"})
                return
            if api.latency:
                time.sleep(api.latency)
            if api.fail_with:
                status = api.fail_with.pop(0)
                self._answer(status, {"code": 21211 if status == 400 else 20500, "message": "failure"})
                return
            key = self.headers.get("Idempotency-Key", "")
            record: dict[str, object] = {"form": form, "key": key, "sid": f"SM{abs(hash(key)) % 10**12:012d}"}
            api.ledger.add(key, record)
            with api.ledger.lock:
                sid = api.ledger.unique[key]["sid"]
            self._answer(201, {"sid": sid, "status": "queued", "to": form.get("To", "")})

    return Handler


@contextlib.contextmanager
def sms_api_sink() -> Iterator[SmsApi]:
    api = SmsApi(ledger=Ledger(), port=free_port())
    server = ThreadingHTTPServer(("127.0.0.1", api.port), _handler(api))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def header(message: object, name: str) -> str:
    assert isinstance(message, Message)
    return " ".join(str(message[name] or "").split())  # unfold folded header lines
