"""Benchmark the analytics on generated data (default 10M orders), side by side.

Prints, for the same snapshot: DuckDB (2 threads) RFM + segments, cohorts, all KPIs with
peak memory (median of ``--runs``); a pandas groupby RFM summary (and pandas scores),
written the way pandas recommends (days by truncating UTC ``datetime64`` values, not a
tz-aware ``.dt.floor``); the
lifetimes ``summary_data_from_transaction_data`` (run in ``.venv-bench``, which needs
pandas<3 and an old numpy); and the whole suite on Spark ``local[2]``. Every engine run is
its own subprocess so peak RSS (``ru_maxrss``) belongs to that run alone.

Usage::

    .venv/bin/python benchmarks/bench_analytics.py [--orders 10000000] [--runs 3]
        [--data /tmp/recompra_bench_analytics] [--no-spark] [--no-lifetimes]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / ".venv-bench"
LIFETIMES_PINS = ["lifetimes==0.11.3", "pandas==2.1.4", "numpy==1.26.4", "scipy<1.12"]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_snapshot(data: Path, orders: int, seed: int) -> Path:
    """Generate the snapshot with recompra.generate unless it is already there."""
    snapshot = data / f"snapshot_{orders}_{seed}"
    if (snapshot / "manifest.json").exists():
        return snapshot
    from recompra.generate import GeneratorConfig, generate_to_parquet

    start = time.perf_counter()
    counts = generate_to_parquet(
        GeneratorConfig(seed=seed, n_orders=orders), snapshot, overwrite=True
    )
    print(f"generated {counts} in {time.perf_counter() - start:.1f} s", flush=True)
    return snapshot


# --------------------------------------------------------------------------- workers


def worker_sql(engine_name: str, snapshot: Path) -> dict[str, Any]:
    """One analytics pass (no clustering) with stage timings, on DuckDB or Spark."""
    from recompra.analytics.cohorts import cohorts_sql
    from recompra.analytics.kpis import GRANULARITIES, kpis_by_period_sql, kpis_by_segment_sql
    from recompra.analytics.prepare import (
        FACTS_VIEW,
        LAPSES_VIEW,
        ORDERS_VIEW,
        RunParams,
        day_of,
        facts_sql,
        lapses_sql,
        orders_sql,
    )
    from recompra.analytics.rfm import SCORES_VIEW, rfm_sql
    from recompra.engines.base import Engine
    from recompra.snapshot.as_of import resolve_as_of

    engine: Engine
    if engine_name == "duckdb":
        from recompra.engines.duckdb import DuckDBEngine

        engine = DuckDBEngine(threads=2)
    else:
        from recompra.engines.spark_sql import SparkEngine

        engine = SparkEngine(master="local[2]")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    engine.register_snapshot(snapshot)
    d = engine.dialect
    params = RunParams(as_of_day=day_of(resolve_as_of(engine, None)), churn_days=180)
    t1 = time.perf_counter()
    engine.materialize(ORDERS_VIEW, orders_sql(d, params))
    engine.materialize(SCORES_VIEW, rfm_sql(params))
    scores = engine.query(f"SELECT * FROM {SCORES_VIEW}")
    t2 = time.perf_counter()
    cohorts = engine.query(cohorts_sql())
    t3 = time.perf_counter()
    engine.materialize(FACTS_VIEW, facts_sql(params))
    engine.materialize(LAPSES_VIEW, lapses_sql(params))
    for granularity in GRANULARITIES:
        engine.query(kpis_by_period_sql(d, params, granularity))
    engine.query(kpis_by_segment_sql(d, params))
    t4 = time.perf_counter()
    timings = {
        "setup_s": t1 - t0,
        "rfm_segments_s": t2 - t1,
        "cohorts_s": t3 - t2,
        "kpis_s": t4 - t3,
        "total_s": t4 - t0,
    }
    engine.close()
    return {
        **timings,
        "customers": scores.num_rows,
        "cohort_cells": cohorts.num_rows,
        "peak_rss_mb": _peak_mb(),
    }


def _read_purchases(snapshot: Path) -> Any:
    import pandas as pd
    import pyarrow.parquet as pq

    from recompra.snapshot.schema import NON_PURCHASE_STATUSES

    orders = pq.read_table(
        snapshot / "orders.parquet",
        columns=["order_id", "customer_id", "status", "purchased_at", "total_minor"],
    ).to_pandas()
    orders = orders[~orders.status.isin(NON_PURCHASE_STATUSES)]
    returns = pq.read_table(
        snapshot / "returns.parquet", columns=["order_id", "amount_minor"]
    ).to_pandas()
    refunds = returns.groupby("order_id").amount_minor.sum()
    net = orders.total_minor - orders.order_id.map(refunds).fillna(0).astype("int64")
    # The UTC calendar day by truncating the UTC instants (datetime64 -> days), as pandas'
    # time-series guide suggests for plain UTC data: ``.dt.floor("D")`` on a tz-aware column
    # goes through per-element time-zone handling and took 10.8 of the 19.5 s of this
    # worker at 10M orders.
    utc = orders.purchased_at.to_numpy(dtype="datetime64[ns]")  # tz-aware -> UTC, vectorised
    return pd.DataFrame(
        {
            "customer_id": orders.customer_id.to_numpy(),
            "day": utc.astype("datetime64[D]").astype("datetime64[ns]"),
            "net": net.clip(lower=0).to_numpy(),
        }
    )


def worker_pandas(snapshot: Path) -> dict[str, Any]:
    """pandas groupby RFM summary (recency, frequency, monetary), then rank scores."""
    import numpy as np

    t0 = time.perf_counter()
    purchases = _read_purchases(snapshot)
    t1 = time.perf_counter()
    as_of = purchases.day.max()
    summary = purchases.groupby("customer_id").agg(
        last=("day", "max"), frequency=("day", "size"), monetary=("net", "sum")
    )
    summary["recency"] = (as_of - summary["last"]).dt.days
    t2 = time.perf_counter()
    n = len(summary)
    r_rank = summary.recency.rank(method="min")
    m_rank = summary.monetary.rank(method="min", ascending=False)
    summary["r"] = 5 - np.floor(5 * (r_rank - 1) / n)
    summary["m"] = 5 - np.floor(5 * (m_rank - 1) / n)
    t3 = time.perf_counter()
    return {
        "read_s": t1 - t0,
        "rfm_summary_s": t2 - t1,
        "rfm_summary_with_read_s": t2 - t0,
        "rfm_scores_with_read_s": t3 - t0,
        "customers": n,
        "peak_rss_mb": _peak_mb(),
    }


def export_for_lifetimes(snapshot: Path, target: Path) -> Path:
    """Write the purchases as .npz (the bench venv has numpy but no pyarrow)."""
    import numpy as np

    if target.exists():
        return target
    purchases = _read_purchases(snapshot)
    np.savez(
        target,
        customer_id=purchases.customer_id.to_numpy(),
        day=purchases.day.to_numpy().astype("datetime64[D]").astype("int64"),
        net=purchases.net.to_numpy(),
    )
    return target


LIFETIMES_SCRIPT = """
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
from lifetimes.utils import summary_data_from_transaction_data
data = np.load(sys.argv[1])
frame = pd.DataFrame({"customer_id": data["customer_id"],
                      "date": pd.to_datetime(data["day"], unit="D"),
                      "net": data["net"]})
