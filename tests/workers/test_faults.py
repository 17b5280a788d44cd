"""Fault tests: a real worker process is killed, Redis and PostgreSQL restart, and nothing is lost.

All servers here are private (free ports, temporary folders); the machine's own
PostgreSQL and Redis are never touched. Leases are 3 s so re-dispatch is quick.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.followups.sinks import SmsApi, sms_api_sink
from tests.workers.faultkit import (
    Beat,
    PrivatePostgres,
    PrivateRedis,
    Worker,
    delivery_problems,
    manage,
    seed,
    service_env,
    wait_until,
)

pytestmark = pytest.mark.faults

CONCURRENCY = 2


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def migrated(private_pg: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory) -> PrivatePostgres:
    var = tmp_path_factory.mktemp("var")
    manage(
        service_env(pg=private_pg, redis=PrivateRedis(port=1), sms=None, var=var), "migrate", "--skip-checks"
    )
    return private_pg


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def sms() -> Iterator[SmsApi]:
    with sms_api_sink() as api:
        yield api


@pytest.fixture
def rig(
    migrated: PrivatePostgres, redis: PrivateRedis, sms: SmsApi, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Worker]]:
    env = service_env(pg=migrated, redis=redis, sms=sms, var=tmp_path)
    # a failed test must not leave rows for the next test's worker to deliver
    migrated.query(
        "UPDATE admissions_followup SET state = 'cancelled' "
        "WHERE state IN ('scheduled', 'queued') RETURNING id"
    )
    worker = Worker(env=env, log=tmp_path / "worker.log", concurrency=CONCURRENCY)
    try:
        yield env, worker
    finally:
        worker.stop()


def _done(pg: PrivatePostgres, run: str) -> int:
    return int(
        pg.query(  # type: ignore[call-overload]
            "SELECT count(*) FROM admissions_followup WHERE dedupe_key LIKE %s AND state = 'done'",
            f"fault:{run}:%",
        )[0][0]
    )


def _all_done(
    pg: PrivatePostgres, run: str, count: int, timeout: float, worker: Worker, supervise: bool = False
) -> int:
    """Wait until every row is done; with ``supervise`` restart a worker that died (as compose would)."""
    restarts = 0

    def finished() -> bool:
        nonlocal restarts
        if supervise and worker.process is not None and worker.process.poll() is not None:
            restarts += 1
            worker.start()
        return _done(pg, run) == count

    try:
        wait_until(finished, timeout, f"all {count} follow-ups done")
    except AssertionError:
        print(worker.log.read_text()[-4000:])  # noqa: T201 - shown on failure only
        raise
    return restarts


def test_kill_9_of_the_worker_with_1000_due_loses_nothing(migrated, redis, sms, rig):
    env, worker = rig
    expected = seed(env, run="kill", count=1000)
    with Beat(redis.url):
        worker.start()
        wait_until(lambda: len(sms.ledger.unique) >= 300, 60, "300 deliveries before the kill")
        worker.kill9()
        at_kill = len(sms.ledger.unique)
        assert at_kill < 1000, "the worker finished before it could be killed"
        time.sleep(1)
        worker.start()
        _all_done(migrated, "kill", 1000, 150, worker)
    assert delivery_problems(expected=expected, pg=migrated, sms=sms, run="kill") == []
    assert len(sms.ledger.unique) == 1000  # 0 duplicates at a sink that dedupes by idempotency key
    # raw duplicates only from messages in flight at the kill: at most one per pool process
    assert sms.ledger.duplicates <= CONCURRENCY
    print(f"kill -9 after {at_kill} deliveries: raw duplicates {sms.ledger.duplicates}")  # noqa: T201


def test_redis_restart_without_persistence_loses_nothing(migrated, redis, sms, rig):
    env, worker = rig
    expected = seed(env, run="redis", count=300)
    sms.latency = 0.01  # a backlog builds up in Redis
    with Beat(redis.url):
        worker.start()
        wait_until(lambda: len(sms.ledger.unique) >= 30, 60, "30 deliveries before Redis stops")
        redis.kill()  # every queued task id in Redis is gone
        pending = 300 - _done(migrated, "redis")
        assert pending > 0
        time.sleep(1)
        redis.start()  # same port, empty
        # kombu's Redis transport sometimes ends the worker on a lost connection ("Unrecoverable
        # error ... 'hostname'" while restoring unacked messages); production restarts it
        # (compose restart policy), so the test does too and reports it
        restarts = _all_done(migrated, "redis", 300, 90, worker, supervise=True)
    assert delivery_problems(expected=expected, pg=migrated, sms=sms, run="redis") == []
    assert len(sms.ledger.unique) == 300
    assert sms.ledger.duplicates <= CONCURRENCY
    print(f"Redis lost {pending} pending messages' tasks, re-dispatched from PostgreSQL; restarts {restarts}")  # noqa: T201


def test_postgres_restart_during_dispatch_recovers_without_intervention(migrated, redis, sms, rig):
    env, worker = rig
    expected = seed(env, run="pg", count=300)
    sms.latency = 0.005
    with Beat(redis.url):
        worker.start()
        wait_until(lambda: len(sms.ledger.unique) >= 50, 60, "50 deliveries before PostgreSQL restarts")
        migrated.restart()
        restarted_at = len(sms.ledger.unique)
        assert restarted_at < 300
        _all_done(migrated, "pg", 300, 120, worker)
    assert worker.process is not None
    assert worker.process.poll() is None
    assert delivery_problems(expected=expected, pg=migrated, sms=sms, run="pg") == []
    assert len(sms.ledger.unique) == 300
    assert sms.ledger.duplicates <= CONCURRENCY


def test_negative_control_the_checker_catches_a_lost_message(migrated, redis, sms, rig):
    """A provider that answers 201 but drops one message: the database says done, the checker says lost."""
    env, worker = rig
    expected = seed(env, run="neg", count=20)
    with Beat(redis.url):
        worker.start()
        _all_done(migrated, "neg", 20, 60, worker)
    victim = next(iter(sms.ledger.unique))
    with sms.ledger.lock:
        del sms.ledger.unique[victim]  # the message the provider "lost"
    problems = delivery_problems(expected=expected, pg=migrated, sms=sms, run="neg")
    assert len(problems) == 1
    assert problems[0].startswith("1 messages never reached the provider")
