"""Benchmark: synthetic store generator throughput to Parquet, with peak memory.

Usage: ``python benchmarks/bench_generate.py [--orders 10000000] [--out DIR] [--chunk N]``.
Prints wall time, orders/s, rows written per table and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from recompra.generate import GeneratorConfig, generate_to_parquet


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    config = GeneratorConfig(seed=args.seed, n_orders=args.orders)
    out = args.out or Path(tempfile.mkdtemp(prefix="recompra-bench-"))
    try:
        t0 = time.perf_counter()
        counts = generate_to_parquet(config, out, chunk_orders=args.chunk, overwrite=True)
        wall = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in out.rglob("*.parquet") if f.is_file())
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mib = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    for name, rows in counts.items():
        print(f"{name:<16} {rows:>14,}")
    print(f"wall time        {wall:>14.2f} s")
    print(f"orders/s         {counts['orders'] / wall:>14,.0f}")
    print(f"rows/s (all)     {sum(counts.values()) / wall:>14,.0f}")
    print(f"parquet size     {size / 2**20:>14,.1f} MiB")
    print(f"peak RSS         {peak_mib:>14,.1f} MiB")


if __name__ == "__main__":
    main()
