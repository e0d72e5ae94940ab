"""Batch refresh: compute every recommendation table from a snapshot and write Parquet.

The output directory (read back by :class:`recompra.recommend.serving.RecommendationIndex`)
holds:

==============================  ===========================================================
``product_pairs``               same-order product pairs (support, confidence, lift, cosine)
``product_rules``               directed product rules above the thresholds
``category_pairs/_rules``       the same at category level
``product_customer_pairs``      same-customer (across orders) product pairs
``category_customer_pairs``     same-customer category pairs
``product_fbt``                 top-k bought-together products per product
``product_stats``               price, orders, reviews and rating per product
``upsell``                      top-k upsell candidates per product
``popularity``                  best sellers (cold start), product level
``repeat_categories``           repeat-purchase rates and flags per category
``next_best_offer``             top-k explained offers per customer (product level)
``item_names``                  product and category names (pt-BR, en) for explanations
``manifest.json``               parameters, row counts, engine, timings
==============================  ===========================================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recompra.recommend.cooccurrence import CoPurchase, cooccurrence_duckdb, cooccurrence_spark
from recompra.recommend.next_best_offer import next_best_offers
from recompra.recommend.purchases import Catalogue, load_tables, purchase_lines
from recompra.recommend.recommenders import NextBestOffer
from recompra.recommend.sql import BasketKind, Level
from recompra.recommend.upsell import product_stats, upsell_candidates
from recompra.snapshot.schema import SCHEMAS

Engine = Literal["duckdb", "spark"]


@dataclass(frozen=True)
class RefreshConfig:
    """Parameters of a refresh.

    Attributes
    ----------
    k
        Items kept per product (bought together, upsell) and per customer (offers).
    min_pair_count
        Pairs seen together in fewer baskets are not written (noise and size control).
    min_support, min_confidence
        Thresholds of the association rules.
    price_band
        Upsell price band, multiples of the anchor's price.
    """

    k: int = 10
    min_pair_count: int = 1
    min_support: float = 0.0
    min_confidence: float = 0.0
    price_band: tuple[float, float] = (1.1, 2.0)


_FBT_SQL = """
SELECT antecedent AS anchor, consequent AS item_id, n_ab, lift, cosine, confidence,
       ROW_NUMBER() OVER (
           PARTITION BY antecedent ORDER BY cosine DESC, n_ab DESC, consequent
       ) AS rank
