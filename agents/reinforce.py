"""REINFORCE: the weighted log-likelihood of the policy's own samples, w = G − b.

Same loss as :mod:`agents.sl`; the data now come from the policy, through the
env, and each token is weighted by how much better than the baseline its
episode's return was. Optional entropy bonus, and a KL penalty to a frozen
reference policy (for example the SL policy it started from): SL → RL in
miniature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from agents.base import Agent, _check_non_negative, _check_positive_int
from agents.baselines import GROUP_BASELINES, Baseline, returns
from agents.objective import policy_loss
from agents.policy import Policy
from agents.rollout import LogitsHook, RolloutSampler


class ReinforceAgent(Agent):
    """On-policy REINFORCE over batches of ``n_envs`` episodes (``group_size`` samples per prompt).

    Args (beyond :class:`~agents.base.Agent`'s):
        n_envs: episodes per update (rows of the vector env).
        group_size: samples per prompt in a batch (k); rloo and grpo need k >= 2.
        baseline: "none", "moving_average", "rloo" or "grpo" (see :mod:`agents.baselines`).
        gamma: discount of the returns G_t (1: every token of an episode gets its final reward).
        ent_coef: weight of the entropy bonus.
        kl_coef: weight of the KL penalty to ``reference``.
        reference: the frozen policy of the KL penalty (a policy or an agent; copied and frozen);
            with ``kl_coef > 0`` and no reference, a frozen copy of the initial policy.
        logits_hook: ``hook(logits, step) -> logits`` applied before sampling (exploration).
        importance_correction: with a hook, weight each token by min(1, π/β), β the hooked
            distribution it was sampled from (without one, β = π and nothing changes).
        max_grad_norm: gradient clipping (None: off).

    ``learn(total_timesteps)`` counts env steps (tokens generated in episodes).
    """

    algorithm = "reinforce"

    def __init__(
        self,
        env: object,
        policy: nn.Module | Agent | None = None,
        seed: int = 0,
        *,
        n_envs: int = 256,
        group_size: int = 8,
        baseline: str = "rloo",
        gamma: float = 1.0,
        ent_coef: float = 0.0,
        kl_coef: float = 0.0,
        reference: nn.Module | Agent | None = None,
        logits_hook: LogitsHook | None = None,
        importance_correction: bool = True,
        learning_rate: float = 1e-3,
        max_grad_norm: float | None = 1.0,
        **kwargs: Any,
    ):
        if not (isinstance(gamma, int | float) and 0.0 <= gamma <= 1.0):
            raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
        group_size = _check_positive_int("group_size", group_size)
        if baseline in GROUP_BASELINES and group_size < 2:
            raise ValueError(f"baseline {baseline!r} compares samples of one prompt: group_size must be >= 2")
        hyperparameters = {
            "group_size": group_size,
            "baseline": baseline,
            "gamma": float(gamma),
            "ent_coef": _check_non_negative("ent_coef", ent_coef),
            "kl_coef": _check_non_negative("kl_coef", kl_coef),
            "max_grad_norm": None if max_grad_norm is None else _check_non_negative("max_grad_norm", max_grad_norm),
            "importance_correction": bool(importance_correction),
        }
        self.baseline = Baseline(baseline)
        super().__init__(
            env, policy, seed, n_envs=n_envs, learning_rate=learning_rate, hyperparameters=hyperparameters, **kwargs
        )
        self.group_size, self.gamma = group_size, float(gamma)
        self.ent_coef, self.kl_coef = hyperparameters["ent_coef"], hyperparameters["kl_coef"]
        self.max_grad_norm = hyperparameters["max_grad_norm"]
        self.importance_correction = hyperparameters["importance_correction"] and logits_hook is not None
        self.sampler = RolloutSampler(self.train_env, group_size, seed=self.seed, logits_hook=logits_hook)
        self.reference: Policy | None = None
        if reference is not None:
            self.reference = self._frozen(reference.policy if isinstance(reference, Agent) else reference)
        elif self.kl_coef > 0:
            self.reference = self.frozen_copy()

    def _frozen(self, policy: nn.Module) -> Policy:
        config = getattr(policy, "config", None)
        if config is None or config.vocab_size != self.policy.config.vocab_size:
            raise ValueError("reference must be a policy (or agent) over the same vocabulary as this agent's")
        original, self.policy = self.policy, policy
        try:
            return self.frozen_copy()
        finally:
            self.policy = original

    def _update(self) -> dict[str, float]:
        rollout = self.sampler.sample(self.policy, self.generator)
        G = returns(rollout.rewards, rollout.mask, self.gamma)  # (B, C)
        advantages = self.baseline(G, rollout.mask, rollout.group_size)
        rows = torch.arange(len(G))
        if self.ent_coef == 0 and (self.reference is None or self.kl_coef == 0):
            rows = rows[advantages.weights.abs().sum(dim=1) > 0]  # zero-weight episodes add nothing: skip them
        loss = kl = torch.zeros(())
        grad_norm = 0.0
        if len(rows):
            terms = policy_loss(
                self.policy,
                rollout.context[rows],
                rollout.completion[rows],
                rollout.mask[rows],
                advantages.weights[rows],  # REINFORCE: w = G − b on tokens the policy chose
                ent_coef=self.ent_coef,
                reference=self.reference,
                kl_coef=self.kl_coef,
                num_sequences=len(G),
                behaviour_log_probs=rollout.behaviour_log_probs[rows] if self.importance_correction else None,
            )
            grad_norm = self._step(terms.loss, self.max_grad_norm)
            loss, kl = terms.loss.detach(), terms.kl
        tokens = rollout.mask.sum().clamp(min=1)
        return {
            "timesteps": rollout.num_tokens,
            "loss": float(loss),
            "mean_reward": float(rollout.episode_return.mean()),
            "success_rate": float(rollout.success.float().mean()),
            "entropy": float(rollout.entropy.sum() / tokens),  # of the distribution sampled from
            "kl": float(kl),
            "zero_advantage_fraction": advantages.zero_advantage_fraction,
            "trained_fraction": len(rows) / len(G),
            "mean_length": float(rollout.lengths.float().mean()),
            "env_share": rollout.env_share,
            "grad_norm": grad_norm,
        }

    def _extra_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {} if self.reference is None else {"reference": self.reference.state_dict()}

    def _load_extra_state(self, states: dict[str, dict[str, torch.Tensor]], path: Path) -> None:
        if "reference" in states:
            self.reference = self.frozen_copy()
            try:
                self.reference.load_state_dict(states["reference"])
            except RuntimeError as error:
                raise ValueError(f"{path}: reference weights do not match the policy: {error}") from None
