"""Environment speed, side by side in one run (issue 2's speed goals).

    python -m benchmarks.env_speed [--repeats 7] [--num-envs 4096] [--steps 200]

Measures, interleaved so that machine noise hits every contender alike:

* env-steps/s of token_gym's native vector env on Reverse (length 8) vs
  gymnasium's CartPoleVectorEnv vs a SyncVectorEnv of the same token env;
* the cost of one step through ``gym.make``: Reverse-v0 vs CartPole-v1.

Prints medians and the ratios the goals are stated in.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

import token_gym  # noqa: F401  (registers the ids)

REVERSE = {"length": 8}


def vector_steps_per_second(env: gym.vector.VectorEnv, steps: int, actions: np.ndarray) -> float:
    env.reset(seed=0)
    start = time.perf_counter()
    for t in range(steps):
        env.step(actions[t % len(actions)])
    return steps * env.num_envs / (time.perf_counter() - start)


def single_step_seconds(env: gym.Env, steps: int, actions: np.ndarray) -> float:
    env.reset(seed=0)
    elapsed = 0.0
    for t in range(steps):
        action = int(actions[t % len(actions)])
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        elapsed += time.perf_counter() - start
        if terminated or truncated:
            env.reset()
    return elapsed / steps


def token_actions(env: gym.vector.VectorEnv, rows: int) -> np.ndarray:
    """Random useful tokens (alphabet + EOS), so episodes run to varied lengths."""
    useful = np.flatnonzero(env.single_action_space.n and env.unwrapped.action_masks()[0])
    return np.random.default_rng(0).choice(useful, size=(rows, env.num_envs))


def main(repeats: int = 7, num_envs: int = 4096, steps: int = 200, sync_envs: int = 64) -> dict[str, float]:
    ours = gym.make_vec("token_gym/Reverse-v0", num_envs=num_envs, **REVERSE)
    cartpole = CartPoleVectorEnv(num_envs=num_envs)
    sync = gym.make_vec("token_gym/Reverse-v0", num_envs=sync_envs, vectorization_mode="sync", **REVERSE)
    ours_actions = token_actions(ours, 64)
    sync_actions = ours_actions[:, :sync_envs]
    cart_actions = np.random.default_rng(0).integers(0, 2, size=(64, num_envs))
    single = gym.make("token_gym/Reverse-v0", **REVERSE)
    cart_single = gym.make("CartPole-v1")
    single_actions = ours_actions[:, 0]

    runs: dict[str, list[float]] = {k: [] for k in ("ours", "cartpole", "sync", "single", "cart_single")}
    for _ in range(repeats):
        runs["ours"].append(vector_steps_per_second(ours, steps, ours_actions))
        runs["cartpole"].append(vector_steps_per_second(cartpole, steps, cart_actions))
        runs["sync"].append(vector_steps_per_second(sync, max(steps // 4, 20), sync_actions))
        runs["single"].append(single_step_seconds(single, 20_000, single_actions))
        runs["cart_single"].append(single_step_seconds(cart_single, 20_000, cart_actions[:, 0]))
    m = {k: statistics.median(v) for k, v in runs.items()}
    print(f"vector env, {num_envs} envs, median of {repeats} (env-steps/s):")
    print(f"  token_gym TokenVectorEnv, Reverse-8   {m['ours']:>14,.0f}")
    print(f"  gymnasium CartPoleVectorEnv           {m['cartpole']:>14,.0f}")
    print(f"  SyncVectorEnv of TokenEnv ({sync_envs} envs)  {m['sync']:>14,.0f}")
    print(f"  ratio ours / CartPoleVectorEnv        {m['ours'] / m['cartpole']:>14.2f}   (goal >= 2)")
    print(f"  ratio ours / SyncVectorEnv            {m['ours'] / m['sync']:>14.1f}   (goal >= 50)")
    print("one env through gym.make, median of per-step means (microseconds/step):")
    print(f"  token_gym/Reverse-v0 (length 8)       {m['single'] * 1e6:>14.2f}")
    print(f"  CartPole-v1                           {m['cart_single'] * 1e6:>14.2f}")
    print(f"  ratio Reverse / CartPole              {m['single'] / m['cart_single']:>14.2f}   (goal <= 1)")
    return m


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--sync-envs", type=int, default=64, help="SyncVectorEnv size (its rate is per env-step)")
    args = parser.parse_args()
    main(args.repeats, args.num_envs, args.steps, args.sync_envs)
