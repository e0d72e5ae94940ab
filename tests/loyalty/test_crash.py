"""``kill -9`` in the middle of ledger writes leaves no half state (SQLite file).

A child process loops earn / redeem / return units of work on one account; the parent
SIGKILLs it mid-stream, checks the ledger invariants and the file's integrity, then runs
a new child on the same file (which must carry on) and kills it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from recompra.db import make_engine, unit_of_work
from recompra.loyalty import create_reward, get_account
from recompra.migrate import upgrade

from .conftest import World
from .test_properties import check_invariants

CHILD = r"""
import sys, uuid
from datetime import UTC, datetime, timedelta
from recompra.db import make_engine, unit_of_work
from recompra.errors import InsufficientBalance
from recompra.loyalty import earn_for_order, redeem, reverse_order
from recompra.models import Order

url, program, brand, customer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
engine = make_engine(url)
n = 0
while True:
    n += 1
    with unit_of_work(engine) as s:
        order = Order(brand_id=brand, source="crash", external_id=uuid.uuid4().hex,
                      customer_id=customer, status="approved",
                      purchased_at=datetime.now(UTC) - timedelta(days=1),
                      items_total_minor=2_000, total_minor=2_000)
        s.add(order)
        s.flush()
        earn_for_order(s, program_id=program, order_id=order.id)
        if n % 3 == 0:
            reverse_order(s, program_id=program, order_id=order.id, return_key=f"r{order.id}",
                          returned_minor=700)
    try:
        with unit_of_work(engine) as s:
            redeem(s, program_id=program, customer_id=customer, reward_code="gift",
                   request_key=uuid.uuid4().hex)
    except InsufficientBalance:
        pass
    print(n, flush=True)
"""


def _run_and_kill(args: list[str], *, after_ops: int) -> int:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    done = 0
    deadline = time.monotonic() + 60
    while done < after_ops and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        done = int(line)
    time.sleep(0.013)  # land somewhere inside the next write
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert done >= after_ops, "the child did not get going"
    return done


@pytest.mark.slow
def test_sigkill_mid_write_leaves_no_half_state(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    engine = make_engine(url)
    upgrade(engine, "heads")
    world = World(engine)
    brand, program = world.program()
    customer = world.customer()
    with unit_of_work(engine) as s:
        create_reward(s, program_id=program, code="gift", name="Gift", cost_points=15)
    args = [url, str(program), str(brand), str(customer)]
    for round_ in range(3):
        _run_and_kill(args, after_ops=15 * (round_ + 1))
        with unit_of_work(engine, write=False) as s:
            assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            account = get_account(s, program_id=program, customer_id=customer)
        check_invariants(engine, account.id)
    engine.dispose()
