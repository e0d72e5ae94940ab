"""Write an analytics result: Parquet and CSV tables, ``summary.json`` and the HTML report."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from recompra.analytics.flows import AnalyticsResult
from recompra.analytics.report import render_report


def _json_default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")


def _clean(value: Any) -> Any:
    """Replace NaN by ``None`` recursively (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_outputs(result: AnalyticsResult, out_dir: Path | str, *, report: bool = True) -> Path:
    """Write every result table as ``<name>.parquet`` and ``<name>.csv``, plus summaries.

    Parameters
    ----------
    result
        The result of :func:`~recompra.analytics.run_analytics`.
    out_dir
        Output directory (created if missing).
    report
        Also write the offline HTML report: ``report.html`` in pt-BR and
        ``report.en.html`` in English.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in result.tables().items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        pq.write_table(table, out / f"{name}.parquet", compression="zstd")
        frame.to_csv(out / f"{name}.csv", index=False)
    summary = _clean(dict(result.summary))
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default) + "\n",
        encoding="utf-8",
    )
    if report:
        (out / "report.html").write_text(render_report(result), encoding="utf-8")
        (out / "report.en.html").write_text(render_report(result, locale="en"), encoding="utf-8")
    return out
