"""Last-touch attribution and campaign response, shown next to the incremental figures.

A touch is a delivered webhook message (window from its delivery) or an e-mail click or
open recorded as an event (``email_clicked``/``email_opened`` with ``journey`` and
``node`` in its payload; window from the event). An order is credited to the latest
touch whose window holds it. An e-mail delivered without a click or open is no touch:
delivery alone is not a response. Nor is an open the tracking flagged as a machine's
(``machine: true``: a privacy proxy or scanner fetched the pixel, see
:mod:`recompra.automation.tracking`): nobody read the message, so it neither credits
orders nor counts as an open. Attribution credits orders that would have happened
anyway; the holdout comparison is the causal figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.analytics.campaign import (
    COLUMNS,
    DELIVERIES_VIEW,
    LEVELS,
    RESPONSES_VIEW,
    campaign_response_sql,
)
from recompra.engines.registry import open_engine
from recompra.hub.scores import latest_segments
from recompra.measurement.frames import purchases, read_frame
from recompra.models import Event
from recompra.models.automation import Journey, JourneyRun, OutboxMessage

CLICK_EVENT = "email_clicked"
OPEN_EVENT = "email_opened"


@dataclass(frozen=True)
class AttributionWindows:
    """How long after a touch an order is credited to it (last touch wins)."""

    email_click: timedelta = timedelta(days=5)
    email_open: timedelta = timedelta(days=1)
    webhook: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class Response:
    """Delivered messages, their clicks and the orders credited to them by last touch,
    with the campaign response KPI (:mod:`recompra.analytics.campaign`: attributed
    orders / delivered messages; clicks / delivered e-mails; ``None`` before any)."""

    delivered: int = 0
    delivered_email: int = 0
    clicks: int = 0
    opens: int = 0
    attributed_orders: int = 0
    attributed_revenue_minor: int = 0
    response_rate: float | None = None
    click_rate: float | None = None


@dataclass(frozen=True)
class Responses:
    """The KPI per ``(journey, None)`` and ``(journey, node)``, and per
    ``(journey, segment)``."""

    by_node: dict[tuple[str, str | None], Response]
    by_segment: dict[tuple[str, str], Response]


#: The segment of a customer without stored analytics.
NO_SEGMENT = "unsegmented"

Key = tuple[str, str | None]


def node_of(execution_key: str) -> str:
    """The node in an execution key (``journey:version:entry key:node:customer``; the
    entry key may itself hold colons, the node and the customer id never do)."""
    return execution_key.rsplit(":", 2)[-2]


def _is_machine_open(event_type: str, payload: dict[str, Any]) -> bool:
    """An open the tracking flagged as a machine's (no reader behind it)."""
    return event_type == OPEN_EVENT and payload.get("machine") is True


