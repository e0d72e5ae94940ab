"""Orders of one customer block with their items, payments, returns and reviews."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from recompra.generate.arrow import categorical, labels, segment_sum, timestamps
from recompra.generate.catalog import Catalog
from recompra.generate.config import (
    LATE_REVIEW_SCORES,
    RETURNED_REVIEW_SCORES,
    GeneratorConfig,
)
from recompra.generate.customers import US_PER_DAY, CustomerBlock, to_us
from recompra.generate.reference import CHANNELS, REGION_DELIVERY_DAYS, REGION_FREIGHT, STATES
from recompra.snapshot.schema import ORDER_ITEMS, ORDERS, PAYMENTS, RETURNS, REVIEWS

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

US_PER_MINUTE = 60_000_000
US_PER_HOUR = 60 * US_PER_MINUTE

#: Order status labels used by the generator (positions are the codes below).
STATUS_LABELS = ("delivered", "returned", "canceled", "created", "invoiced", "shipped")
DELIVERED, RETURNED, CANCELED, CREATED, INVOICED, SHIPPED = range(len(STATUS_LABELS))
KIND_LABELS = ("return", "cancellation")

_REGIONS = tuple(state.region for state in STATES)
STATE_DELIVERY_DAYS = np.array([REGION_DELIVERY_DAYS[r] for r in _REGIONS])
STATE_FREIGHT = np.array([REGION_FREIGHT[r] for r in _REGIONS])


@dataclass(frozen=True)
class OrderTables:
    """The order-side snapshot tables of one block."""

    orders: pa.Table
    order_items: pa.Table
    payments: pa.Table
    returns: pa.Table
    reviews: pa.Table


def generate_orders(
    rng: np.random.Generator,
    config: GeneratorConfig,
    catalog: Catalog,
    customers: CustomerBlock,
    *,
    first_order_id: int,
    first_return_id: int,
    first_review_id: int,
) -> OrderTables:
    """Turn a block's purchases into orders (plus extra canceled ones) and dependents.

    Parameters
    ----------
    rng, config
        The block's random generator and the generator configuration (as for
        :func:`~recompra.generate.customers.generate_customers`).
    catalog
        Products to put in the baskets.
    customers
        The block's customers and their BG/NBD purchase times.
    first_order_id, first_return_id, first_review_id
        Ids of the block's first order, return and review (ids are consecutive).

    Returns
    -------
    OrderTables
        Orders sorted by customer then purchase time, and their dependent tables.
    """
    start_us, end_us = to_us(config)
    del start_us

    # Purchases plus extra canceled orders, sorted by customer then time.
    n_purchases = len(customers.purchase_owner)
    extra = rng.random(n_purchases) < config.cancel_rate
    extra_us = customers.purchase_us[extra] + (
        US_PER_HOUR + rng.random(int(extra.sum())) * 20 * US_PER_DAY
    ).astype(np.int64)
    keep = extra_us < end_us
    owner = np.concatenate((customers.purchase_owner, customers.purchase_owner[extra][keep]))
    purchased = np.concatenate((customers.purchase_us, extra_us[keep]))
    canceled = np.concatenate((np.zeros(n_purchases, bool), np.ones(int(keep.sum()), bool)))
    order = np.lexsort((canceled, purchased, owner))
    owner, purchased, canceled = owner[order], purchased[order], canceled[order]
    n = len(owner)
    order_id = np.arange(first_order_id, first_order_id + n, dtype=np.int64)
    state = customers.state[owner]

    # Basket value around the customer's true mean spend (BRL).
    mean = customers.mean_spend[owner]
    if config.basket_model == "gamma":
        basket = rng.gamma(config.spend_p, mean / config.spend_p)
    else:
        s = config.basket_sigma
        basket = mean * np.exp(s * rng.standard_normal(n) - 0.5 * s * s)

    items = _items(rng, config, catalog, customers, owner, basket, order_id)
    n_items, line_start, items_total, line_total = items[0], items[1], items[2], items[3]

    # Freight (free above R$ 199 most of the time) and coupons.
    free = (items_total >= 19_900) & (rng.random(n) < 0.7)
    freight_brl = 16.0 * STATE_FREIGHT[state] * n_items**0.3 * np.exp(0.35 * rng.standard_normal(n))
    freight = np.where(free, 0, np.round(freight_brl * 100)).astype(np.int64)
    coupon = rng.random(n) < 0.1
    pct = np.array([5, 10, 15], dtype=np.int64)[rng.integers(0, 3, n)]
    discount = np.where(coupon, items_total * pct // 100, 0).astype(np.int64)
    total = items_total + freight - discount

    # Payment type, approval and delivery times.
    pay_types = [t for t, _ in config.payment_mix]
    method = categorical(rng, [w for _, w in config.payment_mix], n)
    is_boleto = np.array([t == "boleto" for t in pay_types])[method]
    is_card = np.array([t == "credit_card" for t in pay_types])[method]
    lag_minutes = np.select(
        [is_boleto, is_card],
        [
            360.0 + rng.random(n) * 66 * 60,
            np.where(
                rng.random(n) < 0.04, 120.0 + rng.random(n) * 2880, 1 + rng.exponential(15, n)
            ),
        ],
        1.0 + rng.random(n) * 20,
    )
    approved = purchased + (lag_minutes * US_PER_MINUTE).astype(np.int64)
    median_days = STATE_DELIVERY_DAYS[state]
    days = np.maximum(median_days * np.exp(0.45 * rng.standard_normal(n)), 1.0)
    delivered = approved + (days * US_PER_DAY).astype(np.int64)
    late = days > 1.6 * median_days

    status = np.full(n, DELIVERED, dtype=np.int64)
    not_approved = approved >= end_us
    in_transit = ~not_approved & (delivered >= end_us)
    status[in_transit] = np.where(end_us - approved[in_transit] > US_PER_DAY, SHIPPED, INVOICED)
    status[not_approved] = CREATED
    status[canceled] = CANCELED
    unpaid = canceled & (is_boleto | not_approved)
    approved_missing = not_approved | unpaid
    delivered_missing = status != DELIVERED

    # Returns of delivered orders (whole order -> status returned) and cancellations.
    returned = (status == DELIVERED) & (rng.random(n) < config.return_rate)
    return_at = delivered + ((1.0 + rng.random(n) * 14.0) * US_PER_DAY).astype(np.int64)
    returned &= return_at < end_us
    whole = returned & ((n_items == 1) | (rng.random(n) < 0.6))
    status[whole] = RETURNED
    last_line_total = line_total[line_start + n_items - 1]
    return_amount = np.where(whole, total, np.minimum(last_line_total, total))
    cancel_at = np.minimum(
        purchased + ((10.0 + rng.random(n) * 2870.0) * US_PER_MINUTE).astype(np.int64), end_us - 1
    )
    ret_rows = np.flatnonzero(returned | canceled)
    ret_is_cancel = canceled[ret_rows]
    returns = pa.table(
        {
            "return_id": np.arange(
                first_return_id, first_return_id + len(ret_rows), dtype=np.int64
            ),
            "order_id": order_id[ret_rows],
            "customer_id": customers.customer_id[owner[ret_rows]],
            "kind": labels(KIND_LABELS, ret_is_cancel.astype(np.int64)),
            "created_at": timestamps(
                np.where(ret_is_cancel, cancel_at[ret_rows], return_at[ret_rows])
            ),
            "amount_minor": np.where(
                ret_is_cancel,
                np.where(unpaid[ret_rows], 0, total[ret_rows]),
                return_amount[ret_rows],
            ),
        },
        schema=RETURNS,
    )

    reviews = _reviews(
        rng,
        config,
        order_id=order_id,
        customer_id=customers.customer_id[owner],
        delivered=delivered,
        has_delivery=~delivered_missing | (status == RETURNED),
        returned=returned,
        late=late,
        end_us=end_us,
        first_review_id=first_review_id,
    )
    payments = _payments(rng, order_id, total, method, pay_types, is_card)

    orders = pa.table(
        {
            "order_id": order_id,
            "brand_id": np.full(n, config.brand_id, dtype=np.int64),
            "customer_id": customers.customer_id[owner],
            "status": labels(STATUS_LABELS, status),
            "channel": labels(
                [c for c, _ in CHANNELS], categorical(rng, [w for _, w in CHANNELS], n)
            ),
            "currency": labels([config.currency], np.zeros(n, dtype=np.int64)),
            "purchased_at": timestamps(purchased),
            "approved_at": timestamps(approved, approved_missing),
            "delivered_at": timestamps(delivered, delivered_missing & (status != RETURNED)),
            "items_total_minor": items_total,
            "freight_total_minor": freight,
            "discount_total_minor": discount,
            "total_minor": total,
        },
        schema=ORDERS,
    )
    return OrderTables(
        orders=orders, order_items=items[4], payments=payments, returns=returns, reviews=reviews
    )


def _items(
    rng: np.random.Generator,
    config: GeneratorConfig,
    catalog: Catalog,
    customers: CustomerBlock,
    owner: IntArray,
    basket: FloatArray,
    order_id: IntArray,
) -> tuple[IntArray, IntArray, IntArray, IntArray, pa.Table]:
    """Draw order lines; return lines per order, first line, totals and the items table.

    The first line comes from the customer's favourite category (with the customer's
    bias) or a category drawn by demand; further lines are the first product's partner,
    a product of a complementary category, or a product of a random category. Unit
    prices are list prices scaled by one factor per order (and cheap baskets get
    quantities 2-3) so that the basket matches the drawn basket value.
    """
    n = len(owner)
    n_items = categorical(rng, config.items_per_order, n) + 1
    total_lines = int(n_items.sum())
    line_start = (np.cumsum(n_items) - n_items).astype(np.int64)
    line_order = np.repeat(np.arange(n, dtype=np.int64), n_items)
    line_no = np.arange(total_lines, dtype=np.int64) - line_start[line_order]

    fav = rng.random(n) < customers.bias[owner]
    first_cat = np.where(fav, customers.favourite[owner], catalog.sample_categories(rng, n))
    first_product = catalog.sample_products(rng, first_cat)

    # Further lines: the partner product, a complementary category, or any category.
    product = first_product[line_order]
    extra = np.flatnonzero(line_no > 0)
    n_extra = len(extra)
    base = product[extra]
    kind = rng.random(n_extra)
    together = kind < config.together_prob
    complement = kind < config.together_prob + (1 - config.together_prob) * config.complement_prob
    other_cat = np.where(
        complement,
        catalog.sample_complements(rng, catalog.product_category[base]),
        catalog.sample_categories(rng, n_extra),
    )
    product[extra] = np.where(
        together, catalog.partner[base], catalog.sample_products(rng, other_cat)
    )

    list_price = catalog.product_price[product]
    list_sum = segment_sum(list_price, line_start)
    factor = basket * 100.0 / list_sum
    quantity = np.clip(np.floor(factor), 1, 3).astype(np.int64)
    unit_factor = factor / quantity
    line_qty = quantity[line_order]
    unit = np.maximum(np.round(list_price * unit_factor[line_order]), 1).astype(np.int64)
    line_total = unit * line_qty
    items_total = segment_sum(line_total, line_start)
    table = pa.table(
        {
            "order_id": order_id[line_order],
            "line_number": (line_no + 1).astype(np.int32),
            "product_id": product + 1,
            "category_id": catalog.product_category[product] + 1,
            "quantity": line_qty.astype(np.int32),
            "unit_price_minor": unit,
            "total_minor": line_total,
        },
        schema=ORDER_ITEMS,
    )
    return n_items, line_start, items_total, line_total, table


def _payments(
    rng: np.random.Generator,
    order_id: IntArray,
    total: IntArray,
    method: IntArray,
    pay_types: list[str],
    card: BoolArray,
) -> pa.Table:
    """One payment per order (two credit cards for ~3% of card orders), summing exactly."""
    n = len(order_id)
    split = card & (total >= 2_000) & (rng.random(n) < 0.03)
    rows = 1 + split.astype(np.int64)
    pay_order = np.repeat(np.arange(n, dtype=np.int64), rows)
    first_row = (np.cumsum(rows) - rows).astype(np.int64)
    sequence = np.arange(len(pay_order), dtype=np.int64) - first_row[pay_order] + 1
    first_amount = np.where(split, (total * (0.3 + 0.4 * rng.random(n))).astype(np.int64), total)
    amount = np.where(sequence == 1, first_amount[pay_order], (total - first_amount)[pay_order])
    max_inst = np.clip(amount // 5_000, 1, 12)
    draw = rng.random(len(pay_order))
    inst = np.where(
        (draw < 0.45) | (max_inst == 1), 1, 2 + (rng.random(len(draw)) * (max_inst - 1))
    ).astype(np.int64)
    inst = np.minimum(inst, max_inst)
    installments = np.where(card[pay_order], inst, 1)
    return pa.table(
        {
            "order_id": order_id[pay_order],
            "sequence": sequence.astype(np.int32),
            "payment_type": labels(pay_types, method[pay_order]),
            "installments": installments.astype(np.int32),
            "amount_minor": amount.astype(np.int64),
        },
        schema=PAYMENTS,
    )


def _reviews(
    rng: np.random.Generator,
    config: GeneratorConfig,
    *,
    order_id: IntArray,
    customer_id: IntArray,
    delivered: IntArray,
    has_delivery: BoolArray,
    returned: BoolArray,
    late: BoolArray,
    end_us: int,
    first_review_id: int,
) -> pa.Table:
    """Reviews of delivered orders; scores skewed to 5, lower when late or returned."""
    n = len(order_id)
    created = delivered + ((0.3 + rng.random(n) * 9.7) * US_PER_DAY).astype(np.int64)
    chosen = has_delivery & (rng.random(n) < config.review_rate) & (created < end_us)
    group = np.where(returned, 2, np.where(late, 1, 0))
    cdf = np.cumsum(
        np.array([config.review_scores, LATE_REVIEW_SCORES, RETURNED_REVIEW_SCORES]), axis=1
    )
    cdf[:, -1] = 1.0
    u = rng.random(n)
    score = 1 + (u[:, None] >= cdf[group]).sum(axis=1)
    comment = rng.random(n) < 0.3 + 0.35 * (score <= 2)
    rows = np.flatnonzero(chosen)
    return pa.table(
        {
            "review_id": np.arange(first_review_id, first_review_id + len(rows), dtype=np.int64),
            "order_id": order_id[rows],
            "customer_id": customer_id[rows],
            "score": score[rows].astype(np.int8),
            "has_comment": comment[rows],
            "created_at": timestamps(created[rows]),
        },
        schema=REVIEWS,
    )
