"""A local SMTP sink for the demo and the tests: aiosmtpd in its own process, storing each
accepted message as an ``.eml`` file in a folder, and a reader listing what it stored.

The demo starts it when ``RECOMPRA_SMTP_URL`` is not set, so that the journeys' e-mails
travel over real SMTP to a server in another process (as they would to a store's relay)
and can be read afterwards (``recompra mailbox``). Run alone::

    python -m recompra.automation.sink FOLDER PORT
"""

from __future__ import annotations

import email
import email.policy
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

#: The demo sink's folder under ``RECOMPRA_HOME``.
SINK_FOLDER = "demo-mail"
#: Seconds the sink process may take to import aiosmtpd and bind its port.
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class StoredMail:
    """One message the sink accepted: its file and the headers a listing shows."""

    path: Path
    received_at: datetime
    sender: str
    to: str
    subject: str


class _StoreHandler:
    """aiosmtpd handler: each accepted message becomes one file, written then renamed so
    a reader never sees half a message."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:6]}.eml"
        partial = self.folder / (name + ".part")
        partial.write_bytes(envelope.original_content)
        partial.rename(self.folder / name)
        return "250 OK"


def serve_sink(folder: Path, port: int) -> None:
    """Serve until SIGTERM/SIGINT; prints the port once listening."""
    from aiosmtpd.controller import Controller

    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(_StoreHandler(folder), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(port, flush=True)
    stop.wait()
    controller.stop()


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (aiosmtpd's controller cannot report an ephemeral one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_sink(folder: Path) -> Iterator[int]:
    """A sink process storing into ``folder`` for the duration of the block; its port."""
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "recompra.automation.sink", str(folder), str(free_port())],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line:
            raise RuntimeError("the SMTP sink did not start (is aiosmtpd installed?)")
        yield int(line)
    finally:
        stop_process(process, timeout=10)


def stop_process(process: subprocess.Popen[Any], *, timeout: float) -> None:
    """Ask ``process`` to end (SIGTERM); kill it if it has not within ``timeout`` s."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def read_message(path: Path) -> EmailMessage:
    """A stored message, parsed."""
    parsed: EmailMessage = email.message_from_bytes(
        path.read_bytes(),
        policy=email.policy.default,  # type: ignore[arg-type]
    )
    return parsed


def stored_mail(folder: Path, *, limit: int | None = None) -> list[StoredMail]:
    """The messages stored in ``folder``, newest first (at most ``limit``)."""
    paths = sorted(folder.glob("*.eml"), reverse=True) if folder.is_dir() else []
    out = []
    for path in paths[:limit]:
        message = read_message(path)
        date = message["Date"]
        received = (
            parsedate_to_datetime(str(date)).astimezone(UTC)
            if date
            else datetime.fromtimestamp(int(path.name.split("-")[0]) / 1e9, UTC)
        )
        out.append(
            StoredMail(
                path=path,
                received_at=received,
                sender=str(message["From"] or ""),
                to=str(message["To"] or ""),
                subject=str(message["Subject"] or ""),
            )
        )
    return out


if __name__ == "__main__":  # pragma: no cover - exercised through running_sink
    serve_sink(Path(sys.argv[1]), int(sys.argv[2]))
