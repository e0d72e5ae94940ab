"""A real uvicorn server in a subprocess, for tests that need real keep-alive connections.

``TestClient`` runs each request through the ASGI app in the test's thread, so it cannot
show what happens when one connection carries many requests that FastAPI spreads over
its thread pool; these tests go through the network like a client does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

#: Rate limits high enough never to trigger during a load test.
UNLIMITED = {
    "RECOMPRA_API_RATE_LIMIT_BURST": "100000000",
    "RECOMPRA_API_RATE_LIMIT_PER_SECOND": "100000000",
}


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(
    database_url: str, home: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Serve the app the way users do (``recompra serve``: uvicorn, with Nagle's
    algorithm off on a multi-worker socket); yield its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "recompra.cli.main", "serve",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning",
    ]  # fmt: skip
    server_env = {
        **os.environ,
        "RECOMPRA_HOME": str(home),
        "RECOMPRA_DATABASE_URL": database_url,
        "RECOMPRA_ENVIRONMENT": "test",
        **UNLIMITED,
        **(env or {}),
    }
    log = (home / f"uvicorn-{port}.log").open("wb")
    server = subprocess.Popen(command, env=server_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_until_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {server.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("uvicorn did not become healthy")
