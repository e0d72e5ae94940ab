"""Rule tree -> one SQL query: SQLite and PostgreSQL (the hub), and DuckDB (full runs).

The query selects the ids of the brand's customers (``brand_customers``, merged persons
left out) for which the tree holds. It is built with SQLAlchemy Core, so one tree runs
on every engine (:meth:`CompiledSegment.duckdb_sql`), and only joins what the tree uses:

* ``facts``: one row per customer with purchase aggregates (orders, net and gross
  revenue, first and last purchase, and one column per ``days`` window in use). A
  purchase and its net value follow :mod:`recompra.analytics.prepare`: status not in
  ``NON_PURCHASE_STATUSES``, net = paid total minus its refunds, floored at 0 per order;
  this is the same definition, expressed for the operational database so that segments
  stay live between analytics runs;
* ``scores``: the latest ``customer_scores`` row of each customer (analytics and model
  fields: the analytics world meets the operational one through that table, which the
  analytics and prediction runs write back);
* ``loyalty``: the account in the brand's active program and its effective tier;
* existence tests (bought product or category, channel, returned, review score) and
  counts (events, expiring points) are correlated subqueries on indexed columns.

Everything that depends on the clock (``days`` windows, days since the last order,
birthdays) is a bound parameter computed at execution from ``now``, so a compiled
statement is reused for every run of the same version (:func:`compiled`).
Incremental evaluation uses the ``subset`` variant, which restricts the customers and
every aggregate to the ``customer_ids`` parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    String,
    and_,
    case,
    exists,
    extract,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import bindparam

from recompra.models import (
    BrandCustomer,
    Category,
    Customer,
    CustomerScore,
    Event,
    Lead,
    LoyaltyAccount,
    LoyaltyLot,
    LoyaltyProgram,
    LoyaltyTier,
    Opportunity,
    Order,
    OrderItem,
    Product,
    Return,
    Review,
)
from recompra.models.base import UTCDateTime
from recompra.segments.definition import (
    Condition,
    Group,
    Node,
    conditions_of,
)
from recompra.segments.fields import FIELDS
from recompra.segments.property_rules import property_name, property_sql
from recompra.segments.purchases import (
    BRAND,
    CUSTOMER_IDS,
    NOW,
    compare,
    day_start,
    net_value,
    one_of,
    purchase_filter,
    upcoming_birthdays,
)

FACT_FIELDS = (
    "orders",
    "net_revenue",
    "aov",
    "first_order_date",
    "last_order_date",
    "days_since_last_order",
)
SCORE_COLUMNS = {
    "rfm_segment": "segment",
    "r_score": "r_score",
    "f_score": "f_score",
    "m_score": "m_score",
    "cluster": "cluster",
    "p_alive": "p_alive",
    "clv": "clv_minor",
    "churn_risk": "churn_risk",
    "expected_next_order_date": "expected_next_order_at",
}
LOYALTY_FIELDS = ("points_balance", "pending_points", "tier", "points_expiring")


@dataclass
class CompiledSegment:
    """A member query and how to compute its clock-dependent parameters."""

    statement: Select[Any]
    clock: dict[str, Callable[[datetime], Any]] = field(default_factory=dict)
    #: The fields the rules test: a write that can change none of them changes no member.
    fields: frozenset[str] = frozenset()
    _duckdb: SQLCompiler | None = field(default=None, repr=False)

    def params(
        self, *, brand_id: int, now: datetime, customer_ids: Sequence[int] | None = None
    ) -> dict[str, Any]:
        """Bound values for one execution."""
        values: dict[str, Any] = {BRAND: brand_id, NOW: now}
        values.update({name: make(now) for name, make in self.clock.items()})
        if customer_ids is not None:
            values[CUSTOMER_IDS] = list(customer_ids)
        return values

    def duckdb_sql(self, values: dict[str, Any]) -> tuple[str, list[Any]]:
        """The statement as DuckDB SQL with ``$n`` parameters, and their values.

        The same tree, rendered by SQLAlchemy's PostgreSQL compiler: DuckDB reads
        PostgreSQL's SQL for everything the compiler emits (EXTRACT, COALESCE, CASE,
        correlated EXISTS, boolean literals), so both engines run one compiled tree and
        cannot drift. Rendered once per statement; list parameters (birthdays) are
        expanded per execution.
        """
        if self._duckdb is None:
            compiled = self.statement.compile(dialect=_DUCKDB_RENDERING)
            assert isinstance(compiled, SQLCompiler)
            self._duckdb = compiled
        expanded = self._duckdb.construct_expanded_state(values)
        return expanded.statement, list(expanded.positional_parameters)


#: PostgreSQL SQL with ``$1`` parameters (DuckDB's positional style), without the
#: driver-specific casts the psycopg (3) dialect adds to parameters.
_DUCKDB_RENDERING = postgresql.psycopg2.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


class _Compiler:
    def __init__(self, *, subset: bool) -> None:
        self.subset = subset
        self.brand: BindParameter[int] = bindparam(BRAND)
        self.bc = BrandCustomer.__table__.alias("bc")
        self.customer = Customer.__table__.alias("c")
        self.clock: dict[str, Callable[[datetime], Any]] = {}
        self.fact_windows: dict[str, ColumnElement[Any]] = {}
        self.score_columns: set[str] = set()
        self._facts: Any = None
        self._scores: Any = None
        self._loyalty: Any = None
        self.customer_id = self.bc.c.customer_id

    # -- clock parameters ---------------------------------------------------------------
    def day(self, offset: int, *, as_date: bool = False) -> BindParameter[Any]:
        """Midnight UTC of today + ``offset`` days, or that date (bound at execution)."""
        sign = "p" if offset >= 0 else "m"
        if as_date:
            name = f"date_{sign}{abs(offset)}"
            self.clock[name] = lambda now: now.astimezone(UTC).date() + timedelta(offset)
            return bindparam(name, type_=Date())
        name = f"day_{sign}{abs(offset)}"
        self.clock[name] = lambda now: day_start(now.astimezone(UTC).date() + timedelta(offset))
        return bindparam(name, type_=UTCDateTime())

    def iso_day(self, offset: int) -> BindParameter[str]:
        """Today + ``offset`` days (UTC) as ISO text (bound at execution)."""
        name = f"iso_{'p' if offset >= 0 else 'm'}{abs(offset)}"
        self.clock[name] = lambda now: (now.astimezone(UTC).date() + timedelta(offset)).isoformat()
        return bindparam(name, type_=String())

    def window(self, days: int | None) -> BindParameter[datetime] | None:
        """Start of a ``days`` window ending today (today counts as one of the days)."""
        return None if days is None else self.day(-(days - 1))

    # -- joined per-customer tables -----------------------------------------------------
    def facts(self) -> Any:
        if self._facts is None:
            refunds, net = net_value(subset=self.subset)
            columns: list[Any] = [
                Order.customer_id.label("customer_id"),
                func.count().label("orders"),
                func.sum(net).label("net_minor"),
                func.sum(Order.total_minor).label("gross_minor"),
                func.min(Order.purchased_at).label("first_at"),
                func.max(Order.purchased_at).label("last_at"),
            ]
            for name, start in self.fact_windows.items():
                value = net if name.startswith("net") else literal(1)
                columns.append(
                    func.sum(case((Order.purchased_at >= start, value), else_=0)).label(name)
                )
            self._facts = (
                select(*columns)
                .select_from(Order)
                .outerjoin(refunds, refunds.c.order_id == Order.id)
                .where(*purchase_filter(self.brand, subset=self.subset))
                .group_by(Order.customer_id)
                .subquery("facts")
            )
        return self._facts

    def scores(self) -> Any:
        if self._scores is None:
            cs = CustomerScore.__table__
            mine = [cs.c.brand_id == self.brand]
            if self.subset:
                mine.append(cs.c.customer_id.in_(bindparam(CUSTOMER_IDS, expanding=True)))
            latest = (
                select(cs.c.customer_id, func.max(cs.c.as_of).label("as_of"))
                .where(*mine)
                .group_by(cs.c.customer_id)
                .subquery("latest")
            )
            # Only the columns the rules test (a full evaluation copies what it reads).
            columns = [cs.c.customer_id, *(cs.c[c] for c in sorted(self.score_columns))]
            self._scores = (
                select(*columns)
                .join(
                    latest,
                    and_(latest.c.customer_id == cs.c.customer_id, latest.c.as_of == cs.c.as_of),
                )
                .where(cs.c.brand_id == self.brand)
                .subquery("scores")
            )
        return self._scores

    def loyalty(self) -> Any:
        if self._loyalty is None:
            account = LoyaltyAccount.__table__
            program = LoyaltyProgram.__table__
            tier = LoyaltyTier.__table__
            now = bindparam(NOW, type_=UTCDateTime())
            override_applies = and_(
                account.c.override_tier_id.is_not(None),
                or_(account.c.override_until.is_(None), account.c.override_until > now),
            )
            effective = case(
                (override_applies, account.c.override_tier_id), else_=account.c.tier_id
            )
            self._loyalty = (
                select(
                    account.c.customer_id,
                    account.c.id.label("account_id"),
                    account.c.balance,
                    account.c.pending,
                    tier.c.code.label("tier"),
                )
                .select_from(account)
                .join(program, program.c.id == account.c.program_id)
                .outerjoin(tier, tier.c.id == effective)
                .where(program.c.brand_id == self.brand, program.c.status == "active")
                .subquery("loyalty")
            )
        return self._loyalty

    # -- the tree -----------------------------------------------------------------------
    def node(self, node: Node) -> Any:
        if isinstance(node, Group):
            parts = [self.node(child) for child in node.children]
            if node.kind == "all":
                return and_(*parts)
            if node.kind == "any":
                return or_(*parts)
            # Two-valued NOT: a condition on a missing value is false, so its negation is
            # true (SQL's NOT NULL would be NULL and drop the customer from both sides).
            return not_(func.coalesce(parts[0], false()))
        return self.condition(node)

    def condition(self, c: Condition) -> Any:
        name = c.field
        if property_name(name) is not None:
            return property_sql(
                name,
                c.op,
                c.value,
                customer_id=self.customer_id,
                brand=self.brand,
                iso_day=self.iso_day,
            )
        if name in FACT_FIELDS:
            return self.fact_condition(c)
        if name in SCORE_COLUMNS:
            column = self.scores().c[SCORE_COLUMNS[name]]
            if FIELDS[name].kind == "date":
                return self.date_compare(column, c, future=True)
            return compare(column, c.op, c.value)
        if name in LOYALTY_FIELDS:
            return self.loyalty_condition(c)
        if name == "lead_score":
            return compare(self.lead_score(), c.op, c.value)
        return self.profile_or_activity(c)

    def lead_score(self) -> Any:
        """The best score of the leads whose deals name the customer (won deal -> customer)."""
        return (
            select(func.max(Lead.score))
            .join(Opportunity, Opportunity.lead_id == Lead.id)
            .where(Opportunity.customer_id == self.customer_id, Lead.brand_id == self.brand)
            .scalar_subquery()
        )

    @staticmethod
    def window_label(c: Condition) -> str:
        return f"{'net' if c.field == 'net_revenue' else 'orders'}_d{c.days}"

    def fact_condition(self, c: Condition) -> Any:
        if c.days is not None:
            return compare(func.coalesce(self.facts().c[self.window_label(c)], 0), c.op, c.value)
        f = self.facts().c
        if c.field == "orders":
            return compare(func.coalesce(f.orders, 0), c.op, c.value)
        if c.field == "net_revenue":
            return compare(func.coalesce(f.net_minor, 0), c.op, c.value)
        if c.field == "aov":
            return compare(f.gross_minor * 1.0 / f.orders, c.op, c.value)
        if c.field == "first_order_date":
            return self.date_compare(f.first_at, c)
        if c.field == "last_order_date":
            return self.date_compare(f.last_at, c)
        return self.days_since(f.last_at, c)

    def days_since(self, last: Any, c: Condition) -> Any:
        """``today - day(last) op N`` as a range on ``last`` (no dialect date arithmetic)."""

        def exactly(n: int) -> Any:
            return and_(last >= self.day(-n), last < self.day(-n + 1))

        op, v = c.op, c.value
        if op in ("is_null", "is_not_null"):
            return compare(last, op, None)
        if op == "gte":
            return last < self.day(-v + 1)
        if op == "gt":
            return last < self.day(-v)
        if op == "lte":
            return last >= self.day(-v)
        if op == "lt":
            return last >= self.day(-v + 1)
        if op == "eq":
            return exactly(v)
        if op == "ne":
            return and_(last.is_not(None), not_(exactly(v)))
        if op == "between":
            return and_(last >= self.day(-v[1]), last < self.day(-v[0] + 1))
        if op == "in":
            return or_(*(exactly(n) for n in v))
        return and_(last.is_not(None), *(not_(exactly(n)) for n in v))

    def date_compare(self, column: Any, c: Condition, *, future: bool = False) -> Any:
        """Compare a timestamp (or date) column with UTC calendar days."""
        op, v = c.op, c.value
        if op in ("is_null", "is_not_null"):
            return compare(column, op, None)
        is_date = c.field == "birth_date"
        if op == "within_days":
            if FIELDS[c.field].future and future:
                return and_(
                    column >= self.day(0, as_date=is_date),
                    column < self.day(v + 1, as_date=is_date),
                )
            return and_(
                column >= self.day(-v, as_date=is_date), column < self.day(1, as_date=is_date)
            )

        def start(d: date) -> Any:
            return d if is_date else day_start(d)

        if op == "between":
            return and_(column >= start(v[0]), column < start(v[1] + timedelta(1)))
        if op == "eq":
            return and_(column >= start(v), column < start(v + timedelta(1)))
        if op == "gt":
            return column >= start(v + timedelta(1))
        if op == "gte":
            return column >= start(v)
        if op == "lt":
            return column < start(v)
        return column < start(v + timedelta(1))  # lte

    def loyalty_condition(self, c: Condition) -> Any:
        account = self.loyalty().c
        if c.field == "points_balance":
            return compare(account.balance, c.op, c.value)
        if c.field == "pending_points":
            return compare(account.pending, c.op, c.value)
        if c.field == "tier":
            return compare(account.tier, c.op, c.value)
        lot = LoyaltyLot.__table__
        assert c.days is not None
        expiring = (
            select(func.coalesce(func.sum(lot.c.remaining), 0))
            .where(
                lot.c.account_id == account.account_id,
                lot.c.state == "active",
                lot.c.expires_at >= bindparam(NOW, type_=UTCDateTime()),
                lot.c.expires_at < self.day(c.days + 1),
            )
            .scalar_subquery()
        )
        return and_(account.account_id.is_not(None), compare(expiring, c.op, c.value))

    def profile_or_activity(self, c: Condition) -> Any:
        cust = self.customer.c
        if c.field in ("state", "city"):
            return compare(cust[c.field], c.op, c.value)
        if c.field == "signup_date":
            return self.date_compare(self.bc.c.first_seen_at, c)
        if c.field == "birth_date":
            return self.date_compare(cust.birth_date, c)
        if c.field == "birthday":
            return self.birthday(cust.birth_date, c)
        if c.field == "b2b":
            if c.op != "eq":
                return compare(cust.document, c.op, None)
            is_company = func.length(cust.document) == 14
            return is_company if c.value else not_(func.coalesce(is_company, false()))
        return self.activity(c)

    def birthday(self, birth: Any, c: Condition) -> Any:
        month = extract("month", birth)
        if c.op == "eq":
            return month == c.value
        day_code = month * 100 + extract("day", birth)
        name = f"birthdays_{c.value}"
        self.clock[name] = lambda now: upcoming_birthdays(now.astimezone(UTC).date(), c.value)
        return day_code.in_(bindparam(name, expanding=True))

    def activity(self, c: Condition) -> Any:
        start = self.window(c.days)
        if c.field in ("bought_product", "bought_category", "channel"):
            purchase = (
                select(literal(1))
                .select_from(Order)
                .where(
                    Order.customer_id == self.customer_id,
                    *purchase_filter(self.brand, subset=False),
                )
            )
            if start is not None:
                purchase = purchase.where(Order.purchased_at >= start)
            if c.field == "channel":
                found = purchase.where(one_of(Order.channel, c.value))
            else:
                purchase = purchase.join(OrderItem, OrderItem.order_id == Order.id).join(
                    Product, Product.id == OrderItem.product_id
                )
                if c.field == "bought_product":
                    found = purchase.where(one_of(Product.external_id, c.value))
                else:
                    found = purchase.join(Category, Category.id == Product.category_id).where(
                        one_of(Category.slug, c.value)
                    )
            return exists(found) if c.op == "in" else not_(exists(found))
        if c.field == "returned":
            query = (
                select(literal(1))
                .select_from(Return)
                .join(Order, Order.id == Return.order_id)
                .where(
                    Order.customer_id == self.customer_id,
                    Order.brand_id == self.brand,
                    Return.kind == "return",
                    Return.created_at <= bindparam(NOW, type_=UTCDateTime()),
                )
            )
            if start is not None:
                query = query.where(Return.created_at >= start)
            return exists(query) if c.value else not_(exists(query))
        if c.field == "review_score":
            query = (
                select(literal(1))
                .select_from(Review)
                .where(
                    Review.customer_id == self.customer_id,
                    Review.brand_id == self.brand,
                    Review.created_at <= bindparam(NOW, type_=UTCDateTime()),
                    compare(Review.score, c.op, c.value),
                )
            )
            if start is not None:
                query = query.where(Review.created_at >= start)
            return exists(query)
        # event_count
        count = (
            select(func.count())
            .select_from(Event)
            .where(
                Event.customer_id == self.customer_id,
                Event.brand_id == self.brand,
                Event.type == c.event,
                Event.occurred_at <= bindparam(NOW, type_=UTCDateTime()),
            )
        )
        if start is not None:
            count = count.where(Event.occurred_at >= start)
        return compare(count.scalar_subquery(), c.op, c.value)

    def prepare(self, rules: Sequence[Node]) -> None:
        """Register every window and score column first: each subquery is built once."""
        for rule in rules:
            for c in conditions_of(rule):
                if c.field in SCORE_COLUMNS:
                    self.score_columns.add(SCORE_COLUMNS[c.field])
                if c.field in FACT_FIELDS and c.days is not None:
                    start = self.window(c.days)
                    assert start is not None
                    self.fact_windows[self.window_label(c)] = start

    def source(self) -> tuple[Any, list[Any]]:
        """The joined customers and the filters every statement has (after the nodes)."""
        source: Any = self.bc.join(self.customer, self.customer.c.id == self.bc.c.customer_id)
        for joined in (self._facts, self._scores, self._loyalty):
            if joined is not None:
                source = source.outerjoin(joined, joined.c.customer_id == self.customer_id)
        conditions = [self.bc.c.brand_id == self.brand, self.customer.c.merged_into_id.is_(None)]
        if self.subset:
            conditions.append(self.customer_id.in_(bindparam(CUSTOMER_IDS, expanding=True)))
        return source, conditions

    def statement(self, rule: Node) -> Select[Any]:
        self.prepare([rule])
        where = self.node(rule)  # before the joins: it decides which tables are needed
        source, conditions = self.source()
        return select(self.customer_id).select_from(source).where(*conditions, where)

    def matrix(self, rules: Sequence[Node]) -> Select[Any]:
        self.prepare(rules)
        nodes = [self.node(r) for r in rules]
        flags = [case((node, 1), else_=0).label(f"s{i}") for i, node in enumerate(nodes)]
        source, conditions = self.source()
        if not self.subset:
            # Over every customer, only those in at least one segment come back.
            conditions.append(or_(*nodes))
        return select(self.customer_id, *flags).select_from(source).where(*conditions)


def compile_rule(rule: Node, *, subset: bool = False) -> CompiledSegment:
    """Compile a rule tree into its member query (``subset``: only ``customer_ids``)."""
    compiler = _Compiler(subset=subset)
    statement = compiler.statement(rule)
    return CompiledSegment(statement, compiler.clock, _fields_of([rule]))


def compile_many(rules: Sequence[Node], *, subset: bool = True) -> CompiledSegment:
    """One statement for several rules: ``customer_id`` and a 0/1 column per rule.

    The per-customer subqueries are built once and shared, so re-evaluating a customer in
    every active segment is one query, and a nightly run reads the orders once per batch
    of segments instead of once per segment. Over every customer (``subset=False``) only
    customers in at least one of the segments are returned.
    """
    compiler = _Compiler(subset=subset)
    statement = compiler.matrix(rules)
    return CompiledSegment(statement, compiler.clock, _fields_of(rules))


def _fields_of(rules: Sequence[Node]) -> frozenset[str]:
    return frozenset(c.field for rule in rules for c in conditions_of(rule))
