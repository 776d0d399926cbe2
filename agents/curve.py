"""Learning curves: test success as training goes, scored through the env, training time kept apart.

One curve serves our agents (``learn(callback=curve.callback(...))``) and stable-baselines3's
(:class:`agents.sb3.CurveCallback`), so the two are measured alike: the same evaluation, the same
clock (paused while evaluating), the same steps-to-target and area under the curve.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.evaluate import evaluate

MODES = ("greedy", "sampled")


@dataclass
class LearningCurve:
    """Evaluations of one model during training.

    Each point: env steps (the model's ``num_timesteps``), updates, training seconds so far
    (evaluation excluded) and test success, greedy and sampled (``agents.evaluate``).
    """

    env: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    split: str = "test"
    n_episodes: int | None = None  # per evaluation; None: every prompt of the split once
    seed: int = 0
    modes: tuple[str, ...] = MODES  # which to score: "greedy", "sampled" or both
    steps: list[int] = field(default_factory=list)
    updates: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    greedy: list[float] = field(default_factory=list)
    sampled: list[float] = field(default_factory=list)
    evaluation_seconds: float = 0.0

    def __post_init__(self) -> None:
        self._training = 0.0
        self._since = time.perf_counter()

    def record(self, model: Any, steps: int, updates: int = 0) -> None:
        """Score ``model`` now (the clock stops meanwhile) and append the point."""
        now = time.perf_counter()
        self._training += now - self._since
        for mode in self.modes:
            metrics = evaluate(
                model,
                self.env,
                split=self.split,
                n_episodes=self.n_episodes,
                deterministic=mode == "greedy",
                seed=self.seed,
                env_kwargs=self.env_kwargs,
            )
            getattr(self, mode).append(metrics["success_rate"])
        self.steps.append(int(steps))
        self.updates.append(int(updates))
        self.seconds.append(self._training)
        self._since = time.perf_counter()
        self.evaluation_seconds += self._since - now

    def callback(
        self, every_steps: int, target: float | None = None, patience: int = 0
    ) -> Callable[[Any, dict[str, float]], bool]:
        """A ``learn`` callback for our agents: record every ``every_steps`` env steps; stop once
        ``patience + 1`` points have reached ``target`` in every mode scored (None: never stop)."""
        next_at = [every_steps]

        def callback(agent: Any, scalars: dict[str, float]) -> bool:
            if agent.num_timesteps < next_at[0]:
                return True
            next_at[0] = (agent.num_timesteps // every_steps + 1) * every_steps
            self.record(agent, agent.num_timesteps, agent.num_updates)
            return not self.reached(target, patience)

        return callback

    def reached(self, target: float | None, patience: int = 0) -> bool:
        """Whether more than ``patience`` points have reached ``target`` in every mode scored."""
        if target is None:
            return False
        hits = sum(min(scores) >= target for scores in zip(*(getattr(self, m) for m in self.modes), strict=True))
        return hits > patience

    def first_reaching(self, target: float, mode: str = "greedy") -> int | None:
        """Index of the first point whose ``mode`` success reached ``target``; None if none did (censored)."""
        return next((i for i, s in enumerate(getattr(self, mode)) if s >= target), None)

    def area(self, mode: str = "greedy", budget: int | None = None) -> float:
        """Area under the curve over [0, budget] env steps, normalised to [0, 1] (success 0 before the first
        point, the last point held to the budget): one number for how fast and how well."""
        scores, steps = getattr(self, mode), self.steps
        if not steps:
            return 0.0
        budget = budget or steps[-1]
        xs, ys = [0, *steps, max(budget, steps[-1])], [0.0, *scores, scores[-1]]
        total = sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False))
        return total / budget if budget > 0 else math.nan

    def summary(self, target: float) -> dict[str, Any]:
        """Per mode: steps and seconds to ``target`` (None: not reached), the lowest score after it, the last."""
        out: dict[str, Any] = {}
        for mode in self.modes:
            scores, first = getattr(self, mode), self.first_reaching(target, mode)
            out[mode] = {
                "steps_to_target": None if first is None else self.steps[first],
                "seconds_to_target": None if first is None else self.seconds[first],
                "min_after_target": None if first is None else min(scores[first:]),
                "last": scores[-1] if scores else None,
            }
        out["total_steps"] = self.steps[-1] if self.steps else 0
        out["total_seconds"] = self.seconds[-1] if self.seconds else 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "updates": self.updates,
            "seconds": self.seconds,
            "greedy": self.greedy,
            "sampled": self.sampled,
        }
