"""Reward composition: the outcome dominates, components sum to the total, bad weights are refused."""
from __future__ import annotations

import itertools

import pytest

from env_server.episode.models import Grade
from env_server.grading.reward import RewardConfig, compose

RIGHT = Grade(success=True, score=1.0, reason="ok")


def _wrong(score: float) -> Grade:
    return Grade(success=False, score=score, reason="no")


@pytest.mark.parametrize("config", [RewardConfig(), RewardConfig(invalid_action=0.2, repeated_query=0.1, out_of_steps=0.3, max_penalty=0.5)])
def test_a_right_answer_always_outscores_a_wrong_one(config):
    worst_right = min(
        compose(RIGHT, config, invalid_actions=i, repeated_queries=r, blocked_actions=b, truncated=True).total
        for i, r, b in itertools.product(range(0, 30, 3), range(0, 30, 3), range(0, 30, 3))
    )
    best_wrong = compose(_wrong(config.failed_score_ceiling), config).total
    assert worst_right > best_wrong


def test_components_sum_to_total_and_the_cap_applies():
    config = RewardConfig()
    breakdown = compose(RIGHT, config, invalid_actions=100, repeated_queries=100, truncated=False)
    assert sum(breakdown.components.values()) == pytest.approx(breakdown.total)
    assert breakdown.total == pytest.approx(1.0 - config.max_penalty)
    assert breakdown.components["penalty_cap"] > 0


def test_each_penalty_is_named():
    b = compose(None, invalid_actions=1, repeated_queries=2, truncated=True, blocked_actions=1)
    assert b.components == {"outcome": 0.0, "invalid_action": -0.05, "repeated_query": -0.04, "out_of_steps": -0.1,
                            "safety": -0.1, "penalty_cap": 0.0}
    assert b.total == pytest.approx(-0.29)


@pytest.mark.parametrize("bad", [dict(max_penalty=0.95), dict(outcome=0), dict(invalid_action=-1)])
def test_weights_that_break_dominance_are_refused(bad):
    with pytest.raises(ValueError):
        RewardConfig(**bad)
