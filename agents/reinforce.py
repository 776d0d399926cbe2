"""REINFORCE: the weighted log-likelihood of the policy's own samples, w = G − b.

Same loss as :mod:`agents.sl`; the data now come from the policy, through the
env, and each token is weighted by how much better than the baseline its
episode's return was. Optional entropy bonus, and a KL penalty to a frozen
reference policy (for example the SL policy it started from): SL → RL in
miniature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from agents import checkpoint
from agents.base import Agent, AgentConfig, _normalise
from agents.baselines import BASELINES, GROUP_BASELINES, Baseline, returns
from agents.exploration import EntropyBonus, KLPenalty, LossContext, Strategies, Strategy, parse_strategies
from agents.objective import CORRECTIONS, policy_loss
from agents.policy import Policy
from agents.rollout import Rollout, RolloutSampler
from token_gym import TokenVectorEnv, checks


@dataclass(frozen=True, kw_only=True)
class ReinforceConfig(AgentConfig):
    """REINFORCE's hyperparameters, beyond :class:`~agents.base.AgentConfig`'s."""

    n_envs: int = 256
    """Episodes per update: rows of the training vector env, a multiple of ``group_size``."""
    group_size: int = 8
    """Samples per prompt in a batch (k); the group baselines (rloo, grpo) need k >= 2."""
    baseline: str = "rloo"
    """What is subtracted from the return: "none", "moving_average", "rloo" or "grpo" (:mod:`agents.baselines`)."""
    gamma: float = 1.0
    """Discount of the returns G_t, in [0, 1] (1: every token of an episode gets its final reward)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus (>= 0): short for the strategy ``"entropy:coef=..."``."""
    kl_coef: float = 0.0
    """Weight of the KL penalty to the reference policy (>= 0): short for the strategy ``"kl:coef=..."``;
    with no ``reference`` given, the reference is a frozen copy of the initial policy."""
    strategies: list[str | dict[str, Any]] = field(default_factory=list)
    """Exploration strategies, by name with parameters (``"temperature:t=1.5"`` or a dict with a
    ``"name"``), applied in order (:mod:`agents.exploration`; ``token-gym list strategies``)."""
    importance_correction: str = "truncated"
    """When a strategy changes the sampling distribution (β ≠ π): "truncated" (each token's weight
    times min(1, π/β)), "sequence" (times the sequence ratio ∏ π/β: exact, high variance) or "none".
    With on-policy sampling nothing is corrected, whatever this says."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _normalise(
            self,
            group_size=checks.positive_int("group_size", self.group_size),
            baseline=checks.choice("baseline", self.baseline, BASELINES),
            gamma=checks.number("gamma", self.gamma, 0.0, 1.0),
            ent_coef=checks.non_negative("ent_coef", self.ent_coef),
            kl_coef=checks.non_negative("kl_coef", self.kl_coef),
            strategies=_strategy_specs(self.strategies),
            importance_correction=_correction(self.importance_correction),
        )
        if self.baseline in GROUP_BASELINES and self.group_size < 2:
            raise ValueError(f"baseline {self.baseline!r} compares samples of one prompt: group_size must be >= 2")
        if self.n_envs % self.group_size:
            raise ValueError(f"n_envs ({self.n_envs}) must be a multiple of group_size ({self.group_size})")


def _strategy_specs(strategies: object) -> list[str | dict[str, Any]]:
    """Specs as the config keeps them (JSON, so a checkpoint holds them): strings and dicts; a Strategy
    object becomes its spec ``"name:k=v,..."``. Each is parsed once here, so a bad one fails now."""
    if strategies is None or isinstance(strategies, str | dict | Strategy):
        strategies = [] if strategies in (None, "none") else [strategies]
    if not isinstance(strategies, list | tuple):
        raise ValueError(f"strategies must be a list of strategy specs, got {strategies!r}")
    specs = [repr(s) if isinstance(s, Strategy) else s for s in strategies]
    parse_strategies(specs)
    return specs


def _correction(value: object) -> str:
    if isinstance(value, bool):  # checkpoints of format 2 held a bool
        return "truncated" if value else "none"
    return checks.choice("importance_correction", value, CORRECTIONS)


@dataclass
class ReinforceLoss:
    loss: Tensor | None  # what the optimizer minimises (None: every weight was zero, nothing to learn)
    zero_advantage_fraction: float  # share of groups whose samples all got the same return
    trained_fraction: float  # share of the batch's episodes that entered the loss


