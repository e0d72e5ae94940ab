"""``recompra serve --workers N`` sends responses without waiting for delayed ACKs.

uvicorn binds the listening socket of several workers without a protocol number, so
asyncio left Nagle's algorithm on for every connection; the body of each response (a
second write after the headers) then waited ~40 ms for the client's delayed ACK on every
kept-alive request (issue 20).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import uvicorn.supervisors

from recompra.server import no_delay, run_uvicorn


def _accepted_no_delay(listener: socket.socket) -> int:
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    with socket.create_connection(listener.getsockname()):
        accepted, _ = listener.accept()
        with accepted:
            return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_connections_accepted_on_the_workers_socket_have_nagle_off() -> None:
    # Bound like uvicorn binds it for --workers: no protocol number.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as untreated:
        assert _accepted_no_delay(untreated) == 0  # the defect, as the kernel shows it
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as treated:
        no_delay(treated)
        assert _accepted_no_delay(treated) != 0


def test_several_workers_are_served_from_a_no_delay_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[socket.socket] = []

    class Supervisor:
        def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
            served.extend(sockets)

        def run(self) -> None:
            """Start no process: the socket is what is checked."""

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    run_uvicorn("recompra.server:create_app", workers=2, host="127.0.0.1", port=0)
    [listener] = served
    with listener:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
