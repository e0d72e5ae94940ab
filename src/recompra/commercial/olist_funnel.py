"""Importer for Olist's marketing funnel (marketing-qualified leads and closed deals).

Mapping decisions:

* ``mql_id`` is the lead's and the deal's natural key (one deal per lead in the data).
* ``origin`` is the acquisition channel; an empty origin becomes ``unknown`` (Olist has
  its own ``unknown`` value) and is counted in the fact ``lead_origin_missing``.
* Every deal in the file is won: it becomes an opportunity in the ``won`` stage, owned by
  the sales rep (``sr_id``); its lead gets the SDR (``sdr_id``). The file has no open or
  lost deals, no stage history and no deal amounts: ``declared_monthly_revenue`` is the
  seller's own declaration (zero for most), kept in the attributes, never as an amount.
* ``won_date`` is São Paulo local time (like the other Olist files) stored in UTC.
* Data-quality flags on a deal (counted in the report's facts): ``won_before_first_contact``
  (the won date precedes the lead's first contact), ``declared_revenue_missing``.
* Rejected rows keep their file, line, column and reason; a deal whose lead is not in
  the leads file is rejected. Both stages are idempotent upserts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from recompra.commercial.deals import ensure_stages
from recompra.db import unit_of_work
from recompra.hub.importers.files import find_file, read_validated
from recompra.hub.parsing import ParseOptions
from recompra.hub.rejects import ImportReport, Reject
from recompra.hub.upsert import upsert_rows
from recompra.hub.validate import LINE, Field, first_of_key
from recompra.models import Lead, Opportunity

SOURCE = "olist_funnel"
OPTIONS = ParseOptions(timezone="America/Sao_Paulo")
LEADS_STEM = "olist_marketing_qualified_leads_dataset"
DEALS_STEM = "olist_closed_deals_dataset"
KEY = ("brand_id", "source", "external_id")

LEAD_FIELDS = [
    Field("mql_id", required=True),
    Field("first_contact_date", "date", required=True),
    Field("landing_page_id"),
    Field("origin"),
]
DEAL_FIELDS = [
    Field("mql_id", required=True),
    Field("seller_id", required=True),
    Field("sdr_id"),
    Field("sr_id"),
    Field("won_date", "timestamp", required=True),
    Field("business_segment"),
    Field("lead_type"),
    Field("lead_behaviour_profile"),
    Field("has_company"),
    Field("has_gtin"),
    Field("average_stock"),
    Field("business_type"),
    Field("declared_product_catalog_size"),
    Field("declared_monthly_revenue", "money", minimum=0),
]
#: Deal columns kept verbatim in the opportunity's attributes.
ATTRIBUTES = (
    "seller_id",
    "lead_type",
    "lead_behaviour_profile",
    "has_company",
    "has_gtin",
    "average_stock",
    "business_type",
    "declared_product_catalog_size",
)


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) or str(value) == "" else str(value)


def _read(path: Path, fields: list[Field], entity: str, report: ImportReport) -> pd.DataFrame:
    frame = read_validated(path, fields, entity=entity, options=OPTIONS, report=report)
    return first_of_key(frame, ["mql_id"], entity, path.name, report)


def _need(directory: Path, stem: str) -> Path:
    path = find_file(directory, stem)
    if path is None:
        raise FileNotFoundError(f"{stem}.csv(.gz) not found in {directory}")
    return path


def import_olist_funnel(engine: Engine, directory: Path, *, brand_id: int) -> ImportReport:
    """Import the leads and closed deals of ``directory`` into ``brand_id``."""
    leads_path = _need(Path(directory), LEADS_STEM)
    deals_path = _need(Path(directory), DEALS_STEM)
    report = ImportReport()
    leads = _read(leads_path, LEAD_FIELDS, "leads", report)
    deals = _read(deals_path, DEAL_FIELDS, "deals", report)

    orphan = ~deals["mql_id"].isin(leads["mql_id"])
    for line, value in zip(deals.loc[orphan, LINE], deals.loc[orphan, "mql_id"], strict=True):
        report.reject(
            Reject(
                "deals", deals_path.name, int(line), "mql_id", str(value), "no lead with this id"
            )
        )
    report.entity("deals").rejected += int(orphan.sum())
    deals = deals[~orphan]
    sdr_of = dict(zip(deals["mql_id"], deals.get("sdr_id", pd.Series(dtype=object)), strict=True))

    missing_origin = leads["origin"].isna() if "origin" in leads else pd.Series(True, leads.index)
    report.note("lead_origin_missing", int(missing_origin.sum()))
    lead_rows = [
        {
            "brand_id": brand_id,
            "source": SOURCE,
            "external_id": str(r["mql_id"]),
            "channel": _text(r.get("origin")) or "unknown",
            "landing_page": _text(r.get("landing_page_id")),
            "first_contact_on": r["first_contact_date"],
            "sdr": _text(sdr_of.get(r["mql_id"])),
        }
        for r in leads.to_dict("records")
    ]
    with unit_of_work(engine) as session:
        result = upsert_rows(
            session,
            Lead.__table__,  # type: ignore[arg-type]
            lead_rows,
            key=KEY,
            compare=("channel", "landing_page", "first_contact_on", "sdr"),
            counts=report.entity("leads"),
        )
        won = ensure_stages(session, brand_id=brand_id)["won"]
        first_contact = dict(zip(leads["mql_id"], leads["first_contact_date"], strict=True))
        deal_rows = []
        for r in deals.to_dict("records"):
            won_at: datetime = r["won_date"]
            # UTC dates, as in the funnel analytics' time to close (one definition).
            won_on = won_at.astimezone(UTC).date()
            revenue = r.get("declared_monthly_revenue")
            flags: dict[str, Any] = {}
            if won_on < first_contact[r["mql_id"]]:
                flags["won_before_first_contact"] = True
            if revenue is None or pd.isna(revenue) or int(revenue) == 0:
                flags["declared_revenue_missing"] = True
            for flag in flags:
                report.note(flag, 1)
            attributes: dict[str, str | int | None] = {n: _text(r.get(n)) for n in ATTRIBUTES}
            attributes["declared_monthly_revenue_minor"] = (
                None if revenue is None or pd.isna(revenue) else int(revenue)
            )
            deal_rows.append(
                {
                    "brand_id": brand_id,
                    "source": SOURCE,
                    "external_id": str(r["mql_id"]),
                    "lead_id": result.ids[(brand_id, SOURCE, str(r["mql_id"]))],
                    "segment": _text(r.get("business_segment")),
                    "owner": _text(r.get("sr_id")),
                    "stage_id": won.id,
                    "status": "won",
                    "closed_at": won_at,
                    "currency": OPTIONS.currency,
                    "attributes": attributes,
                    "flags": flags,
                }
            )
        upsert_rows(
            session,
            Opportunity.__table__,  # type: ignore[arg-type]
            deal_rows,
            key=KEY,
            compare=("lead_id", "segment", "owner", "closed_at", "attributes", "flags"),
            counts=report.entity("deals"),
        )
    return report
