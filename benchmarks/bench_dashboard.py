"""Dashboard page times on a demo store: every page, both languages, median of five.

Run it against a home where ``recompra demo --no-serve`` has built the demo store (3,000
generated customers, analytics, predictions, recommendations, loyalty), signed in as the
demo user. The target is < 300 ms per page. Pages render in-process (Starlette's test
client), so the figures are the server's time without the network. Every page of the
navigation is timed, plus the overview over date ranges (KPIs of a range and of the
previous one computed on request) and lists under the shared filters. The machine may be
loaded: the CPU time of this process is printed beside the wall time.

    RECOMPRA_HOME=/tmp/demo .venv/bin/recompra demo --no-serve
    RECOMPRA_HOME=/tmp/demo .venv/bin/python benchmarks/bench_dashboard.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from recompra.cli.demo import DEMO_PASSWORD, DEMO_USER
from recompra.db import get_engine, unit_of_work
from recompra.models import Customer
from recompra.server import create_app
from recompra.web.context import NAVIGATION

#: Pages beyond the navigation's own: searches, filters, ranges, the API docs.
EXTRA_PAGES = [
    "/dashboard?range=90d",
    "/dashboard?range=year",
    "/dashboard?range=custom&from=2025-01-01&to=2025-03-31",
    "/dashboard/customers?q=silva",
    "/dashboard/customers?segment=at_risk",
    "/dashboard/customers?state=SP",
    "/dashboard/churn?state=SP&segment=at_risk",
    "/docs",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    client = TestClient(create_app())
    signed_in = client.post(
        "/login", data={"email": DEMO_USER, "password": DEMO_PASSWORD}, follow_redirects=False
    )
    if signed_in.status_code != 303:
        raise SystemExit("sign-in failed: build the demo store first (recompra demo --no-serve)")
    with unit_of_work(get_engine(), write=False) as session:
        first = session.scalar(select(Customer.id).order_by(Customer.id).limit(1))
    pages = [
        *(path for _, path in NAVIGATION),
        *EXTRA_PAGES,
        f"/dashboard/customers/{first}",
        "/dashboard/export/customers.xlsx",
    ]
    for language in ("pt-BR", "en"):
        client.cookies.set("recompra_lang", language)
        for path in pages:
            client.get(path)  # warm: templates compiled, outputs cached
            times, cpu = [], []
            for _ in range(args.repeat):
                start, start_cpu = time.perf_counter(), time.process_time()
                response = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
                response.raise_for_status()
            print(
                f"{language:6} {path:56} median {statistics.median(times):6.0f} ms"
                f"  max {max(times):6.0f} ms  cpu median {statistics.median(cpu):6.0f} ms"
            )


if __name__ == "__main__":
    main()
