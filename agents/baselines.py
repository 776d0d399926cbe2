"""Returns and baselines: the w of REINFORCE, in one place.

``weights = G − b`` keeps the gradient unbiased (b does not depend on the
action) and cuts its variance. Group baselines compare the k samples of one
prompt, which the rollout places in k consecutive rows, so a group is a row of
the (groups, k) view of the returns, as in TRL's GRPO. When all k get the same
reward their advantage is zero and the prompt teaches nothing, which is counted
and reported (``zero_advantage_fraction``) rather than hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from token_gym.checks import choice, number

BASELINES = ("none", "moving_average", "rloo", "grpo")
GROUP_BASELINES = ("rloo", "grpo")


def returns(rewards: Tensor, mask: Tensor, gamma: float = 1.0) -> Tensor:
    """(B, C) returns G_t = Σ_{t' ≥ t} γ^{t'−t} r_{t'} of each episode, 0 after it ended."""
    if gamma == 1.0:
        G = rewards.flip(1).cumsum(1).flip(1)
    else:
        G = torch.zeros_like(rewards)
        running = torch.zeros(rewards.shape[0])
        for t in reversed(range(rewards.shape[1])):
            running = rewards[:, t] + gamma * running
            G[:, t] = running
    return G * mask


@dataclass
class Advantages:
    weights: Tensor  # (B, C) the w of E[w · ∇ log π], 0 outside episodes
    zero_advantage_fraction: float  # share of groups whose samples all got the same return (group baselines)


class Baseline:
    """``Baseline(name)(G, mask, group_size) -> Advantages``; names: none, moving_average, rloo, grpo.

    * none: w = G.
    * moving_average: w = G − b, b an exponential average (``momentum``) of past mean returns.
    * rloo: w = G − mean of the other k − 1 samples' returns of the same prompt.
    * grpo: w = (G − group mean) / (group std + eps), the group-normalised advantage.
    """

    def __init__(self, name: str = "rloo", momentum: float = 0.9, eps: float = 1e-6):
        self.name = choice("baseline", name, BASELINES)
        self.momentum = number("baseline momentum", momentum, 0.0, 1.0, high_open=True)
        self.eps = eps
        self.value: float | None = None  # moving average state

    def __call__(self, G: Tensor, mask: Tensor, group_size: int = 1) -> Advantages:
        mask = mask.float()
        R = G[:, 0]  # (B,) return of each episode from its first token
        if self.name == "none":
            return Advantages(G * mask, 0.0)
        if self.name == "moving_average":
            b = R.mean().item() if self.value is None else self.value
            self.value = self.momentum * b + (1 - self.momentum) * R.mean().item()
            return Advantages((G - b) * mask, 0.0)

        k = group_size
        if k < 2:
            raise ValueError(f"the {self.name} baseline needs at least 2 samples per prompt (group_size >= 2)")
        grouped = R.view(-1, k)  # (groups, k)
        same = (grouped.max(dim=1).values - grouped.min(dim=1).values).abs() < 1e-9  # (groups,)
        if self.name == "rloo":
            b = (grouped.sum(dim=1, keepdim=True) - grouped) / (k - 1)  # (groups, k) mean of the others
            weights = G - b.reshape(-1, 1)
        else:
            mean, std = grouped.mean(dim=1, keepdim=True), grouped.std(dim=1, keepdim=True)  # unbiased, as GRPO
            weights = (G - mean.repeat_interleave(k, dim=0)) / (std.repeat_interleave(k, dim=0) + self.eps)
        weights = weights * mask * (~same).repeat_interleave(k)[:, None]  # exact zeros, not rounding noise
        return Advantages(weights, float(same.float().mean()))
