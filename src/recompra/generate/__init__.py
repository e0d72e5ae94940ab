"""Seeded synthetic Brazilian online store with a known BG/NBD truth.

``generate_tables(GeneratorConfig(...))`` returns the analytics snapshot tables in memory;
``generate_to_parquet(config, out_dir)`` streams benchmark sizes (millions of orders) to
Parquet part files with bounded memory. Same configuration, same bytes.
"""

from __future__ import annotations

from recompra.generate.bgnbd import expected_orders_per_customer, expected_repeat_purchases
from recompra.generate.config import GeneratorConfig
from recompra.generate.store import (
    TRUTH,
    generate_tables,
    generate_to_parquet,
    make_catalog,
    resolve_customers,
)

__all__ = [
    "TRUTH",
    "GeneratorConfig",
    "expected_orders_per_customer",
    "expected_repeat_purchases",
    "generate_tables",
    "generate_to_parquet",
    "make_catalog",
    "resolve_customers",
]
