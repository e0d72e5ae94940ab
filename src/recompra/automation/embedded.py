"""A worker inside the server process (``recompra serve --worker``, the demo): a thread
running :func:`~recompra.automation.worker.run_worker`, woken by the server's own writes
(:mod:`recompra.automation.wakeup`) and stopped cleanly with the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import Engine

from recompra.automation.settings import AutomationSettings, decision_context, smtp_sender
from recompra.automation.wakeup import wake_on_trigger_writes
from recompra.automation.worker import WorkerJob, run_worker
from recompra.config import Settings

log = logging.getLogger(__name__)
#: Pause after an unexpected error before the worker tries again (a database restart).
RETRY_SECONDS = 5.0


class EmbeddedWorker:
    """The worker loop on a daemon thread; :meth:`stop` ends it after its current pass."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        automation: AutomationSettings,
        *,
        poll_seconds: float = 1.0,
        jobs: Sequence[WorkerJob] = (),
    ) -> None:
        self.engine = engine
        # Jobs of the domains above automation (voc's cases from low reviews), passed in
        # by the app factory because automation never imports them.
        self.jobs = tuple(jobs)
        self.settings = settings
        self.automation = automation
        self.poll_seconds = poll_seconds
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="recompra-worker", daemon=True)
        self._unwatch = wake_on_trigger_writes(engine, self.wake)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to end, wait for it, and stop watching writes."""
        self._stop.set()
        self.wake.set()
        self._thread.join(timeout)
        self._unwatch()

    def _loop(self) -> None:
        ctx = decision_context(self.settings, self.automation)
        smtp = smtp_sender(self.automation)
        if smtp is None:
            log.warning("RECOMPRA_SMTP_URL is not set: e-mails stay pending in the outbox")
        try:
            while not self._stop.is_set():
                try:
                    run_worker(
                        self.engine,
                        ctx,
                        smtp=smtp,
                        sender=self.automation.smtp_from,
                        poll_seconds=self.poll_seconds,
                        stop=self._stop,
                        wake=self.wake,
                        jobs=self.jobs,
                    )
                except Exception:
                    # The server keeps serving; the worker retries (e.g. after a restart
                    # of the database) rather than dying silently with its thread.
                    log.exception("automation worker pass failed; retrying")
                    self._stop.wait(RETRY_SECONDS)
        finally:
            if smtp is not None:
                smtp.close()
