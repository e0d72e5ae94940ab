"""Benchmark of ``recompra.predict`` against lifetimes, printed as figures.

Run: ``.venv/bin/python benchmarks/bench_predict.py [--customers 1000000] [--repeat 3]``

* synthetic data drawn from known parameters (``recompra.predict.simulate``): customers
  acquired uniformly over a year, purchase dates recorded in days, time unit = weeks;
* fit times (median of ``--repeat`` runs) of BG/NBD, Pareto/NBD and Gamma-Gamma, the
  number of distinct rows actually fitted, and whether every recovered parameter lies
  within 2 standard errors of the truth;
* lifetimes 0.11.3 on the same data, in a separate virtual environment ``.venv-bench``
  (created on first use; lifetimes needs pandas < 3 and older numpy/scipy), run in a
  subprocess with a timeout. lifetimes is used the way its ``fit`` docstrings recommend:
  identical rows merged and passed with ``weights=`` — the same compression recompra
  applies internally, so the ratio compares the two optimisers, not one library's data
  preparation. Its Pareto/NBD fit is also timed on a subsample (``--pareto-subsample``);
* CDNOW log-likelihoods of both libraries (relative difference, target 1e-6).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from recompra.predict import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)
from recompra.predict.cdnow import CALIBRATION_END, load_cdnow
from recompra.predict.rfm import summarize
from recompra.predict.simulate import (
    cohort_ages,
    simulate_bgnbd,
    simulate_paretonbd,
    simulate_spend,
)

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / ".venv-bench"
HELPER = Path(__file__).with_name("_predict_lifetimes.py")
CDNOW = ROOT / "tests" / "fixtures" / "cdnow" / "CDNOW_sample.txt.gz"
BG_TRUTH = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO_TRUTH = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
GG_TRUTH = {"p": 6.25, "q": 3.74, "v": 15.44}
LIFETIMES_PINS = ["lifetimes==0.11.3", "numpy<2", "scipy<1.12", "pandas<2.2"]


def ensure_bench_venv() -> Path | None:
    """Create ``.venv-bench`` with lifetimes if missing; return its python or None."""
    python = BENCH_VENV / "bin" / "python"
    check = [str(python), "-c", "import lifetimes"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating {BENCH_VENV} with {' '.join(LIFETIMES_PINS)} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *LIFETIMES_PINS], capture_output=True
    )
    if pip.returncode != 0 or subprocess.run(check, capture_output=True).returncode != 0:
        print("  lifetimes could not be installed:", pip.stderr.decode()[-500:])
        return None
    return python


def run_lifetimes(python: Path | None, model: str, data: dict[str, Any], timeout: float) -> dict:
    """Fit ``model`` with lifetimes in the bench venv; returns its JSON or an error."""
    if python is None:
        return {"error": "lifetimes unavailable"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, **data)
        try:
            proc = subprocess.run(
                [str(python), str(HELPER), model, str(path)],
                capture_output=True,
                timeout=timeout,
                text=True,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    result: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def merged_rows(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Identical rows merged into one, with their count as ``weights`` (lifetimes' input)."""
    stacked = np.column_stack(list(columns.values()))
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    merged = {name: unique[:, i] for i, name in enumerate(columns)}
    merged["weights"] = counts.astype(np.float64)
    return merged


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def recovery(model: Any, truth: dict[str, float]) -> str:
    """``name=estimate (z)`` per parameter, z = (estimate - truth) / SE."""
    parts = []
    ok = True
    for name, value in truth.items():
        est = model.params_[name]
        z = (est - value) / model.standard_errors_[name]
        ok &= abs(z) <= 2
        parts.append(f"{name}={est:.4g} (z={z:+.2f})")
    return ("within 2 SE: " + ("yes" if ok else "NO") + " | ") + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lifetimes-timeout", type=float, default=600.0)
    parser.add_argument("--pareto-subsample", type=int, default=20_000)
    parser.add_argument("--skip-lifetimes", action="store_true")
    args = parser.parse_args()
    n = args.customers
    python = None if args.skip_lifetimes else ensure_bench_venv()

    ages = cohort_ages(n, max_age=52.0, resolution=1 / 7, seed=1)
    bg = simulate_bgnbd(n, **BG_TRUTH, T=ages, seed=2, resolution=1 / 7)
    pn = simulate_paretonbd(n, **PARETO_TRUTH, T=ages, seed=3, resolution=1 / 7)
    spend = simulate_spend(bg.frequency, **GG_TRUTH, seed=4)
    print(f"\n== synthetic data: {n:,} customers, ages up to 52 weeks, dates in days ==")

    rows = []
    t_bg, m_bg = timed(lambda: BetaGeoModel().fit(bg.frequency, bg.recency, bg.T), args.repeat)
    rows.append(("BG/NBD", t_bg, 1.0, m_bg.n_unique_rows_, recovery(m_bg, BG_TRUTH)))
    t_pn, m_pn = timed(lambda: ParetoNBDModel().fit(pn.frequency, pn.recency, pn.T), args.repeat)
    rows.append(("Pareto/NBD", t_pn, 10.0, m_pn.n_unique_rows_, recovery(m_pn, PARETO_TRUTH)))
    t_gg, m_gg = timed(lambda: GammaGammaModel().fit(bg.frequency, spend), args.repeat)
    rows.append(("Gamma-Gamma", t_gg, 0.5, int(m_gg.n_customers_), recovery(m_gg, GG_TRUTH)))
    for name, secs, target, uniq, rec in rows:
        verdict = "meets" if secs <= target else "MISSES"
        print(
            f"recompra {name:<11} fit {secs:7.3f} s (median of {args.repeat}; target <= "
            f"{target} s: {verdict}); rows fitted {uniq:,}\n    {rec}"
        )

    print(
        "\n== lifetimes 0.11.3 on the same data (subprocess in .venv-bench), identical rows "
        "merged and passed as weights= as its fit() docs recommend =="
    )
    bg_rows = merged_rows({"frequency": bg.frequency, "recency": bg.recency, "T": bg.T})
    lt_bg = run_lifetimes(python, "bgnbd", bg_rows, args.lifetimes_timeout)
    _report("BG/NBD", lt_bg, t_bg, n, bg_rows)
    pn_rows = merged_rows({"frequency": pn.frequency, "recency": pn.recency, "T": pn.T})
    lt_pn_all = run_lifetimes(python, "pareto", pn_rows, args.lifetimes_timeout)
    _report("Pareto/NBD", lt_pn_all, t_pn, n, pn_rows)
    k = min(args.pareto_subsample, n)
    sub = {"frequency": pn.frequency[:k], "recency": pn.recency[:k], "T": pn.T[:k]}
    sub_rows = merged_rows(sub)
    lt_pn = run_lifetimes(python, "pareto", sub_rows, args.lifetimes_timeout)
    t_pn_sub, _ = timed(
        lambda: ParetoNBDModel().fit(sub["frequency"], sub["recency"], sub["T"]), args.repeat
    )
    _report(f"Pareto/NBD (first {k:,} customers)", lt_pn, t_pn_sub, k, sub_rows)
    gg_rows = merged_rows({"frequency": bg.frequency, "monetary": spend})
    lt_gg = run_lifetimes(python, "gg", gg_rows, args.lifetimes_timeout)
    _report("Gamma-Gamma", lt_gg, t_gg, n, gg_rows)

    print("\n== CDNOW (2357 customers, 39-week calibration): log-likelihood at the optimum ==")
    t = load_cdnow(CDNOW)
    s = summarize(t.customer_id, t.purchased_at, t.value, calibration_end=CALIBRATION_END)
    cd = merged_rows({"frequency": s.frequency, "recency": s.recency, "T": s.T})
    ours = {
        "bgnbd": BetaGeoModel().fit(s.frequency, s.recency, s.T),
        "pareto": ParetoNBDModel().fit(s.frequency, s.recency, s.T),
        "mbgnbd": ModifiedBetaGeoModel().fit(s.frequency, s.recency, s.T),
    }
    for name, model in ours.items():
        lt = run_lifetimes(python, name, cd, args.lifetimes_timeout)
        _compare_ll(name, model.log_likelihood_, lt)
    gg = GammaGammaModel().fit(s.frequency, s.monetary_value)
    gg_cd = merged_rows({"frequency": s.frequency, "monetary": s.monetary_value})
    lt = run_lifetimes(python, "gg", gg_cd, 600)
    _compare_ll("gamma-gamma", gg.log_likelihood_, lt)


