"""Which B-trees an SQLite ledger write writes: WAL pages per earn and per redemption.

    .venv/bin/python benchmarks/bench_wal_pages.py [--ops 1200] [--uuid-keys]

Runs the op of ``bench_loyalty.py sqlite`` (``_loyalty_ops.py``: an earn of a new order
or a redemption, each a transaction of its own, 1,000 funded customers) in one thread.
Around each op it reads the wal-index header's frame count (``mxFrame``, offset 16 of
the ``-shm`` file) and then the page number of every frame the op appended (the
``-wal`` file's frame headers); at the end it maps the pages to their table or index
with SQLite's ``dbstat`` table and prints, per kind of op, the pages a write per B-tree.
The first 200 ops are a warm-up. ``--uuid-keys`` gives the redemptions random request
keys (UUIDs, as clients choose them) instead of the bench's counter. Exact counts, not
timings: the machine's load does not change them. See docs/loyalty.md, "The idempotency
keys in one B-tree".
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import struct
import tempfile
import uuid
from collections import Counter

from _loyalty_ops import project_op, setup

from recompra.db import make_engine
from recompra.loyalty import earn_order, redeem_reward
from recompra.migrate import upgrade

WARM_UP = 200
PAGE_SIZE = 4096
#: A WAL file's header, then per frame a 24-byte header (page number first) and the page.
WAL_HEADER, FRAME_HEADER = 32, 24


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1200)
    parser.add_argument("--uuid-keys", action="store_true")
    args = parser.parse_args()
    path = tempfile.mkdtemp(prefix="bench-wal-pages-") + "/bench.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, "heads")
    program, customers, orders = setup(engine, customers=1000, orders=args.ops)
    op = project_op(engine, program=program, customer_ids=customers, next_order=orders.pop)
    if args.uuid_keys:

        def op(index: int, n: int, rng: random.Random) -> None:
            if n % 2 == 0:
                earn_order(engine, program_id=program, order_id=orders.pop())
            else:
                redeem_reward(
                    engine,
                    program_id=program,
                    customer_id=rng.choice(customers),
                    reward_code="coffee",
                    request_key=str(uuid.uuid4()),
                )

    def frames() -> int:
        with open(path + "-shm", "rb") as shm:
            shm.seek(16)
            return int(struct.unpack("=I", shm.read(4))[0])

    def pages(first: int, end: int) -> list[int]:
        with open(path + "-wal", "rb") as wal:
            found = []
            for frame in range(first, end):
                wal.seek(WAL_HEADER + frame * (FRAME_HEADER + PAGE_SIZE))
                found.append(int(struct.unpack(">I", wal.read(4))[0]))
            return found

    written: dict[int, list[list[int]]] = {0: [], 1: []}
    rng = random.Random(1)
    for n in range(args.ops):
        before = frames()
        op(0, n, rng)
        after = frames()
        if n >= WARM_UP:  # a checkpoint restarted the WAL: the op's frames start at 0
            written[n % 2].append(pages(before if after >= before else 0, after))
    engine.dispose()
    with sqlite3.connect(path) as db:
        owner = {page: name for name, page in db.execute("SELECT name, pageno FROM dbstat")}
    owner[1] = "(page 1: the file's header)"
    for kind, name in ((0, "earn"), (1, "redemption")):
        counts = Counter(owner.get(page, "?") for op_pages in written[kind] for page in op_pages)
        ops = len(written[kind])
        print(f"{name}: {sum(counts.values()) / ops:.2f} WAL pages a write over {ops} writes")
        for btree, count in counts.most_common():
            print(f"  {count / ops:6.2f}  {btree}")


if __name__ == "__main__":
    main()
