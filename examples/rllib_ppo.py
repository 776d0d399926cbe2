"""RLlib PPO on a token_gym task, with its env runner on a local Ray.

    pip install "token-gym[rllib]"
    python -m examples.rllib_ppo

Learns to reverse three letters (partial credit per position) on the train
prompts, then decodes the held-out test prompts greedily. The env runner steps
token_gym's native vector env; ``TokenRLModule`` embeds the token ids. For a
cluster, ``ray.init(address=...)`` and more ``num_env_runners`` are the only changes.
"""

from __future__ import annotations

import argparse

import ray
import torch

from agents.rllib import ppo_config

ENV_ID = "token_gym/Reverse-v0"
ENV_CONFIG = {"length": 3, "alphabet": "abcd", "reward": "partial"}


def main(iterations: int = 30, num_env_runners: int = 1, seed: int = 0) -> dict[str, float]:
    """Train ``iterations`` PPO iterations of 1024 steps; returns the last train and test metrics."""
    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False)  # a local Ray; or address=... for a cluster
    try:
        config = ppo_config(ENV_ID, ENV_CONFIG, num_env_runners=num_env_runners, seed=seed).evaluation(
            evaluation_interval=iterations,  # once, in the last iteration
            evaluation_num_env_runners=0,  # in the driver
            evaluation_duration=200,
            evaluation_duration_unit="episodes",
            evaluation_config={"env_config": {**ENV_CONFIG, "split": "test"}, "explore": False},
        )
        algo = config.build_algo()
        for iteration in range(1, iterations + 1):
            result = algo.train()
            train = result["env_runners"]
            print(
                f"iteration {iteration:3d}  return {train['episode_return_mean']:.3f}  success {train['success']:.3f}"
            )
        test = result["evaluation"]["env_runners"]
        print(f"test prompts, greedy: return {test['episode_return_mean']:.3f}  success {test['success']:.3f}")
        algo.stop()
    finally:
        ray.shutdown()
    return {
        "return": train["episode_return_mean"],
        "success": train["success"],
        "test_return": test["episode_return_mean"],
        "test_success": test["success"],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30, help="PPO iterations of 1024 env steps")
    parser.add_argument("--num-env-runners", type=int, default=1, help="Ray actors that sample (0: in the driver)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.iterations, args.num_env_runners, args.seed)
