"""Privacy (LGPD) and access records: data-subject requests, the audit log and
dashboard roles per brand.

Each lives in the operational database so that every API and dashboard worker process
sees the same rows: a role changed through one worker is enforced by all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, utcnow

#: Dashboard roles, from most to least powerful (see docs/privacy.md for what each sees).
ROLES = ("admin", "marketing", "analyst", "support")
#: Kinds of data-subject request (LGPD art. 18: access and elimination) and the
#: retention policy's anonymisation, which takes the erasure path.
REQUEST_KINDS = ("export", "erase", "retention")


class PrivacyRequest(Base):
    """A data-subject request: what was asked about which customer, by whom, and when it
    was fulfilled (the record LGPD art. 37 asks the controller to keep)."""

    __tablename__ = "privacy_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('export', 'erase', 'retention')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: Not a foreign key: the record must outlive whatever happens to the customer row.
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    fulfilled_at: Mapped[datetime | None]
    #: Counts of what was exported or erased per table/file (never the data itself).
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditEntry(Base):
    """One administrative action or read of personal data: who, what, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: ``user:<email>``, ``key:<id>`` or ``cli:<os user>``.
    actor: Mapped[str] = mapped_column(String(200))
    #: A dotted verb such as ``privacy.erase`` or ``customer.read``.
    action: Mapped[str] = mapped_column(String(64))
    #: What was acted on, e.g. ``customer:42`` or ``user:7``.
    target: Mapped[str] = mapped_column(String(200), default="")
    brand_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("brands.id"))


class DashboardUserRole(Base):
    """A dashboard user's role on one brand (``brand_id`` NULL: on every brand)."""

    __tablename__ = "dashboard_user_roles"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'marketing', 'analyst', 'support')", name="role_known"),
        Index("ux_dashboard_user_roles_user_brand", "user_id", "brand_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("dashboard_users.id"))
    brand_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("brands.id"))
    role: Mapped[str] = mapped_column(String(16))
