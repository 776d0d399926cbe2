"""SB3 through the adapter vs through DummyVecEnv(gym.make), side by side in one run.

    python -m benchmarks.sb3_adapter [--repeats 3] [--num-envs 8 64 256] [--threshold 0.9]

For each ``num_envs``, interleaving the two paths so that machine noise hits both alike:

* env-steps/s of the VecEnv alone (random useful tokens, no policy): what SB3's rollout loop pays
  for the env;
* PPO's and A2C's rollout phase (``collect_rollouts``: policy forward + env steps + buffer) env-steps/s;
* their ``learn`` env-steps/s (rollouts and updates) and wall-clock to a success threshold (deterministic policy on every
  training prompt, checked after each rollout; evaluation time is excluded). Both paths start from
  the same seeds and the adapter is step-for-step identical to DummyVecEnv, so both reach the
  threshold after the same number of steps: the wall-clock ratio is the speed ratio.

Paths: ``DummyVecEnv`` is SB3's ``make_vec_env(id, n, seed)`` (gym.make + Monitor per env), what
a user gets by default; ``adapter`` is ``make_sb3_vec_env(id, n, seed)`` (with VecMonitor).
Prints medians and ratios; one thread for torch.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

import token_gym  # noqa: F401  (registers the ids)
from agents.sb3 import make_sb3_vec_env, token_policy_kwargs

ENV_ID = "token_gym/Reverse-v0"
TASK = dict(length=3, alphabet="abc", reward="partial")
ALGORITHMS = {  # the hyperparameters of tests/test_sb3.py; PPO's batch_size is set per num_envs
    "PPO": (PPO, dict(n_steps=64, n_epochs=4, learning_rate=1e-3, ent_coef=0.01)),
    "A2C": (A2C, dict(n_steps=8, learning_rate=1e-3, ent_coef=0.01)),
}


def make(path: str, num_envs: int, seed: int) -> VecEnv:
    if path == "adapter":
        return make_sb3_vec_env(ENV_ID, num_envs, seed=seed, **TASK)
    return make_vec_env(ENV_ID, num_envs, seed=seed, env_kwargs=TASK)


def env_steps_per_second(path: str, num_envs: int, steps: int) -> float:
    env = make(path, num_envs, seed=0)
    env.reset()
    useful = np.flatnonzero(get_action_masks(env)[0])
    actions = np.random.default_rng(0).choice(useful, size=(steps, num_envs))
    start = time.perf_counter()
    for t in range(steps):
        env.step(actions[t])
    return steps * num_envs / (time.perf_counter() - start)


class SuccessStop(BaseCallback):
    """After each rollout: success on every training prompt; stop at the threshold. Times itself out."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold, self.eval_seconds, self.reached_at = threshold, 0.0, None
        self.rollout_seconds, self.rollout_started = 0.0, 0.0
        vec = gym.make_vec(ENV_ID, num_envs=1, **TASK)
        self.prompts = vec.encoded_task.task.split("train")
        self.vec = gym.make_vec(ENV_ID, num_envs=len(self.prompts), autoreset_mode="SameStep", **TASK)

    def _on_step(self) -> bool:
        return self.reached_at is None

    def _on_rollout_start(self) -> None:
        self.rollout_started = time.perf_counter()

    def _on_rollout_end(self) -> None:
        start = time.perf_counter()
        self.rollout_seconds += start - self.rollout_started
        obs, _ = self.vec.reset(options={"prompt_index": self.prompts})
        done = np.zeros(len(self.prompts), dtype=bool)
        success = np.zeros(len(self.prompts), dtype=bool)
        while not done.all():
            actions, _ = self.model.predict(obs, deterministic=True)
            obs, _, terminated, _, infos = self.vec.step(actions)
            first = terminated & ~done
            if first.any():
                success[first] = infos["final_info"]["is_success"][first]
            done |= terminated
        if success.mean() >= self.threshold:
            self.reached_at = self.num_timesteps
        self.eval_seconds += time.perf_counter() - start


def train_run(
    algorithm: str, path: str, num_envs: int, seed: int, budget: int, threshold: float
) -> dict[str, float | int | None]:
    """Learn env-steps/s, rollout-phase env-steps/s, seconds and env steps to the threshold (nan/None if missed)."""
    env = make(path, num_envs, seed)
    cls, hyperparameters = ALGORITHMS[algorithm]
    if cls is PPO:
        hyperparameters = {**hyperparameters, "batch_size": min(64 * num_envs, 512)}
    model = cls("MlpPolicy", env, policy_kwargs=token_policy_kwargs(env), seed=seed, device="cpu", **hyperparameters)
    stop = SuccessStop(threshold)
    start = time.perf_counter()
    model.learn(budget, callback=stop)
    seconds = time.perf_counter() - start - stop.eval_seconds
    return {
        "learn": model.num_timesteps / seconds,
        "rollout": model.num_timesteps / stop.rollout_seconds,
        "seconds": seconds if stop.reached_at is not None else float("nan"),
        "steps": stop.reached_at,
    }


def _row(name: str, ours: float, theirs: float, ratio: float, fmt: str = ",.0f") -> str:
    return f"{name:30}{theirs:>14{fmt}}{ours:>14{fmt}}{ratio:>8.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-envs", type=int, nargs="+", default=[8, 64, 256])
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument("--env-steps", type=int, default=32_000, help="env steps per env-only measurement")
    parser.add_argument("--budget", type=int, default=200_000, help="env steps at most per training run")
    parser.add_argument("--threshold", type=float, default=0.9, help="success rate on train prompts")
    args = parser.parse_args()
    torch.set_num_threads(1)
    paths = ("DummyVecEnv", "adapter")
    print(f"{ENV_ID} {TASK}, medians of {args.repeats} (interleaved), 1 torch thread")
    for name in args.algorithms:
        print(f"{name}: {ALGORITHMS[name][1]}")
    for n in args.num_envs:
        env_rate: dict[str, list[float]] = {p: [] for p in paths}
        runs: dict[tuple[str, str], list[dict]] = {(a, p): [] for a in args.algorithms for p in paths}
        for seed in range(args.repeats):
            for p in paths:
                env_rate[p].append(env_steps_per_second(p, n, max(args.env_steps // n, 100)))
                for a in args.algorithms:
                    runs[a, p].append(train_run(a, p, n, seed, args.budget, args.threshold))
        print(f"\nnum_envs={n}")
        print(f"{'':30}{'DummyVecEnv':>14}{'adapter':>14}{'ratio':>9}")
        theirs, ours = (statistics.median(env_rate[p]) for p in paths)
        print(_row("env-only env-steps/s", ours, theirs, ours / theirs))
        for a in args.algorithms:
            med = {
                p: {k: statistics.median(r[k] for r in runs[a, p]) for k in ("learn", "rollout", "seconds")}
                for p in paths
            }
            for key, label in (("rollout", "rollout-phase env-steps/s"), ("learn", "learn env-steps/s")):
                theirs, ours = med["DummyVecEnv"][key], med["adapter"][key]
                print(_row(f"{a} {label}", ours, theirs, ours / theirs))
            theirs, ours = med["DummyVecEnv"]["seconds"], med["adapter"]["seconds"]
            print(_row(f"{a} s to threshold", ours, theirs, theirs / ours, ".1f"))
            steps = {p: [r["steps"] for r in runs[a, p]] for p in paths}
            print(f"{a + ' env steps to threshold':30}{steps['DummyVecEnv']!s:>14}  {steps['adapter']!s}")


if __name__ == "__main__":
    main()
