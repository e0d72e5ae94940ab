"""One run of each voice-of-the-customer report over a brand's reviews (no database here:
:func:`recompra.voc.data.load_reviews` reads them).

* :func:`nps_report`: the NPS proxy and CSAT, overall or by a dimension, with 95% CIs,
  the responses needed for ±3/±5/±10 points, and month-over-month changes flagged only
  when significant;
* :func:`delivery_report`: the same scores for on-time and late deliveries, by state and
  by seller;
* :func:`topics_report`: topic tags of the comments and how many negative ones they cover;
* :func:`sentiment_report`: lexicon and supervised sentiment AUCs on the store's comments.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

import pandas as pd

from recompra.errors import InvalidInput
from recompra.voc.data import ReviewData
from recompra.voc.delivery import DELIVERY_STATUSES, LATE, ON_TIME, delivery_status
from recompra.voc.scores import (
    CSAT_MIN_STARS,
    CsatEstimate,
    NpsChange,
    NpsEstimate,
    StarMapping,
    counts_from_stars,
    csat_estimate,
    nps_change,
    nps_estimate,
)
from recompra.voc.sentiment import NEGATIVE_MAX_STARS, SentimentEvaluation, evaluate
from recompra.voc.text import normalise
from recompra.voc.topics import TOPIC_PATTERNS, tag_all

#: Dimensions ``nps_report`` cuts by (``recompra nps --by``, ``/v1/voc/nps?by=``).
NPS_DIMENSIONS = ("month", "segment", "state", "category", "channel", "delivery")
#: ``seller`` is cut by the delivery report only (there are thousands of them).
DIMENSIONS = (*NPS_DIMENSIONS, "seller")
#: Sellers with fewer reviews than this are left out of the per-seller delivery table.
SELLER_MIN_REVIEWS = 30


@dataclass(frozen=True)
class GroupScore:
    """NPS (proxy), CSAT and mean stars of one group of reviews."""

    key: str
    nps: NpsEstimate
    csat: CsatEstimate
    mean_stars: float | None
    change: NpsChange | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "key": self.key,
            "nps": self.nps.as_dict(),
            "csat": self.csat.as_dict(),
            "mean_stars": self.mean_stars,
            "change": None if self.change is None else self.change.as_dict(),
        }


def score_group(key: str, stars: pd.Series, mapping: StarMapping) -> GroupScore:
    """The scores of the reviews with these stars."""
    values = [int(s) for s in stars]
    counts = counts_from_stars(values, mapping)
    return GroupScore(
        key=key,
        nps=nps_estimate(counts, proxy=True, mapping=mapping.as_dict()),
        csat=csat_estimate(sum(s >= CSAT_MIN_STARS for s in values), len(values)),
        mean_stars=float(sum(values) / len(values)) if values else None,
    )


def keyed_reviews(data: ReviewData, by: str) -> pd.DataFrame:
    """``score`` and ``key`` of each review in the groups of ``by`` (reviews without a key
    are left out; a review is in each of its order's categories or sellers)."""
    reviews = data.reviews
    if by == "month":
        # ``YYYY-MM`` of the UTC month (a review's time is never empty); a period is built
        # per column where strftime formats each value in Python.
        keys = reviews.created_at.dt.tz_convert(None).dt.to_period("M").astype(str)
    elif by in ("state", "segment", "channel"):
        keys = reviews[by]
    elif by == "delivery":
        keys = delivery_status(reviews.delivered_at, reviews.estimated_delivery_at)
    elif by in ("category", "seller"):
        links = data.categories if by == "category" else data.sellers
        merged = reviews[["order_id", "score"]].merge(links, on="order_id")
        return pd.DataFrame({"score": merged.score, "key": merged[by]}).dropna()
    else:
        raise InvalidInput(f"unknown dimension {by!r}; one of {', '.join(DIMENSIONS)}", field="by")
    return pd.DataFrame({"score": reviews.score, "key": keys}).dropna()


@dataclass(frozen=True)
class NpsReport:
    """The brand's NPS proxy and CSAT, overall and per group of ``by``."""

    by: str | None
    mapping: dict[str, list[int]]
    overall: GroupScore
    groups: list[GroupScore] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "by": self.by,
            "proxy": True,
            "mapping": self.mapping,
            "overall": self.overall.as_dict(),
            "groups": [g.as_dict() for g in self.groups],
        }


