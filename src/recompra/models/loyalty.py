"""Loyalty: programs, accounts, the points ledger (movements, lots, allocations, debts),
versioned earning rules, tiers, rewards and redemptions, events and idempotency keys.

The ledger is append-only: ``loyalty_movements`` and ``loyalty_allocations`` are never
updated. Lots carry their ``remaining`` points and a state; the account caches its
spendable ``balance``, ``pending`` points and ``debt``, each kept non-negative by a CHECK
constraint and verified against the ledger by ``recompra.loyalty.ledger.verify.verify_account``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import (
    Base,
    BigIntPK,
    BrandOwned,
    FeedOrdered,
    ProgramOwned,
    Timestamped,
    utcnow,
)

LOT_STATES = ("pending", "active", "expired", "reversed")
MOVEMENT_KINDS = (
    "earn",
    "release",
    "spend",
    "expire",
    "reverse",
    "adjust",
    "refund",
    "debt_repay",
)


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """An index of the rows matching ``where`` only, on both backends."""
    condition = text(where)
    return Index(name, *columns, unique=unique, sqlite_where=condition, postgresql_where=condition)


class LoyaltyProgram(BrandOwned, Base):
    """A brand's points program. A brand runs at most one active program."""

    __tablename__ = "loyalty_programs"
    __table_args__ = (
        partial_index(
            "uq_loyalty_programs_active_brand",
            "brand_id",
            where="status = 'active'",
            unique=True,
        ),
        CheckConstraint("status IN ('active', 'archived')", name="status_known"),
        CheckConstraint("release_on IN ('window', 'delivery')", name="release_on_known"),
        CheckConstraint("return_window_days >= 0", name="return_window_non_negative"),
        CheckConstraint("expiry_days > 0", name="expiry_days_positive"),
    )

    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    currency: Mapped[str] = mapped_column(String(3), default="BRL")
    #: Pending points become spendable this many days after purchase (``window``) or
    #: when the order is delivered (``delivery``); 0 days means at once.
    return_window_days: Mapped[int] = mapped_column(Integer, default=7)
    release_on: Mapped[str] = mapped_column(String(16), default="window")
    #: A lot expires this many days after it becomes spendable.
    expiry_days: Mapped[int] = mapped_column(Integer, default=365)
    expiry_warning_days: Mapped[int] = mapped_column(Integer, default=30)
    #: Points refunded into a lot that already expired get this many days of validity.
    refund_validity_days: Mapped[int] = mapped_column(Integer, default=30)
    #: Tier qualification: rolling window, review period and downgrade grace.
    tier_window_days: Mapped[int] = mapped_column(Integer, default=365)
    tier_review_days: Mapped[int] = mapped_column(Integer, default=365)
    tier_grace_days: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoyaltyTier(ProgramOwned, Base):
    """A tier of a program: reached when ``metric`` over the window meets ``threshold``."""

    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        UniqueConstraint("program_id", "rank"),
        CheckConstraint("metric IN ('spend', 'orders', 'points')", name="metric_known"),
        CheckConstraint("threshold >= 0", name="threshold_non_negative"),
        CheckConstraint("earn_multiplier_pct >= 100", name="multiplier_at_least_one"),
    )

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[int] = mapped_column(BigInteger)
    #: Earning multiplier in percent (150 = 1.5x), applied by the ``tier_multiplier`` rule.
    earn_multiplier_pct: Mapped[int] = mapped_column(Integer, default=100)
    benefits: Mapped[dict[str, Any]] = mapped_column(default=dict)


#: PostgreSQL storage of the rows every write updates (migration 0038): free room in each
#: page for their new versions, so that the updates stay HOT (no new index entries) while
#: a slow transaction keeps the old versions from being pruned.
ACCOUNTS_STORAGE = {"fillfactor": "50"}
LOTS_STORAGE = {"fillfactor": "70"}


class LoyaltyAccount(ProgramOwned, Timestamped, Base):
    """A customer's account in one program, with cached balances (verified vs the ledger).

    A B2B company account's buyers share ONE pooled account instead: ``company_account_id``
    is set and ``customer_id`` names the company's contact (its owner, or the first buyer
    when it had none), to whom the program's messages about the pool go; the movements
    say which buyer earned or spent.
    """

    __tablename__ = "loyalty_accounts"
    __table_args__ = (
        partial_index(
            "uq_loyalty_accounts_own",
            "program_id",
            "customer_id",
            where="company_account_id IS NULL",
            unique=True,
        ),
        UniqueConstraint("program_id", "company_account_id"),
        # The key of the events' composite foreign key (migration 0041): an event's
        # program is its account's. Neither column is ever updated: the accounts' updates
        # stay HOT.
        Index("uq_loyalty_accounts_id_program", "id", "program_id", unique=True),
        CheckConstraint("balance >= 0", name="balance_non_negative"),
        CheckConstraint("pending >= 0", name="pending_non_negative"),
        CheckConstraint("debt >= 0", name="debt_non_negative"),
        # Every write updates its account's row: room for its new versions in the same
        # page keeps the updates HOT (migration 0038).
        {"postgresql_with": ACCOUNTS_STORAGE},
    )

    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"), index=True)
    company_account_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("company_accounts.id")
    )
    #: Spendable points: the sum of ``remaining`` over active lots.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Points earned but not yet released: the sum of ``remaining`` over pending lots.
    pending: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Clawed-back points that could not be taken from the balance; repaid first.
    debt: Mapped[int] = mapped_column(BigInteger, default=0)
    tier_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_tiers.id"))
    tier_since: Mapped[datetime | None]
    tier_review_at: Mapped[datetime | None]
    tier_grace_until: Mapped[datetime | None]
    override_tier_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_tiers.id"))
    override_until: Mapped[datetime | None]


