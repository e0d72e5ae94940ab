"""HTTP benchmark: the project's API side by side with a bare floor, over keep-alive.

Builds a temp database (SQLite, or PostgreSQL with ``--postgres``) with the API sample
store (``--customers`` customers) and a loyalty program, then for each worker count
starts two uvicorn servers on free 127.0.0.1 ports: ``recompra.server:create_app`` and the
bare floor (``floor_app.py``: FastAPI + the driver doing the same read and insert, no
auth, ORM or middleware). A load generator in a second process opens ``--concurrency``
kept-alive connections (each carries all of its requests) for ``--seconds`` and runs:

* ``GET /v1/customers/{id}`` (random customer) vs the floor's one-row read;
* ``POST /v1/loyalty/orders/{id}/earn`` (new orders first, then repeats) vs the floor's
  one-row insert in its own transaction.

Prints throughput, p50/p99 latency, the server's CPU time per request (stable on a shared
machine, unlike wall-clock figures) and the ratios to the floor. Bounded in time; the
rate limit is lifted for the run.

``--before REV`` serves the project's source at git revision ``REV`` as well (same load,
same run), so that a change is measured before and after under the same conditions. Each
side serves a database its own code prepared (its own migrations, its own sample store
from its ``tests/``, in a process of its own): the older code cannot serve a schema the
current migrations changed (0039 dropped a column the code before it reads). The order
is alternated, now/before then before/now (A B B A with the default two ``--rounds``),
and each figure is the median of its rounds.

Every server run starts on its own copy of its side's prepared database (a SQLite copy, a
PostgreSQL ``CREATE DATABASE ... TEMPLATE``), so that none meets what an earlier one left
(its earns, its reads' audit rows, the accounts it opened, SQLite's WAL, PostgreSQL's
dead rows and autovacuum), and each earns the same orders; then a warm-up that is not
measured. ``--shared-database`` serves every run from the one prepared database instead
(the runs earn disjoint slices of the orders): the method before, kept to show the bias
it had.

    .venv/bin/python benchmarks/bench_api.py --workers 1 2 --seconds 8 [--postgres] \
        [--before 2646425] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _cpu import cpu_by_process, postmaster_pid, server_cpu_seconds

HERE = Path(__file__).resolve().parent
#: Seconds of unmeasured load before each run.
WARMUP_S = 2.0


def _checkout(revision: str, into: Path) -> Path:
    """The repository's ``src`` and ``tests`` (the sample store) at ``revision``,
    extracted under ``into``; the folder holding them."""
    archive = subprocess.run(
        ["git", "archive", revision, "src", "tests"],
        cwd=HERE.parent, check=True, capture_output=True,
    ).stdout  # fmt: skip
    root = into / "before"
    root.mkdir()
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


def _source_path(root: Path, site: list[str]) -> str:
    """The ``PYTHONPATH`` that runs the project checked out at ``root`` (and ``site``),
    not whichever one the environment installed (a git worktree shares its main
    checkout's editable install)."""
    return os.pathsep.join([str(root / "src"), *site])


def _prepare_with(root: Path, url: str, customers: int) -> Prepared:
    """:func:`_prepare` run by the project checked out at ``root``: its code, its
    migrations and its sample store (``tests/``), in a process of its own, so that the
    database has the schema that code expects."""
    # The sample store is test fixture code: it lives in tests/, not in the package.
    path = os.pathsep.join([str(root / "src"), str(root / "tests")])
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--prepare-only", url,
         "--customers", str(customers)],
        env={**os.environ, "PYTHONPATH": path}, cwd=HERE,
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    key, customer_ids, orders = json.loads(out.stdout.strip().splitlines()[-1])
    return Prepared(url, key, customer_ids, [(order, customer) for order, customer in orders])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin() -> Any:
    """An engine on the test PostgreSQL server's maintenance database."""
    from recompra.db import make_engine

    return make_engine(os.environ["RECOMPRA_TEST_POSTGRES_URL"], pool_size=1)


