"""HTTP benchmark: customer-profile reads through uvicorn, one worker vs several.

Builds a temp SQLite database with the tests' sample store (``tests/samplestore.py``,
``--customers`` customers), starts ``uvicorn recompra.server:create_app`` on a free
127.0.0.1 port, and runs a load generator in a second process (an asyncio + httpx loop:
``--concurrency`` connections for ``--seconds``) that GETs ``/v1/customers/{random id}``.
Prints throughput and p50/p99 latency per worker count. Bounded in time; the rate limit
is lifted for the run.

    .venv/bin/python benchmarks/bench_api.py --workers 1 4 --seconds 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The sample store is test fixture code: it lives in tests/, not in the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(url: str, key: str, ids: list[int], seconds: float, concurrency: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=30
    ) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(f"/v1/customers/{rng.choice(ids)}")
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors,
        "rps": n / elapsed,
        "p50_ms": 1000 * latencies[n // 2] if n else None,
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else None,
    }


def _loadgen_main() -> None:
    """Entry point of the load-generator subprocess (arguments as JSON on argv)."""
    spec = json.loads(sys.argv[2])
    result = asyncio.run(
        _load(spec["url"], spec["key"], spec["ids"], spec["seconds"], spec["concurrency"])
    )
    print(json.dumps(result))


def _database_url(home: Path, postgres: bool) -> str:
    """SQLite under ``home``, or a fresh database on the test PostgreSQL server."""
    if not postgres:
        return f"sqlite:///{home / 'recompra.db'}"
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from recompra.db import make_engine

    admin_url = os.environ["RECOMPRA_TEST_POSTGRES_URL"]
    name = f"bench_api_{os.getpid()}"
    admin = make_engine(admin_url, pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _prepare(url: str, customers: int) -> tuple[str, list[int]]:
    from recompra.auth.keys import create_api_key
    from recompra.db import make_engine, unit_of_work
    from recompra.migrate import upgrade
    from samplestore import seed_sample

    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        store = seed_sample(session, customers=customers)
        _, key = create_api_key(session, scopes=["read"], brand_id=store.brand_a)
    engine.dispose()
    return key, store.customers_a


def _run_server(home: Path, url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "RECOMPRA_HOME": str(home),
        "RECOMPRA_DATABASE_URL": url,
        "RECOMPRA_ENVIRONMENT": "test",
        "RECOMPRA_API_RATE_LIMIT_BURST": "100000000",
        "RECOMPRA_API_RATE_LIMIT_PER_SECOND": "100000000",
    }
    command = [
        sys.executable, "-m", "uvicorn", "recompra.server:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env)


def _wait(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def main() -> None:
    """Run the benchmark and print one line per worker count."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="use a fresh database on RECOMPRA_TEST_POSTGRES_URL (source scripts/pg.sh)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        db_url = _database_url(home, args.postgres)
        key, ids = _prepare(db_url, args.customers)
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(f"GET /v1/customers/{{id}} over {len(ids)} customers, {backend}, "
              f"{args.concurrency} connections, {args.seconds:.0f} s per run")  # fmt: skip
        for workers in args.workers:
            port = _free_port()
            server = _run_server(home, db_url, port, workers)
            try:
                url = f"http://127.0.0.1:{port}"
                _wait(url)
                spec = {"url": url, "key": key, "ids": ids, "seconds": args.seconds,
                        "concurrency": args.concurrency}  # fmt: skip
                out = subprocess.run(
                    [sys.executable, __file__, "--loadgen", json.dumps(spec)],
                    check=True, capture_output=True, text=True, timeout=args.seconds + 120,
                )  # fmt: skip
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"workers={workers}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
                    f"p99 {r['p99_ms']:.1f} ms ({r['requests']} requests, {r['errors']} errors)"
                )
            finally:
                server.terminate()
                server.wait(timeout=20)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        _loadgen_main()
    else:
        main()
