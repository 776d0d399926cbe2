"""Strategies that add a term to the loss: an entropy bonus and a KL penalty to a reference policy.

Neither changes the sampling distribution: they change what the gradient step pushes π towards
(more spread out; closer to π_ref), computed on the policy's own logits of the batch (with grad),
so the data stay on-policy. Both are per-sequence sums over tokens divided by the batch's
B sequences, as every term of :func:`agents.objective.policy_loss`. At coefficient zero a term
is not added at all (``loss`` returns None): the run is the plain agent's bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from agents.exploration.base import LossContext, Strategy
from agents.objective import completion_logits, token_entropy, token_kl
from token_gym.checks import non_negative, number, positive

if TYPE_CHECKING:
    from agents.reinforce import ReinforceAgent
    from agents.rollout import Rollout


class EntropyBonus(Strategy):
    """Entropy bonus: loss term −coef · Σ_t H(π(·|s_t)) / B over the batch's tokens.

    Keeps π from collapsing onto one completion before the reward has been found (entropy tends to
    collapse early in RL on language models; DAPO). What it ascends is the entropy of each visited
    state's next-token distribution, not the entropy of the distribution over completions: its
    gradient leaves out how the policy moves which states are reached, and on the tasks of
    docs/estimators.md it is 38-50% away from ∇(J + coef·H), exactly, at every k. Static ``coef``, or adaptive to a ``target``
    mean entropy per token (nats), as TRL's adaptive entropy control (``GRPOConfig``:
    ``use_adaptive_entropy``, ``entropy_target``, ``entropy_coef_delta``/``_min``/``_max``): after each
    batch, with H̄ the measured mean token entropy of π on the batch,

        coef ← min(coef + delta, coef_max)   if H̄ ≤ target
        coef ← max(coef − delta, coef_min)   otherwise

    (a bang-bang controller: the coefficient walks up while entropy is below target and back down,
    to ``coef_min``, once it recovers). ``coef`` is the starting value. H̄ is measured in :meth:`loss`
    on π's logits of the trained rows; if no loss was computed for a batch, on the rollout's
    recorded entropy (that of the distribution sampled from). ``update`` logs ``entropy_coef`` (the
    coefficient this batch was trained with) and ``policy_entropy`` (H̄).

    Does not change the sampling distribution. Source: Williams & Peng 1991; CleanRL's ``ent_coef``;
    TRL's adaptive entropy control.
    """

    name = "entropy"

    def __init__(
        self,
        coef: float = 0.01,
        target: float | None = None,
        delta: float = 0.005,
        coef_min: float = 0.0,
        coef_max: float = 1.0,
    ):
        self.coef = non_negative("entropy coef", coef)
        self.target = None if target is None else non_negative("entropy target", target)
        self.delta = positive("entropy delta", delta)
        self.coef_min = non_negative("entropy coef_min", coef_min)
        self.coef_max = number("entropy coef_max", coef_max, self.coef_min)
        if self.target is not None and not self.coef_min <= self.coef <= self.coef_max:
            raise ValueError(
                f"entropy coef={self.coef:g} must lie in [coef_min, coef_max] = [{self.coef_min:g}, {self.coef_max:g}]"
            )
        self._coef = self.coef  # the coefficient in use (adaptive: changes after every batch)
        self._measured: float | None = None  # H̄ of the batch, from loss()

    @classmethod
    def at_zero(cls) -> EntropyBonus:
        return cls(coef=0.0)

    @property
    def current_coef(self) -> float:
        return self._coef

    @property
    def adds_loss(self) -> bool:
        return self._coef > 0 or self.target is not None

    def loss(self, batch: LossContext) -> Tensor | None:
        mask = batch.mask.float()
        with torch.set_grad_enabled(self._coef != 0 and torch.is_grad_enabled()):
            entropy = token_entropy(batch.logits) * mask  # (B, C)
        self._measured = float(entropy.detach().sum() / mask.sum().clamp(min=1))
        if self._coef == 0:
            return None  # measured only (the adaptive coefficient may rise from zero)
        return -self._coef * entropy.sum() / batch.num_sequences

    def update(self, rollout: Rollout, scalars: dict[str, float]) -> dict[str, float]:
        measured = self._measured
        if measured is None:  # no loss this batch: the entropy the rollout recorded
            measured = float(rollout.entropy.sum() / rollout.mask.sum().clamp(min=1))
        self._measured = None
        used = self._coef
        if self.target is not None:
            if measured <= self.target:
                self._coef = min(self._coef + self.delta, self.coef_max)
            else:
                self._coef = max(self._coef - self.delta, self.coef_min)
        return {"entropy_coef": used, "policy_entropy": measured}

    def state(self) -> dict[str, Tensor]:
        """The coefficient in use, when it adapts."""
        return {} if self.target is None else {"coef": torch.tensor(self._coef, dtype=torch.float64)}

    def load_state(self, state: dict[str, Tensor]) -> None:
        if self.target is None:
            super().load_state(state)
            return
        coef = state.get("coef")
        if coef is None or coef.numel() != 1:
            raise ValueError(f"entropy state needs the coefficient in use, got {sorted(state)}")
        self._coef = number("entropy coef (saved)", float(coef), self.coef_min, self.coef_max)


class KLPenalty(Strategy):
    """KL penalty: loss term coef · Σ_t KL(π(·|s_t) ‖ π_ref(·|s_t)) / B, exact over the vocabulary.

    Holds π near a reference: the agent's ``reference`` (for example the SL policy RL started from),
    or, if it has none, a frozen copy of the policy taken at :meth:`bind` (the start of training),
    which becomes the agent's reference (so a checkpoint holds it).
    The reference's logits are computed under no_grad on the same batch. ``update`` logs
    ``kl_coef`` and ``kl_to_reference`` (mean KL per token of the batch).

    Does not change the sampling distribution. Source: the KL-regularised RLHF objective (Ziegler et
    al. 2019, "Fine-tuning language models from human preferences"); TRL's ``beta``.
    """

    name = "kl"

    def __init__(self, coef: float = 0.05):
        self.coef = non_negative("kl coef", coef)
        self._agent: ReinforceAgent | None = None
        self._measured: float | None = None

    @classmethod
    def at_zero(cls) -> KLPenalty:
        return cls(coef=0.0)

    @property
    def adds_loss(self) -> bool:
        return self.coef > 0

    @property
    def reference(self) -> nn.Module | None:
        """The agent's reference, read at every batch (loading a checkpoint replaces it)."""
        return None if self._agent is None else self._agent.reference

    def bind(self, agent: ReinforceAgent) -> None:
        if self.coef == 0:
            return  # nothing to hold near: no copy of the policy is made
        self._agent = agent
        if agent.reference is None:
            agent.reference = agent.frozen_copy()

    def loss(self, batch: LossContext) -> Tensor | None:
        if self.coef == 0:
            return None
        reference = self.reference
        if reference is None:
            raise RuntimeError("the kl strategy has no reference policy: call bind(agent) before training")
        mask = batch.mask.float()
        with torch.no_grad():
            reference_logits = completion_logits(reference, batch.context, batch.completion)  # (B, C, V)
        kl = token_kl(batch.logits, reference_logits) * mask  # (B, C)
        self._measured = float(kl.detach().sum() / mask.sum().clamp(min=1))
        return self.coef * kl.sum() / batch.num_sequences

    def update(self, rollout: Rollout, scalars: dict[str, float]) -> dict[str, float]:
        if self.coef == 0:
            return {}
        measured, self._measured = self._measured, None
        return {"kl_coef": self.coef, "kl_to_reference": float("nan") if measured is None else measured}
