"""Lead score: the probability that a lead converts, from what is known at first contact.

Features are the acquisition channel, the landing page (pages with fewer than
``MIN_PAGE_LEADS`` leads pooled as ``other``) and the first-contact weekday. Two models:
categorical naive Bayes (as Odoo's predictive lead scoring) and an L2-regularised
logistic regression on one-hot features. Both are scored by stratified k-fold
cross-validation (out-of-fold probabilities): ROC AUC and top-decile lift (conversion
of the 10% best-scored leads over the overall conversion). Probabilities are clipped to
[``CLIP``, 1 - ``CLIP``] so no lead is ever scored certain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MODELS = ("naive_bayes", "logistic_l2")
CLIP = 0.01
MIN_PAGE_LEADS = 20
FOLDS = 5
SEED = 0


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The first-contact features of each lead (strings, no missing values)."""
    pages = frame["landing_page"].fillna("unknown").astype(str)
    counts = pages.map(pages.value_counts())
    return pd.DataFrame(
        {
            "channel": frame["channel"].fillna("unknown").astype(str),
            "page": pages.where(counts >= MIN_PAGE_LEADS, "other"),
            "weekday": frame["first_contact_on"].dt.dayofweek.astype(str),
        },
        index=frame.index,
    )


def _shift_codes(codes: np.ndarray) -> np.ndarray:
    """Ordinal codes + 1, so the unseen-category code -1 becomes the valid code 0."""
    return codes + 1


def make_model(name: str, x: pd.DataFrame) -> Pipeline:
    """An unfitted scikit-learn pipeline for ``name`` (one of ``MODELS``) over ``x``."""
    # scikit-learn is imported where used: it takes seconds, and the API server and the
    # CLI import this module without fitting (issue 20).
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import CategoricalNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder

    if name == "naive_bayes":
        # Categories seen by the whole frame, plus the code of unseen ones: a fold that
        # lacks a page must still accept it at prediction time.
        sizes = (x.nunique() + 1).to_numpy()
        return make_pipeline(
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
            FunctionTransformer(_shift_codes),
            CategoricalNB(alpha=1.0, min_categories=sizes),
        )
    if name == "logistic_l2":
        return make_pipeline(
            OneHotEncoder(handle_unknown="ignore"),
            LogisticRegression(C=1.0, max_iter=1000),
        )
    raise ValueError(f"model must be one of {', '.join(MODELS)}")


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Conversion among the top 10% scores divided by the overall conversion."""
    top = np.argsort(-score, kind="stable")[: max(1, len(score) // 10)]
    return float(y[top].mean() / y.mean())


@dataclass(frozen=True)
class ModelReport:
    """Cross-validated quality of one lead-score model."""

    model: str
    auc: float
    top_decile_lift: float
    leads: int
    converted: int


def evaluate(frame: pd.DataFrame, name: str) -> ModelReport:
    """Out-of-fold AUC and top-decile lift of ``name`` on the funnel frame."""
    x = features(frame)
    y = frame["won"].to_numpy(dtype=int)
    from sklearn.metrics import roc_auc_score  # lazy, see make_model
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    proba = cross_val_predict(make_model(name, x), x, y, cv=folds, method="predict_proba")[:, 1]
    proba = np.clip(proba, CLIP, 1 - CLIP)
    return ModelReport(
        name, float(roc_auc_score(y, proba)), top_decile_lift(y, proba), len(y), int(y.sum())
    )


def score(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Fit ``name`` on every lead and return each lead's clipped probability."""
    x = features(frame)
    model = make_model(name, x).fit(x, frame["won"].to_numpy(dtype=int))
    proba: np.ndarray = model.predict_proba(x)[:, 1]
    clipped: np.ndarray = np.clip(proba, CLIP, 1 - CLIP)
    return clipped
