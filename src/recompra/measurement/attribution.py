"""Last-touch attribution and campaign response, shown next to the incremental figures.

A touch is a delivered webhook message (window from its delivery) or an e-mail click or
open recorded as an event (``email_clicked``/``email_opened`` with ``journey`` and
``node`` in its payload; window from the event). An order is credited to the latest
touch whose window holds it. An e-mail delivered without a click or open is no touch:
delivery alone is not a response. Attribution credits orders that would have happened
anyway; the holdout comparison is the causal figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

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
    """Delivered messages, their clicks and the orders credited to them by last touch.

    ``response_rate`` is attributed orders / delivered messages (the campaign response
    rate KPI); ``click_rate`` is clicks / delivered e-mails.
    """

    delivered: int = 0
    delivered_email: int = 0
    clicks: int = 0
    opens: int = 0
    attributed_orders: int = 0
    attributed_revenue_minor: int = 0

    @property
    def response_rate(self) -> float | None:
        """Attributed orders per delivered message (``None`` before any delivery)."""
        return self.attributed_orders / self.delivered if self.delivered else None

    @property
    def click_rate(self) -> float | None:
        """Clicks per delivered e-mail (``None`` before any e-mail)."""
        return self.clicks / self.delivered_email if self.delivered_email else None


Key = tuple[str, str | None]


def node_of(execution_key: str) -> str:
    """The node in an execution key (``journey:version:entry key:node:customer``; the
    entry key may itself hold colons, the node and the customer id never do)."""
    return execution_key.rsplit(":", 2)[-2]


def attribute(
    session: Session, *, brand_id: int, windows: AttributionWindows
) -> dict[Key, Response]:
    """Responses per ``(journey, None)`` and ``(journey, node)`` for the brand."""
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
            if e.payload.get("journey")
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
    responses: dict[Key, Response] = {}
    for keys in (["journey"], ["journey", "node"]):
        for key, group in sent.groupby(keys):
            name = _key(key)
            responses[name] = Response(
                delivered=len(group), delivered_email=int((group["channel"] == "email").sum())
            )
        for key, group in events.groupby(keys):
            name = _key(key)
            current = responses.get(name, Response())
            responses[name] = _with(
                current,
                clicks=int((group["type"] == CLICK_EVENT).sum()),
                opens=int((group["type"] == OPEN_EVENT).sum()),
            )
        for key, group in credited.groupby(keys):
            name = _key(key)
            current = responses.get(name, Response())
            responses[name] = _with(
                current,
                attributed_orders=len(group),
                attributed_revenue_minor=int(group["total_minor"].sum()),
            )
    return responses


def _key(key: object) -> Key:
    parts = key if isinstance(key, tuple) else (key,)
    return (str(parts[0]), str(parts[1]) if len(parts) > 1 and parts[1] is not None else None)


def _with(current: Response, **changes: int) -> Response:
    fields = {**current.__dict__, **changes}
    return Response(**fields)


def _last_touch(session: Session, brand_id: int, touches: pd.DataFrame) -> pd.DataFrame:
    """Each order with a touch before it and inside its window, credited to the latest."""
    if touches.empty:
        return pd.DataFrame(columns=["journey", "node", "total_minor"])
    touches = touches.assign(
        at=pd.to_datetime(touches["at"], utc=True), until=pd.to_datetime(touches["until"], utc=True)
    )
    orders = purchases(session, brand_id=brand_id)
    pairs = orders.merge(touches, on="customer_id")
    pairs = pairs[(pairs["at"] < pairs["purchased_at"]) & (pairs["purchased_at"] <= pairs["until"])]
    latest = pairs.sort_values(["order_id", "at"]).drop_duplicates("order_id", keep="last")
    return latest[["journey", "node", "total_minor"]]
