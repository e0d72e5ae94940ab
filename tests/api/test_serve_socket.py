"""``recompra serve --workers N``: how its sockets are set up.

* Nagle's algorithm is off: uvicorn binds the listening socket of several workers
  without a protocol number, so asyncio left it on for every connection; the body of
  each response (a second write after the headers) then waited ~40 ms for the client's
  delayed ACK on every kept-alive request (issue 20).
* Each worker listens on a socket of its own in one ``SO_REUSEPORT`` group: on uvicorn's
  shared socket one worker accepted all 16 kept-alive connections of the benchmark and
  the other idled (issue 20).
* Idle kept-alive connections are kept longer than a proxy keeps its upstream ones.
"""

from __future__ import annotations

import errno
import pickle
import socket
from contextlib import ExitStack
from typing import Any

import pytest
import uvicorn.supervisors

from recompra.server import (
    KEEP_ALIVE_S,
    WORKER_STARTUP_S,
    no_delay,
    reserve_port,
    run_uvicorn,
    worker_socket,
)


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


@pytest.fixture
def supervised(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``run_uvicorn`` hands uvicorn's supervisor (which starts no process)."""
    handed: dict[str, Any] = {}

    class Supervisor:
        def __init__(self, config: Any, sockets: list[Any]) -> None:
            handed.update(config=config, sockets=sockets)

        def run(self) -> None:
            """Start no process: the sockets are what is checked."""

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    run_uvicorn("recompra.server:create_app", workers=2, host="127.0.0.1", port=0)
    return handed


def _worker_socket(handed: Any) -> socket.socket:
    """The socket a worker process gets: uvicorn pickles what it hands to a worker."""
    sock: socket.socket = pickle.loads(pickle.dumps(handed))
    return sock


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="Linux/BSD option")
def test_each_worker_gets_a_no_delay_socket_of_its_own(supervised: dict[str, Any]) -> None:
    [handed] = supervised["sockets"]
    with _worker_socket(handed) as first, _worker_socket(handed) as second:
        assert first.fileno() != second.fileno()
        assert first.getsockname() == second.getsockname()  # one port
        for sock in (first, second):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            # Not listening yet: a worker still importing the app must not be handed
            # connections (asyncio listens when the worker starts serving).
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="Linux/BSD option")
def test_the_kernel_spreads_connections_over_the_workers_sockets(
    supervised: dict[str, Any],
) -> None:
    [handed] = supervised["sockets"]
    with ExitStack() as stack:
        listeners = [stack.enter_context(_worker_socket(handed)) for _ in range(2)]
        for listener in listeners:
            listener.listen()  # as asyncio does when the worker serves
            listener.setblocking(False)
        address = listeners[0].getsockname()
        # 32 connections from distinct source ports: the chance that a 4-tuple hash
        # puts all of them on one socket is 2 * 2**-32.
        for _ in range(32):
            stack.enter_context(socket.create_connection(address))
        accepted = [0, 0]
        for index, listener in enumerate(listeners):
            while True:
                try:
                    connection, _ = listener.accept()
                except BlockingIOError:
                    break
                stack.enter_context(connection)
                accepted[index] += 1
    assert sum(accepted) == 32
    assert min(accepted) > 0


def test_idle_kept_alive_connections_outlast_a_proxys(supervised: dict[str, Any]) -> None:
    # uvicorn's default is 5 s; nginx and AWS load balancers keep upstream links 60 s.
    assert supervised["config"].timeout_keep_alive == KEEP_ALIVE_S > 60


def test_a_worker_slow_to_import_the_app_is_not_killed_as_hung(
    supervised: dict[str, Any],
) -> None:
    # uvicorn's default (5 s) killed every worker of the benchmark's floor app, in a
    # loop, on a loaded 2-core host: every server the launcher starts gets the margin.
    assert supervised["config"].timeout_worker_healthcheck == WORKER_STARTUP_S >= 60


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="Linux/BSD option")
def test_a_second_server_on_a_port_being_served_fails_instead_of_sharing_it() -> None:
    with reserve_port("127.0.0.1", 0) as reservation:
        address = reservation.getsockname()
        with worker_socket(address) as serving:
            serving.listen()  # the first server's worker is serving
            # Another ``recompra serve`` on the same port: with SO_REUSEPORT alone it
            # joined the group and took a share of the connections.
            with pytest.raises(OSError, match="in use") as refused:
                reserve_port("127.0.0.1", address[1])
            assert refused.value.errno == errno.EADDRINUSE
