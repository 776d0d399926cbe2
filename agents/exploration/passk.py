"""Pass@k training: reward a group of n samples for what its best k-subset would score.

Training on pass@1 (the plain reward) sharpens π onto what already works; pass@k rewards a
sample for being the one success among k tries, which leaves room for diverse attempts on hard
prompts (Walder & Karkhanis 2025, "Pass@k Policy Optimization", arXiv 2505.15201).

For binary rewards PKPO's unbiased transform of a group of n samples, c of them correct, is

    r_i = k/n                       if sample i is correct,
    r_i = (k/n) · ρ(n−1, c, k−1)    otherwise,        ρ(n, c, k) = 1 − C(n−c, k) / C(n, k),

ρ being the unbiased pass@k estimate (:func:`agents.evaluate.pass_at_k`): a failed sample is
credited with the chance that a k-subset containing it succeeds through the others. Here the
rewards are scaled by n/k, so that k = 1 gives back the binary rewards exactly:

    r_i = 1 if correct, else ρ(n−1, c, k−1).

Since c + (n−c) ρ(n−1, c, k−1) = n ρ(n, c, k) (expand C(n−c−1, k−1)/C(n−1, k−1)), PKPO's rewards
sum to k ρ(n, c, k) over the group, and these scaled ones to n ρ(n, c, k): their group *mean* is
the group's unbiased pass@k estimate, as the mean binary reward is its pass@1. The scale n/k is
the same for every sample and every group, so it only rescales the gradient (a learning-rate
factor; GRPO's normalisation removes it).

"Correct" is the verifier's verdict, ``rollout.success``. The transform is applied as a credit
added to the failures' reward, r ← r + (1 − correct) · ρ(n−1, c, k−1): for binary rewards that is
exactly the formula above, k = 1 adds nothing (ρ(n−1, c, 0) = 0), and whatever else the reward
holds (partial credit, a distractor's reward, a novelty bonus from another strategy, in either
order) is kept. For non-binary rewards the result is not PKPO's estimator for continuous rewards
(the paper gives that one separately).

Does not change the sampling distribution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from agents.exploration.base import Strategy
from token_gym.checks import positive_int

if TYPE_CHECKING:
    from agents.reinforce import ReinforceAgent
    from agents.rollout import Rollout


def failure_credit(n: int, k: int) -> np.ndarray:
    """(n + 1,) the reward a failed sample gets, ρ(n−1, c, k−1), for c = 0 … n correct in its group.

    (The last entry, c = n, has no failed sample to pay: 0.)"""
    from agents.evaluate import pass_at_k  # here, not at the top: agents.evaluate imports the agent base

    return np.array([pass_at_k(n - 1, c, k - 1) for c in range(n)] + [0.0])


def pass_at_k_rewards(success: Tensor, group_size: int, k: int) -> Tensor:
    """(B,) float64 PKPO rewards of binary verdicts ``success`` (B,), scaled by n/k: 1 if correct,
    else ρ(n−1, c, k−1); rows g·n … g·n + n − 1 are group g."""
    n = group_size
    correct = success.reshape(-1, n)  # (G, n)
    c = correct.sum(dim=1)  # (G,)
    credit = torch.from_numpy(failure_credit(n, k))[c]  # (G,)
    return torch.where(correct, torch.ones(()).double(), credit[:, None]).reshape(-1)


class PassAtK(Strategy):
    """Pass@k policy optimisation (PKPO): a failure's reward is the chance a k-subset with it succeeds.

    r ← r + (1 − correct) · ρ(n−1, c, k−1), n the group size, c the group's correct samples (see
    the module docstring for the formula, its n/k scaling and the identity mean_group r = ρ(n, c, k)
    for binary rewards). k ≤ n is checked at :meth:`bind` against the agent's group size and at
    every batch against the rollout's. ``update`` logs ``pass_at_<k>``: the batch's mean over groups
    of the unbiased estimate ρ(n, c, k).

    Does not change the sampling distribution. Source: Walder & Karkhanis 2025, arXiv 2505.15201.
    """

    name = "pass_at_k"

    def __init__(self, k: int = 4):
        self.k = positive_int("pass_at_k k", k)

    @classmethod
    def at_zero(cls) -> PassAtK:
        return cls(k=1)

    def _check_group(self, group_size: int) -> None:
        if self.k > group_size:
            raise ValueError(
                f"pass_at_k k={self.k} needs at least k samples per prompt; the group size is {group_size}"
            )

    def bind(self, agent: ReinforceAgent) -> None:
        self._check_group(agent.sampler.group_size)

    def rewards(self, rollout: Rollout, rewards: Tensor) -> Tensor:
        if self.k == 1:
            return rewards
        self._check_group(rollout.group_size)
        credit = pass_at_k_rewards(rollout.success, rollout.group_size, self.k) * ~rollout.success  # (B,)
        return rewards + credit.to(rewards.dtype)

    def update(self, rollout: Rollout, scalars: dict[str, float]) -> dict[str, float]:
        n = rollout.group_size
        if self.k > n:
            return {}
        from agents.evaluate import pass_at_k

        correct = rollout.success.reshape(-1, n).sum(dim=1).tolist()  # (G,)
        return {f"pass_at_{self.k}": float(np.mean([pass_at_k(n, c, self.k) for c in correct]))}
