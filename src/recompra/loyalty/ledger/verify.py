"""Reconciliation of an account's cached balances with its ledger (ADR 0001 invariants)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.errors import NotFound
from recompra.models.loyalty import LoyaltyAccount, LoyaltyDebt, LoyaltyLot, LoyaltyMovement


def verify_account(session: Session, *, account_id: int) -> dict[str, int | bool]:
    """Compare the cached balances with the lots, debts and movement sums."""
    account = session.get(LoyaltyAccount, account_id)
    if account is None:
        raise NotFound(f"loyalty account {account_id} not found", field="account_id")

    def lots_sum(state: str) -> int:
        return int(
            session.scalar(
                select(func.coalesce(func.sum(LoyaltyLot.remaining), 0)).where(
                    LoyaltyLot.account_id == account_id, LoyaltyLot.state == state
                )
            )
            or 0
        )

    moves = session.execute(
        select(
            func.coalesce(func.sum(LoyaltyMovement.points), 0),
            func.coalesce(func.sum(LoyaltyMovement.pending_delta), 0),
            func.coalesce(func.sum(LoyaltyMovement.debt_delta), 0),
        ).where(LoyaltyMovement.account_id == account_id)
    ).one()
    debts = int(
        session.scalar(
            select(func.coalesce(func.sum(LoyaltyDebt.outstanding), 0)).where(
                LoyaltyDebt.account_id == account_id
            )
        )
        or 0
    )
    report: dict[str, int | bool] = {
        "balance": account.balance,
        "pending": account.pending,
        "debt": account.debt,
        "active_lots": lots_sum("active"),
        "pending_lots": lots_sum("pending"),
        "open_debts": debts,
        "ledger_points": int(moves[0]),
        "ledger_pending": int(moves[1]),
        "ledger_debt": int(moves[2]),
    }
    report["ok"] = (
        account.balance == report["active_lots"] == report["ledger_points"]
        and account.pending == report["pending_lots"] == report["ledger_pending"]
        and account.debt == report["open_debts"] == report["ledger_debt"]
        and account.balance >= 0
        and (account.debt == 0 or account.balance == 0)
    )
    return report
