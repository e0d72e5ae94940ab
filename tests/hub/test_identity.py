"""Identity resolution: same e-mail or CPF is one person; merges are audited and reversible."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.customers import upsert_customers
from recompra.hub.identity import merge_customers, unmerge
from recompra.hub.rejects import EntityCounts
from recompra.models import (
    BrandCustomer,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerProperty,
    Order,
)


def test_a_record_linking_two_customers_merges_them_and_unmerge_restores(tmp_path: Path) -> None:
    engine = next(create_test_engine("sqlite", tmp_path))
    with unit_of_work(engine) as session:
        brand = ensure_brand(session).id
        counts = EntityCounts()
        ids = upsert_customers(
            session,
            brand_id=brand,
            records=[
                {"email": "ana@example.com", "name": "Ana"},
                {"document": "cpf:52998224725", "name": "Ana S."},
            ],
            counts=counts,
        )
        ana_email = ids[("email", f"@{brand}", "ana@example.com")]
        ana_cpf = ids[("cpf", f"@{brand}", "52998224725")]
        assert ana_email != ana_cpf
        assert (counts.inserted, counts.duplicate) == (2, 0)
        session.add(
            Order(
                brand_id=brand,
                source="t",
                external_id="o1",
                customer_id=ana_cpf,
                status="delivered",
                purchased_at=datetime(2024, 1, 1, tzinfo=UTC),
            )
        )
    with unit_of_work(engine) as session:
        counts = EntityCounts()
        ids = upsert_customers(
            session,
            brand_id=brand,
            records=[{"email": "ANA@example.com".lower(), "document": "cpf:52998224725"}],
            counts=counts,
        )
        assert counts.updated == 1
        survivor = min(ana_email, ana_cpf)
        assert ids[("cpf", f"@{brand}", "52998224725")] == survivor
    with unit_of_work(engine, write=False) as session:
        merge = session.scalars(select(CustomerMerge)).one()
        assert (merge.survivor_id, merge.merged_id) == (survivor, max(ana_email, ana_cpf))
        assert "cpf 52998224725" in merge.reason
        owner = session.scalar(select(Order.customer_id).where(Order.external_id == "o1"))
        assert owner == survivor
        merged = session.get(Customer, merge.merged_id)
        assert merged is not None
        assert merged.merged_into_id == survivor
    with unit_of_work(engine) as session:
        unmerge(session, merge_id=merge.id)
    with unit_of_work(engine, write=False) as session:
        owner = session.scalar(select(Order.customer_id).where(Order.external_id == "o1"))
        assert owner == ana_cpf
        cpf_owner = session.scalar(
            select(CustomerIdentity.customer_id).where(CustomerIdentity.kind == "cpf")
        )
        assert cpf_owner == ana_cpf
        assert session.get(Customer, ana_cpf).merged_into_id is None  # type: ignore[union-attr]
        assert session.get(CustomerMerge, merge.id).undone_at is not None  # type: ignore[union-attr]


def test_store_ids_and_emails_of_two_brands_are_two_profiles(tmp_path: Path) -> None:
    engine = next(create_test_engine("sqlite", tmp_path))
    with unit_of_work(engine) as session:
        brand_a = ensure_brand(session, "a").id
        brand_b = ensure_brand(session, "b").id
        in_a = upsert_customers(
            session,
            brand_id=brand_a,
            records=[{"source": "api", "external_id": "c1", "name": "Ana"}],
            counts=EntityCounts(),
        )
        in_b = upsert_customers(
            session,
            brand_id=brand_b,
            records=[{"source": "api", "external_id": "c1", "name": "Bruno"}],
            counts=EntityCounts(),
        )
        assert set(in_a.values()) != set(in_b.values())
        names = set(session.scalars(select(Customer.name)))
        assert names == {"Ana", "Bruno"}
        shared_a = upsert_customers(
            session,
            brand_id=brand_a,
            records=[{"email": "carla@example.com"}],
            counts=EntityCounts(),
        )
        shared_b = upsert_customers(
            session,
            brand_id=brand_b,
            records=[{"email": "carla@example.com"}],
            counts=EntityCounts(),
        )
        # Each brand keeps its own profile of the person (issue 20: brand isolation); the
        # normalised e-mail is what links them for the installation's owner.
        assert set(shared_a.values()) != set(shared_b.values())
        emails = session.execute(
            select(CustomerIdentity.source, CustomerIdentity.value).where(
                CustomerIdentity.kind == "email"
            )
        ).all()
        assert sorted(emails) == [
            (f"@{brand_a}", "carla@example.com"),
            (f"@{brand_b}", "carla@example.com"),
        ]


def test_a_merge_gives_the_survivor_the_merged_customers_properties(tmp_path: Path) -> None:
    """Only-merged properties move; a clash keeps the newer value; unmerge restores both."""
    engine = next(create_test_engine("sqlite", tmp_path))
    older, newer = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    with unit_of_work(engine) as session:
        brand = ensure_brand(session).id
        survivor, merged = Customer(name="Ana"), Customer(name="Ana S.")
        session.add_all([survivor, merged])
        session.flush()
        session.add_all(
            [
                BrandCustomer(brand_id=brand, customer_id=c.id, first_seen_at=older)
                for c in (survivor, merged)
            ]
        )
        values = [
            # (customer, name, text value, updated at)
            (merged, "plan", "gold", older),  # only the merged customer has it
            (survivor, "city", "Recife", older),  # both: the merged value is newer
            (merged, "city", "Olinda", newer),
            (survivor, "pet", "cat", newer),  # both: the survivor's value is newer
            (merged, "pet", "dog", older),
        ]
        session.add_all(
            CustomerProperty(
                brand_id=brand, customer_id=c.id, name=name, text_value=value, updated_at=at
            )
            for c, name, value, at in values
        )
        session.flush()
        survivor_id, merged_id = survivor.id, merged.id
        merge_id = merge_customers(
            session, brand_id=brand, survivor_id=survivor_id, merged_id=merged_id, reason="t"
        ).merge_id

    def properties(customer_id: int) -> dict[str, tuple[str | None, datetime]]:
        with unit_of_work(engine, write=False) as session:
            rows = session.scalars(
                select(CustomerProperty).where(CustomerProperty.customer_id == customer_id)
            )
            return {row.name: (row.text_value, row.updated_at) for row in rows}

    assert properties(survivor_id) == {
        "plan": ("gold", older),
        "city": ("Olinda", newer),
        "pet": ("cat", newer),
    }
    with unit_of_work(engine) as session:
        unmerge(session, merge_id=merge_id)
    assert properties(survivor_id) == {"city": ("Recife", older), "pet": ("cat", newer)}
    assert properties(merged_id) == {
        "plan": ("gold", older),
        "city": ("Olinda", newer),
        "pet": ("dog", older),
    }
