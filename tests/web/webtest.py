"""Helpers shared by the browser tests (a unique module name: `conftest` is ambiguous)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

EMAIL, PASSWORD = "gerente@example.com", "senha-segura-1"


@dataclass
class Server:
    """A running dashboard/API server and the credentials to use it."""

    url: str
    api_key: str
    home: Path
    slug: str
    email: str = EMAIL
    password: str = PASSWORD

    def api(self, path: str) -> Any:
        """GET an API path with the read key and return the JSON body."""
        response = httpx.get(
            self.url + path, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()
