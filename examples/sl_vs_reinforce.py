"""Same policy, same task, same loss: SL from demonstrations vs REINFORCE from its own samples.

    python -m examples.sl_vs_reinforce            # about a minute on one core

Both agents train the same small transformer on Reverse (partial reward) and are scored on the
test prompts as they learn. SL sees the oracle's demonstrations (w = 1); REINFORCE sees only its
own samples and their rewards (w = G − b). The plot shows test success against the number of
sequences each has learned from; the table, how many it took and how long.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from agents import ReinforceAgent, SLAgent
from agents.curve import LearningCurve

ENV_ID = "token_gym/Reverse-v0"


def main(
    length: int = 4,
    sl_timesteps: int = 100_000,
    rl_timesteps: int = 1_000_000,
    every: int = 5,
    target: float = 0.95,
    seed: int = 0,
    plot: str | Path | None = "sl_vs_reinforce.png",
    policy_kwargs: dict | None = None,
) -> dict[str, dict[str, float | None]]:
    """Train both agents until ``target`` test success (or the budgets); print a table, save the plot."""
    torch.set_num_threads(1)
    env_kwargs = {"length": length, "reward": "partial"}
    sl = SLAgent(ENV_ID, env_kwargs=env_kwargs, seed=seed, learning_rate=3e-3, policy_kwargs=policy_kwargs)
    rl = ReinforceAgent(
        ENV_ID,
        env_kwargs=env_kwargs,
        seed=seed,
        n_envs=256,
        group_size=8,
        learning_rate=1e-3,
        policy_kwargs=policy_kwargs,
    )
    curves, per_update = {}, {}
    for name, agent, budget, sequences in (
        ("SL (demonstrations)", sl, sl_timesteps, sl.config.batch_size),
        ("REINFORCE (own samples)", rl, rl_timesteps, rl.config.n_envs),
    ):
        curve = LearningCurve(ENV_ID, env_kwargs, modes=("greedy",))
        tokens_per_update = sequences * (length + 1)  # a completion and its EOS
        agent.learn(budget, callback=curve.callback(every * tokens_per_update, target))
        curves[name], per_update[name] = curve, sequences

    results = {}
    print(f"\nReverse, length {length}, partial reward; test split, greedy decoding; target {target:.0%}")
    print(f"{'agent':<26}{'sequences to target':>20}{'seconds':>9}{'final success':>15}")
    for name, curve in curves.items():
        first = curve.first_reaching(target)
        sequences = None if first is None else curve.updates[first] * per_update[name]
        seconds = None if first is None else curve.seconds[first]
        final = curve.greedy[-1] if curve.greedy else float("nan")
        results[name] = {"sequences_to_target": sequences, "seconds_to_target": seconds, "final_success": final}
        shown = (f"{sequences:,}", f"{seconds:.1f}") if sequences is not None else ("not reached", "-")
        print(f"{name:<26}{shown[0]:>20}{shown[1]:>9}{final:>15.1%}")
    if plot is not None:
        save_plot(curves, per_update, Path(plot), length)
        print(f"plot saved to {plot}")
    return results


def save_plot(curves: dict[str, LearningCurve], per_update: dict[str, int], path: Path, length: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        sequences = [u * per_update[name] for u in curve.updates]
        ax.plot(sequences, curve.greedy, marker=".", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("sequences learned from (demonstrations or sampled episodes)")
    ax.set_ylabel("test success (greedy)")
    ax.set_title(f"Reverse-{length}: one loss, two sources of data")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="sl_vs_reinforce.png")
    args = parser.parse_args()
    main(length=args.length, seed=args.seed, plot=args.plot)
