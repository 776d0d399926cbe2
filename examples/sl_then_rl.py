"""SL, then REINFORCE with a KL leash to the SL policy: language-model training in miniature.

    python -m examples.sl_then_rl                 # about 20 s on one core

1. SL imitates a demonstrator that is wrong on ``corrupt_fraction`` of the prompts (one wrong
   token each): the policy learns its mistakes too, and sampling reproduces them.
2. REINFORCE starts from the SL policy, samples its own completions, and is paid by the verifier;
   a KL penalty keeps it near the SL policy (the reference) while it fixes what the demonstrator
   got wrong.

Both stages are scored on the test prompts, sampling (what the policy does) and greedy.
"""

from __future__ import annotations

import argparse

import torch

from agents import ReinforceAgent, SLAgent, evaluate

ENV_ID = "token_gym/Reverse-v0"


def main(
    length: int = 4,
    corrupt_fraction: float = 0.3,
    sl_timesteps: int = 60_000,
    rl_timesteps: int = 100_000,
    kl_coef: float = 0.05,
    seed: int = 0,
    policy_kwargs: dict | None = None,
) -> dict[str, dict[str, float]]:
    """Run both stages; print and return each stage's test metrics."""
    torch.set_num_threads(1)
    env_kwargs = {"length": length, "reward": "binary"}
    sl = SLAgent(
        ENV_ID,
        env_kwargs=env_kwargs,
        seed=seed,
        corrupt_fraction=corrupt_fraction,
        learning_rate=3e-3,
        policy_kwargs=policy_kwargs,
    )
    sl.learn(sl_timesteps)
    results = {"demonstrator": {"success_rate": 1 - corrupt_fraction}, "SL": score(sl, env_kwargs)}

    # the RL agent fine-tunes the SL policy in place; kl_coef > 0 freezes a copy of it as the reference
    rl = ReinforceAgent(ENV_ID, policy=sl, env_kwargs=env_kwargs, seed=seed, group_size=8, kl_coef=kl_coef)
    rl.learn(rl_timesteps)
    results["SL → REINFORCE"] = score(rl, env_kwargs)

    print(f"\nReverse-{length}, binary reward; demonstrator wrong on {corrupt_fraction:.0%} of prompts; test split")
    print(f"{'stage':<18}{'sampled success':>16}{'greedy success':>16}{'token entropy':>15}")
    for stage, metrics in results.items():
        cells = [
            f"{metrics[key]:{fmt}}" if key in metrics else "-"
            for key, fmt in (("success_rate", ".1%"), ("greedy_success", ".1%"), ("mean_token_entropy", ".3f"))
        ]
        print(f"{stage:<18}{cells[0]:>16}{cells[1]:>16}{cells[2]:>15}")
    return results


def score(agent: SLAgent | ReinforceAgent, env_kwargs: dict) -> dict[str, float]:
    sampled = evaluate(agent, ENV_ID, env_kwargs=env_kwargs, samples_per_prompt=4)
    greedy = evaluate(agent, ENV_ID, env_kwargs=env_kwargs, deterministic=True)
    return {**sampled, "greedy_success": greedy["success_rate"]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=4)
    parser.add_argument("--corrupt-fraction", type=float, default=0.3)
    parser.add_argument("--kl-coef", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(length=args.length, corrupt_fraction=args.corrupt_fraction, kl_coef=args.kl_coef, seed=args.seed)
