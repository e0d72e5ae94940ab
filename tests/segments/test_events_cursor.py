"""The public segment-events feed (``GET /v1/live-segments/events``) pages with an opaque
cursor in commit-safe order: every event once, an event whose transaction commits late
still returned (PostgreSQL), and anything but a cursor it handed out refused with 422."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from segmenttest import NOW, brand, customer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dbtest import BACKENDS, create_test_engine
from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.models.segments import Segment, SegmentMembershipEvent
from recompra.server import create_app


@dataclass
class Feed:
    engine: Engine
    client: TestClient
    reader: dict[str, str]
    brand_id: int
    segment_id: int
    customer_id: int

    def page(self, **params: Any) -> Any:
        return self.client.get(
            "/v1/live-segments/events",
            params={"brand_id": self.brand_id, **params},
            headers=self.reader,
        )

    def add(self, session: Session) -> int:
        """One entry event, flushed in ``session``; returns its id."""
        event = SegmentMembershipEvent(
            brand_id=self.brand_id,
            segment_id=self.segment_id,
            customer_id=self.customer_id,
            type="segment_entered",
            version=1,
            occurred_at=NOW,
        )
        session.add(event)
        session.flush()
        return event.id


def _feed(engine: Engine, tmp_path: Path) -> Iterator[Feed]:
    with unit_of_work(engine) as session:
        brand_id = brand(session)
        segment = Segment(brand_id=brand_id, key="vip")
        session.add(segment)
        session.flush()
        customer_id = customer(session, brand_id)
        _, reader = create_api_key(session, scopes=["read"], brand_id=brand_id)
        segment_id = segment.id
    app = create_app(
        engine,
        Settings(home=tmp_path, environment="test"),
        ApiSettings(rate_limit_burst=1000, rate_limit_per_second=1000),
    )
    with TestClient(app) as client:
        yield Feed(
            engine, client, {"Authorization": f"Bearer {reader}"}, brand_id, segment_id, customer_id
        )


@pytest.fixture(params=BACKENDS)
def feed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Feed]:
    for engine in create_test_engine(request.param, tmp_path):
        yield from _feed(engine, tmp_path)


def _sqlite_feed(tmp_path: Path) -> Iterator[Feed]:
    for engine in create_test_engine("sqlite", tmp_path):
        yield from _feed(engine, tmp_path)


@pytest.fixture
def postgres_feed(tmp_path: Path) -> Iterator[Feed]:
    for engine in create_test_engine("postgres", tmp_path):
        yield from _feed(engine, tmp_path)


def _read_all(feed: Feed, *, limit: int, cursor: str | None = None) -> tuple[list[int], str]:
    """Page until an empty page; the ids read and the last cursor."""
    read: list[int] = []
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = feed.page(**params)
        assert response.status_code == 200, response.text
        body = response.json()
        if not body["events"]:
            assert cursor is None or body["cursor"] == cursor
            return read, body["cursor"]
        read += [event["id"] for event in body["events"]]
        cursor = body["cursor"]


def test_paging_returns_every_event_once_then_waits_at_the_end(feed: Feed) -> None:
    written: list[int] = []
    for _ in range(3):
        with unit_of_work(feed.engine) as session:
            written += [feed.add(session) for _ in range(3)]
    read, cursor = _read_all(feed, limit=2)
    assert read == written
    with unit_of_work(feed.engine) as session:
        later = feed.add(session)
    assert _read_all(feed, limit=2, cursor=cursor)[0] == [later]


def _encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_the_api_did_not_hand_out_is_a_422_and_after_is_refused(
    tmp_path: Path,
) -> None:
    malformed = ["12", "not a cursor", _encoded("1.2.3"), _encoded("-1.2"), ""]
    malformed.append(_encoded(f"{2**63}.1"))  # past a bigint
    for feed in _sqlite_feed(tmp_path):
        with unit_of_work(feed.engine) as session:
            feed.add(session)
        for cursor in malformed:
            response = feed.page(cursor=cursor)
            assert response.status_code == 422, cursor
            error = response.json()["error"]
            assert (error["code"], error["field"]) == ("malformed_cursor", "cursor")
            assert "previous page" in error["message"]
        # The old integer cursor is refused, not ignored (which would restart the feed).
        response = feed.page(after=0)
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "after"


@pytest.mark.postgres
def test_an_event_committed_after_a_later_one_was_paged_is_still_returned(
    postgres_feed: Feed,
) -> None:
    feed = postgres_feed
    _, start = _read_all(feed, limit=10)
    late = Session(feed.engine)
    try:
        low = feed.add(late)  # its transaction stays open
        with unit_of_work(feed.engine) as session:
            high = feed.add(session)
        assert low < high
        # The higher id is committed but waits behind the open transaction.
        assert _read_all(feed, limit=10, cursor=start) == ([], start)
        late.commit()
    finally:
        late.close()
    read, end = _read_all(feed, limit=1, cursor=start)
    assert read == [low, high]
    assert _read_all(feed, limit=10, cursor=end) == ([], end)