def nps_report(data: ReviewData, mapping: StarMapping, *, by: str | None = None) -> NpsReport:
    """NPS proxy and CSAT overall, and by ``by`` when given (months in time order, each
    with its change from the month before; other groups largest first)."""
    overall = score_group("all", data.reviews.score, mapping)
    groups: list[GroupScore] = []
    if by is not None:
        keyed = keyed_reviews(data, by)
        groups = [score_group(str(k), g.score, mapping) for k, g in keyed.groupby("key")]
        if by == "month":
            groups = _with_changes(sorted(groups, key=lambda g: g.key))
        else:
            groups.sort(key=lambda g: (-g.nps.n, g.key))
    return NpsReport(by, mapping.as_dict(), overall, groups)


def _with_changes(months: list[GroupScore]) -> list[GroupScore]:
    out = months[:1]
    for before, after in itertools.pairwise(months):
        out.append(
            GroupScore(
                after.key,
                after.nps,
                after.csat,
                after.mean_stars,
                nps_change(before.nps, after.nps),
            )
        )
    return out


@dataclass(frozen=True)
class DeliveryRow:
    """On-time vs late scores inside one state or seller."""

    key: str
    reviews: int
    late_share: float | None
    on_time: GroupScore
    late: GroupScore

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "key": self.key,
            "reviews": self.reviews,
            "late_share": self.late_share,
            "on_time": self.on_time.as_dict(),
            "late": self.late.as_dict(),
        }


@dataclass(frozen=True)
class DeliveryReport:
    """Scores by delivery status, the on-time vs late test, and by state and seller."""

    mapping: dict[str, list[int]]
    statuses: list[GroupScore]
    on_time_vs_late: NpsChange | None
    by_state: list[DeliveryRow]
    by_seller: list[DeliveryRow]

    def status(self, key: str) -> GroupScore | None:
        """The group of one delivery status, if any review has it."""
        return next((s for s in self.statuses if s.key == key), None)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "proxy": True,
            "mapping": self.mapping,
            "rule": "on time = delivered on or before the estimated delivery day",
            "statuses": [s.as_dict() for s in self.statuses],
            "on_time_vs_late": None
            if self.on_time_vs_late is None
            else self.on_time_vs_late.as_dict(),
            "by_state": [r.as_dict() for r in self.by_state],
            "by_seller": [r.as_dict() for r in self.by_seller],
        }


def _delivery_rows(
    keyed: pd.DataFrame, mapping: StarMapping, *, min_reviews: int
) -> list[DeliveryRow]:
    rows = []
    for key, group in keyed.groupby("key"):
        timed = group[group.delivery.isin([ON_TIME, LATE])]
        if len(timed) < min_reviews or timed.empty:
            continue
        late = timed[timed.delivery == LATE]
        rows.append(
            DeliveryRow(
                key=str(key),
                reviews=len(timed),
                late_share=len(late) / len(timed),
                on_time=score_group(ON_TIME, timed[timed.delivery == ON_TIME].score, mapping),
                late=score_group(LATE, late.score, mapping),
            )
        )
    return sorted(rows, key=lambda r: (-r.reviews, r.key))


