"""the rows the ledger updates on every write keep free room in their pages (fillfactor)

Every earn and redemption updates its account's row, and a redemption the lot it takes
from. PostgreSQL writes an updated row's new version in the same page when it fits and
no indexed column changed (a HOT update: no new index entries); the old versions are
pruned only once no running transaction may still see them. Packed pages (fillfactor
100) left room for a handful of versions: while one transaction was slow to finish (a
loaded machine, an autovacuum ANALYZE holding its snapshot), the pages of the accounts
and lots being written filled up, the updates went elsewhere with new entries in every
index, and the tables and indexes grew in the middle of the run. Four runs of the same
benchmark code (issue 19; docs/loyalty.md, "Why the same code ran at two speeds"): 100 %
or 41 % of the account updates HOT, 96 % or 11 % of the lot updates, and the 41 % runs
wrote 1.2-1.7 times the WAL per write. Accounts now leave half of each page free and lots
30 %; the other ledger tables are append-only and stay packed.

The setting applies to the pages written from now on; an existing installation's
tables get it as their rows are rewritten (or at once with ``VACUUM FULL``, which locks
the table: docs/operations.md).

Revision ID: 0038_ledger_hot_rows_storage
Revises: 0037_ledger_one_statement
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0038_ledger_hot_rows_storage"
down_revision: str | Sequence[str] | None = "0037_ledger_one_statement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The same values as the models' ``postgresql_with`` (``models.loyalty``).
FILLFACTORS = {"loyalty_accounts": 50, "loyalty_lots": 70}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, fillfactor in FILLFACTORS.items():
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in FILLFACTORS:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
