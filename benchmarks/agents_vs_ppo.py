"""ReinforceAgent vs stable-baselines3 PPO (its default hyperparameters) on the same env, side by side.

    python -m benchmarks.agents_vs_ppo [--seed 0] [--ppo-steps 1000000] [--ppo-seconds 900]

Task: Reverse, length 4, alphabet "abcdefgh", partial reward (800 train / 200 test prompts).
Both learners are scored on the TEST split as they train, greedy and by sampling (all 200
prompts, our ``evaluate``); evaluation time is excluded from the training wall-clock. Reported:
env steps and training seconds until greedy and sampled test success first reach the target
(95%), the last scores, and the lowest score after first reaching it (does it hold?).

* ours: ``ReinforceAgent`` (2-layer, width-64 transformer; 256 episodes per update, 8 per
  prompt, RLOO baseline, lr 1e-3, the defaults), scored every 5 updates;
* PPO: ``PPO("MlpPolicy", env)`` with SB3's defaults (n_steps 2048, batch 64, 10 epochs,
  lr 3e-4), token-embedding features (``agents.sb3.token_policy_kwargs``) since a Box of ids read
  as numbers means nothing, on 8 envs of the fast adapter (``make_sb3_vec_env``); scored after
  every rollout (16,384 steps).

One torch thread. Results are printed and written as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json

import torch

from agents import ReinforceAgent
from agents.curve import LearningCurve

ENV_ID = "token_gym/Reverse-v0"
TASK = {"length": 4, "reward": "partial"}


EVERY = 5 * 256 * 5  # ours: about every 5 updates of 256 episodes; PPO: every rollout (16,384 steps)


def run_ours(seed: int, max_steps: int, target: float, extra_evals: int) -> LearningCurve:
    curve = LearningCurve(ENV_ID, TASK)
    agent = ReinforceAgent(ENV_ID, env_kwargs=TASK, seed=seed, n_envs=256, group_size=8, learning_rate=1e-3)
    agent.learn(max_steps, callback=curve.callback(EVERY, target, patience=extra_evals))
    return curve


def run_ppo(seed: int, max_steps: int, max_seconds: float, target: float, extra_evals: int) -> LearningCurve:
    from stable_baselines3 import PPO

    from agents.sb3 import CurveCallback, make_sb3_vec_env, token_policy_kwargs

    curve = LearningCurve(ENV_ID, TASK)
    env = make_sb3_vec_env(ENV_ID, n_envs=8, seed=seed, **TASK)
    model = PPO("MlpPolicy", env, policy_kwargs=token_policy_kwargs(env), seed=seed, device="cpu")
    model.learn(max_steps, callback=CurveCallback(curve, 1, target, patience=extra_evals, max_seconds=max_seconds))
    curve.record(model, model.num_timesteps)
    return curve


def main(
    seed: int = 0,
    ours_steps: int = 1_000_000,
    ppo_steps: int = 1_000_000,
    ppo_seconds: float = 900.0,
    target: float = 0.95,
    extra_evals: int = 5,
    out: str | None = "agents_vs_ppo.json",
) -> dict:
    torch.set_num_threads(1)
    print(f"Reverse-4 partial, target {target:.0%} test success; seed {seed}")
    curves = {
        "REINFORCE": run_ours(seed, ours_steps, target, extra_evals),
        "PPO": run_ppo(seed, ppo_steps, ppo_seconds, target, extra_evals),
    }
    results = {name: c.summary(target) for name, c in curves.items()}
    print(f"\n{'agent':<11}{'mode':<9}{'steps to target':>16}{'seconds':>9}{'min after':>11}{'last':>7}")
    for name, summary in results.items():
        for mode in ("greedy", "sampled"):
            s = summary[mode]
            steps = "not reached" if s["steps_to_target"] is None else f"{s['steps_to_target']:,}"
            secs = "-" if s["seconds_to_target"] is None else f"{s['seconds_to_target']:.1f}"
            low = "-" if s["min_after_target"] is None else f"{s['min_after_target']:.3f}"
            print(f"{name:<11}{mode:<9}{steps:>16}{secs:>9}{low:>11}{s['last']:>7.3f}")
        print(f"{'':<11}total: {summary['total_steps']:,} steps in {summary['total_seconds']:.1f} s of training")
    ours, ppo = results["REINFORCE"]["greedy"], results["PPO"]["greedy"]
    if ours["seconds_to_target"] and ppo["seconds_to_target"]:
        print(
            f"\nwall-clock ratio to greedy target, PPO / ours: {ppo['seconds_to_target'] / ours['seconds_to_target']:.1f}x"
        )
    if out:
        with open(out, "w") as f:
            json.dump({"results": results, "curves": {n: c.to_dict() for n, c in curves.items()}}, f, indent=1)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ours-steps", type=int, default=1_000_000)
    parser.add_argument("--ppo-steps", type=int, default=1_000_000)
    parser.add_argument("--ppo-seconds", type=float, default=900.0)
    parser.add_argument("--out", default="agents_vs_ppo.json")
    args = parser.parse_args()
    main(args.seed, args.ours_steps, args.ppo_steps, args.ppo_seconds, out=args.out)
