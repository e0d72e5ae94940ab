"""Refuse request bodies over ``RECOMPRA_API_MAX_BODY_BYTES`` with 413, before parsing
(applied by the server's outermost middleware, ``recompra.server.EdgeMiddleware``).

A declared ``Content-Length`` over the limit is answered at once; a body without one
(chunked) is counted as it arrives and refused when it passes the limit, so a worker
never buffers more than the limit for one request.
"""

from __future__ import annotations

import json

from starlette.types import Message, Receive, Scope, Send

from recompra.api.errors import error_body


class BodyTooLarge(Exception):
    """Raised inside the app's ``receive`` when a chunked body passes the limit."""


def declared_too_large(scope: Scope, max_bytes: int) -> bool:
    """Whether the request declares a ``Content-Length`` over ``max_bytes`` (or one that
    is not a number): refused at once, before any of the body is read."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return not value.isdigit() or int(value) > max_bytes
    return False


def counting(receive: Receive, max_bytes: int) -> Receive:
    """``receive`` raising :class:`BodyTooLarge` once the body passes ``max_bytes`` (a
    body without a ``Content-Length``, chunked, is only known as it arrives)."""
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLarge
        return message

    return counting_receive


async def refuse(send: Send, max_bytes: int) -> None:
    """Answer 413 ``payload_too_large``."""
    body = json.dumps(
        error_body("payload_too_large", f"the request body is larger than {max_bytes} bytes")
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
