"""Environment speed, side by side in one run.

    python -m benchmarks.env_speed [--repeats 7] [--num-envs 4096] [--steps 200]

Measures, interleaved so that machine noise hits every contender alike:

* env-steps/s of token_gym's native vector env on Reverse (length 8), under three
  action streams (useful tokens, well-formed completions, any token), vs
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
    """As a training loop runs it: each step's results stay alive until the next step has returned."""
    env.reset(seed=0)
    start = time.perf_counter()
    for t in range(steps):
        _results = env.step(actions[t % len(actions)])  # held, as a loop holds obs, rewards, ..., infos
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


def uniform_actions(env: gym.vector.VectorEnv, rows: int) -> np.ndarray:
    """Uniformly random useful tokens (alphabet + EOS): EOS comes early, episodes are short."""
    useful = np.flatnonzero(env.action_masks()[0])
    return np.random.default_rng(0).choice(useful, size=(rows, env.num_envs))


def any_token_actions(env: gym.vector.VectorEnv, rows: int) -> np.ndarray:
    """Uniformly random tokens of the whole vocabulary, as ``action_space.sample()`` draws them:
    padding and separator tokens land inside completions, whose text must then skip them."""
    return np.random.default_rng(0).integers(0, env.single_action_space.n, size=(rows, env.num_envs))


def completion_actions(env: gym.vector.VectorEnv, rows: int) -> np.ndarray:
    """Well-formed completions: ``length`` random letters, then EOS, as a trained policy writes them.

    Rows are offset so that episodes end on every step, not all at once.
    """
    encoded_task = env.unwrapped.encoded_task
    letters = np.flatnonzero(
        encoded_task.action_mask & (np.arange(encoded_task.vocab.size) != encoded_task.vocab.eos_id)
    )
    period = encoded_task.max_completion_len + 1  # completion with EOS, then the NextStep reset step
    actions = np.random.default_rng(0).choice(letters, size=(rows * period, env.num_envs))
    phase = (np.arange(rows * period)[:, None] + np.arange(env.num_envs)) % period
    actions[phase == encoded_task.max_completion_len - 1] = encoded_task.vocab.eos_id
    return actions


def main(repeats: int = 7, num_envs: int = 4096, steps: int = 200, sync_envs: int = 64) -> dict[str, float]:
    ours = gym.make_vec("token_gym/Reverse-v0", num_envs=num_envs, **REVERSE)
    cartpole = CartPoleVectorEnv(num_envs=num_envs)
    sync = gym.make_vec("token_gym/Reverse-v0", num_envs=sync_envs, vectorization_mode="sync", **REVERSE)
    uniform, completions = uniform_actions(ours, 64), completion_actions(ours, 8)
    any_token = any_token_actions(ours, 64)
    cart_actions = np.random.default_rng(0).integers(0, 2, size=(64, num_envs))
    single = gym.make("token_gym/Reverse-v0", **REVERSE)
    cart_single = gym.make("CartPole-v1")

    names = ("uniform", "completions", "any_token", "cartpole", "sync", "single", "cart_single")
    runs: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(repeats):
        runs["uniform"].append(vector_steps_per_second(ours, steps, uniform))
        runs["completions"].append(vector_steps_per_second(ours, steps, completions))
        runs["any_token"].append(vector_steps_per_second(ours, steps, any_token))
        runs["cartpole"].append(vector_steps_per_second(cartpole, steps, cart_actions))
        runs["sync"].append(vector_steps_per_second(sync, max(steps // 4, 20), uniform[:, :sync_envs]))
        runs["single"].append(single_step_seconds(single, 20_000, uniform[:, 0]))
        runs["cart_single"].append(single_step_seconds(cart_single, 20_000, cart_actions[:, 0]))
    m = {k: statistics.median(v) for k, v in runs.items()}
    print(f"vector env, {num_envs} envs, median of {repeats} (env-steps/s):")
    print(f"  TokenVectorEnv, Reverse-8, uniform useful tokens    {m['uniform']:>14,.0f}")
    print(f"  TokenVectorEnv, Reverse-8, well-formed completions  {m['completions']:>14,.0f}")
    print(f"  TokenVectorEnv, Reverse-8, any token (specials too) {m['any_token']:>14,.0f}")
    print(f"  gymnasium CartPoleVectorEnv, random actions         {m['cartpole']:>14,.0f}")
    print(f"  SyncVectorEnv of TokenEnv ({sync_envs} envs), uniform      {m['sync']:>14,.0f}")
    print(f"  ratio ours (uniform) / CartPoleVectorEnv            {m['uniform'] / m['cartpole']:>14.2f}   (goal >= 2)")
    print(
        f"  ratio ours (completions) / CartPoleVectorEnv        {m['completions'] / m['cartpole']:>14.2f}   (goal >= 2)"
    )
    print(
        f"  ratio ours (any token) / CartPoleVectorEnv          {m['any_token'] / m['cartpole']:>14.2f}   (goal >= 2)"
    )
    print(f"  ratio ours (uniform) / SyncVectorEnv                {m['uniform'] / m['sync']:>14.1f}   (goal >= 50)")
    print("one env through gym.make, median of per-step means (microseconds/step):")
    print(f"  token_gym/Reverse-v0 (length 8), uniform useful     {m['single'] * 1e6:>14.2f}")
    print(f"  CartPole-v1                                         {m['cart_single'] * 1e6:>14.2f}")
    print(
        f"  ratio Reverse / CartPole                            {m['single'] / m['cart_single']:>14.2f}   (goal <= 1)"
    )
    return m


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--sync-envs", type=int, default=64, help="SyncVectorEnv size (its rate is per env-step)")
    args = parser.parse_args()
    main(args.repeats, args.num_envs, args.steps, args.sync_envs)