FROM rules
WHERE lift > 1.0
QUALIFY rank <= {k}
ORDER BY anchor, rank
"""


def _copurchase(
    engine: Engine,
    sources: Path | Mapping[str, pa.Table],
    level: Level,
    basket: BasketKind,
    config: RefreshConfig,
    spark: Any,
) -> CoPurchase:
    kwargs: dict[str, Any] = {
        "level": level,
        "basket": basket,
        "min_pair_count": config.min_pair_count,
        "min_support": config.min_support,
        "min_confidence": config.min_confidence,
    }
    if engine == "duckdb":
        return cooccurrence_duckdb(sources, **kwargs)
    if engine == "spark":
        if spark is None:
            from recompra.engines.spark import get_spark

            spark = get_spark()
        return cooccurrence_spark(spark, sources, **kwargs)
    raise ValueError(f"unknown engine {engine!r}; expected 'duckdb' or 'spark'")


def bought_together_table(rules: pa.Table, k: int = 10) -> pa.Table:
    """Return the top-``k`` same-order partners of each item (lift > 1, by cosine)."""
    con = duckdb.connect()
    try:
        con.register("rules", rules)
        result: pa.Table = con.sql(_FBT_SQL.format(k=int(k))).to_arrow_table()
    finally:
        con.close()
    return result


def _write(out: Path, name: str, table: pa.Table | pd.DataFrame) -> int:
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(table, out / f"{name}.parquet", compression="zstd")
    return int(table.num_rows)


def _names(catalogue: Catalogue) -> pd.DataFrame:
    products = catalogue.products
    categories = catalogue.categories
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "level": "product",
                    "item_id": products.index.to_numpy(dtype=np.int64),
                    "name_pt": products["name"].astype(str).to_numpy(),
                    "name_en": products["name"].astype(str).to_numpy(),
                    "category_id": products["category_id"].fillna(-1).to_numpy(dtype=np.int64),
                }
            ),
            pd.DataFrame(
                {
                    "level": "category",
                    "item_id": categories.index.to_numpy(dtype=np.int64),
                    "name_pt": categories["name_pt"].astype(str).to_numpy(),
                    "name_en": categories["name_en"].astype(str).to_numpy(),
                    "category_id": categories.index.to_numpy(dtype=np.int64),
                }
            ),
        ],
        ignore_index=True,
    )


def refresh(
    snapshot: Path | Mapping[str, pa.Table],
    out: Path,
    *,
    engine: Engine = "duckdb",
    config: RefreshConfig | None = None,
    segments: pd.DataFrame | None = None,
    spark: Any = None,
) -> dict[str, Any]:
    """Recompute and write every recommendation table (see the module docstring).

    Parameters
    ----------
    snapshot
        Snapshot directory, or its tables in memory.
    out
        Output directory (created; files are overwritten).
    engine
        ``"duckdb"`` or ``"spark"`` for the co-purchase statistics.
    config
        Refresh parameters.
    segments
        Optional ``customer_id, segment[, clv]`` table for the offer policy.
    spark
        Spark session for ``engine="spark"`` (default: :func:`~recompra.engines.spark.get_spark`).

    Returns
    -------
    dict
        The manifest written to ``out/manifest.json`` (row counts and seconds per step).
    """
    config = config or RefreshConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = load_tables(snapshot) if isinstance(snapshot, Path) else dict(snapshot)
    for optional in ("products", "categories", "reviews"):
        tables.setdefault(optional, SCHEMAS[optional].empty_table())
    # Engines read a snapshot directory themselves (Spark in parallel, at any size).
    sources: Path | Mapping[str, pa.Table] = snapshot if isinstance(snapshot, Path) else tables
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}

    def step(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    for level in ("product", "category"):
        for basket in ("order", "customer"):
            result = _copurchase(engine, sources, level, basket, config, spark)
            suffix = "" if basket == "order" else "_customer"
            counts[f"{level}{suffix}_pairs"] = _write(out, f"{level}{suffix}_pairs", result.pairs)
            if basket == "order":
                counts[f"{level}_rules"] = _write(out, f"{level}_rules", result.rules)
                if level == "product":
                    fbt = bought_together_table(result.rules, config.k)
                    counts["product_fbt"] = _write(out, "product_fbt", fbt)
    step("copurchase", started)

    started = time.perf_counter()
    lines = purchase_lines(tables)
    catalogue = Catalogue.from_tables(tables)
    reviews = tables["reviews"].select(["order_id", "score"]).to_pandas()
    stats = product_stats(lines, reviews, catalogue.products)
    counts["product_stats"] = _write(out, "product_stats", stats)
    upsell = upsell_candidates(stats, price_band=config.price_band, k=config.k)
    counts["upsell"] = _write(out, "upsell", upsell)
    step("upsell", started)

    started = time.perf_counter()
    model = NextBestOffer("product").fit(lines)
    popularity = pd.DataFrame(
        {"item_id": model.index_.ids, "n_customers": model.popularity_.astype(np.int64)}
    ).sort_values(["n_customers", "item_id"], ascending=[False, True])
    counts["popularity"] = _write(out, "popularity", popularity.head(max(100, config.k)))
    counts["repeat_categories"] = _write(out, "repeat_categories", model.repeat_table_)
    offers = next_best_offers(model, model.customers_, config.k, segments=segments)
    counts["next_best_offer"] = _write(out, "next_best_offer", offers)
    counts["item_names"] = _write(out, "item_names", _names(catalogue))
    step("next_best_offer", started)

    manifest = {
        "written_at": datetime.now(UTC).isoformat(),
        "engine": engine,
        "config": asdict(config),
        "row_counts": counts,
        "seconds": timings,
        "purchase_lines": len(lines),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
