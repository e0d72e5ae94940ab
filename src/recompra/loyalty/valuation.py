"""What points are worth in money: one rounding rule for the dashboard's liability and
the program's ROI."""

from __future__ import annotations


def points_value_minor(points: int, per_1000_minor: int) -> int:
    """What ``points`` are worth at ``per_1000_minor`` per 1,000 points, rounded to the
    nearest minor unit (half away from zero, as money is rounded for people)."""
    numerator = points * per_1000_minor
    quotient, remainder = divmod(abs(numerator), 1000)
    rounded = quotient + (1 if remainder * 2 >= 1000 else 0)
    return rounded if numerator >= 0 else -rounded