class LoyaltyMovement(Base):
    """One append-only ledger line with its signed effect on balance, pending and debt."""

    __tablename__ = "loyalty_movements"
    __table_args__ = (
        # Unique (``id`` is), so that lots and events can reference a movement together
        # with its account in one foreign key (migration 0041); it replaced the same
        # index, not unique, that the account's history reads.
        Index("uq_loyalty_movements_account_id", "account_id", "id", unique=True),
        # Partial (migration 0031): no hot-path movement has a batch; a NULL there was a
        # B-tree page written per write. No index on ``order_id``: no query looks
        # movements up by order, and its entry was a page per earn (migration 0033).
        partial_index(
            "ix_loyalty_movements_batch_id",
            "batch_id",
            where="batch_id IS NOT NULL",
        ),
        CheckConstraint(
            "kind IN ('earn', 'release', 'spend', 'expire', 'reverse', 'adjust', 'refund', "
            "'debt_repay')",
            name="kind_known",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loyalty_accounts.id"))
    #: The customer who caused the movement (earned, redeemed): a pooled account's buyer.
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    debt_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("orders.id"))
    redemption_id: Mapped[int | None] = mapped_column(BigInteger)
    rule_version_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("loyalty_rule_versions.id")
    )
    #: Groups the movements written by one run of a bulk job (the expiry job).
    batch_id: Mapped[str | None] = mapped_column(String(36))
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoyaltyLot(Base):
    """Points from one earn: consumed oldest-first, released, expired or reversed per lot."""

    __tablename__ = "loyalty_lots"
    __table_args__ = (
        # No index holds ``state`` as a column: expiring a lot would rewrite each of them.
        # The open lots are found through partial indexes an expired lot simply leaves.
        Index("ix_loyalty_lots_account", "account_id", "id"),
        partial_index(
            "ix_loyalty_lots_account_active",
            "account_id",
            "expires_at",
            "id",
            where="state = 'active'",
        ),
        partial_index(
            "ix_loyalty_lots_account_pending",
            "account_id",
            "release_at",
            "id",
            where="state = 'pending'",
        ),
        partial_index(
            "ix_loyalty_lots_active_expires",
            "expires_at",
            where="state = 'active'",
        ),
        partial_index(
            "ix_loyalty_lots_pending_release",
            "release_at",
            where="state = 'pending'",
        ),
        Index("ix_loyalty_lots_order", "order_id"),
        # One foreign key checks the lot's movement AND that the movement is the lot's
        # account's (migration 0041): the lot's account exists because the movement's
        # does (the movement's own foreign key), one check per lot instead of two. Both
        # columns are NOT NULL, so MATCH SIMPLE always checks it.
        ForeignKeyConstraint(
            ["account_id", "movement_id"],
            ["loyalty_movements.account_id", "loyalty_movements.id"],
        ),
        CheckConstraint(
            "state IN ('pending', 'active', 'expired', 'reversed')", name="state_known"
        ),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_in_range"),
        CheckConstraint("reversed_points >= 0", name="reversed_non_negative"),
        CheckConstraint("expired_points >= 0", name="expired_non_negative"),
        # A redemption updates the lots it takes from (migration 0038).
        {"postgresql_with": LOTS_STORAGE},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    movement_id: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("orders.id"))
    state: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    #: Points clawed back because of returns (cumulative, for pro-rata reversal).
    reversed_points: Mapped[int] = mapped_column(BigInteger, default=0)
    expired_points: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Expired points already set against a later clawback (never clawed twice).
    forgiven_points: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Order amount the points were earned on, and how much of it was returned.
    basis_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    returned_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    earned_at: Mapped[datetime]
    release_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    #: When the lot expired: the ``created_at`` of the account's ``expire`` movement that
    #: took its points (the bulk job writes no allocation per lot; this is the link).
    expired_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]


class LoyaltyDebt(Base):
    """Clawed-back points the balance could not cover; repaid by later credits, oldest first."""

    __tablename__ = "loyalty_debts"
    __table_args__ = (
        Index("ix_loyalty_debts_account", "account_id", "outstanding"),
        CheckConstraint("outstanding >= 0 AND outstanding <= points", name="outstanding_in_range"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loyalty_accounts.id"))
    order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("orders.id"))
    movement_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loyalty_movements.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    outstanding: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]


