"""Dashboard page times on a demo store: every page, both languages, median of five.

Run it against a home where ``recompra demo --no-serve`` has built the demo store (3,000
generated customers, analytics, predictions, recommendations, loyalty), signed in as the
demo user. The target is < 300 ms per page. Pages render in-process (Starlette's test
client), so the figures are the server's time without the network.

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

PAGES = [
    "/dashboard",
    "/dashboard/rfm",
    "/dashboard/customers",
    "/dashboard/customers?q=silva",
    "/dashboard/customers?segment=at_risk",
    "/dashboard/cohorts",
    "/dashboard/clv",
    "/dashboard/churn",
    "/dashboard/loyalty",
    "/dashboard/models",
    "/dashboard/glossary",
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
    pages = [*PAGES, f"/dashboard/customers/{first}", "/dashboard/export/customers.xlsx"]
    for language in ("pt-BR", "en"):
        client.cookies.set("recompra_lang", language)
        for path in pages:
            client.get(path)  # warm: templates compiled, outputs cached
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                response.raise_for_status()
            print(
                f"{language:6} {path:42} median {statistics.median(times):6.0f} ms"
                f"  max {max(times):6.0f} ms"
            )


if __name__ == "__main__":
    main()
