"""Co-purchase statistics and association rules on an engine and (for reference) pandas.

Every engine of :mod:`recompra.engines` selects the basket lines with the same statement
of :mod:`recompra.recommend.sql`. Spark (distributed) then runs the pairs statement; DuckDB
(in-process) returns the lines and :mod:`recompra.recommend.pairs` counts the pairs by
sorting integer keys, about half the CPU of the statement at 10M orders
(``docs/recommend.md``). The pairs statement on DuckDB stays the reference the tests
compare it with row by row (:func:`copurchase_sql_on`); pandas is an independent
re-implementation used by the benchmark (side by side) and by the tests (as a second
opinion). All return the same :class:`CoPurchase` tables.

Two kinds of basket are supported (see ``docs/recommend.md``):

* ``basket="order"``: items bought in the same order. This is "frequently bought
  together", the evidence a product page shows.
* ``basket="customer"``: items bought by the same customer over their whole history. It
  captures complements bought on different days (the printer, then the ink), which is what
  next-best-offer needs to suggest *new* items to a returning customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recompra.engines.base import Engine
from recompra.engines.registry import open_engine
from recompra.recommend.pairs import count_pairs, pairs_table
from recompra.recommend.sql import (
    LEVEL_COLUMNS,
    PAIR_COLUMNS,
    RULE_COLUMNS,
    BasketKind,
    Level,
    baskets_sql,
    check_rule_thresholds,
    pairs_sql,
)
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: A snapshot directory, or in-memory snapshot tables by name (``orders``, ``order_items``).
Sources = Path | Mapping[str, pa.Table]

PAIRS_SCHEMA = pa.schema(
    [(c, pa.int64()) for c in PAIR_COLUMNS[:6]] + [(c, pa.float64()) for c in PAIR_COLUMNS[6:]]
)
RULES_SCHEMA = pa.schema(
    [(c, pa.int64()) for c in RULE_COLUMNS[:6]] + [(c, pa.float64()) for c in RULE_COLUMNS[6:]]
)
#: The pairs columns that hold each rule column, for ``a -> b`` and for ``b -> a``.
_FORWARD_RULE_SOURCES = PAIR_COLUMNS
_BACKWARD_RULE_SOURCES = (
    "item_b",
    "item_a",
    "n_ab",
    "n_b",
    "n_a",
    "n_baskets",
    "support",
    "confidence_ba",
    "confidence_ab",
    "lift",
    "cosine",
)
_INPUT_COLUMNS = {
    "orders": ("order_id", "customer_id", "status"),
    "order_items": ("order_id", "product_id", "category_id"),
}


@dataclass(frozen=True)
class CoPurchaseSpec:
    """What the co-purchase statistics count, the same for every engine and for pandas.

    Attributes
    ----------
    level, basket
        ``"product"`` or ``"category"``; ``"order"`` or ``"customer"`` (see the module
        docstring).
    min_pair_count
        Keep pairs seen together in at least this many baskets.
    min_support, min_confidence
        Thresholds of the association rules (the pairs table is not filtered by them).
    """

    level: Level = "product"
    basket: BasketKind = "order"
    min_pair_count: int = 1
    min_support: float = 0.0
    min_confidence: float = 0.0


@dataclass(frozen=True)
class CoPurchase:
    """Co-purchase statistics of one item level and basket kind.

    Attributes
    ----------
    pairs
        Undirected pairs (``item_a < item_b``), columns
        :data:`~recompra.recommend.sql.PAIR_COLUMNS`, in no particular order (sorting
        millions of rows is left to whoever needs it; :func:`tables_equal` sorts).
    rules
        Directed rules ``antecedent -> consequent`` above the thresholds, columns
        :data:`~recompra.recommend.sql.RULE_COLUMNS`, in no particular order.
    level, basket
        What an item and a basket are.
    """

    pairs: pa.Table
    rules: pa.Table
    level: Level
    basket: BasketKind


def _conformed(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return table.select(schema.names).cast(schema)


def register_sources(engine: Engine, sources: Sources) -> None:
    """Expose the ``orders`` and ``order_items`` the co-purchase SQL reads on ``engine``."""
    if isinstance(sources, Path):
        engine.register_snapshot(sources, tables=tuple(_INPUT_COLUMNS))
    else:
        engine.register_tables(
            {name: sources[name].select(list(cols)) for name, cols in _INPUT_COLUMNS.items()}
        )


def copurchase_views(
    engine: Engine,
    *,
    level: Level = "product",
    basket: BasketKind = "order",
    min_pair_count: int = 1,
) -> None:
    """Materialise ``baskets`` and ``pairs`` on an engine whose sources are registered.

    For writing the tables to Parquet at scale with ``engine.write_parquet`` (``pairs``
    and :func:`~recompra.recommend.sql.rules_sql`); :func:`copurchase_on` collects them.
    """
    engine.materialize("baskets", baskets_sql(level, basket))
    engine.materialize("pairs", pairs_sql(min_pair_count))


def rules_from_pairs(
    pairs: pa.Table, min_support: float = 0.0, min_confidence: float = 0.0
) -> pa.Table:
    """Return the directed rules of :data:`~recompra.recommend.sql.RULES_SQL` from its pairs.

    Each undirected pair gives two rules whose every value is already a column of
    ``pairs`` (swapped for ``b -> a``), so the rules are the pair columns relabelled,
    without copying them or sending a second, twice as long result from the engine.

    Parameters
    ----------
    pairs
        A pairs table of :data:`PAIRS_SCHEMA`.
    min_support, min_confidence
        Keep rules with support and confidence at least these.
    """
    check_rule_thresholds(min_support, min_confidence)
    rules = pa.concat_tables(
        pa.Table.from_arrays([pairs.column(c) for c in columns], schema=RULES_SCHEMA)
        for columns in (_FORWARD_RULE_SOURCES, _BACKWARD_RULE_SOURCES)
    )
    if min_support <= 0.0 and min_confidence <= 0.0:
        # Support and confidence are counts over positive counts, never negative: a zero
        # threshold keeps every rule, and filtering would copy millions of rows for nothing.
        return rules
    keep = pc.and_(
        pc.greater_equal(rules.column("support"), min_support),
        pc.greater_equal(rules.column("confidence"), min_confidence),
    )
    return rules.filter(keep)


#: Engines that run in this process: collecting every basket line costs them no more than
#: a copy, so they count the pairs with :func:`~recompra.recommend.pairs.count_pairs`.
_IN_PROCESS_ENGINES = frozenset({"duckdb"})


def copurchase_on(engine: Engine, spec: CoPurchaseSpec = CoPurchaseSpec()) -> CoPurchase:
    """Compute co-purchase pairs and rules on an engine whose sources are registered.

    In-process engines (DuckDB) return the basket lines and the pairs are counted by
    :func:`~recompra.recommend.pairs.count_pairs`; the others run the pairs statement
    (:func:`copurchase_sql_on`). The rules derive from the pairs by
    :func:`rules_from_pairs`.
    """
    if engine.name not in _IN_PROCESS_ENGINES:
        return copurchase_sql_on(engine, spec)
    lines = engine.query(baskets_sql(spec.level, spec.basket, distinct=False))
    counts = count_pairs(
        lines.column("basket_id").to_numpy(),
        lines.column("item_id").to_numpy(),
        spec.min_pair_count,
    )
    del lines
    return _copurchase(pairs_table(counts, PAIRS_SCHEMA), spec)


def copurchase_sql_on(engine: Engine, spec: CoPurchaseSpec = CoPurchaseSpec()) -> CoPurchase:
    """Compute co-purchase pairs and rules with the pairs statement on any engine.

    Spark's path, and on DuckDB the reference of :func:`copurchase_on`'s counts. The
    pairs are collected straight from their statement (nothing reads them twice on the
    engine).
    """
    engine.materialize("baskets", baskets_sql(spec.level, spec.basket))
    pairs = _conformed(engine.query(pairs_sql(spec.min_pair_count)), PAIRS_SCHEMA)
    return _copurchase(pairs, spec)


def _copurchase(pairs: pa.Table, spec: CoPurchaseSpec) -> CoPurchase:
    return CoPurchase(
        pairs=pairs,
        rules=rules_from_pairs(pairs, spec.min_support, spec.min_confidence),
        level=spec.level,
        basket=spec.basket,
    )


def cooccurrence(
    sources: Sources,
    spec: CoPurchaseSpec = CoPurchaseSpec(),
    *,
    engine: str = "duckdb",
    spark: SparkSession | None = None,
) -> CoPurchase:
    """Compute co-purchase pairs and association rules on DuckDB or Spark.

    Parameters
    ----------
    sources
        A snapshot directory or the ``orders`` and ``order_items`` tables.
    spec
        Item level, basket kind and thresholds.
    engine
        ``"duckdb"`` (embedded) or ``"spark"`` (see :mod:`recompra.engines`).
    spark
        Spark session to reuse with ``engine="spark"``.

    Returns
    -------
    CoPurchase
        The pairs and rules tables, collected to the driver.
    """
    with open_engine(engine, spark=spark) as runner:
        register_sources(runner, sources)
        return copurchase_on(runner, spec)


def cooccurrence_pandas(
    orders: pd.DataFrame,
    order_items: pd.DataFrame,
    spec: CoPurchaseSpec = CoPurchaseSpec(),
) -> CoPurchase:
    """Compute the same statistics with pandas (an independent reference implementation).

    Parameters
    ----------
    orders, order_items
        Frames with the snapshot columns ``order_id, customer_id, status`` and
        ``order_id, product_id, category_id``.
    spec
        Item level, basket kind and thresholds.

    Returns
    -------
    CoPurchase
        The pairs and rules tables.
    """
    level, basket = spec.level, spec.basket
    item_col = LEVEL_COLUMNS[level]
    if basket == "order":
        dropped = orders.loc[orders["status"].isin(NON_PURCHASE_STATUSES), "order_id"]
        lines = order_items.loc[~order_items["order_id"].isin(dropped), ["order_id", item_col]]
    else:
        bought = orders.loc[
            ~orders["status"].isin(NON_PURCHASE_STATUSES), ["order_id", "customer_id"]
        ]
        lines = order_items[["order_id", item_col]].merge(bought, on="order_id", how="inner")
    key = "order_id" if basket == "order" else "customer_id"
    baskets = (
        lines[[key, item_col]]
        .dropna()
        .drop_duplicates()
        .rename(columns={key: "basket_id", item_col: "item_id"})
        .astype({"basket_id": "int64", "item_id": "int64"})
    )
    n_baskets = int(baskets["basket_id"].nunique())
    item_counts = baskets.groupby("item_id").size().rename("n_item")
    sizes = baskets.groupby("basket_id")["item_id"].transform("size")
    multi = baskets.loc[sizes > 1]
    joined = multi.merge(multi, on="basket_id", suffixes=("_a", "_b"))
    joined = joined.loc[joined["item_id_a"] < joined["item_id_b"]]
    counts = joined.groupby(["item_id_a", "item_id_b"]).size().rename("n_ab").reset_index()
    counts = counts.loc[counts["n_ab"] >= spec.min_pair_count]
    counts.columns = pd.Index(["item_a", "item_b", "n_ab"])
    n_a = item_counts.reindex(counts["item_a"]).to_numpy(dtype=np.int64)
    n_b = item_counts.reindex(counts["item_b"]).to_numpy(dtype=np.int64)
    n_ab = counts["n_ab"].to_numpy(dtype=np.float64)
    pairs = pd.DataFrame(
        {
            "item_a": counts["item_a"].to_numpy(dtype=np.int64),
            "item_b": counts["item_b"].to_numpy(dtype=np.int64),
            "n_ab": counts["n_ab"].to_numpy(dtype=np.int64),
            "n_a": n_a,
            "n_b": n_b,
            "n_baskets": np.full(len(counts), n_baskets, dtype=np.int64),
            "support": n_ab / n_baskets,
            "confidence_ab": n_ab / n_a,
            "confidence_ba": n_ab / n_b,
            "lift": (n_ab * n_baskets) / (n_a.astype(np.float64) * n_b),
            "cosine": n_ab / np.sqrt(n_a.astype(np.float64) * n_b),
        }
    )
    forward = pairs.rename(
        columns={
            "item_a": "antecedent",
            "item_b": "consequent",
            "n_a": "n_antecedent",
            "n_b": "n_consequent",
            "confidence_ab": "confidence",
            "confidence_ba": "reverse_confidence",
        }
    )
    backward = pairs.rename(
        columns={
            "item_b": "antecedent",
            "item_a": "consequent",
            "n_b": "n_antecedent",
            "n_a": "n_consequent",
            "confidence_ba": "confidence",
            "confidence_ab": "reverse_confidence",
        }
    )
    rules = pd.concat([forward, backward], ignore_index=True)
    rules = rules.loc[
        (rules["support"] >= spec.min_support) & (rules["confidence"] >= spec.min_confidence)
    ]
    return CoPurchase(
        pairs=_conformed(pa.Table.from_pandas(pairs, preserve_index=False), PAIRS_SCHEMA),
        rules=_conformed(
            pa.Table.from_pandas(rules[list(RULE_COLUMNS)], preserve_index=False), RULES_SCHEMA
        ),
        level=level,
        basket=basket,
    )


def tables_equal(left: pa.Table, right: pa.Table, *, rel_tol: float = 1e-12) -> bool:
    """Return whether two pairs/rules tables hold the same rows (floats to ``rel_tol``).

    Rows are compared after sorting both tables by their first two (key) columns.
    """
    if left.schema != right.schema or left.num_rows != right.num_rows:
        return False
    keys = [(name, "ascending") for name in left.column_names[:2]]
    left, right = left.sort_by(keys), right.sort_by(keys)
    for name in left.column_names:
        a: Any = left.column(name).to_numpy()
        b: Any = right.column(name).to_numpy()
        if np.issubdtype(a.dtype, np.floating):
            if not np.allclose(a, b, rtol=rel_tol, atol=0.0):
                return False
        elif not np.array_equal(a, b):
            return False
    return True