class LoyaltyAllocation(Base):
    """Which lot a debit (spend, expiry, reversal, debt repayment) took its points from."""

    __tablename__ = "loyalty_allocations"
    __table_args__ = (
        CheckConstraint("points > 0", name="points_positive"),
        Index("ix_loyalty_allocations_lot", "lot_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    movement_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_movements.id"), index=True
    )
    lot_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_lots.id"))
    debt_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_debts.id"))
    points: Mapped[int] = mapped_column(BigInteger)


class LoyaltyRuleVersion(ProgramOwned, Base):
    """An immutable set of earning rules, in force from ``effective_from``."""

    __tablename__ = "loyalty_rule_versions"
    __table_args__ = (
        UniqueConstraint("program_id", "version"),
        Index("ix_loyalty_rule_versions_effective", "program_id", "effective_from"),
    )

    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime]
    rules: Mapped[dict[str, Any]]
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoyaltyTierChange(FeedOrdered, Base):
    """Tier history: every upgrade, downgrade, grace start and manual override."""

    __tablename__ = "loyalty_tier_changes"
    __table_args__ = (Index("ix_loyalty_tier_changes_xact", "xact_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_accounts.id"), index=True
    )
    from_tier_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_tiers.id"))
    to_tier_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_tiers.id"))
    reason: Mapped[str] = mapped_column(String(32))
    metric_value: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoyaltyReward(ProgramOwned, Base):
    """A catalog reward: points cost, stock, validity, per-customer limit, minimum tier."""

    __tablename__ = "loyalty_rewards"
    __table_args__ = (
        UniqueConstraint("program_id", "code"),
        CheckConstraint("cost_points > 0", name="cost_positive"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_non_negative"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    cost_points: Mapped[int] = mapped_column(BigInteger)
    #: Units left; ``None`` means unlimited.
    stock: Mapped[int | None] = mapped_column(BigInteger)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    min_tier_rank: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoyaltyRedemption(Base):
    """A redeemed reward: the points spent, the stock taken and a unique coupon code."""

    __tablename__ = "loyalty_redemptions"
    __table_args__ = (
        UniqueConstraint("coupon_code"),
        Index("ix_loyalty_redemptions_account_reward", "account_id", "reward_id"),
        CheckConstraint("status IN ('issued', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loyalty_accounts.id"))
    reward_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("loyalty_rewards.id"))
    #: The brand the reward was redeemed at (a coalition member); empty = the program's.
    brand_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("brands.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    coupon_code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="issued")
    request_key: Mapped[str] = mapped_column(String(128))
    #: The spend movement; set in the same transaction, right after the row is inserted.
    movement_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("loyalty_movements.id"))
    cancel_movement_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("loyalty_movements.id")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]


class LoyaltyEvent(ProgramOwned, Base):
    """The audit trail and the automations feed (outbox): one row per balance change.

    No index on ``published_at`` nor ``account_id``: nothing publishes or reads the rows
    yet (the automations and reads follow the movements), and an entry per event in each
    was a page written per ledger write (migrations 0031 and 0033).
    """

    __tablename__ = "loyalty_events"
    __table_args__ = (
        # Two composite foreign keys instead of three single ones (migration 0041): the
        # first checks the account AND that the event's program is the account's (the
        # program exists because the account's own foreign key says so); the second the
        # movement AND that it is the event's account's. An event without a movement
        # (MATCH SIMPLE skips the second) still has its account checked by the first.
        ForeignKeyConstraint(
            ["program_id", "account_id"],
            ["loyalty_accounts.program_id", "loyalty_accounts.id"],
        ),
        ForeignKeyConstraint(
            ["account_id", "movement_id"],
            ["loyalty_movements.account_id", "loyalty_movements.id"],
        ),
    )

    #: No foreign key of its own: the first composite key above implies it.
    program_id: Mapped[int] = mapped_column(BigInteger, sort_order=-1)
    account_id: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    movement_id: Mapped[int | None] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]


class LoyaltyIdempotencyKey(Base):
    """A write already done: ``(program_id, scope, key)`` is its key; ``result`` replays it.

    No surrogate id (migration 0039): nothing looks a key up but by those three columns,
    and a surrogate key beside their unique constraint was a second B-tree written per
    ledger write. On SQLite the table is ``WITHOUT ROWID``: the rows are stored in the
    primary key's own B-tree (a rowid table keeps a second, hidden one for them), so a
    key costs one page a write instead of two; on PostgreSQL one index instead of two.
    """

    __tablename__ = "loyalty_idempotency_keys"
    __table_args__ = ({"sqlite_with_rowid": False},)

    program_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_programs.id"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoyaltyCoalitionMember(Base):
    """A brand that joined another brand's program: it earns at its own rate, redeems in any.

    The program's own brand is the coalition's host; it is not listed here. The cost of a
    redemption falls on the brands where the consumed lots were earned.
    """

    __tablename__ = "loyalty_coalition_members"
    __table_args__ = (
        UniqueConstraint("brand_id"),
        CheckConstraint("earn_rate_pct > 0", name="earn_rate_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    program_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_programs.id"), index=True
    )
    brand_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("brands.id"))
    #: Points earned on this brand's orders, in percent of the program's rules (50 = half).
    earn_rate_pct: Mapped[int] = mapped_column(Integer, default=100)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
