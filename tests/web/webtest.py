"""Helpers shared by the browser tests (a unique module name: `conftest` is ambiguous)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from recompra.db import make_engine, unit_of_work
from recompra.models import Brand, BrandCustomer, Customer

EMAIL, PASSWORD = "gerente@example.com", "senha-segura-1"
LIST_CUSTOMERS = 120
#: A valid CPF (check digits computed by the published algorithm) and a São Paulo mobile.
SEARCH_CPF, SEARCH_PHONE = "52998224725", "5511987654321"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORTS = {"desktop": (1366, 768), "phone": (390, 844)}
#: When the seeded journeys ran: a Wednesday, 15:00 in São Paulo (business hours).
JOURNEYS_AT = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)


@dataclass
class Server:
    """A running dashboard/API server and the credentials to use it."""

    url: str
    api_key: str
    home: Path
    slug: str
    database_url: str = ""
    searchable_id: int = 0
    email: str = EMAIL
    password: str = PASSWORD

    def api(self, path: str) -> Any:
        """GET an API path with the read key and return the JSON body."""
        response = httpx.get(
            self.url + path, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()


def screenshot(tab: Any, name: str) -> Path:
    """Save a full-page screenshot under ``test-artifacts/screenshots/`` (CI keeps them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    try:
        tab.screenshot(path=str(path), full_page=True)
    except Exception as error:
        # Chromium's capture of a long page can fail once when its compositor is starved
        # (seen once in CI at 2 cores, the page itself loaded fine): one more try, after
        # a frame; any other error, or a second failure, is the test's.
        if "Unable to capture screenshot" not in str(error):
            raise
        tab.evaluate("() => new Promise(done => requestAnimationFrame(() => done(null)))")
        tab.screenshot(path=str(path), full_page=True)
    return path


def sign_in(tab: Any, server: Server, next_path: str = "/dashboard") -> None:
    """Sign in through the form and land on ``next_path``."""
    tab.goto(server.url + next_path)
    tab.fill("input[name=email]", server.email)
    tab.fill("input[name=password]", server.password)
    tab.click("#sign-in")
    tab.wait_for_url(f"**{next_path}")


def brand_customers(server: Server, *conditions: Any) -> int:
    """How many (unmerged) customers of the server's brand meet ``conditions`` now."""
    engine = make_engine(server.database_url)
    try:
        with unit_of_work(engine, write=False) as session:
            brand = session.scalar(select(Brand.id).where(Brand.slug == server.slug))
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(BrandCustomer)
                    .join(Customer, Customer.id == BrandCustomer.customer_id)
                    .where(
                        BrandCustomer.brand_id == brand,
                        Customer.merged_into_id.is_(None),
                        *conditions,
                    )
                )
                or 0
            )
    finally:
        engine.dispose()
