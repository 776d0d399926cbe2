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
    # The vector env's two opt-outs: one reused observation array, no completion text in infos.
    no_copy = gym.make_vec("token_gym/Reverse-v0", num_envs=num_envs, copy=False, **REVERSE)
    no_text = gym.make_vec("token_gym/Reverse-v0", num_envs=num_envs, completion_text=False, **REVERSE)
    lean = gym.make_vec("token_gym/Reverse-v0", num_envs=num_envs, copy=False, completion_text=False, **REVERSE)
    cartpole = CartPoleVectorEnv(num_envs=num_envs)
    sync = gym.make_vec("token_gym/Reverse-v0", num_envs=sync_envs, vectorization_mode="sync", **REVERSE)
    uniform, completions = uniform_actions(ours, 64), completion_actions(ours, 8)
    any_token = any_token_actions(ours, 64)
    cart_actions = np.random.default_rng(0).integers(0, 2, size=(64, num_envs))
    single = gym.make("token_gym/Reverse-v0", **REVERSE)
    cart_single = gym.make("CartPole-v1")

    vector = {  # label: (env, actions, steps)
        "TokenVectorEnv, uniform useful tokens": (ours, uniform, steps),
        "TokenVectorEnv, well-formed completions": (ours, completions, steps),
        "TokenVectorEnv, any token (specials too)": (ours, any_token, steps),
        "  copy=False, uniform": (no_copy, uniform, steps),
        "  completion_text=False, uniform": (no_text, uniform, steps),
        "  completion_text=False, completions": (no_text, completions, steps),
        "  copy=False + completion_text=False, uniform": (lean, uniform, steps),
        "gymnasium CartPoleVectorEnv, random actions": (cartpole, cart_actions, steps),
        f"SyncVectorEnv of TokenEnv ({sync_envs} envs), uniform": (sync, uniform[:, :sync_envs], max(steps // 4, 20)),
    }
    runs: dict[str, list[float]] = {k: [] for k in [*vector, "single", "cart_single"]}
    for _ in range(repeats):  # interleaved: noise hits every contender alike
        for label, (env, actions, n) in vector.items():
            runs[label].append(vector_steps_per_second(env, n, actions))
        runs["single"].append(single_step_seconds(single, 20_000, uniform[:, 0]))
        runs["cart_single"].append(single_step_seconds(cart_single, 20_000, cart_actions[:, 0]))
    m = {k: statistics.median(v) for k, v in runs.items()}
    cart = m["gymnasium CartPoleVectorEnv, random actions"]
    print(f"vector env, {num_envs} envs, Reverse-8, median of {repeats} (env-steps/s; ratio to CartPoleVectorEnv):")
    for label in vector:
        print(f"  {label:<50}{m[label]:>14,.0f}{m[label] / cart:>8.2f}x")
    sync_ratio = (
        m["TokenVectorEnv, uniform useful tokens"] / m[f"SyncVectorEnv of TokenEnv ({sync_envs} envs), uniform"]
    )
    print(f"  ratio ours (uniform) / SyncVectorEnv              {sync_ratio:>14.1f}   (goal >= 50)")
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
