"""Helpers shared by the API tests (a unique module name: `conftest` is ambiguous)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Keys:
    """Plain API keys for the tests."""

    admin: str
    read_a: str
    read_b: str
    ingest_a: str
    loyalty_a: str
    revoked: str


def auth(key: str) -> dict[str, str]:
    """The Authorization header for ``key``."""
    return {"Authorization": f"Bearer {key}"}
