"""A worker in a separate process for the crash and concurrency tests.

``python workerprocess.py URL decide`` decides due timers (cap: 1 e-mail per day) until
none is left; ``... crash N`` does the same but SIGKILLs itself in the middle of the
first batch, after N sends were decided and before the commit.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import timedelta
from typing import Any

from automationtest import NOON, context

from recompra.automation import steps
from recompra.automation.schedule import Cap, ContactPolicy
from recompra.automation.worker import decide_due
from recompra.db import make_engine

POLICY = ContactPolicy(caps={"email": Cap(1, timedelta(days=1))}, quiet_from=None, quiet_to=None)


def main() -> None:
    url, mode = sys.argv[1], sys.argv[2]
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
