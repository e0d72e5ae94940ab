"""The funnel metrics as SQL texts, one per metric, that DuckDB and Spark both run.

Each text reads the view :data:`FUNNEL_VIEW`, one row per lead (``funnel.funnel_table``):
``lead_id``, ``channel``, ``landing_page``, ``sdr``, ``owner`` (the won deal's rep),
``first_contact_on`` (date), ``closed_on`` (UTC date the deal was won, ``NULL`` if not)
and ``won``. Only the dialect hooks (:mod:`recompra.engines.base`) differ between the
engines. Definitions and references: docs/commercial.md.
"""

from __future__ import annotations

from recompra.engines.base import Dialect

#: The view every funnel SQL text reads.
FUNNEL_VIEW = "funnel_leads"
#: ``--by`` dimensions of the conversion table.
DIMENSIONS = ("channel", "page", "cohort", "year", "rep")
#: Dimensions whose groups are listed in calendar order instead of by size.
CALENDAR_DIMENSIONS = ("cohort", "year")
#: Horizons (days, inclusive) of the "closed within" shares.
CLOSE_HORIZONS = (7, 30, 90)
#: Quartiles of the time to close, by result column.
CLOSE_QUANTILES = {"q1": 0.25, "median": 0.5, "q3": 0.75}
#: Share of won deals that :func:`rep_concentration_sql` counts reps up to (as 8/10, so
#: the comparison stays in integers).
CONCENTRATION_SHARE = (8, 10)


def _text(column: str) -> str:
    return f"CAST({column} AS STRING)"


def group_key_sql(by: str) -> str:
    """SQL for the group label of a lead under ``by`` (unknown values get their own label)."""
    month = f"lpad({_text('month(first_contact_on)')}, 2, '0')"
    keys = {
        "channel": "COALESCE(channel, 'unknown')",
        "page": "COALESCE(landing_page, 'unknown')",
        "cohort": f"concat({_text('year(first_contact_on)')}, '-', {month})",
        "year": _text("year(first_contact_on)"),
        "rep": "COALESCE(sdr, 'unassigned')",
    }
    if by not in keys:
        raise ValueError(f"--by must be one of {', '.join(DIMENSIONS)}")
    return keys[by]


def conversion_sql(by: str | None) -> str:
    """Leads and won leads per group of ``by`` (one row ``all`` when ``by`` is ``None``).

    Calendar groups come in calendar order, the others largest first. The Wilson interval
    is computed from these two counts (``funnel.conversion``).
    """
    key = "'all'" if by is None else group_key_sql(by)
    order = "grp" if by in CALENDAR_DIMENSIONS else "leads DESC, grp"
    return f"""
SELECT
    {key} AS grp,
    CAST(COUNT(*) AS BIGINT) AS leads,
    CAST(SUM(CASE WHEN won THEN 1 ELSE 0 END) AS BIGINT) AS won
FROM {FUNNEL_VIEW}
GROUP BY {key}
ORDER BY {order}"""


def time_to_close_sql(d: Dialect) -> str:
    """Distribution of whole UTC days from first contact to won, over won leads.

    A deal won before its first contact has a negative time: it is counted in
    ``excluded`` and left out of the quartiles and shares (a data-quality flag, not a
    duration). Quartiles interpolate linearly; ``within_H`` is the share of the valid
    times of at most ``H`` days.
    """
    days = f"{d.day_number('closed_on')} - {d.day_number('first_contact_on')}"
    valid = "CASE WHEN days_to_close >= 0 THEN days_to_close END"
    quantiles = ",\n    ".join(
        f"{d.quantile(valid, fraction)} AS {name}" for name, fraction in CLOSE_QUANTILES.items()
    )
    # Integer flags averaged as DOUBLE: Spark reads 1.0 as a DECIMAL and rounds its mean.
    within = ",\n    ".join(
        f"COALESCE(AVG(CASE WHEN days_to_close >= 0 THEN "
        f"CAST(CASE WHEN days_to_close <= {h} THEN 1 ELSE 0 END AS DOUBLE) END), 0.0) "
        f"AS within_{h}"
        for h in CLOSE_HORIZONS
    )
    return f"""
WITH won_leads AS (
    SELECT {days} AS days_to_close FROM {FUNNEL_VIEW} WHERE won
)
SELECT
    CAST(COALESCE(SUM(CASE WHEN days_to_close >= 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS deals,
    CAST(COALESCE(SUM(CASE WHEN days_to_close < 0 THEN 1 ELSE 0 END), 0) AS BIGINT)
        AS excluded,
    {quantiles},
    {within}
FROM won_leads"""


def rep_deals_sql() -> str:
    """Won deals per rep (the deal's owner), most deals first."""
    rep = "COALESCE(owner, 'unassigned')"
    return f"""
SELECT {rep} AS rep, CAST(COUNT(*) AS BIGINT) AS deals
FROM {FUNNEL_VIEW}
WHERE won
GROUP BY {rep}
ORDER BY deals DESC, rep"""


def rep_concentration_sql() -> str:
    """How won deals spread over reps: top rep's share, HHI and reps for 80% of deals.

    HHI is the sum of the squared deal shares (Herfindahl 1950; 1/reps .. 1). A rep is
    needed for 80% when the reps ranked before it closed less than 80% of the deals.
    """
    part, whole = CONCENTRATION_SHARE
    return f"""
WITH reps AS ({rep_deals_sql()}
),
ranked AS (
    SELECT
        deals,
        SUM(deals) OVER () AS total,
        COALESCE(SUM(deals) OVER (
            ORDER BY deals DESC, rep ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ), 0) AS deals_before
    FROM reps
)
SELECT
    CAST(COUNT(*) AS BIGINT) AS reps,
    CAST(COALESCE(MAX(total), 0) AS BIGINT) AS deals,
    COALESCE(CAST(MAX(deals) AS DOUBLE) / MAX(total), 0.0) AS top_rep_share,
    COALESCE(SUM(CAST(deals AS DOUBLE) * deals) / (CAST(MAX(total) AS DOUBLE) * MAX(total)), 0.0)
        AS hhi,
    CAST(COALESCE(SUM(CASE WHEN deals_before * {whole} < total * {part} THEN 1 ELSE 0 END), 0)
        AS BIGINT) AS reps_for_80_percent
FROM ranked"""
