"""The Olist funnel importer: counts, idempotence, rejects with coordinates, flags."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select

from recompra.commercial.olist_funnel import import_olist_funnel
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.rejects import ImportReport
from recompra.models import Opportunity, StageChange


def test_import_counts_flags_and_no_stage_history(
    funnel_db: tuple[Engine, int, ImportReport], raw_leads: pd.DataFrame, raw_deals: pd.DataFrame
) -> None:
    engine, brand_id, report = funnel_db
    assert report.reconciles
    assert not report.rejects
    assert report.counts["leads"].inserted == len(raw_leads) == 8000
    assert report.counts["deals"].inserted == len(raw_deals) == 842
    assert report.facts["lead_origin_missing"] == int(raw_leads["origin"].isna().sum())
    won_utc = (
        pd.to_datetime(raw_deals["won_date"])
        .dt.tz_localize("America/Sao_Paulo")
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .dt.normalize()
    )
    first = raw_deals["mql_id"].map(raw_leads.set_index("mql_id")["first_contact_date"])
    assert report.facts["won_before_first_contact"] == int((won_utc < pd.to_datetime(first)).sum())
    with unit_of_work(engine) as session:
        # Other tests share this database with other brands: count the imported brand's.
        flagged = session.scalars(
            select(Opportunity.flags).where(Opportunity.brand_id == brand_id)
        ).all()
        assert sum("won_before_first_contact" in f for f in flagged) == 1
        # Olist records no stage moves: none are invented on import.
        moves = (
            select(func.count())
            .select_from(StageChange)
            .join(Opportunity, Opportunity.id == StageChange.opportunity_id)
            .where(Opportunity.brand_id == brand_id)
        )
        assert session.scalar(moves) == 0


def test_second_import_changes_nothing(
    funnel_db: tuple[Engine, int, ImportReport], funnel_dir: Path
) -> None:
    engine, brand_id, _ = funnel_db
    again = import_olist_funnel(engine, funnel_dir, brand_id=brand_id)
    assert again.counts["leads"].unchanged == 8000
    assert again.counts["leads"].inserted == 0
    assert again.counts["deals"].unchanged == 842
    assert again.counts["deals"].updated == 0


def test_bad_rows_become_rejects_with_line_column_and_reason(
    funnel_db: tuple[Engine, int, ImportReport], tmp_path: Path
) -> None:
    engine, _, _ = funnel_db
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "rejects").id
    (tmp_path / "olist_marketing_qualified_leads_dataset.csv").write_text(
        "mql_id,first_contact_date,landing_page_id,origin\n"
        "m1,2018-01-02,p1,social\n"
        "m2,not-a-date,p1,social\n"
        "m1,2018-01-03,p2,email\n"
    )
    (tmp_path / "olist_closed_deals_dataset.csv").write_text(
        "mql_id,seller_id,sdr_id,sr_id,won_date,declared_monthly_revenue\n"
        "m1,s1,d1,r1,2018-01-01 10:00:00,0\n"
        "zz,s2,d1,r1,2018-02-01 10:00:00,-5\n"
        "m9,s3,d1,r1,2018-02-01 10:00:00,10\n"
    )
    report = import_olist_funnel(engine, tmp_path, brand_id=brand_id)
    assert report.reconciles
    found = {(r.entity, r.line, r.column) for r in report.rejects}
    assert ("leads", 3, "first_contact_date") in found
    assert ("leads", 4, "mql_id") in found  # repeats line 2's key
    assert ("deals", 3, "declared_monthly_revenue") in found
    assert ("deals", 4, "mql_id") in found  # no such lead
    assert report.counts["leads"].inserted == 1
    assert report.counts["deals"].inserted == 1
    # Won on 2018-01-01, first contact 2018-01-02: flagged, not rejected.
    assert report.facts["won_before_first_contact"] == 1
