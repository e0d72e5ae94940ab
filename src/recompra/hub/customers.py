"""Customer upsert with identity resolution (the write path for people).

A record is a dict with any of ``source``/``external_id``, ``email``, ``document``
(``cpf:<digits>`` or ``cnpj:<digits>``, as validated by the ``document`` field kind),
``phone``, ``aliases`` (extra ``(source, external id)`` pairs) and the attributes in
:data:`ATTRIBUTES`. Records that share an identity, in the batch or with the database,
are the same person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from recompra.db.dialect import in_values, retrying_unique_races
from recompra.errors import NotFound
from recompra.hub.identity import MERGED_PROPERTIES, merge_customers, shared_with_other_brands
from recompra.hub.rejects import EntityCounts, ImportReport
from recompra.hub.upsert import CHUNK, insert_rows
from recompra.models import BrandCustomer, Customer, CustomerIdentity
from recompra.models.base import utcnow

Identity = tuple[str, str, str]  # (kind, source, value)

ATTRIBUTES = ("name", "email", "document", "phone", "birth_date", "city", "state", "zip_prefix")

_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_IDENTITIES: Table = CustomerIdentity.__table__  # type: ignore[assignment]
_BRAND_LINKS: Table = BrandCustomer.__table__  # type: ignore[assignment]


def require_brand_customer(session: Session, *, brand_id: int, customer_id: int) -> None:
    """Refuse (:class:`NotFound`) a customer who is not the brand's: a brand only ever
    reaches its own customers."""
    known = session.scalar(
        select(BrandCustomer.customer_id).where(
            BrandCustomer.brand_id == brand_id, BrandCustomer.customer_id == customer_id
        )
    )
    if known is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")


def external_identity(brand_id: int, source: str, value: str) -> Identity:
    """A store's own customer id, scoped by brand: two stores' ``c1`` are two people."""
    return ("external", f"{source}@{brand_id}", value)


def personal_identity(brand_id: int, kind: str, value: str) -> Identity:
    """An e-mail, document or phone as one brand knows it.

    Every identity is scoped by brand, so each brand has its own customer profile: a
    brand that sends an e-mail or CPF another brand holds gets a new profile of its own
    and can never read, overwrite or merge the other brand's customers (issue 20). The
    same person in two brands is still linked for the installation's owner through the
    identity's normalised ``value``, which is equal in both brands.
    """
    return (kind, f"@{brand_id}", value)


def customer_record(row: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A customer record from a canonical row (order line or customer row of an import)."""
    return {
        "source": source,
        "external_id": row.get("customer_id"),
        "email": row.get("email"),
        "document": row.get("document"),
        "phone": row.get("phone"),
        "name": row.get("customer_name"),
        "city": row.get("city"),
        "state": row.get("state"),
        "zip_prefix": row.get("zip_prefix"),
        "birth_date": row.get("birth_date"),
    }


def identities_of(record: dict[str, Any], brand_id: int) -> list[Identity]:
    """Every identity a customer record carries, strongest first."""
    found: list[Identity] = []
    if record.get("external_id"):
        found.append(external_identity(brand_id, str(record["source"]), str(record["external_id"])))
    for source, value in record.get("aliases") or ():
        found.append(external_identity(brand_id, source, value))
    if record.get("document"):
        kind, digits = str(record["document"]).split(":", 1)
        found.append(personal_identity(brand_id, kind, digits))
    if record.get("email"):
        found.append(personal_identity(brand_id, "email", str(record["email"])))
    if record.get("phone"):
        found.append(personal_identity(brand_id, "phone", str(record["phone"])))
    return found


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def lookup_identities(session: Session, identities: Sequence[Identity]) -> dict[Identity, int]:
    """Customer id of each identity already known to the database."""
    found: dict[Identity, int] = {}
    by_kind: dict[tuple[str, str], list[str]] = {}
    for kind, source, value in dict.fromkeys(identities):
        by_kind.setdefault((kind, source), []).append(value)
    # One IN list per (kind, source) so that the unique index is used (see upsert.py).
    for (kind, source), values in by_kind.items():
        for start in range(0, len(values), CHUNK):
            rows = session.execute(
                select(_IDENTITIES.c.value, _IDENTITIES.c.customer_id).where(
                    _IDENTITIES.c.kind == kind,
                    _IDENTITIES.c.source == source,
                    in_values(session, _IDENTITIES.c.value, values[start : start + CHUNK]),
                )
            )
            for value, customer_id in rows:
                found[(kind, source, value)] = customer_id
    return found


