"""The validation rules of the hub, in one place, for every way in.

Two layers, both shared by the API ingest, the mapped CSV/Parquet importer, the Olist
importer and the generator's loader:

* field specs (:data:`LINE_FIELDS`, :data:`CUSTOMER_FIELDS`, ...) say how a raw value is
  parsed (see :func:`recompra.hub.validate.validate_frame`);
* :func:`order_problems` and :func:`return_problem` check the parsed, canonical values
  (amounts, quantities, identities, line numbers, returns up to the order total).

A rule names the canonical field and the reason; each caller reports the problem in its
own coordinates (file line and column, or record index and API field).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from babel.numbers import list_currencies

from recompra.hub.canonical import STATUS_WORDS, CanonicalOrder, OrderLine, OrderStatus
from recompra.hub.validate import Field

#: Largest amount of money accepted in one field, and for one line, in minor units
#: (R$ 10 bilhões in centavos). Sums of 9 million such amounts still fit the signed 64-bit
#: integers that both databases and the analytics engines add them in, so one absurd
#: value can never overflow a KPI.
MAX_MINOR = 10**12
#: Largest quantity on one order line.
MAX_QUANTITY = 100_000
#: ISO 4217 currency codes (the CLDR list Babel ships, including historic codes).
CURRENCIES = frozenset(list_currencies())
NOT_A_CURRENCY = "not an ISO 4217 currency code"

#: Canonical customer fields (a customers file, the API's customers, order lines).
CUSTOMER_FIELDS = [
    Field("customer_id"),
    Field("email", "email"),
    Field("document", "document"),
    Field("phone", "phone"),
    Field("customer_name"),
    Field("city"),
    Field("state"),
    Field("zip_prefix"),
    Field("birth_date", "date"),
]
#: Canonical order-line fields and how each is parsed (one row per order line).
LINE_FIELDS = [
    Field("order_id", required=True),
    Field("purchased_at", "timestamp", required=True),
    *CUSTOMER_FIELDS,
    Field("status"),
    Field("channel"),
    Field("currency"),
    Field("line_number", "int", minimum=1),
    Field("product_id", required=True),
    Field("product_name"),
    Field("category"),
    Field("quantity", "int"),
    Field("unit_price", "money", required=True),
    Field("freight", "money"),
    Field("discount", "money"),
    Field("payment_type"),
    Field("installments", "int", minimum=1),
    Field("payment_fingerprint", "payment_fingerprint"),
    Field("approved_at", "timestamp"),
    Field("delivered_at", "timestamp"),
    # The order a return line gives back (a store's reference column), when it says so.
    Field("original_order_id"),
]
#: Fields of a row that identify a person (at least one is required).
IDENTITY_FIELDS = ("customer_id", "email", "document", "phone")
NO_IDENTITY = "no customer identity: id, e-mail, CPF/CNPJ or phone is required"
NO_ITEMS = "an order needs at least one item"
UNKNOWN_STATUS = "unknown status: not a known word; a mapping can add it in status_map"

#: Longest accepted text per canonical field (the database column sizes).
MAX_LENGTH = {
    "order_id": 128,
    "status": 64,
    "channel": 32,
    "currency": 3,
    "payment_type": 32,
    "payment_fingerprint": 128,
    "product_id": 128,
    "product_name": 300,
    "category": 100,
    "customer_id": 128,
    "customer_name": 200,
    "email": 320,
    "city": 120,
    "state": 2,
    "zip_prefix": 10,
    "return_id": 128,
    "review_id": 128,
    "event_id": 128,
    "reason": 300,
    "title": 300,
    "type": 64,
}


@dataclass(frozen=True)
class Problem:
    """A rule broken by an order: the canonical field, the value, why, and which line."""

    field: str
    value: str
    reason: str
    line: OrderLine | None = None


def has_identity(row: Mapping[str, Any]) -> bool:
    """Whether a canonical row (or customer record) names a person."""
    keys = ("external_id", *IDENTITY_FIELDS) if "external_id" in row else IDENTITY_FIELDS
    return any(row.get(k) not in (None, "") for k in keys)


def line_value_problems(
    *, quantity: int | None, unit_price: int | None, freight: int | None, discount: int | None
) -> list[tuple[str, str]]:
    """The (field, reason) pairs a line's parsed values break; ``None`` is not checked.

    Importers that check a whole file column by column call this for every row whose
    values parsed, so a row with several problems reports them all.
    """
    problems = []
    if quantity is not None and quantity < 1:
        problems.append(("quantity", "must be at least 1"))
    elif quantity is not None and quantity > MAX_QUANTITY:
        problems.append(("quantity", f"must be at most {MAX_QUANTITY}"))
    for name, value in (("unit_price", unit_price), ("freight", freight), ("discount", discount)):
        if value is not None and value < 0:
            problems.append((name, "must be at least 0"))
        elif value is not None and value > MAX_MINOR:
            problems.append((name, f"must be at most {MAX_MINOR}"))
    # A line whose quantity or price is already out of bounds is reported for that alone.
    if (
        quantity is not None
        and unit_price is not None
        and quantity <= MAX_QUANTITY
        and unit_price <= MAX_MINOR
    ):
        gross = quantity * unit_price
        if gross > MAX_MINOR:
            problems.append(("quantity", f"the line's amount is more than {MAX_MINOR}"))
        elif discount is not None and discount > gross >= 0:
            problems.append(("discount", f"discount is larger than the line's amount ({gross})"))
    return problems


def currency_problem(code: str, *, brand_currency: str) -> str | None:
    """Why an order in ``code`` cannot be stored for a brand in ``brand_currency``.

    Amounts are summed per brand without conversion, so an order in another currency
    must be converted by the sender; Recompra refuses it rather than guess a rate.
    """
    if code not in CURRENCIES:
        return NOT_A_CURRENCY
    if code != brand_currency:
        return f"the brand's currency is {brand_currency}; convert the amounts before sending them"
    return None


def _line_problems(line: OrderLine) -> list[Problem]:
    values = {
        "quantity": line.quantity,
        "unit_price": line.unit_price_minor,
        "freight": line.freight_minor,
        "discount": line.discount_minor,
    }
    return [
        Problem(name, str(values[name]), reason, line)
        for name, reason in line_value_problems(
            quantity=line.quantity,
            unit_price=line.unit_price_minor,
            freight=line.freight_minor,
            discount=line.discount_minor,
        )
    ]


def status_of(word: str, extra: Mapping[str, OrderStatus] | None = None) -> OrderStatus | None:
    """The status a source's word means (``None``: unknown, a reject, never a guess).

    An empty word means the source has no status column value: a delivered sale.
    """
    key = word.strip().lower()
    if extra and key in extra:
        return extra[key]
    return STATUS_WORDS.get(key)


def order_problems(
    order: CanonicalOrder, *, brand_currency: str, items_required: bool = True
) -> list[Problem]:
    """Every rule ``order`` breaks (empty when it may be written).

    ``items_required=False`` is for sources whose orders and items are separate files
    that publish orders without items (Olist's unavailable orders).
    """
    problems: list[Problem] = []
    wrong_currency = currency_problem(order.currency, brand_currency=brand_currency)
    if wrong_currency:
        problems.append(Problem("currency", order.currency, wrong_currency))
    if isinstance(order.customer, dict) and not has_identity(order.customer):
        problems.append(Problem("customer", "", NO_IDENTITY))
    if items_required and not order.lines:
        problems.append(Problem("items", "", NO_ITEMS))
    numbers = [li.line_number for li in order.lines]
    if len(set(numbers)) != len(numbers):
        problems.append(Problem("items", "", "line_number repeats within the order"))
    for line in order.lines:
        problems.extend(_line_problems(line))
    for name, value in (
        ("freight_total", order.freight_total_minor or 0),
        ("order_discount", order.order_discount_minor),
    ):
        if value < 0:
            problems.append(Problem(name, str(value), "must be at least 0"))
        elif value > MAX_MINOR:
            problems.append(Problem(name, str(value), f"must be at most {MAX_MINOR}"))
    return problems


def return_problem(*, order: str, total: int, returned: int, amount: int) -> str | None:
    """Why a return of ``amount`` cannot be recorded against an order (``None``: it can)."""
    if amount < 0:
        return "must be at least 0"
    if returned + amount > total:
        return (
            f"returns of order {order!r} would total {returned + amount}, "
            f"more than its total {total}"
        )
    return None
