"""Generate a whole synthetic store: in memory (small) or streamed to Parquet (benchmarks)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recompra.generate.arrow import labels, timestamps
from recompra.generate.bgnbd import expected_orders_per_customer
from recompra.generate.catalog import Catalog, build_catalog
from recompra.generate.config import GeneratorConfig
from recompra.generate.customers import CITY_NAMES, STATE_CODES, generate_customers
from recompra.generate.orders import generate_orders
from recompra.snapshot.io import MANIFEST, table_path
from recompra.snapshot.schema import CUSTOMERS, SCHEMAS

#: Customers per random block. Every block has its own random stream, so the data do not
#: depend on how blocks are grouped into Parquet parts. Changing it changes the output.
BLOCK_CUSTOMERS = 65_536

#: The per-customer truth behind the simulation (optional extra table ``truth``).
TRUTH = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("lambda", pa.float64()),
        ("p", pa.float64()),
        ("horizon", pa.float64()),
        ("repeat_purchases", pa.int64()),
        ("alive_at_end", pa.bool_()),
        ("mean_spend_minor", pa.float64()),
        ("favourite_category_id", pa.int64()),
        ("favourite_bias", pa.float64()),
    ]
)
_CATALOG_TABLES = ("categories", "products")
_CATALOG_STREAM = 0
_BLOCK_STREAM = 1


def resolve_customers(config: GeneratorConfig) -> int:
    """Return the number of customers: ``n_customers`` or derived from ``n_orders``."""
    if config.n_orders is None:
        return config.n_customers
    return max(1, round(config.n_orders / expected_orders_per_customer(config)))


def _rng(config: GeneratorConfig, *key: int) -> np.random.Generator:
    if config.seed < 0:
        raise ValueError("seed must be non-negative")
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=key))


def make_catalog(config: GeneratorConfig) -> Catalog:
    """Build the (deterministic) catalogue of ``config``."""
    return build_catalog(config, _rng(config, _CATALOG_STREAM))


def iter_blocks(
    config: GeneratorConfig, catalog: Catalog, *, truth: bool = False
) -> Iterator[dict[str, pa.Table]]:
    """Yield the customer-side tables of each block of ``BLOCK_CUSTOMERS`` customers.

    Ids are consecutive across blocks: customers from 1, orders, returns and reviews
    each from 1 in block order (orders sorted by customer, then time).
    """
    n_total = resolve_customers(config)
    next_order = next_return = next_review = 1
    for block, first in enumerate(range(0, n_total, BLOCK_CUSTOMERS)):
        n = min(BLOCK_CUSTOMERS, n_total - first)
        rng = _rng(config, _BLOCK_STREAM, block)
        cust = generate_customers(rng, config, catalog, first_id=first + 1, n=n)
        out = generate_orders(
            rng,
            config,
            catalog,
            cust,
            first_order_id=next_order,
            first_return_id=next_return,
            first_review_id=next_review,
        )
        next_order += out.orders.num_rows
        next_return += out.returns.num_rows
        next_review += out.reviews.num_rows
        tables = {
            "customers": pa.table(
                {
                    "customer_id": cust.customer_id,
                    "brand_id": np.full(n, config.brand_id, dtype=np.int64),
                    "first_seen_at": timestamps(cust.acquired_us),
                    "city": labels(CITY_NAMES, cust.city),
                    "state": labels(STATE_CODES, cust.state),
                    "birth_date": pa.array(cust.birth_days, pa.date32()),
                },
                schema=CUSTOMERS,
            ),
            "orders": out.orders,
            "order_items": out.order_items,
            "payments": out.payments,
            "returns": out.returns,
            "reviews": out.reviews,
        }
        if truth:
            tables["truth"] = pa.table(
                {
                    "customer_id": cust.customer_id,
                    "lambda": cust.repeats.lam,
                    "p": cust.repeats.p,
                    "horizon": cust.horizon,
                    "repeat_purchases": cust.repeats.count,
                    "alive_at_end": cust.repeats.alive,
                    "mean_spend_minor": cust.mean_spend * 100.0,
                    "favourite_category_id": cust.favourite + 1,
                    "favourite_bias": cust.bias,
                },
                schema=TRUTH,
            )
        yield tables


def generate_tables(config: GeneratorConfig, *, truth: bool = False) -> dict[str, pa.Table]:
    """Generate the whole store in memory (for small sizes).

    Parameters
    ----------
    config
        Generator configuration.
    truth
        Also return the per-customer ``truth`` table (schema :data:`TRUTH`).

    Returns
    -------
    dict of str to pyarrow.Table
        Every table of :data:`recompra.snapshot.schema.SCHEMAS` (plus ``truth``).
    """
    catalog = make_catalog(config)
    parts: dict[str, list[pa.Table]] = {}
    for tables in iter_blocks(config, catalog, truth=truth):
        for name, table in tables.items():
            parts.setdefault(name, []).append(table)
    schemas = dict(SCHEMAS, truth=TRUTH)
    out = {"categories": catalog.categories, "products": catalog.products}
    for name in [*SCHEMAS, *(["truth"] if truth else [])]:
        if name not in out:
            chunks = parts.get(name, [])
            out[name] = (
                pa.concat_tables(chunks).combine_chunks() if chunks else schemas[name].empty_table()
            )
    return out


def generate_to_parquet(
    config: GeneratorConfig,
    out_dir: Path,
    chunk_orders: int = 1_000_000,
    *,
    truth: bool = False,
    overwrite: bool = False,
) -> dict[str, int]:
    """Stream the store to a snapshot directory of Parquet part files.

    Blocks of customers are generated one after the other and written as
    ``<table>.parquet/part-NNNNN.parquet`` whenever about ``chunk_orders`` orders have
    accumulated, then freed, so memory stays bounded whatever the size. The data are the
    same as :func:`generate_tables` for the same configuration.

    Parameters
    ----------
    config
        Generator configuration (``n_orders`` is convenient at benchmark sizes).
    out_dir
        Snapshot directory; ``manifest.json`` is written last.
    chunk_orders
        Orders per part file (approximately; whole blocks of customers per part).
    truth
        Also write ``truth.parquet`` (schema :data:`TRUTH`).
    overwrite
        Replace existing table directories instead of refusing.

    Returns
    -------
    dict of str to int
        Row counts per table.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [*SCHEMAS, *(["truth"] if truth else [])]
    for name in names:
        path = table_path(out_dir, name)
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        path.mkdir()
    counts = dict.fromkeys(names, 0)
    catalog = make_catalog(config)
    for name in _CATALOG_TABLES:
        table = getattr(catalog, name)
        _write_part(out_dir, name, 0, table)
        counts[name] = table.num_rows

    # One writer thread overlaps Parquet encoding (which releases the GIL) with the
    # generation of the next chunk; at most one chunk waits, so memory stays bounded.
    block_names = [n for n in names if n not in _CATALOG_TABLES]
    pending: dict[str, list[pa.Table]] = {}
    pending_orders = 0
    part = 0
    writing: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1) as writer:
        for tables in iter_blocks(config, catalog, truth=truth):
            for name, table in tables.items():
                pending.setdefault(name, []).append(table)
            pending_orders += tables["orders"].num_rows
            if pending_orders >= chunk_orders:
                if writing is not None:
                    writing.result()
                writing = writer.submit(_flush, out_dir, part, pending, counts, block_names)
                pending, pending_orders, part = {}, 0, part + 1
        if writing is not None:
            writing.result()
        if pending or part == 0:
            _flush(out_dir, part, pending, counts, block_names)

    manifest = {
        "written_at": datetime.now(UTC).isoformat(),
        "as_of": config.end.isoformat(),
        "row_counts": counts,
        "generator": config.to_json(),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return counts


def _flush(
    out_dir: Path,
    part: int,
    pending: dict[str, list[pa.Table]],
    counts: dict[str, int],
    names: list[str],
) -> None:
    schemas = dict(SCHEMAS, truth=TRUTH)
    for name in names:
        chunks = pending.get(name, [])
        table = pa.concat_tables(chunks) if chunks else schemas[name].empty_table()
        _write_part(out_dir, name, part, table)
        counts[name] += table.num_rows


def _write_part(out_dir: Path, name: str, part: int, table: pa.Table) -> None:
    pq.write_table(
        table, table_path(out_dir, name) / f"part-{part:05d}.parquet", compression="zstd"
    )
