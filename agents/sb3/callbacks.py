"""A stable-baselines3 callback that records an :class:`agents.curve.LearningCurve`, as our agents' ``learn`` does."""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback

from agents.curve import LearningCurve


class CurveCallback(BaseCallback):
    """Score the model at the end of a rollout once ``every_steps`` more env steps have passed (before the
    update on that rollout: the policy that collected it); stop ``learn`` once ``patience + 1`` points
    reached ``target``, or after ``max_seconds`` of training (evaluation excluded)."""

    def __init__(
        self,
        curve: LearningCurve,
        every_steps: int,
        target: float | None = None,
        patience: int = 0,
        max_seconds: float | None = None,
    ):
        super().__init__()
        self.curve, self.every_steps, self.target, self.patience = curve, every_steps, target, patience
        self.max_seconds = max_seconds
        self._next_at, self._stop = every_steps, False

    def _on_step(self) -> bool:
        return not self._stop  # False ends learn()

    def _on_rollout_end(self) -> None:
        if self.num_timesteps < self._next_at:
            return
        self._next_at = (self.num_timesteps // self.every_steps + 1) * self.every_steps
        self.curve.record(self.model, self.num_timesteps, self.model._n_updates)
        timed_out = self.max_seconds is not None and self.curve.seconds[-1] > self.max_seconds
        self._stop = self.curve.reached(self.target, self.patience) or timed_out
