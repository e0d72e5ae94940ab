"""Dashboard strings of the domain pages, one module per domain.

Each ``texts/<domain>.py`` defines ``MESSAGES: dict[str, tuple[str, str]]`` (key →
(pt-BR, en)) with keys prefixed by the domain's name, and is listed in
:data:`DOMAIN_MODULES`. :mod:`recompra.web.i18n` merges them with the core strings, so a
new domain's pages never edit one shared, ever-growing dictionary.
"""

from __future__ import annotations

from types import ModuleType

from recompra.web.texts import (
    admin,
    cases,
    commercial,
    engagement,
    journeys,
    measurement,
    segments,
    voc,
)

#: The domain modules whose pages add strings (append yours).
DOMAIN_MODULES: tuple[ModuleType, ...] = (
    admin,
    cases,
    commercial,
    engagement,
    journeys,
    measurement,
    segments,
    voc,
)


def domain_messages() -> dict[str, tuple[str, str]]:
    """Every domain module's strings, refusing a key defined twice."""
    merged: dict[str, tuple[str, str]] = {}
    for module in DOMAIN_MODULES:
        messages: dict[str, tuple[str, str]] = module.MESSAGES
        for key, pair in messages.items():
            if key in merged:
                raise RuntimeError(f"dashboard string {key!r} is defined twice")
            merged[key] = pair
    return merged
