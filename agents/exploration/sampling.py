"""Strategies that change the sampling distribution: β(· | prefix) instead of π(· | prefix).

Each changes the distribution the data came from, so the rollout records log β of what was
sampled and the agent importance-corrects (per-token truncated ratios min(1, π/β), or the
sequence ratio ∏ π/β; see :func:`agents.objective.policy_loss`). Temperature above 1 and
epsilon-uniform explore *more*; top-k, top-p and temperature below 1 explore *less* (control arms).
At strength zero (t = 1, ε = 0, k ≥ the allowed tokens, p = 1) a strategy is off: it is not
applied and nothing is corrected, so the run is the plain agent's bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from agents.exploration.base import Strategy
from agents.policy import MASKED_LOGIT
from token_gym.checks import number, positive, positive_int

if TYPE_CHECKING:
    from agents.reinforce import ReinforceAgent


def _allowed(logits: Tensor) -> Tensor:
    return logits > MASKED_LOGIT / 2  # (B, V) tokens the policy's action mask allows


class Temperature(Strategy):
    """Temperature: sample from softmax(z / t). t > 1 flattens π (explores more), t < 1 sharpens it.

    Changes the sampling distribution (unless t = 1). Source: the standard LM sampling knob; TRL
    divides logits by the sampling temperature before taking log-probs.
    """

    name = "temperature"

    def __init__(self, t: float = 1.5):
        self.t = positive("temperature t", t)

    @classmethod
    def at_zero(cls) -> Temperature:
        return cls(t=1.0)

    @property
    def changes_sampling(self) -> bool:
        return self.t != 1.0

    def logits(self, logits: Tensor, step: int) -> Tensor:
        return logits / self.t

    __call__ = logits  # usable as a plain ``hook(logits, step)``


class EpsilonUniform(Strategy):
    """Epsilon-uniform: β = (1 − ε) π + ε U, U uniform over the allowed tokens (the task's alphabet and EOS).

    Changes the sampling distribution (unless ε = 0). Every allowed token keeps probability at
    least ε / |A|, so no completion is ever out of reach. Source: ε-greedy exploration.
    """

    name = "epsilon"

    def __init__(self, epsilon: float = 0.1):
        self.epsilon = number("epsilon", epsilon, 0.0, 1.0)

    @classmethod
    def at_zero(cls) -> EpsilonUniform:
        return cls(epsilon=0.0)

    @property
    def changes_sampling(self) -> bool:
        return self.epsilon > 0

    def logits(self, logits: Tensor, step: int) -> Tensor:
        allowed = _allowed(logits)
        uniform = allowed / allowed.sum(dim=-1, keepdim=True)
        probs = (1 - self.epsilon) * F.softmax(logits, dim=-1) + self.epsilon * uniform
        return probs.clamp(min=1e-30).log().masked_fill(~allowed, MASKED_LOGIT)

    __call__ = logits


class TopK(Strategy):
    """Top-k: sample only among the k most likely tokens, renormalised. Explores *less* (a control arm).

    Changes the sampling distribution when k is below the number of allowed tokens. Source: Fan et
    al. 2018 (hierarchical story generation).
    """

    name = "top_k"

    def __init__(self, k: int = 2):
        self.k = positive_int("top_k k", k)
        self._allowed_tokens: int | None = None

    @classmethod
    def at_zero(cls) -> TopK:
        return cls(k=2**31)  # every token kept

    def bind(self, agent: ReinforceAgent) -> None:
        self._allowed_tokens = int(agent.encoded_task.action_mask.sum())

    @property
    def changes_sampling(self) -> bool:
        return self._allowed_tokens is None or self.k < self._allowed_tokens

    def logits(self, logits: Tensor, step: int) -> Tensor:
        kth = logits.topk(min(self.k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
        return logits.masked_fill(logits < kth, MASKED_LOGIT)


class TopP(Strategy):
    """Top-p (nucleus): sample from the smallest set of most likely tokens whose probability reaches p.

    Explores *less* (a control arm). Changes the sampling distribution unless p = 1. Source:
    Holtzman et al. 2020, "The curious case of neural text degeneration".
    """

    name = "top_p"

    def __init__(self, p: float = 0.9):
        self.p = number("top_p p", p, 0.0, 1.0, low_open=True)

    @classmethod
    def at_zero(cls) -> TopP:
        return cls(p=1.0)

    @property
    def changes_sampling(self) -> bool:
        return self.p < 1.0

    def logits(self, logits: Tensor, step: int) -> Tensor:
        probs, order = F.softmax(logits, dim=-1).sort(dim=-1, descending=True)  # (B, V)
        before = probs.cumsum(dim=-1) - probs  # mass of the more likely tokens
        drop_sorted = before >= self.p  # the most likely token is always kept
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, MASKED_LOGIT)
