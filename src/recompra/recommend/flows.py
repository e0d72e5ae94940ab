"""The recommend runs: batch refresh of every recommendation table, offline evaluation.

:func:`refresh` computes the tables from a snapshot (co-purchase SQL on the engine the
caller names, see :mod:`recompra.engines`) and writes Parquet; :func:`policy_segments`
builds the segment/CLV table the offer policy reads from an analytics run and a prediction
run; :func:`evaluate_snapshot` runs the offline evaluation.

The refresh's output directory (read back by
:class:`recompra.recommend.serving.RecommendationIndex`) holds:

==============================  ===========================================================
``product_pairs``               same-order product pairs (support, confidence, lift, cosine)
``product_rules``               directed product rules above the thresholds
``category_pairs/_rules``       the same at category level
``product_customer_pairs``      same-customer (across orders) product pairs
``category_customer_pairs``     same-customer category pairs
``product_fbt``                 top-k bought-together products per product
``product_stats``               price, orders, reviews and rating per product
``upsell``                      top-k upsell candidates per product
``popularity``                  the served cold-start list (best sellers, all-time or recent)
``repeat_products``             learned rebuy rate and usual gap per product
``next_best_offer``             served "any item" list per customer, explained (product level)
``new_item_offers``             served "new to the customer" list per customer, explained
``item_names``                  product and category names (pt-BR, en) for explanations
``manifest.json``               parameters, row counts, engine, timings, and ``served``:
                                the method serving each list and why (validation scores
                                against the baselines, :mod:`recompra.recommend.selection`)
==============================  ===========================================================

Every served list follows the offer rules of :mod:`recompra.recommend.served` (nothing
the customer just bought, by the product's own re-purchase gaps; never a product
:func:`~recompra.recommend.purchases.never_offered` rules out); bought-together and
upsell tables drop those products too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recompra.engines.registry import open_engine
from recompra.recommend.backtest import ListKind, Population
from recompra.recommend.cooccurrence import CoPurchaseSpec, copurchase_on, register_sources
from recompra.recommend.evaluate import evaluate_recommenders, validate_recommenders
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.next_best_offer import next_best_offers
from recompra.recommend.purchases import Catalogue, load_tables, never_offered, purchase_lines
from recompra.recommend.repeat import JustBoughtRule
from recompra.recommend.selection import choose_plan
from recompra.recommend.served import ServedRecommender
from recompra.recommend.sql import Level
from recompra.recommend.upsell import product_stats, upsell_candidates
from recompra.snapshot.schema import SCHEMAS

#: Item levels of the offline evaluation.
LEVELS: tuple[Level, ...] = ("product", "category")


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
    validation_fraction
        Share of the history's time span the model selection back-tests on.
    just_bought
        When a product a customer bought may be offered to them again (from the
        product's own re-purchase gaps, :class:`~recompra.recommend.repeat.JustBoughtRule`).
    """

    k: int = 10
    min_pair_count: int = 1
    min_support: float = 0.0
    min_confidence: float = 0.0
    price_band: tuple[float, float] = (1.1, 2.0)
    validation_fraction: float = 0.2
    just_bought: JustBoughtRule = field(default_factory=JustBoughtRule)


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


def bought_together_table(rules: pa.Table, k: int = 10) -> pa.Table:
    """Return the top-``k`` same-order partners of each item (lift > 1, by cosine)."""
    # QUALIFY is DuckDB syntax; the rules are already on the driver, so this runs locally.
    with open_engine("duckdb") as engine:
        engine.register_tables({"rules": rules})
        return engine.query(_FBT_SQL.format(k=int(k)))