def _database_url(home: Path, postgres: bool, side: str = "project") -> str:
    """SQLite under ``home``, or a fresh database on the test PostgreSQL server, for
    one side (``project`` or ``before``)."""
    if not postgres:
        return f"sqlite:///{home / f'{side}.db'}"
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    admin_url = os.environ["RECOMPRA_TEST_POSTGRES_URL"]
    name = f"bench_api_{os.getpid()}_{side}"
    admin = _admin()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _copy_database(prepared: str, suffix: str) -> str:
    """A copy of the prepared database for one server run (its name ``suffix``ed); its
    URL. The copies of a run are alike: none holds what another run wrote."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    if not prepared.startswith("postgresql"):
        path = prepared.removeprefix("sqlite:///")
        copy = path.removesuffix(".db") + f"_{suffix}.db"
        # The backup API copies a consistent image, whatever the WAL holds.
        with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(copy)) as target:
            source.backup(target)
        return f"sqlite:///{copy}"
    url = make_url(prepared)
    name = f"{url.database}_{suffix}"
    admin = _admin()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
        # The previous run's dirty pages written now, not by the checkpointer during the
        # next measured run (its CPU counts as PostgreSQL's).
        conn.execute(text("CHECKPOINT"))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    """Drop a database :func:`_database_url` or :func:`_copy_database` made."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    if not url.startswith("postgresql"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    admin = _admin()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


@dataclass(frozen=True)
class Prepared:
    """A database one side's code prepared: its URL, the key, brand A's customers and
    earnable orders (order id, customer id)."""

    url: str
    key: str
    customers: list[int]
    orders: list[tuple[int, int | None]]


