"""Strategies that change the sampling distribution: logits hooks, ``hook(logits, step) -> logits``.

Each changes the distribution the data came from (the behaviour policy β ≠ π); the rollout
records log β of what was sampled, and the agent importance-corrects with it.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from agents.policy import MASKED_LOGIT
from token_gym.checks import number, positive


class Temperature:
    """Sample from softmax(z / τ): τ > 1 flattens the distribution (explores more), τ < 1 sharpens it."""

    def __init__(self, temperature: float):
        self.temperature = positive("temperature", temperature)

    def __call__(self, logits: Tensor, step: int) -> Tensor:
        return logits / self.temperature


class EpsilonUniform:
    """With probability ε a token uniform over the allowed ones, else the policy's: β = (1 − ε) π + ε U."""

    def __init__(self, epsilon: float):
        self.epsilon = number("epsilon", epsilon, 0.0, 1.0)

    def __call__(self, logits: Tensor, step: int) -> Tensor:
        allowed = logits > MASKED_LOGIT / 2
        uniform = allowed / allowed.sum(dim=-1, keepdim=True)
        probs = (1 - self.epsilon) * F.softmax(logits, dim=-1) + self.epsilon * uniform
        return probs.clamp(min=1e-30).log().masked_fill(~allowed, MASKED_LOGIT)
