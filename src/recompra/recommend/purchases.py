"""Purchase lines and catalogue from the analytics snapshot, as pandas frames.

The recommenders, the upsell ranking and the evaluation all start from the same
"purchase lines": one row per (order, product) of a real purchase (orders whose status is
in :data:`~recompra.snapshot.schema.NON_PURCHASE_STATUSES` are dropped, and so are
non-merchandise lines such as postage when the snapshot flags them).

Catalogue state: :func:`never_offered` lists the products no offer may name. It reads
the optional ``products`` columns :data:`CATALOGUE_FLAGS` when the snapshot has them
(``non_merchandise``, ``active``, ``in_stock``); a snapshot without them has no
stock or activity data, and only the purchase history decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from recompra.engines.registry import open_engine
from recompra.recommend.sql import LEVEL_COLUMNS, Level
from recompra.snapshot.io import read_table, table_path
from recompra.snapshot.schema import NON_PURCHASE_STATUSES, SCHEMAS

#: Columns of :func:`purchase_lines`.
LINE_COLUMNS = (
    "order_id",
    "customer_id",
    "purchased_at",
    "product_id",
    "category_id",
    "quantity",
    "unit_price_minor",
)

#: Optional ``products`` columns and the value that rules a product out of every offer.
CATALOGUE_FLAGS: dict[str, bool] = {"non_merchandise": True, "active": False, "in_stock": False}

_LINES_SQL = """
SELECT i.order_id, o.customer_id, o.purchased_at, i.product_id,
       CAST(COALESCE(MIN(i.category_id), -1) AS BIGINT) AS category_id,
       CAST(COALESCE(SUM(i.quantity), 1) AS BIGINT) AS quantity,
       CAST(COALESCE(MIN(i.unit_price_minor), 0) AS BIGINT) AS unit_price_minor