def _prepare(url: str, customers: int) -> tuple[str, list[int], list[tuple[int, int | None]]]:
    """Seed the store and a program; the key, brand A's customers and earnable orders
    (order id, customer id). Run by :func:`_prepare_with`, under the code it chose."""
    from datetime import UTC, datetime

    from sqlalchemy import select, text

    from recompra.auth.keys import create_api_key
    from recompra.db import make_engine, unit_of_work
    from recompra.loyalty import create_program, publish_rules
    from recompra.loyalty.rules.engine import NON_EARNING_STATUSES
    from recompra.migrate import upgrade
    from recompra.models import Order
    from samplestore import seed_sample

    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        store = seed_sample(session, customers=customers)
        program = create_program(
            session,
            brand_id=store.brand_a,
            name="Bench",
            return_window_days=0,
            expiry_days=100_000,  # the sample orders are old: their points must not expire
        )
        publish_rules(
            session,
            program_id=program.id,
            rules=[{"type": "base", "points_per_unit": 1}],
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        _, key = create_api_key(session, scopes=["read", "loyalty"], brand_id=store.brand_a)
        orders = [
            (order_id, customer_id)
            for order_id, customer_id in session.execute(
                select(Order.id, Order.customer_id).where(
                    Order.brand_id == store.brand_a, Order.status.not_in(NON_EARNING_STATUSES)
                )
            )
        ]
        session.execute(
            text(
                "CREATE TABLE floor_writes (id INTEGER PRIMARY KEY"
                f"{' GENERATED ALWAYS AS IDENTITY' if url.startswith('postgresql') else ''}, "
                "order_id BIGINT NOT NULL, created_at TEXT NOT NULL)"
            )
        )
    if url.startswith("postgresql"):
        # The seeded tables vacuumed and analysed now: autovacuum would otherwise do it
        # during the first measured run, counted in that server's PostgreSQL CPU.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    random.Random(1).shuffle(orders)
    return key, store.customers_a, orders


def _serve(
    command: list[str], env: dict[str, str], port: int, workers: int
) -> subprocess.Popen[bytes]:
    """``command`` (a server taking ``--port`` and ``--workers``) on 127.0.0.1, run from
    this folder."""
    options = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen([*command, *options], env={**os.environ, **env}, cwd=HERE)


def _wait(url: str, path: str, timeout: float = 600) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def _settle(pid: int, timeout: float = 600) -> None:
    """Wait until the server ``pid`` is idle: its first answer comes from the first
    worker ready, while the others may still be importing the app (a minute on a loaded
    host), whose CPU would be counted in the measured run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(cpu_by_process(pid).values())
        time.sleep(1.0)
        if sum(cpu_by_process(pid).values()) - before < 0.05:
            return


def _is_resource_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """One run of the load generator (``http_load.py``) in a process of its own."""
    out = subprocess.run(
        [sys.executable, str(HERE / "http_load.py")], input=json.dumps(spec),
        check=True, capture_output=True, text=True, timeout=spec["seconds"] + 120,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _run(spec: dict[str, Any], server_pid: int, postmaster: int | None) -> dict[str, Any]:
    # Warm-up (imports, first statements compiled, pool filled) is not measured.
    # Reversed: sequential (earn) runs then warm up on orders the measured run reaches last.
    _loadgen({**spec, "seconds": WARMUP_S, "paths": spec["paths"][::-1]})
    cpu_before = cpu_by_process(server_pid)
    database_before = server_cpu_seconds(postmaster)
    result = _loadgen(spec)
    if postmaster and result["requests"]:
        database = server_cpu_seconds(postmaster) - database_before
        result["db_cpu_ms"] = 1000 * database / result["requests"]
    used = {
        process: seconds - cpu_before.get(process, 0.0)
        for process, seconds in cpu_by_process(server_pid).items()
    }
    cpu = sum(used.values())
    result["cpu_ms"] = 1000 * cpu / result["requests"] if result["requests"] else 0.0
    # The worker processes (not the supervisor, which only pings them, nor
    # multiprocessing's resource tracker): each one's share of the server's CPU.
    workers = [
        seconds
        for process, seconds in used.items()
        if process != server_pid and not _is_resource_tracker(process)
    ]
    result["worker_shares"] = sorted((s / cpu for s in workers if cpu), reverse=True)
    return result


def _line(label: str, r: dict[str, Any], floor: dict[str, Any] | None = None) -> str:
    ratio = (
        f", {r['rps'] / floor['rps']:.2f}x the floor's req/s, "
        f"{r['cpu_ms'] / floor['cpu_ms']:.1f}x its CPU"
        if floor
        else ""
    )
    return (
        f"  {label:<34} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
        f"p99 {r['p99_ms']:6.1f} ms  server CPU {r['cpu_ms']:5.2f} ms/req  "
        f"{_database_part(r)}"
        f"load generator CPU {r['client_cpu_ms']:5.3f} ms/req  "
        f"({r['requests']} requests, {r['errors']} errors{ratio}){_shares(r)}"
    )


def _database_part(r: dict[str, Any]) -> str:
    """PostgreSQL's CPU per request (its backends), when measured (``--postgres``)."""
    return f"PostgreSQL CPU {r['db_cpu_ms']:5.2f} ms/req  " if "db_cpu_ms" in r else ""


def _shares(r: dict[str, Any]) -> str:
    """Each worker's share of the server CPU (several workers only): an idle worker
    means the connections were not spread."""
    shares = r.get("worker_shares", [])
    if len(shares) < 2:
        return ""
    return "  workers' CPU shares " + "/".join(f"{100 * s:.0f}%" for s in shares)


def main() -> None:
    """Run the servers per worker count and print project vs floor."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=["read", "write"],
        default=["read", "write"],
        help="which requests to measure: profile reads, loyalty earns (default both)",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also serve the project's source at this git revision (before/after)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="runs of each project server, the order alternated (now, before, before, "
        "now, ...); medians printed (default 2 with --before, else 1)",
    )
    parser.add_argument(
        "--shared-database",
        action="store_true",
        help="serve every run from the one prepared database, not a copy each (the "
        "method that favoured the server measured second; for comparison)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="use a fresh database on RECOMPRA_TEST_POSTGRES_URL (source scripts/pg.sh)",
    )
    parser.add_argument(
        "--site",
        metavar="DIR",
        nargs="+",
        default=[],
        help="folders put on every server's PYTHONPATH, the floor's too (e.g. packages "
        "installed with pip --target to try another HTTP stack)",
    )
    parser.add_argument("--prepare-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_only:
        # One side's preparation (_prepare_with), under the code on this PYTHONPATH.
        print(json.dumps(_prepare(args.prepare_only, args.customers)))
        return
    if args.rounds is None:
        args.rounds = 2 if args.before else 1
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        sides = ["project", "before"] if args.before else ["project"]
        urls = {side: _database_url(home, args.postgres, side) for side in sides}
        try:
            _compare(args, home, urls)
        finally:
            if args.postgres:
                for url in urls.values():
                    _drop_database(url)


def _schedule(servers: list[str], rounds: int) -> list[str]:
    """The project servers' runs in order: each round reverses the previous one (A B,
    B A, A B, ...), so that no server is always measured first; the floor last."""
    order: list[str] = []
    for round_ in range(rounds):
        order += servers if round_ % 2 == 0 else servers[::-1]
    return [*order, "floor"]


def _compare(args: argparse.Namespace, home: Path, urls: dict[str, str]) -> None:
    """Serve the project and the floor per worker count; print them side by side."""
    # Each side prepares its own database with its own code (the floor serves the
    # project's); the revision's checkout is its root for "before".
    roots = {"project": HERE.parent}
    if args.before:
        roots["before"] = _checkout(args.before, home)
    prepared = {side: _prepare_with(roots[side], url, args.customers) for side, url in urls.items()}
    prepared["floor"] = prepared["project"]
    customers, orders = prepared["project"].customers, prepared["project"].orders
    backend = "PostgreSQL" if args.postgres else "SQLite"
    from recompra.db import make_engine

    engine = make_engine(urls["project"], pool_size=1)
    postmaster = postmaster_pid(engine)
    engine.dispose()  # a PostgreSQL template must have no connections
    databases = "one shared database" if args.shared_database else "a database copy a run"
    print(f"{backend}, {args.concurrency} kept-alive connections, {args.seconds:.0f} s "
          f"per run, {len(customers)} customers, {len(orders)} earnable orders, "
          f"{databases}, each side's own prepared by its own code")  # fmt: skip
    # --site: more packages (e.g. another HTTP stack) for every server, the floor too,
    # so that both sides of a ratio run on the same stack.
    site = [str(Path(folder).resolve()) for folder in args.site]
    project_env = {
        "PYTHONPATH": _source_path(HERE.parent, site),
        "RECOMPRA_HOME": str(home),
        "RECOMPRA_ENVIRONMENT": "test",
        "RECOMPRA_POOL_SIZE": str(args.concurrency),
        "RECOMPRA_API_RATE_LIMIT_BURST": "100000000",
        "RECOMPRA_API_RATE_LIMIT_PER_SECOND": "100000000",
    }
    base = {"seconds": args.seconds, "concurrency": args.concurrency}
    # The project as users run it (``recompra serve``); the floor through the same
    # uvicorn launcher, so both get the same sockets (recompra.server.run_uvicorn).
    serve = [sys.executable, "-m", "recompra.cli.main", "serve", "--log-level", "warning",
             "--log-format", "text"]  # fmt: skip
    servers = {"project": (serve, project_env, "/v1")}
    if args.before:
        before_env = {**project_env, "PYTHONPATH": _source_path(roots["before"], site)}
        servers["before"] = (serve, before_env, "/v1")
    floor_env = {"PYTHONPATH": project_env["PYTHONPATH"]}
    servers["floor"] = ([sys.executable, "floor_app.py"], floor_env, "")
    schedule = _schedule([name for name in servers if name != "floor"], args.rounds)
    for workers in args.workers:
        print(f"workers={workers}")
        results: dict[str, list[dict[str, Any]]] = {}
        for index, name in enumerate(schedule):
            app, env, prefix = servers[name]
            side = prepared[name]
            # A copy each: every run earns the same orders (new ones first, as users
            # do). On the one shared database the runs earn disjoint slices of the
            # customers, so that each meets as many first earns (accounts to open).
            earnable = [
                order
                for order, customer in side.orders
                if not args.shared_database
                or (order if customer is None else customer) % len(schedule) == index
            ]
            url = side.url if args.shared_database else _copy_database(side.url, f"run{index}")
            try:
                measured = _serve_and_measure(
                    (app, {**env, **_database_env(url, prefix)}, prefix),
                    workers,
                    {**base, "key": side.key if prefix else ""},
                    (side.customers, earnable, args.paths),
                    postmaster,
                )
                for kind, result in measured:
                    results.setdefault(f"{name} {kind}", []).append(result)
            finally:
                if url != side.url:
                    _drop_database(url)
        _report(results, args.before, schedule)


def _database_env(url: str, prefix: str) -> dict[str, str]:
    """The environment that points a server at ``url``: the project's (``prefix``
    ``/v1``) takes a SQLAlchemy URL, the floor a SQLite path or a libpq DSN."""
    if prefix:
        return {"RECOMPRA_DATABASE_URL": url}
    floor = url.replace("postgresql+psycopg://", "postgresql://")
    return {"FLOOR_DATABASE": floor.removeprefix("sqlite:///")}


def _serve_and_measure(
    server_spec: tuple[list[str], dict[str, str], str],
    workers: int,
    run: dict[str, Any],
    load: tuple[list[int], list[int], list[str]],
    postmaster: int | None,
) -> list[tuple[str, dict[str, Any]]]:
    """Start one server (command, environment, path prefix), measure each kind of
    request of ``load`` (customers, earnable orders, kinds) on it, stop it."""
    app, env, prefix = server_spec
    customers, earnable, kinds = load
    port = _free_port()
    server = _serve(app, env, port, workers)
    url = f"http://127.0.0.1:{port}"
    measured = []
    try:
        _wait(url, f"{prefix}/customers/{customers[0]}")
        _settle(server.pid)
        run = {**run, "host": "127.0.0.1", "port": port}
        write_prefix = f"{prefix}/loyalty" if prefix else ""
        loads = {  # kind: method, in order (first earns) or at random, paths
            "read": ("GET", False, [f"{prefix}/customers/{c}" for c in customers]),
            "write": ("POST", True, [f"{write_prefix}/orders/{o}/earn" for o in earnable]),
        }
        for kind in kinds:
            method, sequential, paths = loads[kind]
            spec = {**run, "method": method, "sequential": sequential, "paths": paths}
            measured.append((kind, _run(spec, server.pid, postmaster)))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:  # a wedged server (the old lock bug)
            server.kill()
            server.wait()
    return measured


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One server's figures over its rounds: the median of each, the requests summed."""
    figures: dict[str, Any] = {}
    for field, value in runs[0].items():
        if field in ("requests", "errors"):
            figures[field] = sum(run[field] for run in runs)
        elif field == "worker_shares":
            figures[field] = value  # a spread, not a level: the first round's shows it
        elif isinstance(value, int | float):
            figures[field] = statistics.median(run[field] for run in runs)
    return figures


