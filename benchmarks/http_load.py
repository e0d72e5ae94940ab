"""A cheap HTTP/1.1 keep-alive load generator for the API benchmarks.

The generator shares the machine's cores with the servers it measures, so every
microsecond it spends per request is taken from them: with httpx (about 1 ms of CPU a
request here) the bare floor with 2 workers measured *slower* than with 1, i.e. the
figures were the client's. This one spends a few tens of microseconds:

* each connection is an :class:`asyncio.Protocol` (no coroutine, no stream reader): the
  next request is written from ``data_received`` as soon as the previous response is
  complete;
* requests are prebuilt bytes (request line, ``Host``, the key, ``Content-Length: 0``);
* a response is parsed only as far as framing needs: the status code, then
  ``Content-Length`` (the servers measured always send it) or ``Connection: close``.

It reports its own CPU time per request (``time.process_time``) beside throughput and
latency, so a reader can check that it stayed small next to the server's.

Run as a script it reads a spec (JSON) on stdin and prints the result (JSON) on stdout;
:func:`run_load` is the same in-process.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

#: A request still unanswered this long after the run's end counts as an error.
RESPONSE_TIMEOUT_S = 30.0
_HEADER_END = b"\r\n\r\n"


def request_bytes(method: str, host: str, path: str, key: str) -> bytes:
    """One HTTP/1.1 request with an empty body, kept alive, authenticated by ``key``."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Content-Length: 0"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _framing(head: bytes) -> tuple[int, int | None, bool]:
    """Status, body length (``None``: not given) and whether the server closes."""
    status = int(head[9:12])
    lower = head.lower()
    start = lower.find(b"\r\ncontent-length:")
    length = None
    if start >= 0:
        start += len(b"\r\ncontent-length:")
        end = lower.find(b"\r\n", start)
        length = int(lower[start : end if end >= 0 else len(lower)])
    return status, length, b"\r\nconnection: close" in lower


class _Run:
    """The shared state of one measured run: what to send, until when, what came back."""

    def __init__(self, spec: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        host = f"{spec['host']}:{spec['port']}"
        self.requests = [
            request_bytes(spec["method"], host, path, spec.get("key", "")) for path in spec["paths"]
        ]
        self.sequential: bool = spec.get("sequential", False)
        self.next_request = 0
        self.deadline = time.perf_counter() + spec["seconds"]
        self.latencies: list[float] = []
        self.errors = 0
        self.open = 0
        self.loop = loop
        self.finished: asyncio.Future[None] = loop.create_future()

    def pick(self, rng: random.Random) -> bytes:
        """The next request: in order (each path once, e.g. first earns) or at random."""
        if self.sequential:
            request = self.requests[self.next_request % len(self.requests)]
            self.next_request += 1
            return request
        return self.requests[rng.randrange(len(self.requests))]

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)


class _Connection(asyncio.Protocol):
    """One kept-alive connection carrying one request at a time until the deadline."""

    def __init__(self, run: _Run, seed: int, reconnect: Callable[[], None]) -> None:
        self.run = run
        self.rng = random.Random(seed)
        self.reconnect = reconnect
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.sent_at = 0.0
        self.waiting = False
        self.frame: tuple[int, int, int] | None = None  # status, header end, body length
        self.server_closes = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send_next()

    def _send_next(self) -> None:
        assert self.transport is not None
        if time.perf_counter() >= self.run.deadline:
            self.transport.close()
            return
        self.waiting = True
        self.sent_at = time.perf_counter()
        self.transport.write(self.run.pick(self.rng))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.waiting:
            if self.frame is None:
                end = self.buffer.find(_HEADER_END)
                if end < 0:
                    return
                status, length, self.server_closes = _framing(self.buffer[:end])
                if length is None:  # no framing we understand: count it and drop the link
                    self._done(failed=True)
                    assert self.transport is not None
                    self.transport.close()
                    return
                self.frame = (status, end + len(_HEADER_END), length)
            status, body_start, length = self.frame
            if len(self.buffer) < body_start + length:
                return
            self.buffer = self.buffer[body_start + length :]
            self.frame = None
            self._done(failed=status >= 300)
            assert self.transport is not None
            if self.server_closes:
                self.transport.close()
                return
            self._send_next()

    def _done(self, *, failed: bool) -> None:
        self.run.latencies.append(time.perf_counter() - self.sent_at)
        self.run.errors += failed
        self.waiting = False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting:  # dropped with a request in flight: an error, then carry on
            self._done(failed=True)
        if time.perf_counter() < self.run.deadline:
            self.reconnect()
        self.run.closed()

    def abort(self) -> None:
        """Give up on a request still unanswered after the timeout."""
        if self.transport is not None:
            self.transport.abort()


async def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = _Run(spec, loop)
    connections: list[_Connection] = []
    opening: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    def connect(seed: int) -> None:
        connection = _Connection(run, seed, lambda: connect(seed + 1000))
        connections.append(connection)
        run.open += 1

        async def open_link() -> None:
            try:
                await loop.create_connection(lambda: connection, spec["host"], spec["port"])
            except OSError:
                run.errors += 1
                run.closed()

        task = loop.create_task(open_link())
        opening.add(task)
        task.add_done_callback(opening.discard)

    cpu_started = time.process_time()
    started = time.perf_counter()
    for seed in range(spec["concurrency"]):
        connect(seed)
    try:
        await asyncio.wait_for(
            asyncio.shield(run.finished),
            spec["seconds"] + RESPONSE_TIMEOUT_S,
        )
    except TimeoutError:
        for connection in connections:
            connection.abort()
        await run.finished
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    latencies = sorted(run.latencies)
    n = len(latencies)
    return {
        "requests": n,
        "errors": run.errors,
        "rps": n / elapsed,
        "p50_ms": 1000 * latencies[n // 2] if n else 0.0,
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else 0.0,
        "client_cpu_ms": 1000 * cpu / n if n else 0.0,
    }


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """Keep ``spec["concurrency"]`` connections to ``host:port`` busy for ``seconds``
    with ``method`` on ``paths`` (at random, or in order when ``sequential``); return
    requests, errors (status >= 300, drops, timeouts), req/s, p50/p99 and the
    generator's own CPU ms per request."""
    return asyncio.run(_measure(spec))


if __name__ == "__main__":
    print(json.dumps(run_load(json.loads(sys.stdin.read()))))
