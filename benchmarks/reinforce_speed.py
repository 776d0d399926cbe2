"""ReinforceAgent's training throughput (rollouts and updates together), env steps per second.

    python -m benchmarks.reinforce_speed [--repeats 5] [--steps 20000]

Reverse length 4, partial reward, the default agent (256 envs, 8 per prompt, RLOO, the default
policy), after a short warm-up; median of ``repeats`` calls of ``learn(steps)``. Run it from
another checkout with the same venv to compare two versions of the code side by side.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from agents import ReinforceAgent


def main(repeats: int = 5, steps: int = 20_000) -> float:
    torch.set_num_threads(1)
    agent = ReinforceAgent("token_gym/Reverse-v0", env_kwargs={"length": 4, "reward": "partial"}, seed=0)
    agent.learn(5_000)  # warm-up
    rates = []
    for _ in range(repeats):
        start, before = time.perf_counter(), agent.num_timesteps
        agent.learn(steps)
        rates.append((agent.num_timesteps - before) / (time.perf_counter() - start))
    rate = statistics.median(rates)
    print(f"ReinforceAgent, Reverse-4 partial, 256 envs: {rate:,.0f} env steps/s (median of {repeats})")
    return rate


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    main(args.repeats, args.steps)