start = time.perf_counter()
summary = summary_data_from_transaction_data(frame, "customer_id", "date",
    monetary_value_col="net", observation_period_end=frame.date.max(), freq="D")
print(json.dumps({"summary_s": time.perf_counter() - start, "customers": len(summary),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def ensure_bench_venv() -> Path | None:
    """Reuse ``.venv-bench`` (shared with bench_predict) or create it with lifetimes pins."""
    python = BENCH_VENV / "bin" / "python"
    probe = [str(python), "-c", "import lifetimes"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print("creating .venv-bench with lifetimes ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", *LIFETIMES_PINS]
    if subprocess.run(pip).returncode != 0:
        return None
    return python


def run_worker(kind: str, snapshot: Path, timeout: int = 3600) -> dict[str, Any]:
    """Run one worker in a fresh interpreter and parse its JSON line."""
    command = [sys.executable, __file__, "--worker", kind, "--snapshot", str(snapshot)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker {kind} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/recompra_bench_analytics"))
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-lifetimes", action="store_true")
    parser.add_argument("--worker", choices=["duckdb", "spark", "pandas"])
    parser.add_argument("--snapshot", type=Path)
    args = parser.parse_args()

    if args.worker:
        if args.worker == "pandas":
            print(json.dumps(worker_pandas(args.snapshot)))
        else:
            print(json.dumps(worker_sql(args.worker, args.snapshot)))
        return

    args.data.mkdir(parents=True, exist_ok=True)
    snapshot = ensure_snapshot(args.data, args.orders, args.seed)
    manifest = json.loads((snapshot / "manifest.json").read_text())
    print(f"snapshot {snapshot}: {manifest.get('row_counts')}", flush=True)
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()}", flush=True)
    report: dict[str, Any] = {"orders": manifest.get("row_counts", {}).get("orders")}

    duck = [run_worker("duckdb", snapshot) for _ in range(args.runs)]
    for run in duck:
        print("duckdb run", json.dumps({k: round(v, 3) for k, v in run.items()}), flush=True)
    report["duckdb"] = {
        k: _median(duck, k)
        for k in ("rfm_segments_s", "cohorts_s", "kpis_s", "total_s", "peak_rss_mb")
    }
    pandas_runs = [run_worker("pandas", snapshot) for _ in range(args.runs)]
    for run in pandas_runs:
        print("pandas run", json.dumps({k: round(v, 3) for k, v in run.items()}), flush=True)
    report["pandas"] = {
        k: _median(pandas_runs, k)
        for k in ("rfm_summary_with_read_s", "rfm_scores_with_read_s", "peak_rss_mb")
    }
    if not args.no_lifetimes:
        python = ensure_bench_venv()
        if python is None:
            report["lifetimes"] = "unavailable (could not create .venv-bench)"
        else:
            npz = export_for_lifetimes(snapshot, args.data / f"purchases_{args.orders}.npz")
            done = subprocess.run(
                [str(python), "-c", LIFETIMES_SCRIPT, str(npz)],
                capture_output=True,
                text=True,
                timeout=3600,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            report["lifetimes"] = json.loads(lines[-1]) if lines else done.stderr[-2000:]
            print("lifetimes", report["lifetimes"], flush=True)
    if not args.no_spark:
        try:
            report["spark_local2"] = run_worker("spark", snapshot)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            report["spark_local2"] = f"failed: {error}"[:2000]
        print("spark", report["spark_local2"], flush=True)

    rfm = report["duckdb"]["rfm_segments_s"]
    report["ratios"] = {
        "pandas_rfm_summary_over_duckdb_rfm_segments": report["pandas"]["rfm_summary_with_read_s"]
        / rfm,
    }
    if isinstance(report.get("lifetimes"), dict):
        report["ratios"]["lifetimes_summary_over_duckdb_rfm_segments"] = (
            report["lifetimes"]["summary_s"] / rfm
        )
    if isinstance(report.get("spark_local2"), dict):
        report["ratios"]["spark_total_over_duckdb_total"] = (
            report["spark_local2"]["total_s"] / report["duckdb"]["total_s"]
        )
    targets = {"rfm_segments_s": 3.0, "cohorts_s": 2.0, "kpis_s": 10.0}
    report["targets"] = {
        k: {"target_s": v, "median_s": report["duckdb"][k], "met": report["duckdb"][k] <= v}
        for k, v in targets.items()
    }
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
