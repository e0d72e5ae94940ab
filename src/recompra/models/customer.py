"""Customers (persons), their identities, brand relationships and audited merges."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import BigInteger, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, Timestamped, utcnow

#: Identity kinds. ``external`` identities are scoped by ``source`` (e.g. ``olist``).
IDENTITY_KINDS = ("email", "cpf", "cnpj", "phone", "external")


class Customer(Timestamped, Base):
    """A person (or company) who buys from one or more brands of the installation.

    A merged customer keeps its row with ``merged_into_id`` set, so that a merge can be
    undone and old references still resolve.
    """

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    document: Mapped[str | None] = mapped_column(String(14))
    phone: Mapped[str | None] = mapped_column(String(20))
    birth_date: Mapped[date | None]
    city: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(2))
    zip_prefix: Mapped[str | None] = mapped_column(String(10))
    locale: Mapped[str | None] = mapped_column(String(8))
    merged_into_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("customers.id"), index=True
    )


class CustomerIdentity(Base):
    """One identifier of a customer: a normalised e-mail, CPF/CNPJ, phone or external id.

    ``(kind, source, value)`` is unique: the same e-mail or CPF is always the same person.
    ``source`` is empty for e-mail, documents and phones and names the system for
    external ids.
    """

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "source", "value"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BrandCustomer(Base):
    """A customer's relationship with a brand: the basis of per-brand visibility."""

    __tablename__ = "brand_customers"

    brand_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("brands.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("customers.id"), primary_key=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_brand_customers_customer", "customer_id"),)


class CustomerMerge(Base):
    """An audited merge of ``merged_id`` into ``survivor_id`` (reversible).

    ``moved`` records exactly which rows were re-pointed (identities, orders, reviews,
    events) so that :func:`recompra.hub.identity.unmerge` can put them back.
    """

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"), index=True)
    merged_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    moved: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]


class CustomerProperty(Base):
    """A custom property of a customer for one brand (written through
    :mod:`recompra.hub.properties`: the API and journeys): text (a date is ISO text),
    a whole number or true/false, in the one column of its type (the others null), so
    segment rules compare it with plain SQL on every engine (no dialect JSON functions)."""

    __tablename__ = "customer_properties"
    __table_args__ = (UniqueConstraint("brand_id", "customer_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    brand_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("brands.id"))
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    name: Mapped[str] = mapped_column(String(64))
    text_value: Mapped[str | None] = mapped_column(String(500))
    number_value: Mapped[int | None] = mapped_column(BigInteger)
    flag_value: Mapped[bool | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


#: The table, for INSERT ... ON CONFLICT DO NOTHING (typed as Table).
PROPERTIES = cast(Table, CustomerProperty.__table__)
