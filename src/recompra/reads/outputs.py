"""Files the pipeline writes per brand slug, read safely for the API and the dashboard.

``recompra analyze`` writes ``<home>/analytics/<slug>/`` (``summary.json`` and Parquet
tables) and ``recompra predict --backtest`` writes ``<home>/predictions/<slug>/``
(``backtest.json``, ``backtest_tracking.svg``). The slug comes from the database, never
from the request, and must be one plain path component that stays under the output root;
anything else reads as "not computed".
"""

from __future__ import annotations

import json
import math
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.models import Brand

T = TypeVar("T")

#: Largest file read (JSON, SVG): the pipeline's are a few hundred KiB at most.
MAX_BYTES = 8 * 1024 * 1024

_lock = threading.Lock()
_cache: dict[tuple[Path, str], tuple[float, int, Any]] = {}


def brand_slug(session: Session, brand_id: int) -> str | None:
    """The brand's slug, or ``None`` for an unknown brand."""
    slug = session.scalar(select(Brand.slug).where(Brand.id == brand_id))
    return slug or None


def safe_component(name: str) -> bool:
    """Whether ``name`` is one plain path component (no traversal, no separators)."""
    return (
        bool(name)
        and name not in {".", ".."}
        and not any(c in name for c in ("/", "\\", "\0", ":"))
        and not name.startswith("~")
    )


def brand_output_dir(home: Path, kind: str, slug: str | None) -> Path | None:
    """``<home>/<kind>/<slug>`` if it is a directory inside ``<home>/<kind>``, else ``None``."""
    if slug is None or not safe_component(slug):
        return None
    root = (home / kind).resolve()
    directory = (root / slug).resolve()
    if directory.parent != root or not directory.is_dir():
        return None
    return directory


def _file(directory: Path, name: str) -> Path | None:
    path = (directory / name).resolve()
    if path.parent != directory or not path.is_file():
        return None
    return path


def _cached(path: Path, what: str, load: Callable[[Path], T]) -> T:
    """``load(path)``, cached until the file's mtime or size changes."""
    stat = path.stat()
    key = (path, what)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == stat.st_mtime and hit[1] == stat.st_size:
            value: T = hit[2]
            return value
    value = load(path)
    with _lock:
        _cache[key] = (stat.st_mtime, stat.st_size, value)
    return value


def _read_text(path: Path) -> str:
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path.name} is too large")
    return path.read_text(encoding="utf-8")


def _read_json(path: Path) -> Any:
    return json.loads(_read_text(path))


def _json_object(
    session: Session, home: Path, brand_id: int, kind: str, name: str
) -> tuple[Path, dict[str, Any]] | None:
    """The brand's output directory of ``kind`` and the JSON object in its file ``name``.

    ``None`` when the directory or file is absent, unreadable, or not a JSON object.
    """
    directory = brand_output_dir(home, kind, brand_slug(session, brand_id))
    path = _file(directory, name) if directory is not None else None
    if directory is None or path is None:
        return None
    try:
        document = _cached(path, "json", _read_json)
    except (OSError, ValueError):
        return None
    return (directory, document) if isinstance(document, dict) else None


def _read_rows(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def clean(value: Any) -> Any:
    """``None`` for NaN and infinities (Parquet and JSON floats), the value otherwise."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class AnalyticsOutputs:
    """``recompra analyze`` outputs of one brand (a table is ``None`` when absent)."""

    as_of: date
    summary: dict[str, Any]
    kpis_by_period: list[dict[str, Any]] | None
    segments: list[dict[str, Any]] | None
    cohorts: list[dict[str, Any]] | None
    clusters: list[dict[str, Any]] | None


def analytics_outputs(session: Session, home: Path, brand_id: int) -> AnalyticsOutputs | None:
    """The brand's analytics outputs, or ``None`` when ``summary.json`` is absent/unreadable.

    A summary without a valid ``as_of`` date is unreadable too: every figure is "as of".
    """
    found = _json_object(session, home, brand_id, "analytics", "summary.json")
    if found is None:
        return None
    directory, summary = found
    try:
        tables: dict[str, list[dict[str, Any]] | None] = {}
        for name in ("kpis_by_period", "segments", "cohorts", "clusters"):
            path = _file(directory, f"{name}.parquet")
            tables[name] = _cached(path, "rows", _read_rows) if path else None
    except (OSError, ValueError):
        return None
    try:
        as_of = date.fromisoformat(str(summary.get("as_of")))
    except ValueError:
        return None
    return AnalyticsOutputs(as_of, summary, **tables)


@dataclass(frozen=True)
class Backtests:
    """``recompra predict --backtest`` outputs of one brand."""

    report: dict[str, Any]
    tracking_svg: str | None


def backtests(session: Session, home: Path, brand_id: int) -> Backtests | None:
    """The brand's back-test report and sanitised tracking chart, or ``None``."""
    found = _json_object(session, home, brand_id, "predictions", "backtest.json")
    if found is None:
        return None
    directory, report = found
    svg_path = _file(directory, "backtest_tracking.svg")
    svg = None
    if svg_path is not None:
        try:
            svg = _cached(svg_path, "svg", _read_svg)
        except (OSError, ValueError, ET.ParseError):
            svg = None
    return Backtests(report, svg)


_SVG = "{http://www.w3.org/2000/svg}"
_ELEMENTS = {
    "svg", "g", "title", "desc", "rect", "line", "polyline", "polygon", "path", "circle",
    "ellipse", "text", "tspan",
}  # fmt: skip
_ATTRIBUTES = {
    "width", "height", "viewBox", "role", "aria-label", "x", "y", "x1", "y1", "x2", "y2",
    "cx", "cy", "r", "rx", "ry", "d", "points", "fill", "stroke", "stroke-width",
    "stroke-dasharray", "stroke-linecap", "stroke-linejoin", "opacity", "fill-opacity",
    "stroke-opacity", "font-size", "font-family", "font-weight", "text-anchor",
    "dominant-baseline", "transform", "class", "preserveAspectRatio",
}  # fmt: skip


def sanitise_svg(text: str) -> str:
    """An SVG reduced to drawing elements and presentation attributes.

    Scripts, ``foreignObject``, event handlers, links, styles and entity declarations are
    dropped, so that the markup can be inlined in a dashboard page.
    """
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise ValueError("SVG with a DOCTYPE is not inlined")
    root = ET.fromstring(text)

    def local(tag: str) -> str:
        return tag[len(_SVG) :] if tag.startswith(_SVG) else tag

    def clean_element(element: ET.Element) -> ET.Element | None:
        tag = local(element.tag) if isinstance(element.tag, str) else ""
        if tag not in _ELEMENTS:
            return None
        out = ET.Element(tag)
        for name, value in element.attrib.items():
            if name in _ATTRIBUTES and "javascript:" not in value.lower() and "url(" not in value:
                out.set(name, value)
        out.text = element.text
        for child in element:
            kept = clean_element(child)
            if kept is not None:
                out.append(kept)
            if child.tail and kept is not None:  # text after a dropped element goes too
                kept.tail = child.tail
        return out

    cleaned = clean_element(root)
    if cleaned is None or cleaned.tag != "svg":
        raise ValueError("not an SVG document")
    cleaned.set("xmlns", "http://www.w3.org/2000/svg")
    for fixed in ("width", "height"):  # scales with its container, like the other charts
        cleaned.attrib.pop(fixed, None)
    cleaned.set("class", "tracking")
    return ET.tostring(cleaned, encoding="unicode", short_empty_elements=True)


def _read_svg(path: Path) -> str:
    return sanitise_svg(_read_text(path))
