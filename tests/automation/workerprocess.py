"""A worker in a separate process for the crash and concurrency tests.

``python workerprocess.py URL decide`` decides due timers (cap: 1 e-mail per day) until
none is left; ``... crash N`` does the same but SIGKILLs itself in the middle of the
first batch, after N sends were decided and before the commit; ``... deliver PORT N``
delivers the outbox to the SMTP sink on PORT and SIGKILLs itself once the sink accepted
the N-th message, before that message is recorded sent.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import timedelta
from typing import Any

from automationtest import NOON, context

from recompra.automation import steps
from recompra.automation.email import SmtpSender, smtp_settings
from recompra.automation.schedule import Cap, ContactPolicy
from recompra.automation.worker import decide_due, deliver_due
from recompra.db import make_engine

POLICY = ContactPolicy(caps={"email": Cap(1, timedelta(days=1))}, quiet_from=None, quiet_to=None)
SENDER = "Loja <loja@example.com>"


def _kill_on_sent(kill_after: int) -> None:
    real_send = SmtpSender.send
    count = 0

    def dying_send(self: SmtpSender, message: Any) -> None:
        nonlocal count
        real_send(self, message)  # the sink has said 250 for this message
        count += 1
        if count == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    SmtpSender.send = dying_send  # type: ignore[method-assign]


def main() -> None:
    url, mode = sys.argv[1], sys.argv[2]
    if mode == "deliver":
        _kill_on_sent(int(sys.argv[4]))
        smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{sys.argv[3]}", SENDER))
        while deliver_due(make_engine(url, pool_size=1), smtp=smtp, sender=SENDER).sent:
            pass
        return
    if mode == "crash":
        kill_after = int(sys.argv[3])
        real_send = steps._send
        count = 0

        def dying_send(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            count += 1
            if count > kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return real_send(*args, **kwargs)

        steps._send = dying_send  # type: ignore[assignment]
    engine = make_engine(url, pool_size=1)
    batch = int(os.environ.get("BATCH", "50"))
    while decide_due(engine, context(POLICY), now=NOON, batch=batch):
        pass


if __name__ == "__main__":
    main()