def delivery_report(
    data: ReviewData, mapping: StarMapping, *, seller_min_reviews: int = SELLER_MIN_REVIEWS
) -> DeliveryReport:
    """Satisfaction of on-time vs late deliveries, overall, by state and by seller."""
    reviews = data.reviews.assign(
        delivery=delivery_status(data.reviews.delivered_at, data.reviews.estimated_delivery_at)
    )
    statuses = [
        score_group(status, reviews.score[reviews.delivery == status], mapping)
        for status in DELIVERY_STATUSES
        if (reviews.delivery == status).any()
    ]
    by_status = {s.key: s for s in statuses}
    change = None
    if LATE in by_status and ON_TIME in by_status:
        change = nps_change(by_status[LATE].nps, by_status[ON_TIME].nps)
    states = reviews.assign(key=reviews.state).dropna(subset=["key"])
    sellers = reviews[["order_id", "score", "delivery"]].merge(data.sellers, on="order_id")
    sellers = sellers.rename(columns={"seller": "key"})
    return DeliveryReport(
        mapping=mapping.as_dict(),
        statuses=statuses,
        on_time_vs_late=change,
        by_state=_delivery_rows(states, mapping, min_reviews=1),
        by_seller=_delivery_rows(sellers, mapping, min_reviews=seller_min_reviews),
    )


@dataclass(frozen=True)
class TopicCount:
    """How often a topic comes up, in negative comments and in all comments."""

    topic: str
    negative: int
    share_of_negative: float | None
    comments: int
    mean_stars: float | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return asdict(self)


@dataclass(frozen=True)
class TopicsReport:
    """Topic tags of a brand's comments; negative = a comment on a 1-2 star review."""

    comments: int
    negative_comments: int
    covered: int
    topics: list[TopicCount]
    #: Month -> topic -> negative comments with that topic (the trend).
    months: dict[str, dict[str, int]]

    @property
    def coverage(self) -> float | None:
        """Share of negative comments with at least one topic."""
        return self.covered / self.negative_comments if self.negative_comments else None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "comments": self.comments,
            "negative_comments": self.negative_comments,
            "negative_covered": self.covered,
            "coverage": self.coverage,
            "negative_rule": f"stars <= {NEGATIVE_MAX_STARS}",
            "topics": [t.as_dict() for t in self.topics],
            "months": self.months,
        }


def comments(data: ReviewData) -> pd.DataFrame:
    """The reviews with a comment: ``score``, ``created_at`` and normalised ``text``."""
    reviews = data.reviews[data.reviews.comment.notna()]
    texts = normalise([str(c) for c in reviews.comment])
    found = pd.DataFrame(
        {
            "score": reviews.score.to_numpy(),
            "created_at": reviews.created_at.to_numpy(),
            "text": texts,
        }
    )
    return found[found.text != ""].reset_index(drop=True)


def topics_report(data: ReviewData) -> TopicsReport:
    """Tag every comment and count the topics, above all in negative comments."""
    found = comments(data)
    found["tags"] = tag_all(found.text.tolist())
    negative = found[found.score <= NEGATIVE_MAX_STARS]
    topics = []
    for topic in TOPIC_PATTERNS:
        has = found.tags.map(lambda tags, t=topic: t in tags)
        in_negative = int(has[negative.index].sum())
        topics.append(
            TopicCount(
                topic=topic,
                negative=in_negative,
                share_of_negative=in_negative / len(negative) if len(negative) else None,
                comments=int(has.sum()),
                mean_stars=float(found.score[has].mean()) if has.any() else None,
            )
        )
    topics.sort(key=lambda t: (-t.negative, t.topic))
    months: dict[str, dict[str, int]] = {}
    month_of = pd.to_datetime(negative.created_at, utc=True).dt.strftime("%Y-%m")
    for month, tags in zip(month_of, negative.tags, strict=True):
        counts = months.setdefault(month, {})
        for tag in tags:
            counts[tag] = counts.get(tag, 0) + 1
    return TopicsReport(
        comments=len(found),
        negative_comments=len(negative),
        covered=int((negative.tags.map(len) > 0).sum()),
        topics=topics,
        months=dict(sorted(months.items())),
    )


def sentiment_report(data: ReviewData) -> SentimentEvaluation:
    """Lexicon and cross-validated supervised AUCs on the brand's own comments."""
    found = comments(data)
    return evaluate(found.text.tolist(), [int(s) for s in found.score])