def upsert_customers(
    session: Session,
    *,
    brand_id: int,
    records: Sequence[dict[str, Any]],
    counts: EntityCounts,
    report: ImportReport | None = None,
) -> dict[Identity, int]:
    """Create or update the customers of ``records``; return the customer of each identity.

    Counts one outcome per record: the first record of each person is inserted, updated
    or unchanged; further records of the same person in the batch are ``duplicate``.
    When records merge customers, what happened to the merged customers' properties is
    counted in ``report``'s :data:`MERGED_PROPERTIES` entity (``rejected``: left out by
    the property limit, kept on the merged customer).
    Two transactions creating the same new identity at once both succeed: the one that
    loses the race finds the other's customer (see ``retrying_unique_races``).
    """
    # Each attempt counts afresh: a rolled-back one must not count its records.
    tallies: list[tuple[EntityCounts, ImportReport]] = []

    def attempt() -> dict[Identity, int]:
        tallies.append((EntityCounts(), ImportReport()))
        return _upsert_once(session, brand_id, records, *tallies[-1])

    identity_map = retrying_unique_races(session, attempt)
    counted, merged = tallies[-1]
    counts.add(counted)
    if report is not None:
        report.merge(merged)
    return identity_map


def _upsert_once(
    session: Session,
    brand_id: int,
    records: Sequence[dict[str, Any]],
    counts: EntityCounts,
    report: ImportReport,
) -> dict[Identity, int]:
    """One attempt of :func:`upsert_customers`."""
    record_ids = [identities_of(r, brand_id) for r in records]
    groups = _UnionFind(len(records))
    first_holder: dict[Identity, int] = {}
    for index, idents in enumerate(record_ids):
        for ident in idents:
            if ident in first_holder:
                groups.union(first_holder[ident], index)
            else:
                first_holder[ident] = index
    known = lookup_identities(session, list(first_holder))

    components: dict[int, list[int]] = {}
    for index in range(len(records)):
        components.setdefault(groups.find(index), []).append(index)

    new_rows: list[dict[str, Any]] = []
    new_members: list[list[int]] = []
    resolved: dict[int, int] = {}  # component root -> customer id
    merges: list[tuple[int, int, str]] = []
    for root, members in components.items():
        component_ids = {i for m in members for i in record_ids[m]}
        existing = sorted({known[i] for i in component_ids if i in known})
        counts.duplicate += len(members) - 1
        if not existing:
            new_rows.append(_fold(records, members))
            new_members.append(members)
            continue
        survivor = existing[0]
        resolved[root] = survivor
        for other in existing[1:]:
            shared = sorted(
                f"{k} {v}" for (k, s, v) in component_ids if known.get((k, s, v)) == other
            )
            merges.append((survivor, other, "same " + ", ".join(shared)))

    # A profile that another brand also sees (linked before identities were scoped by
    # brand) is never merged by this brand: the record simply joins the survivor.
    seen_elsewhere = (
        shared_with_other_brands(session, brand_id, {c for s, o, _ in merges for c in (s, o)})
        if merges
        else set()
    )
    for survivor, other, reason in merges:
        if survivor in seen_elsewhere or other in seen_elsewhere:
            continue
        merged = merge_customers(
            session, brand_id=brand_id, survivor_id=survivor, merged_id=other, reason=reason
        )
        if merged.properties.read:
            report.entity(MERGED_PROPERTIES).add(merged.properties)

    if new_rows:
        now = utcnow()
        for row in new_rows:
            row.setdefault("created_at", now)
            row.setdefault("updated_at", now)
        for members, customer_id in zip(
            new_members, insert_rows(session, _CUSTOMERS, new_rows), strict=True
        ):
            resolved[groups.find(members[0])] = customer_id
        counts.inserted += len(new_rows)

    changed = _update_attributes(session, records, components, resolved, set(known.values()))

    identity_map: dict[Identity, int] = {}
    new_identities: list[dict[str, Any]] = []
    for root, members in components.items():
        customer_id = resolved[root]
        for ident in {i for m in members for i in record_ids[m]}:
            identity_map[ident] = customer_id
            if ident not in known:
                new_identities.append(
                    {
                        "customer_id": customer_id,
                        "kind": ident[0],
                        "source": ident[1],
                        "value": ident[2],
                    }
                )
                changed.add(customer_id)
    if new_identities:
        now = utcnow()
        for row in new_identities:
            row["created_at"] = now
        for start in range(0, len(new_identities), CHUNK):
            session.execute(insert(_IDENTITIES), new_identities[start : start + CHUNK])
    _link_brand(session, brand_id, set(resolved.values()))

    known_customers = set(known.values())
    existing_roots = [r for r in components if resolved[r] in known_customers]
    for root in existing_roots:
        if resolved[root] in changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    return identity_map


