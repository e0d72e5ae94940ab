"""Serving: answer "top-10 for this customer / this product" from the precomputed tables.

:class:`RecommendationIndex` loads the Parquet tables written by
:func:`recompra.recommend.flows.refresh` into contiguous NumPy arrays sorted by key plus
a ``dict`` from key to its slice, so one query is a dict lookup and a slice of at most
``k`` rows; sentences are rendered only for the rows returned. Unknown customers get the
best sellers (cold start); unknown products get nothing (there is no evidence).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from recompra.recommend.explain import Evidence
from recompra.recommend.next_best_offer import (
    OFFER_TYPES,
    Suggestion,
    bought_together_suggestions,
)


@dataclass(frozen=True)
class _Slices:
    """Rows grouped by key: ``columns[name][start:stop]`` for ``bounds[key]``."""

    bounds: dict[int, tuple[int, int]]
    columns: dict[str, np.ndarray]

    @classmethod
    def build(cls, frame: pd.DataFrame, key: str, order: list[str]) -> _Slices:
        frame = frame.sort_values([key, *order], kind="stable")
        keys = frame[key].to_numpy(dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys
        stops = np.r_[starts[1:], len(keys)] if len(keys) else keys
        bounds = {
            int(k): (int(a), int(b))
            for k, a, b in zip(keys[starts].tolist(), starts.tolist(), stops.tolist(), strict=True)
        }
        columns = {c: frame[c].to_numpy() for c in frame.columns if c != key}
        return cls(bounds=bounds, columns=columns)

    def get(self, key: int, k: int) -> dict[str, np.ndarray] | None:
        span = self.bounds.get(key)
        if span is None:
            return None
        start, stop = span
        stop = min(stop, start + k)
        return {name: values[start:stop] for name, values in self.columns.items()}


class RecommendationIndex:
    """In-memory index over a refresh output directory.

    Parameters
    ----------
    fbt, offers, upsell, popularity, names
        The ``product_fbt``, ``next_best_offer``, ``upsell``, ``popularity`` and
        ``item_names`` tables as pandas frames (see :meth:`load`).
    """

    def __init__(
        self,
        fbt: pd.DataFrame,
        offers: pd.DataFrame,
        upsell: pd.DataFrame,
        popularity: pd.DataFrame,
        names: pd.DataFrame,
    ) -> None:
        self._fbt = _Slices.build(fbt, "anchor", ["rank"])
        self._offers = _Slices.build(offers, "customer_id", ["rank"])
        self._upsell = _Slices.build(upsell, "anchor", ["rank"])
        popular = popularity.sort_values(["n_customers", "item_id"], ascending=[False, True])
        self._popular_ids = popular["item_id"].to_numpy(dtype=np.int64)
        self._popular_counts = popular["n_customers"].to_numpy(dtype=np.int64)
        self._product_names = _lookup(names, "product")
        self._category_names = _lookup(names, "category")

    @classmethod
    def load(cls, directory: Path) -> RecommendationIndex:
        """Load the index from a :func:`~recompra.recommend.flows.refresh` output."""
        d = Path(directory)

        def read(name: str) -> pd.DataFrame:
            frame: pd.DataFrame = pq.read_table(d / f"{name}.parquet").to_pandas()
            return frame

        return cls(
            fbt=read("product_fbt"),
            offers=read("next_best_offer"),
            upsell=read("upsell"),
            popularity=read("popularity"),
            names=read("item_names"),
        )

    def for_product(self, product_id: int, k: int = 10) -> list[Suggestion]:
        """Return up to ``k`` products frequently bought together with ``product_id``."""
        rows = self._fbt.get(int(product_id), k)
        if rows is None:
            return []
        return bought_together_suggestions(rows, item_column="item_id")

    def upsell(self, product_id: int, k: int = 10) -> list[Suggestion]:
        """Return up to ``k`` upsell candidates (same category, in the price band)."""
        rows = self._upsell.get(int(product_id), k)
        if rows is None:
            return []
        pt, en = self._product_names
        anchor = pt.get(int(product_id), str(product_id))
        return [
            Suggestion(
                item_id=int(item),
                score=float(score),
                evidence=Evidence(
                    "upsell",
                    count=int(n_orders),
                    price_ratio=float(ratio),
                    rating=float(rating),
                    n_reviews=int(n_reviews),
                    anchor=anchor,
                    anchor_en=en.get(int(product_id), anchor),
                ),
                offer_type="upsell",
            )
            for item, score, n_orders, ratio, rating, n_reviews in zip(
                rows["candidate"].tolist(),
                rows["score"].tolist(),
                rows["n_orders"].tolist(),
                rows["price_ratio"].tolist(),
                rows["rating"].tolist(),
                rows["n_reviews"].tolist(),
                strict=True,
            )
        ]

    def for_customer(self, customer_id: int, k: int = 10) -> list[Suggestion]:
        """Return up to ``k`` explained next-best-offers (best sellers for unknown ids)."""
        rows = self._offers.get(int(customer_id), k)
        if rows is None:
            return [
                Suggestion(
                    item_id=int(item),
                    score=float(count),
                    evidence=Evidence("popular", count=int(count)),
                    offer_type="popular",
                )
                for item, count in zip(
                    self._popular_ids[:k].tolist(), self._popular_counts[:k].tolist(), strict=True
                )
            ]
        pt, en = self._product_names
        cat_pt, cat_en = self._category_names
        out = []
        for item, score, reason, anchor_id, count, lift, share, incentive in zip(
            rows["item_id"].tolist(),
            rows["score"].tolist(),
            rows["reason"].tolist(),
            rows["anchor_id"].tolist(),
            rows["evidence_count"].tolist(),
            rows["evidence_lift"].tolist(),
            rows["evidence_share"].tolist(),
            rows["incentive"].tolist(),
            strict=True,
        ):
            by_category = reason == "category_affinity"
            names_pt, names_en = (cat_pt, cat_en) if by_category else (pt, en)
            anchor = names_pt.get(anchor_id, str(anchor_id)) if anchor_id >= 0 else ""
            out.append(
                Suggestion(
                    item_id=int(item),
                    score=float(score),
                    evidence=Evidence(
                        reason,
                        count=int(count),
                        lift=float(lift),
                        share=float(share),
                        anchor=anchor,
                        anchor_en=names_en.get(anchor_id, anchor),
                    ),
                    offer_type=OFFER_TYPES[reason],
                    incentive=str(incentive),
                )
            )
        return out

    def item_name(self, item_id: int, language: str = "en") -> str:
        """Return a product's display name (its id when unknown)."""
        pt, en = self._product_names
        names = pt if language == "pt-BR" else en
        return names.get(int(item_id), str(item_id))


def _lookup(names: pd.DataFrame, level: str) -> tuple[dict[int, str], dict[int, str]]:
    rows = names.loc[names["level"] == level]
    ids = rows["item_id"].to_numpy(dtype=np.int64).tolist()
    pt: Mapping[int, str] = dict(zip(ids, rows["name_pt"].astype(str).tolist(), strict=True))
    en: Mapping[int, str] = dict(zip(ids, rows["name_en"].astype(str).tolist(), strict=True))
    return dict(pt), dict(en)