def reinforce_loss(
    policy: nn.Module,
    rollout: Rollout,
    baseline: Baseline,
    strategies: Strategies,
    correction: str = "truncated",
    gamma: float = 1.0,
    skip_zero_weights: bool = True,
) -> ReinforceLoss:
    """REINFORCE on one rollout, the way the paper reads:

    shaped rewards R → returns G → advantages w = G − b → the strategies' weights → the weighted
    log-likelihood −Σ w log π / B (importance-corrected with ``correction`` when the strategies sampled
    from β ≠ π) → plus the strategies' loss terms. Episodes whose weights are all zero add nothing to
    the gradient and are left out (``skip_zero_weights``) unless a strategy adds a loss term.
    """
    R = strategies.rewards(rollout, rollout.episode_return.float())  # (B,) shaped episode rewards
    G = returns(rollout.per_step(R), rollout.mask, gamma)  # (B, C)
    advantages = baseline(G, rollout.mask, rollout.group_size)
    weights = strategies.weights(advantages.weights, rollout)  # (B, C) REINFORCE: w = G − b
    rows = torch.arange(len(G))
    if skip_zero_weights and not strategies.adds_loss:
        rows = rows[weights.abs().sum(dim=1) > 0]
    loss = None
    if len(rows):
        off_policy = strategies.changes_sampling
        context, completion, mask = rollout.context[rows], rollout.completion[rows], rollout.mask[rows]
        terms = policy_loss(
            policy,
            context,
            completion,
            mask,
            weights[rows],
            num_sequences=len(G),
            behaviour_log_probs=rollout.behaviour_log_probs[rows] if off_policy else None,
            correction=correction if off_policy else "none",
        )
        extra = strategies.loss(LossContext(terms.logits, context, completion, mask.float(), len(G)))
        loss = terms.loss if extra is None else terms.loss + extra
    return ReinforceLoss(loss, advantages.zero_advantage_fraction, len(rows) / len(G))


