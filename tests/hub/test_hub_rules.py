"""The hub's value rules on canonical orders and returns (shared by every way in)."""

from __future__ import annotations

from datetime import UTC, datetime

from recompra.hub.canonical import CanonicalOrder, OrderLine, OrderStatus
from recompra.hub.rules import NO_IDENTITY, NO_ITEMS, order_problems, return_problem
from recompra.snapshot.schema import ORDER_STATUSES

WHEN = datetime(2024, 3, 1, 10, tzinfo=UTC)


def _order(*lines: OrderLine, customer: int | dict[str, str | None] = 7) -> CanonicalOrder:
    return CanonicalOrder("o1", customer, OrderStatus.DELIVERED, WHEN, lines=list(lines))


def test_a_valid_order_breaks_no_rule() -> None:
    order = _order(OrderLine(1, "p1", 2, 1250, freight_minor=500, discount_minor=2500))
    assert order_problems(order, brand_currency="BRL") == []
    # 2 x 12,50 - 25,00 discount + 5,00 freight.
    assert order.total_minor == 500


def test_each_broken_rule_is_reported_with_its_line() -> None:
    zero = OrderLine(1, "p1", 0, 1000)
    negative = OrderLine(2, "p2", 1, -3500, freight_minor=-1)
    discounted = OrderLine(2, "p3", 1, 1000, discount_minor=1001)
    problems = order_problems(
        _order(zero, negative, discounted, customer={"email": None}), brand_currency="BRL"
    )
    assert [(p.field, p.value, p.reason, p.line) for p in problems] == [
        ("customer", "", NO_IDENTITY, None),
        ("items", "", "line_number repeats within the order", None),
        ("quantity", "0", "must be at least 1", zero),
        ("unit_price", "-3500", "must be at least 0", negative),
        ("freight", "-1", "must be at least 0", negative),
        ("discount", "1001", "discount is larger than the line's amount (1000)", discounted),
    ]


def test_items_are_required_unless_the_source_publishes_empty_orders() -> None:
    assert [p.reason for p in order_problems(_order(), brand_currency="BRL")] == [NO_ITEMS]
    assert order_problems(_order(), brand_currency="BRL", items_required=False) == []


def test_returns_never_exceed_the_order_total() -> None:
    assert return_problem(order="o1", total=8390, returned=5000, amount=3390) is None
    assert return_problem(order="o1", total=8390, returned=5000, amount=3391) == (
        "returns of order 'o1' would total 8391, more than its total 8390"
    )
    assert return_problem(order="o1", total=8390, returned=0, amount=-1) == "must be at least 0"


def test_order_status_words_are_the_snapshot_statuses() -> None:
    assert sorted(OrderStatus) == sorted(ORDER_STATUSES)


def test_amounts_quantities_and_currency_have_bounds() -> None:
    # The documented bounds (docs/security.md): 10^12 minor units, 100,000 per line.
    huge_freight = OrderLine(1, "p1", 1, 1000, freight_minor=2**62)
    huge_quantity = OrderLine(2, "p2", 2**62, 1000)
    huge_line = OrderLine(3, "p3", 1000, 10**12)
    order = _order(huge_freight, huge_quantity, huge_line)
    problems = order_problems(order, brand_currency="BRL")
    assert [(p.field, p.reason, p.line) for p in problems] == [
        ("freight", "must be at most 1000000000000", huge_freight),
        ("quantity", "must be at most 100000", huge_quantity),
        ("quantity", "the line's amount is more than 1000000000000", huge_line),
    ]
    for currency, reason in (
        ("ZZZ", "not an ISO 4217 currency code"),
        ("EUR", "the brand's currency is BRL; convert the amounts before sending them"),
    ):
        order = _order(OrderLine(1, "p1", 1, 1000))
        order.currency = currency
        assert [p.reason for p in order_problems(order, brand_currency="BRL")] == [reason]
