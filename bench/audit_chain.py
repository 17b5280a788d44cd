"""What the audit hash chain costs an audited request: the same server with the chain on and off.

Sets up as ``bench/lead_api.py`` does (scratch database ``--db-name``, migrated, seeded
with 20,000 people and inquiries, gunicorn with production settings, the load generator of
``bench/lead_api.py`` in its own process), then alternates the chain on and off (its commit-time
trigger enabled or disabled on ``crm_auditevent``), ``--rounds`` times, measuring:

- the reference endpoint (one audit row a request) with one client: the latency the chain adds
  to an audited request;
- the reference endpoint and the lead API (one audit row a lead) with ``--concurrency`` clients:
  the throughput, since audited transactions commit one at a time through the chain's head.

    .venv/bin/python bench/audit_chain.py [--seconds 15] [--rounds 3] [--db-name N] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with socket.socket() as _s:
    _s.bind(("127.0.0.1", 0))
    os.environ.setdefault("BENCH_PORT", str(_s.getsockname()[1]))

from bench import lead_api  # noqa: E402  (after the port is chosen: the load generator reads it)


def _chain(env: dict[str, str], on: bool) -> None:
    import psycopg

    url = env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"ALTER TABLE crm_auditevent {'ENABLE' if on else 'DISABLE'} TRIGGER crm_auditevent_chain"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db-name", default="crm_bench_chain", help="scratch database (default %(default)s)")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10"),
        help="Redis database the server uses, flushed at the end (default %(default)s)",
    )
    args = parser.parse_args()
    lead_api.DB_NAME = args.db_name
    lead_api.REDIS_URL = args.redis_url

    var_dir = tempfile.mkdtemp(prefix="crm-bench-chain-")
    env = lead_api._env(var_dir)
    env["REDIS_URL"] = lead_api.REDIS_URL
    lead_api._admin_sql(f"DROP DATABASE IF EXISTS {lead_api.DB_NAME} WITH (FORCE)")
    lead_api._admin_sql(f"CREATE DATABASE {lead_api.DB_NAME}")
    server = None
    results: dict[tuple[str, bool], list[dict[str, object]]] = {}
    try:
        subprocess.run(
            [lead_api.PYTHON, "manage.py", "migrate", "-v", "0"], cwd=lead_api.ROOT, env=env, check=True
        )
        seeded = subprocess.run(
            [lead_api.PYTHON, "-c", lead_api.SEED],
            cwd=lead_api.ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        token = json.loads(seeded.stdout.strip().splitlines()[-1])["token"]
        server = subprocess.Popen(  # noqa: S603
            [lead_api.GUNICORN, "crm.wsgi:application", "--workers", str(args.workers),
             "--bind", f"{lead_api.HOST}:{lead_api.PORT}", "--log-level", "warning",
             "--access-logfile", "/dev/null", "--preload", "--timeout", "120"],
            cwd=lead_api.ROOT, env=env,
        )  # fmt: skip
        lead_api._wait_for_server()
        warm = argparse.Namespace(seconds=3, concurrency=args.concurrency, rate=100)
        lead_api._run_loadgen("closed", "/api/v1/bench/reference/", token, warm, 90)
        lead_api._run_loadgen("closed", "/api/v1/leads/", token, warm, 91)
        one = argparse.Namespace(seconds=args.seconds, concurrency=1, rate=100)
        many = argparse.Namespace(seconds=args.seconds, concurrency=args.concurrency, rate=100)
        seed = 100
        for _ in range(args.rounds):
            for on in (True, False):
                _chain(env, on)
                for name, path, shape in (
                    ("reference, 1 client", "/api/v1/bench/reference/", one),
                    (f"reference, {args.concurrency} clients", "/api/v1/bench/reference/", many),
                    (f"lead, {args.concurrency} clients", "/api/v1/leads/", many),
                ):
                    seed += 1
                    results.setdefault((name, on), []).append(
                        lead_api._run_loadgen("closed", path, token, shape, seed)
                    )
        _chain(env, True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        lead_api._admin_sql(f"DROP DATABASE IF EXISTS {lead_api.DB_NAME} WITH (FORCE)")
        import redis

        redis.Redis.from_url(lead_api.REDIS_URL).flushdb()

    print(
        f"\nMedians of {args.rounds} alternating runs of {args.seconds:.0f} s, "
        f"gunicorn {args.workers} sync workers"
    )
    print(f"{'endpoint':<24}{'chain':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name in dict.fromkeys(n for n, _ in results):
        for on in (True, False):
            runs = results[(name, on)]
            med = {k: statistics.median(float(r[k]) for r in runs) for k in ("rps", "p50", "p99")}
            print(
                f"{name:<24}{'on' if on else 'off':>6}{med['rps']:>9.0f}{med['p50']:>9.2f}{med['p99']:>9.2f}"
            )


if __name__ == "__main__":
    main()