def _order_line(runs: dict[str, list[dict[str, Any]]], schedule: list[str], kind: str) -> str:
    """Each project run's CPU per request in the order measured (its position bias)."""
    seen: dict[str, int] = {}
    cells = []
    for name in schedule[:-1]:
        r = runs[f"{name} {kind}"][seen.setdefault(name, 0)]
        seen[name] += 1
        database = f" + {r['db_cpu_ms']:.2f}" if "db_cpu_ms" in r else ""
        cells.append(f"{'now' if name == 'project' else name} {r['cpu_ms']:.2f}{database}")
    return "    runs in order measured, CPU ms/req: " + ", ".join(cells)


def _report(
    results: dict[str, list[dict[str, Any]]], before: str | None, schedule: list[str]
) -> None:
    """Each path: the project, the project before (``--before``), then the floor;
    medians over the rounds, then each run's CPU in the order measured."""
    for path, kind, floor_label in (
        ("GET /v1/customers/{id}", "read", "  floor: FastAPI + driver, 1 row"),
        ("POST /v1/loyalty/orders/{id}/earn", "write", "  floor: FastAPI + driver, 1 insert"),
    ):
        if f"floor {kind}" not in results:
            continue  # not measured (--paths)
        floor = _median(results[f"floor {kind}"])
        print(_line(path, _median(results[f"project {kind}"]), floor))
        if before:
            print(_line(f"  before ({before[:10]})", _median(results[f"before {kind}"]), floor))
        print(_line(floor_label, floor))
        if len(schedule) > 2:
            print(_order_line(results, schedule, kind))


if __name__ == "__main__":
    main()
