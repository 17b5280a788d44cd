"""PostgreSQL stops under load: the API answers JSON 503 with Retry-After, pages a styled 503, never
a 500; every lead the API acknowledged before, during or after the outage is in the database.

Everything runs on private servers (``tests.workers.faultkit``): a PostgreSQL and a Redis on free
ports, and gunicorn with production settings; the machine's own services are never touched.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.followups.sinks import free_port
from tests.workers.faultkit import ROOT, PrivatePostgres, PrivateRedis, manage, service_env, wait_until

pytestmark = pytest.mark.faults

SETUP = """
from admissions.api.keys import lead_source_key_create
from admissions.models import LeadSource
from crm.models import Facility
facility = Facility.objects.create(
    name="Outage Test Center", neutral_sender_name="Outage Health", street="1 Main St", city="Tampa",
    state="FL", postal_code="33602", time_zone="America/New_York", phone="+18135550100",
)
source = LeadSource.objects.create(name="Outage web form", kind="website", default_facility=facility)
print(lead_source_key_create(lead_source=source, rate_limit_per_minute=1_000_000)[1])
"""


class StoppablePostgres(PrivatePostgres):
    """A private PostgreSQL that can be stopped and started again on the same data."""

    def halt(self) -> None:
        self._pg_ctl("stop", "-m", "fast")

    def resume(self) -> None:
        self._pg_ctl("start")


@dataclass
class Answers:
    """What the API answered, by phase."""

    rows: list[tuple[str, int, str, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, phase: str, response: httpx.Response) -> None:
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        with self.lock:
            self.rows.append(
                (
                    phase,
                    response.status_code,
                    response.headers.get("content-type", ""),
                    response.headers.get("retry-after", ""),
                    body,
                )
            )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StoppablePostgres, str, str]]:
    pg = StoppablePostgres()
    redis = PrivateRedis()
    pg.start()
    redis.start()
    var = tmp_path_factory.mktemp("outage")
    env = service_env(pg=pg, redis=redis, sms=None, var=var)
    env.update(
        CRM_ENV="production",
        DEBUG="false",
        SECRET_KEY="outage-test-" + "k" * 60,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        SECURE_SSL_REDIRECT="false",
        STATIC_ROOT=str(var / "static"),
        OUTAGE_RETRY_AFTER_SECONDS="7",
    )
    port = free_port()
    web: subprocess.Popen[bytes] | None = None
    try:
        manage(env, "migrate", "--skip-checks")
        manage(env, "collectstatic", "--noinput")
        token = manage(env, "shell", "-c", SETUP).strip().splitlines()[-1]
        log = (var / "web.log").open("wb")
        web = subprocess.Popen(  # noqa: S603
            [
                str(Path(ROOT) / ".venv/bin/gunicorn"),
                "crm.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
            ],  # fmt: skip
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 60, "gunicorn to answer /healthz")
        yield pg, base, token
    finally:
        if web is not None and web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            try:
                web.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(web.pid, signal.SIGKILL)
                web.wait(timeout=10)
        redis.kill()
        pg.stop()


def _lead(n: int) -> dict[str, Any]:
    return {"first_name": f"Outage{n}", "phone": f"(813) 555-{n % 10000:04d}", "substances": ["alcohol"]}


def test_postgres_stopping_under_load_gives_503s_and_loses_no_acknowledged_lead(server, caplog):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING, logger="httpx")
    pg, base, token = server
    answers = Answers()
    phase = "before"
    stop = threading.Event()
    counter = iter(range(10_000))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
            while not stop.is_set():
                with lock:
                    n = next(counter)
                response = http.post(
                    "/api/v1/leads/", json=_lead(n), headers={"Idempotency-Key": f"outage-{n}"}
                )
                answers.add(phase, response)
                time.sleep(0.02)

    pages: dict[str, httpx.Response] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(client) for _ in range(4)]
        time.sleep(2)
        phase = "outage"
        pg.halt()
        time.sleep(3)
        with httpx.Client(base_url=base, timeout=30) as http:
            pages["page"] = http.get("/", headers={"Cookie": "sessionid=" + "x" * 32})
            pages["lead status"] = http.get("/api/v1/leads/1/", headers={"Authorization": f"Bearer {token}"})
            pages["health"] = http.get("/healthz")
        phase = "after"
        pg.resume()
        wait_until(
            lambda: any(p == "after" and s == 201 for p, s, *_ in answers.rows), 60, "a 201 after the outage"
        )
        time.sleep(1)
        stop.set()
        for future in futures:
            future.result(timeout=60)

    statuses = {(p, s) for p, s, *_ in answers.rows}
    assert not [row for row in answers.rows if row[1] >= 500 and row[1] != 503], (
        "only 503s may be server errors"
    )
    assert {("before", 201), ("outage", 503), ("after", 201)} <= statuses, statuses
    unavailable = [row for row in answers.rows if row[1] == 503]
    assert {(ctype, retry) for _, _, ctype, retry, _ in unavailable} == {("application/json", "7")}
    assert {body["code"] for *_, body in unavailable} == {"service_unavailable"}

    assert pages["page"].status_code == 503
    assert pages["page"].headers["content-type"].startswith("text/html")
    assert pages["page"].headers["retry-after"] == "7"
    assert "Briefly unavailable" in pages["page"].text
    assert "/static/crm/app." in pages["page"].text
    assert (pages["lead status"].status_code, pages["lead status"].json()["code"]) == (
        503,
        "service_unavailable",
    )
    assert pages["health"].status_code == 503

    acknowledged = {body["id"] for _, status, _, _, body in answers.rows if status in (200, 201)}
    stored = {row[0] for row in pg.query("SELECT id FROM admissions_inquiry")}
    assert acknowledged - stored == set()  # no acknowledged lead lost
    print(f"answers: {sorted((p, s) for p, s in statuses)}; acknowledged {len(acknowledged)}")  # noqa: T201