def _fold(records: Sequence[dict[str, Any]], members: list[int]) -> dict[str, Any]:
    """The attributes of one person from several records (later non-empty values win).

    Every attribute is present (``None`` when unknown) so that bulk writes get uniform
    rows; the document is stored as its digits (the kind lives in the identity).
    """
    folded: dict[str, Any] = dict.fromkeys(ATTRIBUTES)
    for m in members:
        for attr in ATTRIBUTES:
            value = records[m].get(attr)
            if value is not None and value != "":
                folded[attr] = value
    if folded["document"]:
        folded["document"] = str(folded["document"]).split(":", 1)[-1]
    return folded


def _update_attributes(
    session: Session,
    records: Sequence[dict[str, Any]],
    components: dict[int, list[int]],
    resolved: dict[int, int],
    existing_ids: set[int],
) -> set[int]:
    """Write changed attributes of existing customers; return the ids that changed."""
    targets = {root: resolved[root] for root in components if resolved[root] in existing_ids}
    if not targets:
        return set()
    current: dict[int, dict[str, Any]] = {}
    ids = list(set(targets.values()))
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(_CUSTOMERS.c.id, *(_CUSTOMERS.c[a] for a in ATTRIBUTES)).where(
                _CUSTOMERS.c.id.in_(ids[start : start + CHUNK])
            )
        ).mappings()
        current.update({row["id"]: dict(row) for row in rows})
    updates: list[dict[str, Any]] = []
    changed: set[int] = set()
    for root, customer_id in targets.items():
        folded = _fold(records, components[root])
        diff = {
            k: v for k, v in folded.items() if v is not None and current[customer_id].get(k) != v
        }
        if diff:
            merged = {**current[customer_id], **diff}
            updates.append({"b_id": customer_id, **{f"b_{a}": merged[a] for a in ATTRIBUTES}})
            changed.add(customer_id)
    if updates:
        statement = (
            update(_CUSTOMERS)
            .where(_CUSTOMERS.c.id == bindparam("b_id"))
            .values({**{a: bindparam(f"b_{a}") for a in ATTRIBUTES}, "updated_at": utcnow()})
        )
        session.connection().execute(statement, updates)
    return changed


def _link_brand(
    session: Session, brand_id: int, customer_ids: set[int], seen_at: datetime | None = None
) -> None:
    """Make sure each customer is linked to the brand (the basis of brand visibility)."""
    ids = list(customer_ids)
    linked: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        linked.update(
            session.scalars(
                select(_BRAND_LINKS.c.customer_id).where(
                    _BRAND_LINKS.c.brand_id == brand_id,
                    _BRAND_LINKS.c.customer_id.in_(ids[start : start + CHUNK]),
                )
            )
        )
    when = seen_at or utcnow()
    rows = [
        {"brand_id": brand_id, "customer_id": cid, "first_seen_at": when}
        for cid in ids
        if cid not in linked
    ]
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(_BRAND_LINKS), rows[start : start + CHUNK])