def attribute(session: Session, *, brand_id: int, windows: AttributionWindows) -> Responses:
    """The campaign response KPI of the brand's journeys, by node and by segment."""
    sent = read_frame(
        session,
        select(
            Journey.key,
            OutboxMessage.execution_key,
            OutboxMessage.channel,
            OutboxMessage.customer_id,
            OutboxMessage.sent_at,
        )
        .join(JourneyRun, JourneyRun.id == OutboxMessage.run_id)
        .join(Journey, Journey.id == JourneyRun.journey_id)
        .where(OutboxMessage.brand_id == brand_id, OutboxMessage.state == "sent"),
        ["journey", "execution_key", "channel", "customer_id", "sent_at"],
    ).rename(columns={"sent_at": "at"})
    sent["node"] = sent["execution_key"].map(node_of)
    events = pd.DataFrame(
        [
            (e.type, e.customer_id, e.occurred_at, e.payload.get("journey"), e.payload.get("node"))
            for e in session.scalars(
                select(Event).where(
                    Event.brand_id == brand_id, Event.type.in_((CLICK_EVENT, OPEN_EVENT))
                )
            )
            if e.payload.get("journey") and not _is_machine_open(e.type, e.payload)
        ],
        columns=["type", "customer_id", "at", "journey", "node"],
    )
    webhooks = sent[sent["channel"] == "webhook"].assign(until=lambda f: f["at"] + windows.webhook)
    events["at"] = pd.to_datetime(events["at"], utc=True)
    window = pd.to_timedelta(
        events["type"].map({CLICK_EVENT: windows.email_click, OPEN_EVENT: windows.email_open})
    )
    touches = pd.concat(
        [
            webhooks[["customer_id", "at", "until", "journey", "node"]],
            events.assign(until=events["at"] + window)[
                ["customer_id", "at", "until", "journey", "node"]
            ],
        ],
        ignore_index=True,
    )
    credited = _last_touch(session, brand_id, touches)
    segments = latest_segments(session, brand_id=brand_id).set_index("customer_id")["segment"]
    deliveries = sent[["journey", "node", "customer_id", "channel"]]
    responses = pd.concat(
        [
            events.assign(
                kind=events["type"].map({CLICK_EVENT: "click", OPEN_EVENT: "open"}),
                revenue_minor=0,
            )[["journey", "node", "customer_id", "kind", "revenue_minor"]],
            credited.assign(kind="order").rename(columns={"total_minor": "revenue_minor"})[
                ["journey", "node", "customer_id", "kind", "revenue_minor"]
            ],
        ],
        ignore_index=True,
    )
    return _kpi(
        deliveries.assign(segment=_segment_of(deliveries, segments)),
        responses.assign(segment=_segment_of(responses, segments)),
    )


def _segment_of(frame: pd.DataFrame, segments: pd.Series) -> pd.Series:
    return frame["customer_id"].map(segments).fillna(NO_SEGMENT).astype(str)


def _kpi(deliveries: pd.DataFrame, responses: pd.DataFrame) -> Responses:
    """Run the analytics' campaign response SQL over the two frames."""
    tables = {
        DELIVERIES_VIEW: deliveries.astype(
            {"journey": str, "node": str, "segment": str, "channel": str}
        ),
        RESPONSES_VIEW: responses.astype(
            {"journey": str, "node": str, "segment": str, "kind": str, "revenue_minor": "int64"}
        ),
    }
    with open_engine("duckdb") as engine:
        engine.register_tables(
            {
                name: pa.Table.from_pandas(frame, preserve_index=False)
                for name, frame in tables.items()
            }
        )
        levels = {level: engine.query(campaign_response_sql(level)).to_pylist() for level in LEVELS}
    by_node: dict[tuple[str, str | None], Response] = {}
    for row in levels["journey"]:
        by_node[(row["journey"], None)] = _response(row)
    for row in levels["node"]:
        by_node[(row["journey"], row["node"])] = _response(row)
    by_segment = {(row["journey"], row["segment"]): _response(row) for row in levels["segment"]}
    return Responses(by_node, by_segment)


def _response(row: dict[str, Any]) -> Response:
    return Response(**{column: row[column] for column in COLUMNS})


def _last_touch(session: Session, brand_id: int, touches: pd.DataFrame) -> pd.DataFrame:
    """Each order with a touch before it and inside its window, credited to the latest."""
    if touches.empty:
        return pd.DataFrame(columns=["journey", "node", "customer_id", "total_minor"])
    touches = touches.assign(
        at=pd.to_datetime(touches["at"], utc=True), until=pd.to_datetime(touches["until"], utc=True)
    )
    orders = purchases(session, brand_id=brand_id)
    pairs = orders.merge(touches, on="customer_id")
    pairs = pairs[(pairs["at"] < pairs["purchased_at"]) & (pairs["purchased_at"] <= pairs["until"])]
    latest = pairs.sort_values(["order_id", "at"]).drop_duplicates("order_id", keep="last")
    return latest[["journey", "node", "customer_id", "total_minor"]]
