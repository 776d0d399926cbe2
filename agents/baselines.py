"""Baselines: what REINFORCE subtracts from the return, chosen by name.

``weights = G − b`` keeps the gradient unbiased (b does not depend on the
action) and cuts its variance. Group baselines compare the k samples of one
prompt: when all k get the same reward their advantage is zero and the prompt
teaches nothing, which is counted and reported (``zero_advantage_fraction``)
rather than hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

BASELINES = ("none", "moving_average", "rloo", "grpo")
GROUP_BASELINES = ("rloo", "grpo")


@dataclass
class Advantages:
    weights: Tensor  # (B, C) the w of E[w · ∇ log π], 0 outside episodes
    zero_advantage_fraction: float  # share of groups whose samples all got the same return (group baselines)


def _group_stats(values: Tensor, group: Tensor, count: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-group size, sum and sum of squares of ``values`` (B,)."""
    size = torch.zeros(count).index_add_(0, group, torch.ones_like(values))
    total = torch.zeros(count).index_add_(0, group, values)
    squares = torch.zeros(count).index_add_(0, group, values * values)
    return size, total, squares


class Baseline:
    """``Baseline(name)(G, mask, group) -> Advantages``; names: none, moving_average, rloo, grpo.

    * none: w = G.
    * moving_average: w = G − b, b an exponential average (``momentum``) of past mean returns.
    * rloo: w = G − mean of the other k − 1 samples' returns of the same prompt.
    * grpo: w = (G − group mean) / (group std + eps), the group-normalised advantage.
    """

    def __init__(self, name: str = "rloo", momentum: float = 0.9, eps: float = 1e-6):
        if name not in BASELINES:
            raise ValueError(f"baseline must be one of {list(BASELINES)}, got {name!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"baseline momentum must be in [0, 1), got {momentum!r}")
        self.name, self.momentum, self.eps = name, momentum, eps
        self.value: float | None = None  # moving average state

    def __call__(self, G: Tensor, mask: Tensor, group: np.ndarray | Tensor) -> Advantages:
        mask = mask.float()
        R = G[:, 0]  # (B,) return of each episode from its first token
        if self.name == "none":
            return Advantages(G * mask, 0.0)
        if self.name == "moving_average":
            b = R.mean().item() if self.value is None else self.value
            self.value = self.momentum * b + (1 - self.momentum) * R.mean().item()
            return Advantages((G - b) * mask, 0.0)

        group = torch.as_tensor(np.asarray(group), dtype=torch.long)
        ids, group = torch.unique(group, return_inverse=True)
        size, total, squares = _group_stats(R, group, len(ids))
        if self.name == "rloo" and (size < 2).any():
            raise ValueError("the rloo baseline needs at least 2 samples per prompt (group_size >= 2)")
        mean = total / size
        spread = (squares / size - mean**2).clamp(min=0)
        order = np.argsort(group.numpy(), kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(group.numpy()[order]) != 0])
        sorted_returns = R.numpy()[order]
        same = np.maximum.reduceat(sorted_returns, starts) - np.minimum.reduceat(sorted_returns, starts)
        same = torch.from_numpy(np.abs(same) < 1e-9)  # (groups,) every sample got the same return
        if self.name == "rloo":
            b = ((total[group] - R) / (size[group] - 1))[:, None]  # (B, 1)
            weights = G - b
        else:
            std = (spread * size / (size - 1).clamp(min=1)).sqrt()  # unbiased, as GRPO
            weights = (G - mean[group, None]) / (std[group, None] + self.eps)
        weights = weights * mask * (~same[group])[:, None]  # exact zeros, not rounding noise
        return Advantages(weights, float(same.float().mean()))
