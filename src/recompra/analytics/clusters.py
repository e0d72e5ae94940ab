"""Customer clusters: k-means on log-scaled RFM and behaviour features, described in words.

Features per customer (from the engine, :func:`features_sql`): recency, frequency,
monetary, tenure (days since the first purchase), number of distinct categories bought,
share of items in the customer's top category, items per order, return rate (purchases
with a return or cancellation record / purchases) and average review score (customers
without reviews get the overall mean). Counts and money are ``log1p``-scaled, then every
feature is standardised.

``k`` is chosen by the silhouette score among ``k_range`` (ties: the smaller ``k``). On
large bases k-means is fitted on a seeded random sample (``fit_sample``) and the
silhouette on a smaller one (``silhouette_sample``); every customer is then assigned to
its nearest centre. Clusters are numbered by decreasing mean monetary value, so cluster 0
is the most valuable. Everything is seeded (``random_state``): the same features give the
same clusters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recompra.analytics.prepare import FACTS_VIEW, RunParams
from recompra.analytics.rfm import SCORES_VIEW
from recompra.engines.base import Dialect

if TYPE_CHECKING:
    from sklearn.cluster import KMeans

FEATURES = (
    "recency_days",
    "frequency",
    "monetary_minor",
    "tenure_days",
    "n_categories",
    "top_category_share",
    "items_per_order",
    "return_rate",
    "review_score",
)
_LOG_SCALED = {"recency_days", "frequency", "monetary_minor", "tenure_days", "n_categories"}


def features_sql(d: Dialect, p: RunParams) -> str:
    """SQL for the per-customer feature table (sorted by ``customer_id``)."""
    return f"""
WITH cat AS (
    SELECT f.customer_id, i.category_id, CAST(SUM(i.quantity) AS BIGINT) AS qty
    FROM order_items i
    JOIN {FACTS_VIEW} f ON f.order_id = i.order_id
    WHERE i.category_id IS NOT NULL
    GROUP BY f.customer_id, i.category_id
),
ranked AS (
    SELECT
        customer_id,
        category_id,
        qty,
        SUM(qty) OVER (PARTITION BY customer_id) AS total_qty,
        COUNT(*) OVER (PARTITION BY customer_id) AS n_categories,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY qty DESC, category_id) AS rn
    FROM cat
),
top AS (
    SELECT customer_id, category_id AS top_category_id, qty, total_qty, n_categories
    FROM ranked
    WHERE rn = 1
),
ord AS (
    SELECT customer_id,
           CAST(SUM(items) AS BIGINT) AS items,
           CAST(SUM(has_return) AS BIGINT) AS returned_orders
    FROM {FACTS_VIEW}
    GROUP BY customer_id
),
rev AS (
    SELECT customer_id, CAST(SUM(score) AS BIGINT) AS score_sum, COUNT(*) AS reviews
    FROM reviews
    WHERE {d.day_number("created_at")} <= {p.as_of_day}
    GROUP BY customer_id
)
SELECT
    s.customer_id,
    s.recency_days,
    s.frequency,
    s.monetary_minor,
    CAST({p.as_of_day} - s.first_day AS INT) AS tenure_days,
    CAST(COALESCE(t.n_categories, 0) AS BIGINT) AS n_categories,
    t.top_category_id,
    COALESCE(CAST(t.qty AS DOUBLE) / t.total_qty, 0.0) AS top_category_share,
    CAST(COALESCE(o.items, 0) AS DOUBLE) / s.frequency AS items_per_order,
    CAST(COALESCE(o.returned_orders, 0) AS DOUBLE) / s.frequency AS return_rate,
    CAST(r.score_sum AS DOUBLE) / r.reviews AS review_score
