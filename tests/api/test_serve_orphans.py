"""``recompra serve --workers 2`` killed with SIGKILL leaves no worker serving: each
worker exits when the supervisor that started it dies (``PR_SET_PDEATHSIG`` on Linux),
so the port stops answering instead of serving from orphans nobody restarts or stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from dbtest import create_test_engine
from liveserver import UNLIMITED, free_port

#: How long the orphans get to go: a liveness bound, far above the ~0.1 s they take.
DEADLINE_S = 60


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux ``/proc``)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie waiting for its reaper is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads Linux /proc")
def test_workers_exit_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    for engine in create_test_engine("sqlite", tmp_path):
        url_env = engine.url.render_as_string(hide_password=False)
    port = free_port()
    env = {
        **os.environ,
        **UNLIMITED,
        "RECOMPRA_HOME": str(tmp_path / "home"),
        "RECOMPRA_DATABASE_URL": url_env,
        "RECOMPRA_ENVIRONMENT": "test",
    }
    command = [
        sys.executable, "-m", "recompra.cli.main", "serve", "--port", str(port),
        "--workers", "2", "--log-level", "warning",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    workers: list[int] = []
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert _wait(lambda: server.poll() is not None or _answers(url), 240)
            assert server.poll() is None, "recompra serve exited"
            assert _wait(lambda: len(_children(server.pid)) >= 2, 240)
            workers = _children(server.pid)
            server.send_signal(signal.SIGKILL)
            server.wait()
            assert _wait(lambda: not any(_running(w) for w in workers), DEADLINE_S), (
                "workers still running after the supervisor died"
            )
            assert not _answers(url)
        finally:
            for pid in [server.pid, *workers]:
                if _running(pid):
                    os.kill(pid, signal.SIGKILL)
            server.wait()
