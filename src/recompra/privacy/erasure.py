"""Erasure in the operational database: personal data goes, anonymised facts stay.

A customer's row, orders, lines, payments, points and segment memberships are kept under
the customer's (meaningless) id, so revenue, order counts, loyalty balances and every
analytics total are unchanged; what identifies the person is removed:

1. the columns listed in :data:`ERASED_COLUMNS` (names, e-mail, CPF/CNPJ, phone,
   addresses, free text of reviews, cases, messages and event payloads) are emptied on
   the customer's rows, found by :func:`recompra.privacy.inventory.collect`;
2. the customer's identities (normalised e-mails, documents, phones, external ids) are
   deleted: a new purchase with the same e-mail later starts a new, unrelated customer;
   the shopper's page sessions are revoked and unspent sign-in links expire, so a phone
   still signed in stops showing the anonymised record at once;
3. every other text or JSON cell of the whole database that still contains one of the
   person's identifiers (an idempotency record's stored response, a sign-in failure, a
   loyalty event payload...) has that identifier replaced by :data:`ERASED_MARK`.

Step 3 is why :data:`KEPT_COLUMNS` exists: each text column of a customer-linked table
is either erased outright or kept for a stated reason, and a test fails when a new
column is in neither list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, Column, String, Table, Text, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from recompra.models import Base, CustomerIdentity
from recompra.models.base import utcnow
from recompra.models.shopper import ShopperSession, ShopperSignInLink
from recompra.privacy.inventory import Holdings

#: What an identifier found inside other text is replaced with.
ERASED_MARK = "[apagado]"

#: Columns emptied on the customer's rows (NULL, or the empty value when NOT NULL).
ERASED_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("name", "email", "document", "phone", "birth_date", "city", "zip_prefix"),
    "events": ("payload",),
    "automation_outbox": ("payload", "last_error"),
    "reviews": ("title", "comment"),
    "survey_answers": ("comment",),
    "cases": ("subject",),
    "case_messages": ("body",),
    "opportunities": ("company", "attributes"),
    "sales_activities": ("note",),
    "loyalty_movements": ("note",),
    "engagement_quiz_attempts": ("answers",),
    # The payment provider's token for a card or wallet: it identifies the payer.
    "orders": ("payment_fingerprint",),
    # A journey may store anything in a customer property (a preference, a note).
    "customer_properties": ("text_value", "number_value", "flag_value"),
}

#: Text columns of customer-linked tables that are kept, and why: codes, states and
#: vocabularies with no personal content. Identifiers of the person that still appear
#: in them are replaced all the same (step 3).
KEPT_COLUMNS: dict[str, tuple[str, ...]] = {
    # Coarse region (27 values), kept so regional analytics stay complete.
    "customers": ("state", "locale"),
    "contact_consents": ("channel", "purpose", "source"),
    # Deleted as rows (step 2), so no column needs emptying.
    "customer_identities": ("kind", "source", "value"),
    "customer_merges": ("reason", "moved"),
    "customer_scores": ("segment", "model", "explanations"),
    "events": ("type", "source", "external_id"),
    "orders": ("source", "external_id", "status", "raw_status", "channel", "currency"),
    "engagement_referral_codes": ("code",),
    "journey_runs": ("entry_key", "node", "state", "waiting_for", "exit_reason"),
    "opportunities": (
        "source",
        "external_id",
        "segment",
        "currency",
        "owner",
        "status",
        "lost_reason",
        "flags",
    ),
    "payments": ("payment_type",),
    "returns": ("source", "external_id", "kind", "reason", "currency"),
    "segment_membership_events": ("type",),
    "survey_sends": ("kind", "origin_key"),
    "automation_outbox": ("execution_key", "channel", "purpose", "state"),
    "engagement_quiz_attempts": ("period_key", "coupon_code"),
    # Hashes of random tokens and a keyed hash of an address: no personal content, and
    # the address cannot be read back from it.
    "shopper_sign_in_links": ("email_hash", "token_hash"),
    "shopper_sessions": ("token_hash",),
    "journey_timers": ("node", "execution_key", "state", "reason"),
    "order_items": ("seller_ref",),
    "reviews": ("source", "external_id"),
    "sales_activities": ("kind",),
    "survey_answers": ("via",),
    "cases": (
        "type",
        "priority",
        "channel",
        "source",
        "owner",
        "team",
        "status",
        "resolution_reason",
    ),
    "engagement_badge_awards": ("period_key",),
    "loyalty_movements": ("kind", "batch_id"),
    "loyalty_tier_changes": ("reason",),
    "case_messages": ("kind", "author", "outbox_key"),
    "case_status_changes": ("from_status", "to_status", "actor"),
    "engagement_completions": ("period_key",),
    "loyalty_events": ("type", "payload"),
    "loyalty_lots": ("source", "state"),
    "loyalty_redemptions": ("coupon_code", "status", "request_key"),
    "engagement_referrals": ("code", "status", "reason"),
    # The property's key (its value is erased).
    "customer_properties": ("name",),
    # Store-issued coupon codes and their pool: no personal content.
    "automation_coupons": ("pool", "code", "execution_key"),
    # owner / buyer / viewer.
    "company_account_members": ("role",),
}

#: Tables never rewritten by the database-wide search: staff accounts are not the
#: customer's record (a customer who is also a staff member keeps the staff sign-in),
#: and the privacy tables hold ids and counts only.
UNTOUCHED_TABLES = frozenset({"dashboard_users", "privacy_requests", "audit_log"})

#: Identifiers shorter than this are not searched for elsewhere: they would match
#: unrelated text (an "Ana" inside a product name).
_MIN_IDENTIFIER = 6


@dataclass
class Erasure:
    """What one erasure changed: rows per table (never the erased values)."""

    emptied: dict[str, int] = field(default_factory=dict)
    identities_deleted: int = 0

    def summary(self) -> dict[str, Any]:
        """Counts for the request record."""
        return {
            "emptied": self.emptied,
            "identities_deleted": self.identities_deleted,
        }


def text_columns(table: Table) -> list[Column[Any]]:
    """The columns of ``table`` that can hold text: strings, long text and JSON."""
    return [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]


def identifiers(holdings: Holdings) -> list[str]:
    """The person's identifiers as they may appear in other text: e-mails (as given and
    lower-cased), documents and phones (digits and the usual punctuation), full names and
    every identity value."""
    found: set[str] = set()
    for row in holdings.rows.get("customers", []):
        for key in ("email", "phone", "document"):
            if row.get(key):
                found.add(str(row[key]))
        if row.get("email"):
            found.add(str(row["email"]).lower())
        name = row.get("name")
        if name and " " in str(name).strip():
            found.add(str(name).strip())
    for row in holdings.rows.get("customer_identities", []):
        found.add(str(row["value"]))
    for value in list(found):
        found.update(_formatted(value))
    return sorted((v for v in found if len(v) >= _MIN_IDENTIFIER), key=len, reverse=True)


def _formatted(value: str) -> Iterator[str]:
    """A document's or phone's usual printed forms (CPF ``123.456.789-09``, CNPJ)."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11:
        yield f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    if len(digits) == 14:
        yield f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"
    if digits and digits != value and len(digits) >= _MIN_IDENTIFIER:
        yield digits


