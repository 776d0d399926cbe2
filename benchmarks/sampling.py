"""Sampling speed of the policy (KV cache vs none) and the env's share of rollout time.

    python -m benchmarks.sampling [--repeats 7] [--num-envs 256 1024] [--lengths 4 16]

* tokens/s of :func:`generate` (cached: one forward step per token) vs
  :func:`generate_without_cache` (the whole prefix again at every token), the default
  policy (2 layers, width 64), on Reverse prompts of each length, interleaved, medians;
* the env's share of a rollout (``RolloutSampler.sample``: policy steps + ``env.step`` through
  ``gym.make_vec``), at each ``num_envs``: goal ≤ 10%.

One torch thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import token_gym  # noqa: F401
from agents.envs import make_vec
from agents.policy import Policy, PolicyConfig, make_policy
from agents.rollout import RolloutSampler, sample_tokens


@torch.no_grad()
def generate(policy: Policy, context: torch.Tensor, max_new: int, generator: torch.Generator) -> torch.Tensor:
    """(B, max_new) tokens after ``context``, one cached forward step per token (the policy alone: no env)."""
    logits, cache = policy.start(context, max_new)
    tokens = []
    for t in range(max_new):
        token, _ = sample_tokens(logits, generator)
        tokens.append(token)
        if t + 1 < max_new:
            logits, cache = policy.step(token, cache)
    return torch.stack(tokens, dim=1)


@torch.no_grad()
def generate_without_cache(
    policy: Policy, context: torch.Tensor, max_new: int, generator: torch.Generator
) -> torch.Tensor:
    """The same, recomputing the whole prefix at every step: the cost the cache saves."""
    tokens = context
    for _ in range(max_new):
        token, _ = sample_tokens(policy(tokens)[:, -1], generator)
        tokens = torch.cat([tokens, token[:, None]], dim=1)
    return tokens[:, context.shape[1] :]


def setup(length: int, num_envs: int):
    env = make_vec("token_gym/Reverse-v0", {"length": length}, num_envs)  # as agents build it (Disabled autoreset)
    encoded_task = env.unwrapped.encoded_task
    torch.manual_seed(0)
    config = PolicyConfig(
        vocab_size=encoded_task.vocab.size, pad_id=encoded_task.vocab.pad_id, max_len=encoded_task.observation_width
    )
    return env, encoded_task, make_policy(config, torch.from_numpy(encoded_task.action_mask.copy())).eval()


def tokens_per_second(policy, context, max_new: int, cached: bool) -> float:
    run = generate if cached else generate_without_cache
    start = time.perf_counter()
    run(policy, context, max_new, generator=torch.Generator().manual_seed(0))
    return context.shape[0] * max_new / (time.perf_counter() - start)


def main(repeats: int = 7, num_envs: tuple[int, ...] = (256, 1024), lengths: tuple[int, ...] = (4, 16)) -> dict:
    torch.set_num_threads(1)
    results: dict = {}
    print(f"policy sampling, tokens/s (median of {repeats})")
    print(f"{'prompt len':>10}{'batch':>7}{'cached':>12}{'no cache':>12}{'ratio':>8}")
    for length in lengths:
        for n in num_envs:
            _, encoded_task, policy = setup(length, n)
            cap = encoded_task.max_completion_len
            observations = encoded_task.initial_observations(np.resize(encoded_task.task.train, n))  # (n, P + 1 + C)
            context = torch.from_numpy(observations[:, cap:])  # prompt and separator
            cached, uncached = [], []
            for _ in range(repeats):  # interleaved
                cached.append(tokens_per_second(policy, context, cap, True))
                uncached.append(tokens_per_second(policy, context, cap, False))
            c, u = statistics.median(cached), statistics.median(uncached)
            results[("sampling", length, n)] = {"cached": c, "uncached": u}
            print(f"{length:>10}{n:>7}{c:>12,.0f}{u:>12,.0f}{c / u:>8.2f}")

    print(f"\nenv share of rollout time (RolloutSampler.sample, median of {repeats})")
    print(f"{'prompt len':>10}{'num_envs':>9}{'rollout ms':>12}{'env ms':>9}{'env share':>11}{'env steps/s':>13}")
    for length in lengths:
        for n in num_envs:
            env, _, policy = setup(length, n)
            sampler = RolloutSampler(env, seed=0)
            generator = torch.Generator().manual_seed(0)
            sampler.sample(policy, generator)  # warm-up
            rollouts = [sampler.sample(policy, generator) for _ in range(repeats)]
            seconds = statistics.median(r.seconds for r in rollouts)
            env_seconds = statistics.median(r.env_seconds for r in rollouts)
            share = statistics.median(r.env_share for r in rollouts)
            steps = statistics.median(r.num_tokens / r.seconds for r in rollouts)
            results[("rollout", length, n)] = {"seconds": seconds, "env_seconds": env_seconds, "env_share": share}
            print(f"{length:>10}{n:>9}{seconds * 1e3:>12.1f}{env_seconds * 1e3:>9.1f}{share:>11.1%}{steps:>13,.0f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--num-envs", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--lengths", type=int, nargs="+", default=[4, 16])
    args = parser.parse_args()
    main(args.repeats, tuple(args.num_envs), tuple(args.lengths))
