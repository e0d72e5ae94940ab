"""Waits in a local time window, quiet hours, stable holdout and split assignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recompra.automation.schedule import (
    ContactPolicy,
    in_holdout,
    next_in_window,
    quiet_until,
    split_branch,
    wait_until,
)

SP = "America/Sao_Paulo"  # UTC-3 all year since 2019 (no daylight saving time)


def test_a_wait_lands_in_the_next_business_hours_slot() -> None:
    friday_night = datetime(2026, 6, 19, 23, 30, tzinfo=UTC)  # Fri 20:30 in São Paulo
    node = {
        "duration": "1h",
        "window": {"from": "09:00", "to": "18:00", "weekdays": ["mon", "tue", "wed", "thu", "fri"]},
    }
    # 1 h later is Fri 21:30 local: past the window, and the weekend is not allowed.
    assert wait_until(node, friday_night, SP) == datetime(2026, 6, 22, 12, 0, tzinfo=UTC)


def test_a_moment_inside_the_window_is_kept() -> None:
    inside = datetime(2026, 6, 17, 15, 0, tzinfo=UTC)  # Wed 12:00 local
    assert (
        next_in_window(inside, start="09:00", end="18:00", weekdays=["wed"], timezone=SP) == inside
    )


def test_an_overnight_window_spans_midnight() -> None:
    late = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)  # Wed 23:00 local (the window opened Wed)
    assert next_in_window(late, start="22:00", end="06:00", weekdays=["wed"], timezone=SP) == late


def test_quiet_hours_end_at_the_local_morning() -> None:
    policy = ContactPolicy(quiet_from="21:00", quiet_to="08:00", timezone=SP)
    assert quiet_until(policy, datetime(2026, 6, 18, 3, 0, tzinfo=UTC)) == datetime(
        2026, 6, 18, 11, 0, tzinfo=UTC
    )
    assert quiet_until(policy, datetime(2026, 6, 18, 15, 0, tzinfo=UTC)) is None


def test_holdout_is_stable_and_near_its_share() -> None:
    members = [c for c in range(20_000) if in_holdout("win_back", c, 10.0)]
    assert members == [c for c in range(20_000) if in_holdout("win_back", c, 10.0)]
    # Binomial(20,000, 0.1): sd = 42.4; 4 sd either side.
    assert 2000 - 170 <= len(members) <= 2000 + 170
    # Another journey draws an independent holdout.
    other = {c for c in range(20_000) if in_holdout("thanks", c, 10.0)}
    assert 150 <= len(other & set(members)) <= 260  # ~200 expected if independent


def test_split_follows_the_weights() -> None:
    counts = [0, 0, 0]
    for customer in range(30_000):
        counts[split_branch("j", "split", customer, [1, 1, 2])] += 1
    # Expected 7,500 / 7,500 / 15,000; sd about 75-87.
    assert abs(counts[0] - 7500) < 350
    assert abs(counts[1] - 7500) < 350
    assert abs(counts[2] - 15000) < 350
    assert split_branch("j", "split", 5, [1, 1, 2]) == split_branch("j", "split", 5, [1, 1, 2])


def test_zero_duration_without_window_is_now() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert wait_until({"duration": "0s"}, now, SP) == now
    assert wait_until({"duration": "2d"}, now, SP) == now + timedelta(days=2)