def scrub_value(value: Any, values: Iterable[str]) -> Any:
    """``value`` (text, or JSON of dicts, lists and scalars) with each of ``values``
    replaced by :data:`ERASED_MARK` (longest first, so an e-mail goes before its name)."""
    if isinstance(value, str):
        for needle in values:
            if needle in value:
                value = value.replace(needle, ERASED_MARK)
        return value
    if isinstance(value, dict):
        return {scrub_value(k, values): scrub_value(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, values) for v in value]
    return value


def _empty(column: Column[Any]) -> Any:
    if column.nullable:
        return None
    return {} if isinstance(column.type, JSON) else ""


def erase_rows(session: Session, holdings: Holdings) -> Erasure:
    """Steps 1 and 2 for the collected rows (the caller runs step 3,
    :func:`replace_everywhere`, once for every customer of a request)."""
    result = Erasure()
    tables = Base.metadata.tables
    values = identifiers(holdings)
    for name, rows in holdings.rows.items():
        table = tables[name]
        primary = list(table.primary_key.columns)
        emptied = {c: _empty(table.c[c]) for c in ERASED_COLUMNS.get(name, ())}
        kept = [c for c in text_columns(table) if c.name not in emptied]
        for row in rows:
            changes = dict(emptied)
            for column in kept:
                scrubbed = scrub_value(row[column.name], values)
                if scrubbed != row[column.name]:
                    changes[column.name] = scrubbed
            if changes:
                where = [p == row[p.name] for p in primary]
                session.execute(update(table).where(*where).values(changes))
        if emptied and rows:
            result.emptied[name] = len(rows)
    identity_ids = [r["id"] for r in holdings.rows.get("customer_identities", [])]
    if identity_ids:
        session.execute(delete(CustomerIdentity).where(CustomerIdentity.id.in_(identity_ids)))
        result.identities_deleted = len(identity_ids)
    _end_shopper_access(session, holdings.customer_id)
    return result


def _end_shopper_access(session: Session, customer_id: int) -> None:
    """Revoke the customer's shopper-page sessions and expire their unspent links."""
    now = utcnow()
    session.execute(
        update(ShopperSession)
        .where(ShopperSession.customer_id == customer_id, ShopperSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(ShopperSignInLink)
        .where(
            ShopperSignInLink.customer_id == customer_id,
            ShopperSignInLink.used_at.is_(None),
            ShopperSignInLink.expires_at > now,
        )
        .values(expires_at=now)
    )


#: Identifiers searched for per statement (one ``LIKE`` each) in step 3.
_VALUES_PER_SCAN = 50


def replace_everywhere(session: Session, values: list[str]) -> dict[str, int]:
    """Step 3: replace ``values`` in every text or JSON cell of the database (but the
    :data:`UNTOUCHED_TABLES`); one scan per column for up to 50 identifiers, so a
    retention run over many customers reads each table a few times, not once each."""
    replaced: dict[str, int] = {}
    for start in range(0, len(values), _VALUES_PER_SCAN):
        chunk = values[start : start + _VALUES_PER_SCAN]
        for table in Base.metadata.sorted_tables:
            if table.name in UNTOUCHED_TABLES:
                continue
            primary = list(table.primary_key.columns)
            for column in text_columns(table):
                as_text = cast(column, Text) if isinstance(column.type, JSON) else column
                matches = or_(*(as_text.contains(v, autoescape=True) for v in chunk))
                rows = session.execute(select(*primary, column).where(matches)).all()
                for row in rows:
                    where = [p == row[i] for i, p in enumerate(primary)]
                    scrubbed = scrub_value(row[-1], values)
                    session.execute(update(table).where(*where).values({column.name: scrubbed}))
                if rows:
                    name = f"{table.name}.{column.name}"
                    replaced[name] = replaced.get(name, 0) + len(rows)
    return replaced
