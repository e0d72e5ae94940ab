"""One validated settings object for the whole application (env prefix ``RECOMPRA_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "recompra-development-secret-change-me"
#: Shortest production secret: 32 characters (128 bits as hex digits, 192 as base64), past
#: any guessing. ``openssl rand -hex 32`` gives 64 characters, the 256-bit HMAC-SHA256 key
#: length RFC 2104 section 3 recommends.
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    """Runtime configuration, read from ``RECOMPRA_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="RECOMPRA_", extra="ignore")

    #: Data directory: the SQLite file, import reports, snapshots and model outputs.
    home: Path = Path(".recompra")
    #: SQLAlchemy URL of the operational database; empty means ``sqlite:///<home>/recompra.db``.
    database_url: str = ""
    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = DEV_SECRET
    default_currency: str = "BRL"
    default_locale: Literal["pt-BR", "en"] = "pt-BR"
    #: Connections kept per process (as many again may open under load), both backends.
    pool_size: int = 10
    #: Orders per import transaction: each chunk commits whole orders with their items.
    import_chunk_orders: int = 20_000
    #: What 1,000 loyalty points are worth when redeemed, in minor units, for showing the
    #: points liability in money (programs do not store a point's value). The default is
    #: the demo's rate: an R$ 20 coupon for 400 points is R$ 50 per 1,000 points.
    point_value_minor_per_1000: int = Field(default=5_000, ge=0)
    #: The retention policy: customers inactive this many days are anonymised by
    #: ``recompra privacy retention`` (unset: only when asked with ``--days``).
    retention_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _refuse_insecure_defaults(self) -> Settings:
        # A production install with the development secret, an empty one or a guessable
        # short one would let anyone forge session cookies and unsubscribe links.
        if self.environment == "production" and (
            self.secret_key == DEV_SECRET or len(self.secret_key) < MIN_SECRET_KEY_LENGTH
        ):
            raise ValueError(
                "RECOMPRA_SECRET_KEY must be set in production, at least "
                f"{MIN_SECRET_KEY_LENGTH} characters (e.g. `openssl rand -hex 32`)"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The effective database URL (SQLite under ``home`` unless configured)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'recompra.db').resolve()}"

    @property
    def imports_dir(self) -> Path:
        """Where import reports and rejects files are written."""
        return self.home / "imports"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests clear the cache)."""
    return Settings()
