"""The agents a benchmark can run, ours and stable-baselines3's, behind one learn loop.

Each agent type is a name (``reinforce``, ``sl``, ``ppo``, ``a2c``, ``dqn``, ``maskable_ppo``)
and a class; :func:`parameters` lists what a config may set for it (read from the class's own
signature, so a new SB3 argument needs no change here). :class:`Learner` builds one on a run's
env and seed and trains it for a budget while a :class:`~agents.curve.LearningCurve` scores it
every ``every`` steps: our agents through ``learn``'s callback, SB3's through
:class:`agents.sb3.CurveCallback` — the same evaluation and the same clock for both.

Budgets count env steps, except for SL, whose ``learn`` counts demonstrated tokens
(:data:`TIMESTEP_UNITS`): an SL run never touches the env while it learns.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.curve import LearningCurve

AGENT_TYPES = {
    "reinforce": "agents.reinforce:ReinforceAgent",
    "sl": "agents.sl:SLAgent",
    "ppo": "stable_baselines3:PPO",
    "a2c": "stable_baselines3:A2C",
    "dqn": "stable_baselines3:DQN",
    "maskable_ppo": "sb3_contrib:MaskablePPO",
}
OURS = ("reinforce", "sl")
STRATEGY_AGENTS = ("reinforce",)  # exploration strategies hook into a REINFORCE update only
TIMESTEP_UNITS = {"sl": "demonstrated tokens"}  # every other agent: "env steps"
TRAINING_SCALARS = ("entropy", "zero_advantage_fraction", "success_rate", "mean_reward")

# Arguments the harness sets itself (env, seed, logging, device), not a config.
_HARNESS_SET = {"self", "env", "policy", "seed", "env_kwargs", "log_dir", "hyperparameters", "kwargs", "strategies"}
_OURS_NOT_CONFIGURABLE = {"reference"}  # objects, not TOML values
_SB3_HARNESS_SET = {"self", "env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model"}
SB3_EXTRA = {"n_envs": 8, "extractor": {}}  # ours for SB3 agents: adapter envs, TokenEmbeddingExtractor kwargs


def timestep_unit(agent_type: str) -> str:
    return TIMESTEP_UNITS.get(agent_type, "env steps")


def agent_class(agent_type: str) -> type:
    """The class of an agent type (imports SB3 only when an SB3 type is asked for)."""
    if agent_type not in AGENT_TYPES:
        raise ValueError(f"unknown agent {agent_type!r}; valid agents: {', '.join(AGENT_TYPES)}")
    module, _, name = AGENT_TYPES[agent_type].partition(":")
    return getattr(importlib.import_module(module), name)


def parameters(agent_type: str) -> dict[str, Any]:
    """What a config may set for ``agent_type``, with defaults (``inspect.Parameter.empty`` where none)."""
    cls = agent_class(agent_type)
    if agent_type in OURS:  # the fields of the agent's config dataclass
        return {
            f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls.config_class)
            if f.name not in _HARNESS_SET | _OURS_NOT_CONFIGURABLE
        }
    found = {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name not in _SB3_HARNESS_SET and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }
    found["policy"] = "MlpPolicy"
    return {**found, **SB3_EXTRA}


class Tracker:
    """Per-update training scalars (entropy, zero-advantage fraction, ...), averaged between curve points."""

    def __init__(self) -> None:
        self.series: dict[str, list[float | None]] = {name: [] for name in TRAINING_SCALARS}
        self._sums: dict[str, list[float]] = {name: [] for name in TRAINING_SCALARS}

    def add(self, scalars: dict[str, float]) -> None:
        for name in TRAINING_SCALARS:
            value = scalars.get(name)
            if value is not None and math.isfinite(value):
                self._sums[name].append(float(value))

    def point(self) -> None:
        for name, values in self._sums.items():
            self.series[name].append(sum(values) / len(values) if values else None)
            values.clear()


Stop = Callable[[LearningCurve], str | None]  # why to stop now ("solved", "max_seconds"), or None
Progress = Callable[[int, dict[str, float]], None]  # (steps so far, scalars) after each update


class Learner:
    """One agent of a run: built on the run's env and seed, trained for a budget while a curve scores it.

    ``model`` is what :func:`agents.evaluate.evaluate` scores (our agent or the SB3 model).
    """

    def __init__(
        self,
        agent_type: str,
        env_id: str,
        env_kwargs: dict[str, Any],
        seed: int,
        agent_kwargs: dict[str, Any],
        strategies: list[Any] | None = None,
        log_dir: str | Path | None = None,
    ):
        self.agent_type = agent_type
        cls = agent_class(agent_type)
        kwargs = dict(agent_kwargs)
        if agent_type in OURS:
            if strategies:
                kwargs["strategies"] = list(strategies)
            self.model = cls(env_id, env_kwargs=env_kwargs, seed=seed, log_dir=log_dir, **kwargs)
        else:
            if strategies:
                raise ValueError(f"exploration strategies apply to {', '.join(STRATEGY_AGENTS)} only, not {agent_type}")
            from agents.sb3 import make_sb3_vec_env, token_policy_kwargs

            n_envs = kwargs.pop("n_envs", SB3_EXTRA["n_envs"])
            extractor = kwargs.pop("extractor", {})
            policy = kwargs.pop("policy", "MlpPolicy")
            env = make_sb3_vec_env(env_id, n_envs=n_envs, seed=seed, **env_kwargs)
            policy_kwargs = {**token_policy_kwargs(env, **extractor), **kwargs.pop("policy_kwargs", {})}
            self.model = cls(policy, env, policy_kwargs=policy_kwargs, seed=seed, device="cpu", **kwargs)
            if log_dir is not None:
                from stable_baselines3.common.logger import configure

                self.model.set_logger(configure(str(log_dir), ["csv"]))

    @property
    def num_timesteps(self) -> int:
        return int(self.model.num_timesteps)

    @property
    def importance_correction(self) -> str | None:
        """The importance correction a REINFORCE run used: "truncated" or "sequence" when a strategy changed the
        sampling distribution, "none" when it sampled on-policy (None: not an agent that has one)."""
        return self.model.correction if self.agent_type == "reinforce" else None

    def learn(self, budget: int, curve: LearningCurve, every: int, stop: Stop, progress: Progress | None = None) -> str:
        """Train for ``budget`` steps, scoring into ``curve`` every ``every`` steps; returns why it ended
        ("budget", or what ``stop`` said). The training scalars between points are in ``self.tracker``."""
        self.tracker = Tracker()
        reason = ["budget"]
        if self.agent_type in OURS:
            next_at = [every]

            def callback(agent: Any, scalars: dict[str, float]) -> bool:
                self.tracker.add(scalars)
                if progress is not None:
                    progress(agent.num_timesteps, scalars)
                if agent.num_timesteps < next_at[0]:
                    return True
                next_at[0] = (agent.num_timesteps // every + 1) * every  # the step grid of LearningCurve.callback
                curve.record(agent, agent.num_timesteps, agent.num_updates)
                self.tracker.point()
                why = stop(curve)
                if why is not None:
                    reason[0] = why
                return why is None

            self.model.learn(budget, callback=callback)
        else:
            self.model.learn(budget, callback=_sb3_callback(curve, every, self.tracker, stop, progress, reason))
        return reason[0]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.model.save(path)
        return path if path.suffix else path.with_suffix(".zip")


def _sb3_callback(
    curve: LearningCurve, every: int, tracker: Tracker, stop: Stop, progress: Progress | None, reason: list[str]
) -> Any:
    from agents.sb3 import CurveCallback

    class BenchCallback(CurveCallback):
        """CurveCallback's step grid and scoring; the harness's stop rule; SB3's entropy (PPO, A2C) logged
        by the update before this rollout."""

        def _on_rollout_end(self) -> None:
            entropy_loss = self.model.logger.name_to_value.get("train/entropy_loss")
            scalars = {} if entropy_loss is None else {"entropy": -float(entropy_loss)}
            tracker.add(scalars)
            if progress is not None:
                progress(self.num_timesteps, scalars)
            points = len(self.curve.steps)
            super()._on_rollout_end()
            if len(self.curve.steps) > points:
                tracker.point()
                why = stop(self.curve)
                if why is not None:
                    reason[0], self._stop = why, True

    return BenchCallback(curve, every)