class ReinforceAgent(Agent):
    """On-policy REINFORCE over batches of ``n_envs`` episodes (``group_size`` samples per prompt).

    Args (beyond :class:`~agents.base.Agent`'s):
        reference: the frozen policy of the KL penalty (a policy or an agent; copied and frozen);
            with ``kl_coef > 0`` and no reference, a frozen copy of the initial policy.
        **hyperparameters: the fields of :class:`ReinforceConfig`; ``strategies`` also takes
            :class:`~agents.exploration.Strategy` objects (kept in the config as their specs).

    ``learn(total_timesteps)`` counts env steps (tokens generated in episodes).
    """

    algorithm = "reinforce"
    config_class = ReinforceConfig
    config: ReinforceConfig

    def __init__(
        self,
        env: object,
        policy: nn.Module | Agent | None = None,
        seed: int = 0,
        *,
        reference: nn.Module | Agent | None = None,
        **kwargs: Any,
    ):
        given = kwargs.get("strategies")  # Strategy objects are used as given; the config keeps their specs
        super().__init__(env, policy, seed, **kwargs)
        self.baseline = Baseline(self.config.baseline)
        self.sampler = RolloutSampler(self.train_env, self.config.group_size, seed=self.config.seed)
        self._samplers: dict[int, RolloutSampler] = {}  # of the envs a curriculum switches to
        self.reference: Policy | None = None
        self._reference_given = reference is not None  # else the reference is this agent's starting policy
        if reference is not None:
            self.reference = self._frozen(reference.policy if isinstance(reference, Agent) else reference)
        sugar = [EntropyBonus(self.config.ent_coef)] if self.config.ent_coef > 0 else []
        sugar += [KLPenalty(self.config.kl_coef)] if self.config.kl_coef > 0 else []
        self.strategies = Strategies(sugar + parse_strategies(self.config.strategies if given is None else given).items)
        self.strategies.bind(self)  # a KL penalty makes the reference here if none was given

    @property
    def correction(self) -> str:
        """The importance correction applied: the config's, when a strategy changes the sampling distribution."""
        return self.config.importance_correction if self.strategies.changes_sampling else "none"

    def _sampler(self, env: TokenVectorEnv) -> RolloutSampler:
        """The sampler of ``env``: the training env's, or one per env a curriculum switches to."""
        if env is not self.sampler.env:
            if id(env) not in self._samplers:
                self._samplers[id(env)] = RolloutSampler(env, self.config.group_size, seed=self.config.seed)
            return self._samplers[id(env)]
        return self.sampler

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
        strategies = self.strategies
        sampler = self._sampler(strategies.environment(self.train_env))
        sampler.logits_hook = strategies.logits if strategies.changes_sampling else None
        rollout = sampler.sample(self.policy, self.generator, restart=strategies.starts)
        batch = reinforce_loss(
            self.policy, rollout, self.baseline, strategies, self.config.importance_correction, self.config.gamma
        )
        grad_norm = 0.0 if batch.loss is None else self._step(batch.loss, self.config.max_grad_norm)
        tokens = rollout.mask.sum().clamp(min=1)
        scalars = {
            "timesteps": rollout.num_tokens,
            "loss": 0.0 if batch.loss is None else float(batch.loss.detach()),
            "mean_reward": float(rollout.episode_return.mean()),
            "success_rate": float(rollout.success.float().mean()),
            "entropy": float(rollout.entropy.sum() / tokens),  # of the distribution sampled from
            "zero_advantage_fraction": batch.zero_advantage_fraction,
            "trained_fraction": batch.trained_fraction,
            "mean_length": float(rollout.lengths.float().mean()),
            "env_share": rollout.env_share,
            "grad_norm": grad_norm,
        }
        scalars.update(strategies.update(rollout, scalars))
        return scalars

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        scalars, members = super()._state()
        scalars["baseline_value"] = self.baseline.value  # the moving average's running state
        if self.reference is not None:
            members["reference"] = self.reference.state_dict()
        members["random"].update(self._env_draws())
        if state := self.strategies.state():
            members["strategies"] = state
        return scalars, members

    def _load_state(
        self, scalars: dict[str, Any], members: dict[str, Any], path: Path, saved: AgentConfig, same_task: bool
    ) -> None:
        super()._load_state(scalars, members, path, saved, same_task)
        value = scalars.pop("baseline_value")
        self.baseline.value = None if value is None else checks.number(f"{path}: baseline_value", value)
        if "reference" in members:
            self.reference = self.frozen_copy()
            try:
                self.reference.load_state_dict(members.pop("reference"))
            except RuntimeError as error:
                raise ValueError(f"{path}: reference weights do not match the policy: {error}") from None
        elif self.reference is not None and not self._reference_given:  # kl_coef > 0 only by an override
            self.reference = self.frozen_copy()  # the policy it starts from is the loaded one
        draws = {
            name: members["random"].pop(name) for name in ("env_random", "env_counter") if name in members["random"]
        }
        if draws and same_task and saved.n_envs == self.config.n_envs:
            self._restore_env_draws(draws)
        strategies = members.pop("strategies", {})
        same_strategies = all(
            getattr(saved, k) == getattr(self.config, k) for k in ("strategies", "ent_coef", "kl_coef")
        )
        if strategies and same_task and same_strategies and saved.n_envs == self.config.n_envs:
            try:  # counts, archives and a curriculum's envs are of this task; other strategies start afresh
                self.strategies.load_state(strategies)
            except (ValueError, TypeError, RuntimeError) as error:
                raise ValueError(f"{path}: strategies.pt: {error}") from None

    # The env's prompt draws: RolloutSampler and TokenVectorEnv expose no state of their own yet, so
    # these two read and set their private fields (_seeded, _counter) and the env's np_random.

    def _env_draws(self, sampler: RolloutSampler | None = None) -> dict[str, torch.Tensor]:
        """Where the env's prompt draws stand (the training env's, or ``sampler``'s), so that a loaded agent
        draws the prompts that would have come next."""
        sampler = sampler or self.sampler
        env = sampler.env
        counter, random = env.unwrapped._counter, checkpoint.numpy_state(env.np_random)
        if not sampler._seeded or counter is None or random is None:
            return {}  # before the first rollout (the sampler seeds the env then) or an unusual generator
        return {"env_random": random, "env_counter": torch.from_numpy(counter.view(np.int64).copy())}

    def _restore_env_draws(self, draws: dict[str, torch.Tensor], sampler: RolloutSampler | None = None) -> None:
        sampler = sampler or self.sampler
        env = sampler.env
        checkpoint.set_numpy_state(env.np_random, draws["env_random"])
        env.unwrapped._counter = draws["env_counter"].numpy().astype(np.int64).view(np.uint64).copy()
        sampler._seeded = True
