"""Group commit of the audit entries for reads of personal data.

Every audited read (``PERSONAL_READS``) used to be a write transaction of its own, in
front of the read: on SQLite the API's reads queued behind the single writer (issue 20).
:class:`PersonalReadLog` keeps the guarantee and pays one transaction per *batch*:

* a request hands its entry to the log and waits until the entry is **committed**; only
  then does the read run and its response leave the server. A crash at any moment
  therefore loses no entry of a read whose data was sent (at worst it keeps an entry of
  a read that never answered, which the one-transaction-per-read design did too);
* the first waiting request of an event loop starts the flusher, a task that runs on
  the loop's next turn (once the requests received together have queued theirs) and
  inserts every entry queued so far in one ``INSERT`` (one thread-pool call, one
  transaction), wakes their requests, and repeats while entries arrived meanwhile. Under
  load the batches grow by themselves (16 connections -> up to 16 entries a
  transaction); an idle server writes each entry at once.

A batch costs about 0.5 ms of CPU on SQLite whatever its size (the write transaction and
its commit), so its size is what a request pays: a Core ``INSERT`` on the table (the ORM's
bulk insert cost 0.2 ms a batch more) and the turn of the loop that lets the requests
received together join one batch rather than start the next (issue 20).

The time of an entry is taken when the request hands it over, not when the batch lands.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any, cast

import anyio.to_thread
from sqlalchemy import Engine, Table, insert

from recompra.db import unit_of_work
from recompra.models import AuditEntry
from recompra.models.base import utcnow
from recompra.privacy.audit import PERSONAL_READS, read_target

#: Core, on the table: every column is given (see ``record``).
_INSERT = insert(cast(Table, AuditEntry.__table__))


@dataclass
class _Queue:
    """The entries of one event loop waiting for their batch."""

    waiting: list[tuple[dict[str, Any], asyncio.Future[None]]] = field(default_factory=list)
    #: The task writing the batches while entries wait (the loop keeps weak references).
    flusher: asyncio.Task[None] | None = None


class PersonalReadLog:
    """Writes audit entries of personal-data reads in batches (see the module doc)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Per loop: a future belongs to its loop (a test client runs its own).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def record(
        self, *, route: str, path_params: dict[str, str], actor: str, brand_id: int | None
    ) -> bool:
        """Log the read when ``route`` reads personal data, once the entry is committed;
        return whether it did."""
        action = PERSONAL_READS.get(route)
        if action is None:
            return False
        entry = {
            "at": utcnow(),
            "actor": actor[:200],
            "action": action,
            "target": read_target(path_params),
            "brand_id": brand_id,
        }
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        done: asyncio.Future[None] = loop.create_future()
        queue.waiting.append((entry, done))
        if queue.flusher is None:
            # A task of its own: it starts on the loop's next turn, once the requests
            # read in the same pass have queued their entries (run inline, the first
            # entry was a batch of its own), and a client that goes away cancels its
            # request, not the batch the other requests wait for.
            queue.flusher = loop.create_task(self._flush(queue))
        await done
        return True

    async def _flush(self, queue: _Queue) -> None:
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting, []
                try:
                    # Shielded from cancellation (anyio's default): once started, the
                    # batch's outcome is known before its requests are answered.
                    await anyio.to_thread.run_sync(self._insert, [e for e, _ in batch])
                except Exception as error:
                    outcome: Exception | None = error
                else:
                    outcome = None
                for _, done in batch:
                    if done.done():  # its request was cancelled (client gone)
                        continue
                    if outcome is None:
                        done.set_result(None)
                    else:
                        done.set_exception(outcome)
        finally:
            queue.flusher = None

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        with unit_of_work(self.engine) as session:
            session.connection().execute(_INSERT, rows)
