"""The engagement packages sit on top of the ledger: nothing below imports them back."""

from __future__ import annotations

import pytest

from .test_layers import LOYALTY, _loyalty_imports

ENGAGEMENT = ("challenges", "quizzes", "referrals", "experiences")
#: Package -> engagement packages it must never import.
FORBIDDEN = {
    "ledger": ENGAGEMENT,
    "tiers": ENGAGEMENT,
    "rules": ENGAGEMENT,
    "rewards": ENGAGEMENT,
    "operations": ENGAGEMENT,
    "challenges": ("quizzes", "referrals", "experiences"),
    "quizzes": ("referrals", "experiences"),
    "referrals": ("challenges", "quizzes", "experiences"),
    "experiences": ("quizzes", "referrals"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_engagement_sits_above_the_ledger(package: str) -> None:
    offending = {
        str(path.relative_to(LOYALTY)): sorted(_loyalty_imports(path) & set(FORBIDDEN[package]))
        for path in sorted((LOYALTY / package).glob("*.py"))
    }
    assert {path: names for path, names in offending.items() if names} == {}
