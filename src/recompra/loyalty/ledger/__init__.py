"""The points ledger: movements, lots, allocations, debts; earn, release, reverse, adjust."""
