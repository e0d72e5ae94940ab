"""Program analytics against figures computed by hand from the scenario below.

Four members earn 1 point per R$ 1.00 with a 7-day return window and 365-day expiry:
c1 R$ 300 (10 days ago; reaches the R$ 200 "gold" tier), c2 R$ 50 (10 days ago), c3
R$ 100 (400 days ago: expired 28 days ago, the expiry job has not run), c4 R$ 80
(yesterday: still pending). c1 redeems 120 points. One of four members completed a
challenge; one of two quiz attempts passed; of three referrals one was released, one is
pending and one was rejected by the fraud guards (left out).
"""

from __future__ import annotations

from datetime import timedelta

from recompra.db import unit_of_work
from recompra.loyalty import create_reward, define_tier, earn_for_order, redeem
from recompra.loyalty.analytics import program_analytics
from recompra.models import (
    EngagementChallenge,
    EngagementCompletion,
    EngagementQuiz,
    EngagementQuizAttempt,
    EngagementReferral,
)

from .conftest import T0, World

NOW = T0


def test_program_figures_match_the_hand_computation(world: World) -> None:
    brand, program = world.program(
        return_window_days=7, expiry_days=365, effective_from=T0 - timedelta(days=1000)
    )
    with unit_of_work(world.engine) as s:
        define_tier(
            s,
            program_id=program,
            code="gold",
            name="Ouro",
            rank=1,
            metric="spend",
            threshold=20_000,
        )
        create_reward(s, program_id=program, code="r120", name="Vale", cost_points=120)
    c1, c2, c3, c4 = (world.customer() for _ in range(4))
    placed = [
        (c1, 30_000, NOW - timedelta(days=10)),
        (c2, 5_000, NOW - timedelta(days=10)),
        (c3, 10_000, NOW - timedelta(days=400)),
        (c4, 8_000, NOW - timedelta(days=1)),
    ]
    for customer, amount, at in placed:
        order = world.order(brand, customer, amount=amount, at=at)
        with unit_of_work(world.engine) as s:
            earn_for_order(s, program_id=program, order_id=order, now=NOW)
    with unit_of_work(world.engine) as s:
        redeem(s, program_id=program, customer_id=c1, reward_code="r120", request_key="k", now=NOW)
        challenge = EngagementChallenge(
            program_id=program, code="c", name="C", kind="count", metric="orders", target=1
        )
        quiz = EngagementQuiz(program_id=program, code="q", title="Q", questions={}, pass_mark=1)
        s.add_all([challenge, quiz])
        s.flush()
        s.add(
            EngagementCompletion(
                challenge_id=challenge.id, customer_id=c1, period_key="all", completed_at=NOW
            )
        )
        for customer, passed in ((c1, True), (c2, False)):
            s.add(
                EngagementQuizAttempt(
                    quiz_id=quiz.id,
                    customer_id=customer,
                    period_key="m",
                    answers={},
                    correct=int(passed),
                    passed=passed,
                    created_at=NOW,
                )
            )
        for friend, status in ((c2, "released"), (c3, "pending"), (c4, "rejected")):
            s.add(
                EngagementReferral(
                    program_id=program,
                    referrer_id=c1,
                    friend_id=friend,
                    code="x",
                    status=status,
                    created_at=NOW,
                )
            )
    with unit_of_work(world.engine, write=False) as s:
        figures = program_analytics(
            s, program_id=program, now=NOW, point_value_minor_per_1000=5_000
        )
    issued = 300 + 50 + 100 + 80
    assert figures.members == 4
    assert figures.issued == issued
    assert figures.redeemed == 120
    assert figures.expired == 100
    assert figures.redemption_rate == 120 / issued
    assert figures.breakage == 100 / issued
    assert figures.liability_points == (300 - 120) + 50 + 80
    # R$ 50.00 per 1,000 points (5 centavos a point): 310 points are R$ 15.50.
    assert figures.liability_minor == 1_550
    assert figures.challenge_completion == 1 / 4
    assert figures.quiz_pass_rate == 1 / 2
    assert figures.referral_conversion == 1 / 2
    by_tier = {(v.tier_code, v.members, v.cltv_minor) for v in figures.cltv_by_tier}
    # No tier: (5,000 + 10,000 + 8,000) / 3 = 7,666.67 -> 7,667.
    assert by_tier == {("gold", 1, 30_000), (None, 3, 7_667)}
    assert figures.cltv_by_tier[0].tier_code == "gold"
