"""Declarative base, naming conventions and column types shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from recompra.db.dialect import current_transaction, stores_naive_utc

# Named constraints: Alembic's SQLite batch migrations need names to drop or alter them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text. Values read back are
    always aware and in UTC, and naive values are refused on write: a naive timestamp is
    ambiguous and the importers convert every source timestamp explicitly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = to_utc(value)
        return value.replace(tzinfo=None) if stores_naive_utc(dialect) else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


def to_utc(value: datetime) -> datetime:
    """A timestamp to write, in UTC; a naive one is refused (it is ambiguous). Shared by
    the column type and the hot path's own binders (``loyalty/prepared.py``,
    ``loyalty/ledger/direct.py``), which skip SQLAlchemy's layered processors."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
    return value.astimezone(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp read back, in UTC: a naive one (SQLite's text) is UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: JSON that is JSONB on PostgreSQL.
JSONType = (
    JSON().with_variant(postgresql.JSONB(), "postgresql").with_variant(sqlite.JSON(), "sqlite")
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Base class of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
    }


class SourceKeyed:
    """Columns of a brand's record that an outside system identifies.

    ``(brand_id, source, external_id)`` is its natural key: re-importing the same record
    updates it instead of adding one. Each table declares the matching
    ``UniqueConstraint("brand_id", "source", "external_id")`` in its ``__table_args__``.
    """

    # Mixin columns would otherwise follow the table's own; the key columns lead, as in
    # the migrations that created these tables.
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, sort_order=-1)
    brand_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("brands.id"), sort_order=-1)
    source: Mapped[str] = mapped_column(String(64), sort_order=-1)
    external_id: Mapped[str] = mapped_column(String(128), sort_order=-1)


class BrandOwned:
    """The surrogate key and the brand of a row that belongs to one brand."""

    # Leading, as in the migrations that created these tables (mixin columns would
    # otherwise follow the table's own).
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, sort_order=-1)
    brand_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("brands.id"), sort_order=-1)


class ProgramOwned:
    """The surrogate key and the loyalty program of a row that belongs to one program."""

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, sort_order=-1)
    program_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("loyalty_programs.id"), sort_order=-1
    )


class Timestamped:
    """When a row was created and last changed (both UTC, set by the ORM)."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FeedOrdered:
    """A row of a table that a trigger feed reads (``recompra.automation.feeds``).

    ``xact_id`` is the id of the transaction that inserted the row, set by the database
    (PostgreSQL: ``pg_current_xact_id()``; NULL on SQLite, whose feeds read by id). A
    feed reads rows in ``(xact_id, id)`` order and only those whose transaction has
    finished, so a transaction that took a lower id and commits late is still read.
    Each table indexes ``(xact_id, id)`` for that read.
    """

    xact_id: Mapped[int | None] = mapped_column(
        BigInteger, server_default=current_transaction(), sort_order=1
    )