def _report(name: str, lt: dict, ours_seconds: float, n: int, rows: dict[str, Any]) -> None:
    merged = f"{n:,} customers in {rows['weights'].size:,} weighted rows"
    if "error" in lt:
        print(f"lifetimes {name}: {lt['error']} ({merged}; recompra: {ours_seconds:.3f} s)")
        return
    ratio = lt["seconds"] / ours_seconds
    params = ", ".join(f"{k}={v:.4g}" for k, v in lt["params"].items())
    print(
        f"lifetimes {name}: {lt['seconds']:.2f} s vs recompra {ours_seconds:.3f} s "
        f"-> recompra {ratio:.1f}x faster ({merged}); lifetimes params {params}"
    )


def _compare_ll(name: str, ours: float, lt: dict) -> None:
    if "error" in lt:
        print(f"{name:<12} recompra LL {ours:.4f}; lifetimes: {lt['error']}")
        return
    rel = abs(ours - lt["log_likelihood"]) / abs(lt["log_likelihood"])
    if rel <= 1e-6:
        verdict = "equal to 1e-6"
    elif ours > lt["log_likelihood"]:
        verdict = "recompra found a higher likelihood"
    else:
        verdict = "DIFFERS"
    print(
        f"{name:<12} recompra LL {ours:.6f}  lifetimes LL {lt['log_likelihood']:.6f}  "
        f"relative difference {rel:.1e} ({verdict})"
    )


if __name__ == "__main__":
    main()
