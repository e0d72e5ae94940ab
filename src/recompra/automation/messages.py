"""Message templates: Jinja2, sandboxed, in pt-BR and en, over the customer's data.

A template is ``automation/messages/<name>.yaml`` with ``subject``, ``text`` and
``html`` per locale. HTML is autoescaped (a customer's name cannot inject markup); the
sandbox refuses attribute access to Python internals, so a store's own template cannot
reach the process. The context is built once per decision from the database: name, last
order, points balance and what expires next, tier, and up to four recommended products
from the recommendations read model when it has been computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.errors import NotFound
from recompra.models import Brand, Customer, LoyaltyAccount, LoyaltyLot, LoyaltyTier, Order
from recompra.reads.recommendations import brand_index

LOCALES = ("pt-BR", "en")
PARTS = ("subject", "text", "html")
RECOMMENDED = 4

_html = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
_text = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def _money(minor: int, locale: str = "pt-BR") -> str:
    units, cents = divmod(int(minor), 100)
    grouped = f"{units:,}".replace(",", "." if locale == "pt-BR" else ",")
    return f"R$ {grouped},{cents:02d}" if locale == "pt-BR" else f"R$ {grouped}.{cents:02d}"


for _env in (_html, _text):
    _env.filters["money"] = _money


@dataclass(frozen=True)
class Rendered:
    """A message ready to build: subject, plain text and HTML."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class CompiledTemplate:
    """A template's compiled parts per locale."""

    name: str
    parts: dict[str, dict[str, Template]]

    def render(self, locale: str, context: dict[str, Any]) -> Rendered:
        """Render in ``locale`` (pt-BR when the template has no such locale)."""
        parts = self.parts.get(locale) or self.parts["pt-BR"]
        values = {**context, "locale": locale}
        return Rendered(
            subject=parts["subject"].render(values).strip(),
            text=parts["text"].render(values),
            html=parts["html"].render(values),
        )


def compile_template(name: str, document: dict[str, Any]) -> CompiledTemplate:
    """Compile a template document (``{locale: {subject, text, html}}``)."""
    parts: dict[str, dict[str, Template]] = {}
    for locale in LOCALES:
        texts = document.get(locale)
        if texts is None:
            continue
        parts[locale] = {
            part: (_html if part == "html" else _text).from_string(str(texts[part]))
            for part in PARTS
        }
    if "pt-BR" not in parts:
        raise NotFound(f"message template {name!r} has no pt-BR version")
    return CompiledTemplate(name, parts)


@cache
def packaged_template(name: str) -> CompiledTemplate:
    """A template shipped in ``recompra/automation/messages`` (compiled once)."""
    source = resources.files("recompra.automation") / "messages" / f"{name}.yaml"
    if not source.is_file():
        raise NotFound(f"message template {name!r} not found")
    return compile_template(name, yaml.safe_load(source.read_text(encoding="utf-8")))


def message_context(
    session: Session,
    *,
    brand_id: int,
    customer_id: int,
    order_id: int | None,
    recommendations_root: Path | None,
    now: datetime,
) -> dict[str, Any]:
    """What templates may use: customer, brand, last order, points, tier, recommendations."""
    customer = session.get(Customer, customer_id)
    brand = session.get(Brand, brand_id)
    if customer is None or brand is None:
        raise NotFound(f"customer {customer_id} of brand {brand_id} not found")
    order_filter = (
        Order.id == order_id if order_id is not None else Order.customer_id == customer_id
    )
    order = session.scalar(
        select(Order)
        .where(order_filter, Order.brand_id == brand_id)
        .order_by(Order.purchased_at.desc())
        .limit(1)
    )
    account = session.execute(
        select(LoyaltyAccount, LoyaltyTier.name)
        .outerjoin(
            LoyaltyTier,
            LoyaltyTier.id
            == func.coalesce(LoyaltyAccount.override_tier_id, LoyaltyAccount.tier_id),
        )
        .where(LoyaltyAccount.customer_id == customer_id)
        .order_by(LoyaltyAccount.id.desc())
        .limit(1)
    ).first()
    expiring = None
    if account is not None:
        expiring = session.execute(
            select(LoyaltyLot.expires_at, func.sum(LoyaltyLot.remaining))
            .where(
                LoyaltyLot.account_id == account[0].id,
                LoyaltyLot.state == "active",
                LoyaltyLot.remaining > 0,
                LoyaltyLot.expires_at > now,
            )
            .group_by(LoyaltyLot.expires_at)
            .order_by(LoyaltyLot.expires_at)
            .limit(1)
        ).first()
    name = (customer.name or "").strip()
    return {
        "customer": {
            "id": customer.id,
            "name": name,
            "first_name": name.split(" ")[0] if name else "",
            "email": customer.email,
        },
        "brand": {"name": brand.name, "slug": brand.slug},
        "order": None
        if order is None
        else {
            "number": order.external_id,
            "total_minor": order.total_minor,
            "purchased_at": order.purchased_at,
        },
        "points": None
        if account is None
        else {
            "balance": account[0].balance,
            "expiring": int(expiring[1]) if expiring else 0,
            "expires_at": expiring[0] if expiring else None,
        },
        "tier": account[1] if account is not None else None,
        "recommendations": _recommended(session, brand_id, customer_id, recommendations_root),
    }


def _recommended(
    session: Session, brand_id: int, customer_id: int, root: Path | None
) -> list[dict[str, Any]]:
    index = brand_index(session, root, brand_id) if root is not None else None
    if index is None:
        return []
    return [
        {
            "id": s.item_id,
            "name": index.item_name(s.item_id, "pt-BR"),
            "name_en": index.item_name(s.item_id, "en"),
        }
        for s in index.for_customer(customer_id, k=RECOMMENDED)
    ]