FROM order_items i
JOIN orders o ON o.order_id = i.order_id
WHERE o.status NOT IN ({excluded}) AND i.product_id IS NOT NULL
GROUP BY i.order_id, o.customer_id, o.purchased_at, i.product_id
ORDER BY o.purchased_at, i.order_id, i.product_id
"""


def load_tables(snapshot: Path, names: tuple[str, ...] | None = None) -> dict[str, pa.Table]:
    """Read the snapshot tables the recommenders use; absent optional tables come back empty.

    Parameters
    ----------
    snapshot
        The snapshot directory.
    names
        Tables to read (default: orders, order_items, products, categories, reviews).

    Returns
    -------
    dict[str, pyarrow.Table]
        Tables by name, conformed to the snapshot schemas.
    """
    names = names or ("orders", "order_items", "products", "categories", "reviews")
    tables: dict[str, pa.Table] = {}
    for name in names:
        if table_path(Path(snapshot), name).exists():
            tables[name] = read_table(Path(snapshot), name)
        elif name in ("orders", "order_items"):
            raise FileNotFoundError(f"snapshot table {name!r} missing in {snapshot}")
        else:
            tables[name] = SCHEMAS[name].empty_table()
    return tables


def purchase_lines(tables: Mapping[str, pa.Table]) -> pd.DataFrame:
    """Return one row per (order, product) of real purchases, ordered by time.

    Parameters
    ----------
    tables
        At least ``orders`` and ``order_items``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LINE_COLUMNS` (int64; a missing category is -1, a missing
        quantity 1, a missing price 0); ``purchased_at`` is a UTC timestamp.
    """
    excluded = ", ".join(f"'{s}'" for s in NON_PURCHASE_STATUSES)
    with open_engine("duckdb") as engine:
        engine.register_tables(
            {
                "orders": tables["orders"].select(
                    ["order_id", "customer_id", "status", "purchased_at"]
                ),
                "order_items": tables["order_items"].select(
                    ["order_id", "product_id", "category_id", "quantity", "unit_price_minor"]
                ),
            }
        )
        result = engine.query(_LINES_SQL.format(excluded=excluded))
    # Plain int64 and timestamp columns (the defaults are filled in SQL), converted
    # column by column with the Arrow buffers released as they go: at 10M orders the
    # lines are 15.7M rows, and every extra copy is another gigabyte.
    frame: pd.DataFrame = result.to_pandas(self_destruct=True, split_blocks=True)
    del result
    non_merchandise = _flagged(tables, "non_merchandise")
    if len(non_merchandise):
        # Postage, gift wrap and fees say nothing about taste and are never offered.
        frame = frame.loc[~frame["product_id"].isin(non_merchandise)]
    return frame


def _flagged(tables: Mapping[str, pa.Table], column: str) -> np.ndarray:
    """Return the product ids whose ``column`` holds its ruling-out value (if the column exists)."""
    products = tables.get("products")
    if products is None or column not in products.column_names:
        return np.zeros(0, dtype=np.int64)
    frame = products.select(["product_id", column]).to_pandas()
    ruled_out = frame[column].fillna(not CATALOGUE_FLAGS[column]) == CATALOGUE_FLAGS[column]
    return np.unique(frame.loc[ruled_out, "product_id"].to_numpy(dtype=np.int64))


def never_offered(tables: Mapping[str, pa.Table]) -> tuple[np.ndarray, list[str]]:
    """Return the product ids no offer may name, and the catalogue flags that were read.

    A product is never offered when the snapshot's ``products`` table marks it
    non-merchandise, inactive or out of stock (:data:`CATALOGUE_FLAGS`); flags the
    snapshot does not carry are not in the returned list (the caller reports it).
    """
    products = tables.get("products")
    present = [c for c in CATALOGUE_FLAGS if products is not None and c in products.column_names]
    ids = [_flagged(tables, column) for column in present]
    return np.unique(np.concatenate(ids)) if ids else np.zeros(0, dtype=np.int64), present


def item_column(level: Level) -> str:
    """Return the purchase-line column holding the item id of ``level``."""
    if level not in LEVEL_COLUMNS:
        raise ValueError(f"unknown level {level!r}; expected one of {sorted(LEVEL_COLUMNS)}")
    return LEVEL_COLUMNS[level]


@dataclass(frozen=True)
class Catalogue:
    """Names and categories of the items, for explanations and same-category rules.

    Attributes
    ----------
    products
        Indexed by ``product_id``: ``name``, ``category_id``, ``list_price_minor``.
    categories
        Indexed by ``category_id``: ``name_pt``, ``name_en``.
    """

    products: pd.DataFrame
    categories: pd.DataFrame

    @classmethod
    def from_tables(cls, tables: Mapping[str, pa.Table]) -> Catalogue:
        """Build the catalogue from the snapshot ``products`` and ``categories`` tables."""
        products_table = tables.get("products", SCHEMAS["products"].empty_table())
        categories_table = tables.get("categories", SCHEMAS["categories"].empty_table())
        products = products_table.select(
            ["product_id", "name", "category_id", "list_price_minor"]
        ).to_pandas()
        categories = categories_table.select(["category_id", "name_pt", "name_en"]).to_pandas()
        return cls(
            products=products.drop_duplicates("product_id").set_index("product_id"),
            categories=categories.drop_duplicates("category_id").set_index("category_id"),
        )

    def names(self, level: Level) -> tuple[dict[int, str], dict[int, str]]:
        """Return ``(pt names, en names)`` of the items of ``level`` by id."""
        if level == "product":
            names = _id_map(self.products["name"])
            return names, names
        return _id_map(self.categories["name_pt"]), _id_map(self.categories["name_en"])


def _id_map(column: pd.Series) -> dict[int, str]:
    column = column.dropna()
    ids = column.index.to_numpy(dtype=np.int64).tolist()
    return dict(zip(ids, column.astype(str).tolist(), strict=True))
