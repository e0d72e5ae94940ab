"""The precomputed recommendation tables of a brand, loaded once and reloaded on refresh.

``recompra recommend refresh`` writes Parquet tables and a ``manifest.json``; the API and
the dashboard read them from ``<recommendations dir>/<brand slug>/`` (where ``recompra
recommend refresh --brand <slug>`` writes them), else ``<recommendations dir>/<brand_id>/``,
else the directory itself when the install has a single brand. The index is cached per
directory and reloaded when the manifest changes. Absent tables are not an error of the
caller: :func:`brand_index` returns ``None`` (the API answers 404 "not computed yet").
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.models import Brand
from recompra.reads.outputs import safe_component
from recompra.recommend import RecommendationIndex

MANIFEST = "manifest.json"

_lock = threading.Lock()
_cache: dict[Path, tuple[float, RecommendationIndex]] = {}


def recommendations_root(*, home: Path, configured: Path | None) -> Path:
    """The configured recommendations directory, else ``<home>/recommendations``."""
    return configured or home / "recommendations"


def brand_directory(session: Session, root: Path, brand_id: int) -> Path | None:
    """The brand's refresh output: ``root/<slug>``, ``root/<brand_id>``, or ``root`` alone.

    The slug directory is preferred (it is what the pipeline writes); a slug is a single
    path component by construction, and one that is not (``..``, a separator) is ignored.
    """
    slug = session.scalar(select(Brand.slug).where(Brand.id == brand_id))
    for name in (slug, str(brand_id)):
        if not name or not safe_component(name):
            continue
        own = root / name
        if (own / MANIFEST).is_file():
            return own
    if (root / MANIFEST).is_file():
        # A flat directory does not say which brand it was computed for: only a
        # single-brand install may use it, so that no brand reads another's tables.
        brands = session.scalar(select(func.count()).select_from(Brand))
        if brands == 1:
            return root
    return None


def load_index(directory: Path) -> RecommendationIndex:
    """The index of ``directory``, from the cache unless the manifest changed."""
    stamp = (directory / MANIFEST).stat().st_mtime
    with _lock:
        cached = _cache.get(directory)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    index = RecommendationIndex.load(directory)
    with _lock:
        _cache[directory] = (stamp, index)
    return index


def brand_index(session: Session, root: Path, brand_id: int) -> RecommendationIndex | None:
    """The brand's recommendation index under ``root``, or ``None`` when not computed."""
    directory = brand_directory(session, root, brand_id)
    if directory is None:
        return None
    return load_index(directory)
