"""Decomposed reward: named weights and penalties, and ``compose()`` which turns a grade and an
episode's counters into a total plus its components.

The outcome term dominates by construction. A successful grade scores 1.0 and a failed one at
most ``GradingConfig.partial_credit`` (0.1 by default); shaping penalties are capped at
``max_penalty``; ``RewardConfig`` refuses weights under which a penalised right answer could
score below an unpenalised wrong one. A weight of 0 keeps a component in the log without
optimising it. Components always sum to the total.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from env_server.grading.grade import Grade
from env_server.grading.grader import PARTIAL_CREDIT


@dataclass(frozen=True)
class RewardConfig:
    """Weights and penalties of the episode reward. Every results JSON records these."""

    outcome: float = 1.0
    """Weight of the grade's score (1.0 on success, at most 0.1 on failure)."""
    invalid_action: float = 0.05
    """Penalty per action that is malformed or not allowed for the task's family."""
    repeated_query: float = 0.02
    """Penalty per query identical (after whitespace and case folding) to an earlier one."""
    out_of_steps: float = 0.1
    """Penalty when the episode is truncated without a submission."""
    safety: float = 0.1
    """Penalty per action the reviewer blocked (reviewer-guarded path only)."""
    max_penalty: float = 0.3
    """Cap on the sum of all penalties in one episode."""
    failed_score_ceiling: float = field(default=PARTIAL_CREDIT, repr=False)
    """The most a failed grade can score (``GradingConfig.partial_credit``); used to check dominance."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise ValueError(f"RewardConfig.{name} must be >= 0, got {value}")
        if self.outcome <= 0:
            raise ValueError("RewardConfig.outcome must be > 0: the outcome term is the reward")
        worst_right = self.outcome - self.max_penalty
        best_wrong = self.outcome * self.failed_score_ceiling
        if worst_right <= best_wrong:
            raise ValueError(
                f"RewardConfig lets a wrong answer outscore a right one: outcome - max_penalty = {worst_right} "
                f"must exceed outcome * failed_score_ceiling = {best_wrong}; lower max_penalty"
            )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class RewardBreakdown:
    """A total and the named components it is the sum of."""

    total: float
    components: dict[str, float]


def compose(
    grade: Grade | None,
    config: RewardConfig | None = None,
    *,
    invalid_actions: int = 0,
    repeated_queries: int = 0,
    truncated: bool = False,
    blocked_actions: int = 0,
) -> RewardBreakdown:
    """Combine a grade (None before any submission) and episode counters into the reward.

    >>> from env_server.grading.grade import Grade
    >>> right = Grade(success=True, score=1.0, reason="ok")
    >>> compose(right, invalid_actions=2).total
    0.9
    >>> compose(None, truncated=True).components["out_of_steps"]
    -0.1
    """
    config = config or RewardConfig()
    outcome = config.outcome * (grade.score if grade is not None else 0.0)
    penalties = {
        "invalid_action": -config.invalid_action * invalid_actions,
        "repeated_query": -config.repeated_query * repeated_queries,
        "out_of_steps": -config.out_of_steps if truncated else 0.0,
        "safety": -config.safety * blocked_actions,
    }
    raw = sum(penalties.values())
    components = {"outcome": round(outcome, 6), **{k: round(v, 6) + 0.0 for k, v in penalties.items()}}
    components["penalty_cap"] = round(max(0.0, -raw - config.max_penalty), 6)
    total = round(sum(components.values()), 6)
    return RewardBreakdown(total=total, components=components)


def review_penalty(verdict: str, config: RewardConfig | None = None) -> float:
    """The safety component for one reviewed action: ``-config.safety`` when the reviewer blocks it.

    >>> review_penalty("block"), review_penalty("warn")
    (-0.1, 0.0)
    """
    return compose(None, config, blocked_actions=1 if verdict == "block" else 0).components["safety"]
