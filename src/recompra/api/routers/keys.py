"""API key administration (``admin`` scope): list and revoke.

Keys are created with ``recompra keys create`` only: a key created over HTTP would have
to travel in a response body (and be kept in the idempotency store).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path
from pydantic import BaseModel

from recompra.api.deps import MAX_ID, AdminKey, OneHopRoute, ReadSession, WriteSession
from recompra.api.errors import AUTH_ERRORS, error_responses
from recompra.auth.keys import list_api_keys, revoke_api_key
from recompra.models import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"], route_class=OneHopRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Replays return the first response; another body under the same key is 409",
    ),
]


class KeyInfo(BaseModel):
    """An API key as listed (never the key itself)."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    brand_id: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=sorted(row.scope_set),
        brand_id=row.brand_id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


@router.get(
    "",
    operation_id="keys_list",
    response_model=list[KeyInfo],
    responses=error_responses(*AUTH_ERRORS),
)
def list_keys(admin: AdminKey, session: ReadSession) -> list[KeyInfo]:
    """The API keys the caller administers (prefix, scopes, brand, usage).

    An installation-wide admin key sees every key; a brand's admin key only its brand's.
    """
    return [_info(r) for r in list_api_keys(session, brand_id=admin.brand_id)]


@router.post(
    "/{key_id}/revoke",
    operation_id="keys_revoke",
    response_model=KeyInfo,
    responses=error_responses(*AUTH_ERRORS, 400, 404, 409),
)
def revoke(
    key_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    admin: AdminKey,
    session: WriteSession,
    _idempotency_key: IdempotencyKey = None,
) -> KeyInfo:
    """Revoke a key now (revoking an already revoked key changes nothing).

    A brand's admin key revokes only its brand's keys; any other id answers 404.
    """
    return _info(revoke_api_key(session, key_id=key_id, brand_id=admin.brand_id))
