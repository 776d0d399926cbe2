"""One run of a benchmark: a :class:`RunSpec` (env, agent, strategies, seed, budget, evaluation) in,
one JSON-able record out.

The run trains the agent while a :class:`~agents.curve.LearningCurve` scores it on the test split
every ``evaluation["every"]`` steps, stops early once greedy test success has held the
threshold for ``patience`` more points (if asked), then scores it once more, greedy and by
sampling ``samples_per_prompt`` completions per prompt (pass@1, pass@k, distinct completions,
token entropy). Steps to the threshold are those of the first curve point whose greedy success
reached it; a run that never did is *censored* at its budget, kept, never dropped.

Key: :meth:`RunSpec.key` hashes exactly what changes the outcome — env id and kwargs, agent type
and kwargs, strategies, seed, budget, evaluation settings — and nothing cosmetic (labels, the
benchmark's name), so a rerun recognises a finished run and any change makes a new one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import platform
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from agents.bench.learners import Learner, Progress, timestep_unit
from agents.curve import LearningCurve
from agents.evaluate import evaluate

RECORD_FORMAT = 1
DEFAULT_EVALUATION = {
    "every": None,  # env steps between curve points (None: a twentieth of the budget)
    "episodes": None,  # test episodes per curve point (None: every test prompt once)
    "samples_per_prompt": 8,  # k of the final pass@k and distinct completions
    "threshold": 0.9,  # greedy test success that counts as solved
    "patience": None,  # stop once this many more points held the threshold (None: train the whole budget)
    "max_seconds": None,  # stop after this much training time (None: no limit)
    "modes": ["greedy", "sampled"],  # what each curve point scores
}


@dataclass
class RunSpec:
    """Everything one run needs, JSON-able. ``agent`` and ``strategy`` are labels for the report."""

    env_id: str
    env_kwargs: dict[str, Any]
    agent_type: str
    agent_kwargs: dict[str, Any]
    strategies: list[dict[str, Any]]  # canonical specs, [] for none
    seed: int
    budget: int
    evaluation: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_EVALUATION))
    agent: str = ""
    strategy: str = "none"
    setting: str = ""  # the env setting's label
    difficulty: dict[str, Any] | None = None  # {"name": "length", "value": 3} for a difficulty sweep
    bench: str = ""

    def __post_init__(self) -> None:
        self.agent = self.agent or self.agent_type
        self.setting = self.setting or setting_label(self.env_id, self.env_kwargs)
        evaluation = {**DEFAULT_EVALUATION, **self.evaluation}
        if evaluation["every"] is None:
            evaluation["every"] = max(1, self.budget // 20)
        self.evaluation = evaluation

    def identity(self) -> dict[str, Any]:
        """What the key hashes: what changes a run's outcome."""
        return {
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "agent_type": self.agent_type,
            "agent_kwargs": self.agent_kwargs,
            "strategies": self.strategies,
            "seed": self.seed,
            "budget": self.budget,
            "evaluation": self.evaluation,
        }

    def key(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        return cls(**data)

    def describe(self) -> str:
        return f"{self.setting} | {self.agent} | {self.strategy} | seed {self.seed}"


def setting_label(env_id: str, env_kwargs: dict[str, Any]) -> str:
    """``"SecretString-v0 length=3 alphabet='ab'"``: the id without its namespace, then the kwargs."""
    name = env_id.split("/")[-1]
    return " ".join([name, *(f"{k}={v!r}" for k, v in env_kwargs.items())])


@functools.cache
def versions() -> dict[str, str | None]:
    """Versions of what a run's numbers depend on (and the git commit of this checkout, if any)."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    found = {name: version(name) for name in ("token-gym", "torch", "gymnasium", "numpy", "stable-baselines3")}
    found["sb3-contrib"] = version("sb3-contrib")
    found["python"] = platform.python_version()
    try:
        root = Path(__file__).resolve().parents[2]
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        found["git"] = commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        found["git"] = None
    return found


def _finite(value: Any) -> Any:
    """NaN and infinities as None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def stop_rule(evaluation: dict[str, Any]):
    """The early-stopping rule of a run: held the threshold (greedy) ``patience`` points more, or out of time."""
    threshold, patience, max_seconds = evaluation["threshold"], evaluation["patience"], evaluation["max_seconds"]

    def stop(curve: LearningCurve) -> str | None:
        if patience is not None:
            first = curve.first_reaching(threshold, "greedy")
            if first is not None and len(curve.steps) - 1 - first >= patience:
                return "solved"
        if max_seconds is not None and curve.seconds and curve.seconds[-1] > max_seconds:
            return "max_seconds"
        return None

    return stop


def execute(
    spec: RunSpec,
    *,
    log_dir: str | Path | None = None,
    save_path: str | Path | None = None,
    progress: Progress | None = None,
    worker: str = "local",
) -> dict[str, Any]:
    """Train and score one run; its record (see the module docstring and README for the fields)."""
    start = time.perf_counter()
    ev = spec.evaluation
    learner = Learner(
        spec.agent_type, spec.env_id, spec.env_kwargs, spec.seed, spec.agent_kwargs, spec.strategies, log_dir
    )
    curve = LearningCurve(
        spec.env_id, spec.env_kwargs, n_episodes=ev["episodes"], seed=spec.seed, modes=tuple(ev["modes"])
    )  # made last: its training clock starts now
    setup = time.perf_counter() - start
    stopped = learner.learn(spec.budget, curve, ev["every"], stop_rule(ev), progress)
    if not curve.steps or curve.steps[-1] != learner.num_timesteps:
        curve.record(learner.model, learner.num_timesteps)  # the end of training is a point too
        learner.tracker.point()
    final_start = time.perf_counter()
    greedy = evaluate(learner.model, spec.env_id, env_kwargs=spec.env_kwargs, deterministic=True, seed=spec.seed)
    k = ev["samples_per_prompt"]
    sampled = evaluate(learner.model, spec.env_id, env_kwargs=spec.env_kwargs, samples_per_prompt=k, seed=spec.seed)
    final_seconds = time.perf_counter() - final_start
    saved = None if save_path is None else str(learner.save(save_path))

    threshold = ev["threshold"]
    first = curve.first_reaching(threshold, "greedy")
    training = curve.seconds[-1]
    evaluation_seconds = curve.evaluation_seconds + final_seconds
    record = {
        "format": RECORD_FORMAT,
        "key": spec.key(),
        "config": spec.to_dict(),
        "timestep_unit": timestep_unit(spec.agent_type),
        "importance_correction": learner.importance_correction,
        "versions": versions(),
        "steps_trained": learner.num_timesteps,
        "stopped": stopped,
        "solved": first is not None,
        "steps_to_threshold": None if first is None else curve.steps[first],
        "seconds_to_threshold": None if first is None else curve.seconds[first],
        "censored": first is None,  # not reached: censored at the budget, never dropped
        "final": {
            "greedy_success": greedy["success_rate"],
            "sampled_success": sampled["success_rate"],
            "greedy_reward": greedy["mean_reward"],
            "sampled_reward": sampled["mean_reward"],
            "pass@1": sampled["pass@1"],
            "pass@k": sampled[f"pass@{k}"],
            "k": k,
            "distinct_completions": sampled["distinct_completions"],
            "distinct_fraction": sampled["distinct_fraction"],
            "mean_token_entropy": sampled["mean_token_entropy"],
            "test_prompts": greedy["n_prompts"],
        },
        "auc": {mode: curve.area(mode, spec.budget) for mode in curve.modes},
        "training": learner.tracker.series,
        "curve": curve.to_dict(),
        "saved": saved,
        "worker": worker,
        "host": socket.gethostname(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    wall = time.perf_counter() - start
    record["timing"] = {
        "wall": wall,
        "setup": setup,
        "training": training,
        "evaluation": evaluation_seconds,
        "curve_evaluation": curve.evaluation_seconds,
        "final_evaluation": final_seconds,
        "overhead": wall - training - evaluation_seconds,  # setup, the harness's own work
    }
    return _finite(record)