FROM {SCORES_VIEW} s
LEFT JOIN top t ON t.customer_id = s.customer_id
LEFT JOIN ord o ON o.customer_id = s.customer_id
LEFT JOIN rev r ON r.customer_id = s.customer_id
ORDER BY s.customer_id
"""


@dataclass(frozen=True)
class ClusterResult:
    """Cluster assignment and description.

    Attributes
    ----------
    labels
        ``customer_id, cluster`` for every customer of the feature table.
    summary
        One row per cluster: size, feature means, top category, descriptions.
    k
        The chosen number of clusters.
    silhouettes
        Silhouette score per tried ``k``.
    """

    labels: pd.DataFrame
    summary: pd.DataFrame
    k: int
    silhouettes: dict[int, float]


def feature_matrix(features: pd.DataFrame) -> np.ndarray:
    """Return the standardised feature matrix (log-scaled counts, imputed review score)."""
    columns: list[np.ndarray] = []
    for name in FEATURES:
        values = features[name].to_numpy(dtype="float64", na_value=np.nan)
        if name == "review_score":
            known = values[~np.isnan(values)]
            values = np.where(np.isnan(values), known.mean() if len(known) else 3.0, values)
        if name in _LOG_SCALED:
            values = np.log1p(np.clip(values, 0, None))
        columns.append(values)
    matrix = np.column_stack(columns)
    # Imported here: scikit-learn takes seconds to import and the API server, which
    # imports this package for its types, never clusters (issue 20).
    from sklearn.preprocessing import StandardScaler

    result: np.ndarray = StandardScaler().fit_transform(matrix)
    return result


def cluster_customers(
    features: pd.DataFrame,
    *,
    category_names: Mapping[int, tuple[str, str]] | None = None,
    k_range: tuple[int, int] = (2, 8),
    random_state: int = 0,
    fit_sample: int = 20_000,
    silhouette_sample: int = 5_000,
) -> ClusterResult:
    """Cluster customers with k-means, choosing ``k`` by silhouette.

    Parameters
    ----------
    features
        The table from :func:`features_sql`.
    category_names
        ``category_id -> (name_en, name_pt)`` used in the descriptions.
    k_range
        Inclusive range of ``k`` to try.
    random_state
        Seed for sampling and k-means.
    fit_sample, silhouette_sample
        Sample sizes for fitting and for the silhouette score on large bases.

    Returns
    -------
    ClusterResult
    """
    n = len(features)
    ids = features["customer_id"].to_numpy()
    distinct = len(features[list(FEATURES)].drop_duplicates()) if n else 0
    if n == 0 or distinct < 3 or k_range[1] < 2:
        labels = np.zeros(n, dtype="int64")
        summary = describe_clusters(features, labels, category_names or {})
        return ClusterResult(pd.DataFrame({"customer_id": ids, "cluster": labels}), summary, 1, {})
    from sklearn.cluster import KMeans  # lazy, see feature_matrix
    from sklearn.metrics import silhouette_score

    x = feature_matrix(features)
    rng = np.random.default_rng(random_state)
    fit_rows = np.sort(rng.choice(n, size=fit_sample, replace=False)) if n > fit_sample else None
    x_fit = x if fit_rows is None else x[fit_rows]
    low, high = k_range
    high = min(high, distinct - 1, len(x_fit) - 1)
    silhouettes: dict[int, float] = {}
    models: dict[int, KMeans] = {}
    for k in range(max(low, 2), high + 1):
        model = KMeans(n_clusters=k, n_init=3, random_state=random_state).fit(x_fit)
        silhouettes[k] = float(
            silhouette_score(
                x_fit,
                model.labels_,
                sample_size=min(silhouette_sample, len(x_fit)),
                random_state=random_state,
            )
        )
        models[k] = model
    best = max(silhouettes, key=lambda k: (round(silhouettes[k], 12), -k))
    raw = models[best].predict(x).astype("int64")
    # Number clusters by decreasing mean monetary value (then by raw id, for ties).
    means = pd.Series(features["monetary_minor"].to_numpy(dtype="float64")).groupby(raw).mean()
    order = sorted(means.index, key=lambda c: (-means[c], c))
    relabel = {old: new for new, old in enumerate(order)}
    labels = np.array([relabel[c] for c in raw], dtype="int64")
    summary = describe_clusters(features, labels, category_names or {})
    return ClusterResult(
        pd.DataFrame({"customer_id": ids, "cluster": labels}), summary, best, silhouettes
    )


def _level(value: float, low: float, high: float) -> int:
    """-1 below ``low``, 1 above ``high``, else 0."""
    if value <= low:
        return -1
    if value >= high:
        return 1
    return 0


def describe_clusters(
    features: pd.DataFrame, labels: np.ndarray, category_names: Mapping[int, tuple[str, str]]
) -> pd.DataFrame:
    """Summarise each cluster and describe it in English and Portuguese.

    Recency and value are called recent/lapsed and high/low when the cluster median is in
    the best/worst third of all customers; frequency by the share of repeat buyers; the
    category when one category is the top category of at least 40% of the cluster.
    """
    frame = features.assign(cluster=labels)
    rec_low, rec_high = frame["recency_days"].quantile([1 / 3, 2 / 3]).tolist() or [0, 0]
    mon_low, mon_high = frame["monetary_minor"].quantile([1 / 3, 2 / 3]).tolist() or [0, 0]
    overall_returns = float(frame["return_rate"].mean()) if len(frame) else 0.0
    rows = []
    for cluster, group in frame.groupby("cluster", sort=True):
        en: list[str] = []
        pt: list[str] = []
        recency = _level(float(group["recency_days"].median()), rec_low, rec_high)
        en.append({-1: "recent", 0: "moderately recent", 1: "lapsed"}[recency])
        pt.append({-1: "recentes", 0: "recência média", 1: "inativos há tempo"}[recency])
        value = _level(float(group["monetary_minor"].median()), mon_low, mon_high)
        en.append({-1: "low value", 0: "mid value", 1: "high value"}[value])
        pt.append({-1: "baixo valor", 0: "valor médio", 1: "alto valor"}[value])
        repeat_share = float((group["frequency"] >= 2).mean())
        if repeat_share >= 0.5:
            en.append("frequent")
            pt.append("frequentes")
        elif repeat_share <= 0.05:
            en.append("one-time buyers")
            pt.append("compra única")
        else:
            en.append("some repeat buyers")
            pt.append("alguns recompram")
        if float(group["n_categories"].mean()) >= 2:
            en.append("buy across categories")
            pt.append("compram em várias categorias")
        returns = float(group["return_rate"].mean())
        if returns >= max(0.05, 2 * overall_returns):
            en.append("return often")
            pt.append("devolvem com frequência")
        review = group["review_score"].mean()
        if pd.notna(review) and float(review) < 3:
            en.append("unhappy (low review scores)")
            pt.append("insatisfeitos (notas baixas)")
        top = group["top_category_id"].dropna()
        top_category: int | None = None
        top_share = 0.0
        if len(top):
            counts = top.astype("int64").value_counts()
            best = sorted(counts.index, key=lambda c: (-counts[c], c))[0]
            top_share = float(counts[best]) / len(group)
            top_category = int(best)
            if top_share >= 0.4:
                name_en, name_pt = category_names.get(top_category, (str(best), str(best)))
                en.append(f"mostly {name_en}")
                pt.append(f"principalmente {name_pt}")
        rows.append(
            {
                "cluster": int(str(cluster)),
                "customers": len(group),
                "customer_share": len(group) / len(frame),
                "mean_recency_days": float(group["recency_days"].mean()),
                "mean_frequency": float(group["frequency"].mean()),
                "mean_monetary_minor": float(group["monetary_minor"].mean()),
                "mean_tenure_days": float(group["tenure_days"].mean()),
                "mean_items_per_order": float(group["items_per_order"].mean()),
                "mean_return_rate": returns,
                "mean_review_score": float(review) if pd.notna(review) else float("nan"),
                "top_category_id": top_category,
                "top_category_share": top_share,
                "description_en": ", ".join(en),
                "description_pt": ", ".join(pt),
            }
        )
    return pd.DataFrame(rows)