def _offerable(table: pa.Table, column: str, never: np.ndarray, k: int) -> pa.Table:
    """Drop rows naming a product that is never offered; keep the top ``k`` per anchor."""
    frame = table.to_pandas()
    frame = frame.loc[~frame[column].isin(never)].copy()
    frame["rank"] = frame.groupby("anchor").cumcount() + 1
    return pa.Table.from_pandas(frame.loc[frame["rank"] <= k], preserve_index=False)


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
    engine: str = "duckdb",
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
        Optional ``customer_id, segment[, clv]`` table for the offer policy (see
        :func:`policy_segments`); without it offers are ranked on relevance only.
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
    never, flags = never_offered(tables)
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}

    def step(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    with open_engine(engine, spark=spark) as runner:
        register_sources(runner, sources)
        for level in LEVELS:
            for basket in ("order", "customer"):
                spec = CoPurchaseSpec(
                    level=level,
                    basket=basket,
                    min_pair_count=config.min_pair_count,
                    min_support=config.min_support,
                    min_confidence=config.min_confidence,
                )
                result = copurchase_on(runner, spec)
                suffix = "" if basket == "order" else "_customer"
                name = f"{level}{suffix}_pairs"
                counts[name] = _write(out, name, result.pairs)
                if basket == "order":
                    counts[f"{level}_rules"] = _write(out, f"{level}_rules", result.rules)
                    if level == "product":
                        fbt = bought_together_table(result.rules, config.k + len(never))
                        fbt = _offerable(fbt, "item_id", never, config.k)
                        counts["product_fbt"] = _write(out, "product_fbt", fbt)
    step("copurchase", started)

    started = time.perf_counter()
    lines = purchase_lines(tables)
    catalogue = Catalogue.from_tables(tables)
    reviews = tables["reviews"].select(["order_id", "score"]).to_pandas()
    stats = product_stats(lines, reviews, catalogue.products)
    counts["product_stats"] = _write(out, "product_stats", stats)
    offerable = stats.loc[~stats["product_id"].isin(never)]
    upsell = upsell_candidates(offerable, price_band=config.price_band, k=config.k)
    counts["upsell"] = _write(out, "upsell", upsell)
    step("upsell", started)

    started = time.perf_counter()
    plan = choose_plan(
        lines, level="product", k=config.k, validation_fraction=config.validation_fraction
    )
    step("selection", started)

    started = time.perf_counter()
    served = ServedRecommender(
        plan, never_offer=never.tolist(), just_bought=config.just_bought
    ).fit(lines)
    explainer = NextBestOffer("product").fit(lines, served.history_)
    customers = explainer.customers_
    cold = served.models_["cold_start"]
    popularity = pd.DataFrame(
        {"item_id": cold.index_.ids, "n_customers": cold.popularity_.astype(np.int64)}
    )
    popularity = popularity.loc[~popularity["item_id"].isin(never)]
    popularity = popularity.sort_values(["n_customers", "item_id"], ascending=[False, True])
    counts["popularity"] = _write(out, "popularity", popularity.head(max(100, config.k)))
    counts["repeat_products"] = _write(out, "repeat_products", explainer.rebuy_table_)
    # Fetched deeper than k so that a price ceiling of the policy can still fill the list.
    depth = 3 * config.k
    served_tables: tuple[tuple[str, ListKind], ...] = (
        ("next_best_offer", "any"),
        ("new_item_offers", "new"),
    )
    # Both lists at once: they share their members' scores block by block.
    served_lists = served.top_k_lists(customers, depth, [kind for _, kind in served_tables])
    for name, kind in served_tables:
        lists = served_lists.pop(kind)
        offers = next_best_offers(explainer, customers, config.k, segments=segments, lists=lists)
        counts[name] = _write(out, name, offers)
    counts["item_names"] = _write(out, "item_names", _names(catalogue))
    step("next_best_offer", started)

    manifest = {
        "written_at": datetime.now(UTC).isoformat(),
        "engine": engine,
        "config": asdict(config),
        "row_counts": counts,
        "seconds": timings,
        "purchase_lines": len(lines),
        "served": plan.to_dict(),
        "offer_rules": {
            "never_offered_products": len(never),
            "catalogue_flags_read": flags,
            "catalogue_flags_missing": [
                c for c in ("non_merchandise", "active", "in_stock") if c not in flags
            ],
            "just_bought": asdict(config.just_bought),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def policy_segments(
    analytics_scores: pd.DataFrame, predictions: pa.Table | None = None
) -> pd.DataFrame:
    """Return the ``customer_id, segment, clv`` table the offer policy reads.

    Parameters
    ----------
    analytics_scores
        Per-customer analytics scores with ``customer_id`` and ``segment`` (the RFM key).
    predictions
        Per-customer prediction scores with ``customer_id`` and ``clv_minor`` from the same
        as-of; customers without one get no CLV (the segment alone decides).
    """
    table = analytics_scores[["customer_id", "segment"]].copy()
    if predictions is None:
        return table
    clv = predictions.select(["customer_id", "clv_minor"]).to_pandas()
    merged = table.merge(clv.rename(columns={"clv_minor": "clv"}), on="customer_id", how="left")
    return merged


def evaluate_snapshot(
    snapshot: Path,
    *,
    level: Level = "product",
    k: int = 10,
    test_fraction: float = 0.2,
    population: Population = "returning",
    validation_only: bool = False,
) -> pd.DataFrame:
    """Evaluate the served lists next to every candidate and baseline on a snapshot.

    Reads the purchase lines and delegates to
    :func:`~recompra.recommend.evaluate.evaluate_recommenders` (time split, per-store
    selection on the training period, hit-rate, precision, recall, NDCG and coverage at
    ``k``; see its documentation for the columns). ``validation_only`` returns the
    selection's validation evidence instead, and scores nothing on the test period
    (:func:`~recompra.recommend.evaluate.validate_recommenders`).

    Raises
    ------
    ValueError
        For an unknown level or population, or ``k < 1``.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    if population not in ("returning", "all"):
        raise ValueError(f"unknown population {population!r}; expected returning or all")
    if k < 1:
        raise ValueError("k must be >= 1")
    lines = purchase_lines(load_tables(snapshot, ("orders", "order_items", "products")))
    if validation_only:
        return validate_recommenders(lines, level=level, k=k, test_fraction=test_fraction)
    return evaluate_recommenders(
        lines, level=level, k=k, test_fraction=test_fraction, population=population
    )
