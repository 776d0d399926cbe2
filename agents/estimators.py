"""Gradient estimators measured against the exact gradient: bias, variance and cosine as a function of k.

Every REINFORCE variant ascends ``E[w · ∇ log π]`` with some weights w; they differ in the
baseline (none, a moving average, RLOO, GRPO's normalised advantage), in extra loss terms (an
entropy bonus) and in where the samples come from (π itself, or a tempered β = softmax(z / t)
with an importance correction). On a task small enough to enumerate (:mod:`agents.exact`), the
true gradient is known, so each estimator's bias and variance can be *measured* instead of argued::

    truth, rows = study(policy, env, standard_estimators(), ks=(2, 4, 8, 16), num_batches=200)
    for row in rows:  # one Comparison per estimator and k
        print(row.estimator, row.k, row.bias, row.scale, row.variance, row.cosine)

A batch is k samples of every prompt of the env's split (prompts stratified, k consecutive rows
each: the layout :class:`agents.baselines.Baseline` groups by), so its expectation weighs the
prompts as J does. Each estimate is formed by :func:`estimator_gradient` from the agent's own loss,
:func:`agents.reinforce.reinforce_loss` (strategy hooks, ``returns``, ``Baseline``, ``policy_loss``
with the behaviour log-probs, the strategies' loss terms); tests/test_estimators.py checks that it
gives the agent's gradient on the agent's own batch.

The estimators that sample from the same distribution see the same batches (common random
numbers): their differences carry less sampling noise than separate runs would. Stateful baselines (the moving average)
keep their state from batch to batch: they run along the sequence of batches at fixed parameters,
after ``warmup`` batches that only update the state. Their estimates are then not independent, but
E[ĝ_m − ∇J | the batches before] = 0 for an unbiased one (the baseline is fixed before batch m is
drawn), so the estimates are uncorrelated and the mean's standard error is the usual one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.baselines import GROUP_BASELINES, Baseline
from agents.envs import env_source, make_vec
from agents.exact import CompletionTree, enumerate_completions, exact_gradient, node_log_probs, prompt_contexts
from agents.exploration import EntropyBonus, Strategies, parse_strategies
from agents.objective import CORRECTIONS, token_entropy
from agents.reinforce import reinforce_loss
from agents.rollout import Rollout, RolloutSampler
from token_gym import TokenVectorEnv, checks

# -- what an estimator is -----------------------------------------------------------------------


@dataclass(frozen=True)
class Estimator:
    """One way to turn a batch into a gradient: a baseline, strategies (specs, as ``ReinforceAgent`` takes
    them) and the importance correction applied when a strategy changes the sampling distribution."""

    name: str
    baseline: str = "none"
    strategies: tuple[str, ...] = ()
    correction: str = "truncated"
    momentum: float = 0.9  # the moving-average baseline's

    def __post_init__(self) -> None:
        checks.choice("correction", self.correction, CORRECTIONS)
        Baseline(self.baseline, self.momentum)  # fails now on a bad name
        if any(isinstance(s, EntropyBonus) and s.target is not None for s in self.parse().items):
            raise ValueError("an adaptive entropy bonus has no fixed objective to compare with; give a static coef")

    def parse(self) -> Strategies:
        """Fresh strategy objects (they may hold state)."""
        return parse_strategies(list(self.strategies))

    @property
    def entropy_coef(self) -> float:
        """c of the regularised objective J + c·H̄ that the strategies' entropy bonus (if any) claims to ascend."""
        return sum(s.coef for s in self.parse().items if isinstance(s, EntropyBonus))

    @property
    def sampling(self) -> tuple[str, ...]:
        """The strategies that change the sampling distribution: estimators with the same share batches."""
        return tuple(repr(s) for s in self.parse().items if s.changes_sampling)

    @property
    def target(self) -> str:
        """What its expectation should be: ∇J, or ∇(J + c·H̄) with an entropy bonus."""
        c = self.entropy_coef
        return "∇J" if c == 0 else f"∇(J + {c:g}·H)"


# -- the exact side -------------------------------------------------------------------------------


def flat(gradients: list[Tensor]) -> Tensor:
    """(D,) one vector of a gradient given per parameter."""
    return torch.cat([g.reshape(-1) for g in gradients])


def surprisal_tree(tree: CompletionTree) -> CompletionTree:
    """The same tree, each leaf paying its own surprisal −log π(c | prompt) (a constant) instead of the reward.

    Its "objective" is the mean entropy H̄ of the completion distributions, and :func:`exact_gradient` of
    it is ∇H̄: ∇H = −Σ_c ∇π(c) (log π(c) + 1) = E[−log π(c) · ∇ log π(c)], because Σ_c ∇π(c) = 0 on a
    complete tree. So the entropy's gradient is REINFORCE's with reward −log π, and agents.exact computes it.
    """
    levels = []
    for level in tree.levels:
        surprisal = -(level.log_prob[:, None] + level.next_log_prob)  # (N, V) −log π(prefix + token)
        levels.append(replace(level, reward=np.where(level.done, surprisal, 0.0)))
    return replace(tree, levels=levels)


def per_token_entropy_gradient(policy: nn.Module, tree: CompletionTree, batch_size: int = 4096) -> list[Tensor]:
    """E_c[Σ_t ∇H(π(· | s_t))] = mean_prompt Σ_nodes π(node) ∇H(π(· | node)): what :class:`EntropyBonus`
    ascends in expectation (it differentiates the entropies of the states visited, not which states are).

    The difference from ∇H̄ is the score-function term E[Σ_t (Σ_{t' > t} H_{t'}) ∇ log π(a_t | s_t)]: a
    token that leads to more uncertain futures raises the completion entropy, and the bonus does not see it.
    """
    parameters = list(policy.parameters())
    gradient = [torch.zeros_like(p) for p in parameters]
    contexts = prompt_contexts(tree.encoded_task)
    was_training = policy.training
    policy.eval()
    try:
        for level in tree.levels:  # node batch by node batch, summed: memory holds one batch of forward passes
            for s in range(0, len(level.prompt_index), batch_size):
                rows = slice(s, s + batch_size)
                log_p, _ = node_log_probs(policy, contexts, level, rows)  # (B, V)
                reach = torch.from_numpy(np.exp(level.log_prob[rows]) / len(tree.prompts)).float()  # (B,) π(node)
                surrogate = (reach * token_entropy(log_p)).sum()  # token_entropy's log_softmax of log π is log π
                pieces = torch.autograd.grad(surrogate, parameters, allow_unused=True)
                for total, piece in zip(gradient, pieces, strict=True):
                    if piece is not None:
                        total += piece
    finally:
        policy.train(was_training)
    return gradient


@dataclass
class ExactTargets:
    """The truth an estimate is compared with, for one policy on one set of prompts (flat (D,) vectors)."""

    objective: float  # J
    entropy: float  # H̄: mean over prompts of the entropy (nats) of the completion distribution
    gradient: Tensor  # (D,) ∇J
    entropy_gradient: Tensor  # (D,) ∇H̄
    per_token_entropy_gradient: Tensor  # (D,) E[Σ_t ∇H(π(·|s_t))]: what the entropy bonus estimates
    num_completions: int

    def target(self, estimator: Estimator) -> Tensor:
        """(D,) ∇J, or ∇(J + c·H̄) for an estimator with an entropy bonus of coefficient c."""
        return self.gradient + estimator.entropy_coef * self.entropy_gradient

    def expectation(self, estimator: Estimator) -> Tensor | None:
        """(D,) the exact E[ĝ] where it is known in closed form: ∇J plus c times the bonus's own expectation
        (on-policy, an unbiased baseline, no strategy but an entropy bonus); None otherwise."""
        known = all(isinstance(s, EntropyBonus) for s in estimator.parse().items)
        if not known or estimator.baseline == "grpo":
            return None
        return self.gradient + estimator.entropy_coef * self.per_token_entropy_gradient


def exact_targets(
    policy: nn.Module, env: TokenVectorEnv, prompt_index: np.ndarray | list[int] | None = None
) -> ExactTargets:
    """J, H̄ and their gradients by enumerating every completion (:mod:`agents.exact`)."""
    tree = enumerate_completions(policy, env, prompt_index)
    surprisal = surprisal_tree(tree)
    return ExactTargets(
        objective=tree.objective(),
        entropy=surprisal.objective(),
        gradient=flat(exact_gradient(policy, tree)),
        entropy_gradient=flat(exact_gradient(policy, surprisal)),
        per_token_entropy_gradient=flat(per_token_entropy_gradient(policy, tree)),
        num_completions=tree.num_completions,
    )


# -- the sampled side -----------------------------------------------------------------------------


def estimator_gradient(
    policy: nn.Module,
    rollout: Rollout,
    baseline: Baseline,
    strategies: Strategies,
    correction: str,
) -> tuple[Tensor, float]:
    """(D,) the ascent direction one REINFORCE update would take from ``rollout`` (−∇ of its loss), and the
    share of groups whose advantages were all zero (they teach nothing: reported, not hidden).

    The agent's own loss (:func:`agents.reinforce.reinforce_loss`), every row scored (the agent skips
    zero-weight rows when nothing adds a loss: the same gradient). The strategies' ``update`` runs
    afterwards, as after the agent's step, so stateful ones move along a sequence of batches.
    """
    batch = reinforce_loss(policy, rollout, baseline, strategies, correction, skip_zero_weights=False)
    parameters = list(policy.parameters())
    pieces = torch.autograd.grad(batch.loss, parameters, allow_unused=True)
    strategies.update(rollout, {})
    gradient = -flat([torch.zeros_like(p) if g is None else g for p, g in zip(parameters, pieces, strict=True)])
    return gradient, batch.zero_advantage_fraction


@dataclass
class Samples:
    """The estimates of one estimator at one k: (M, D) gradients and each batch's zero-advantage share."""

    gradients: Tensor  # (M, D)
    zero_advantage_fraction: Tensor  # (M,)
    samples_per_batch: int


def sample_gradients(
    policy: nn.Module,
    env: TokenVectorEnv,
    estimators: list[Estimator],
    k: int,
    num_batches: int,
    seed: int = 0,
    prompt_index: np.ndarray | list[int] | None = None,
    warmup: int = 10,
) -> dict[str, Samples]:
    """{estimator name: its estimates} from ``num_batches`` batches of (prompts × k) samples.

    ``env`` gives the task (its id and kwargs, and its split's prompts unless ``prompt_index`` names
    them); the batches are sampled through a ``gym.make_vec`` env of that task with prompts × k rows
    (:func:`agents.envs.make_vec`, as the agents build theirs). One batch per sampling distribution per
    step, shared by the estimators that sample from it. Stateful baselines first see ``warmup`` batches
    that only update their state. Seeded: the same call gives the same numbers. The policy's parameters
    are never changed.
    """
    k = checks.positive_int("k", k)
    env_id, kwargs = env_source(env)
    prompts = np.sort(env.unwrapped.prompt_indices() if prompt_index is None else np.asarray(prompt_index))
    rows = np.repeat(prompts, k)  # (P·k,) k consecutive rows per prompt: the groups Baseline compares
    vector_env = make_vec(env_id, kwargs, len(rows), env.unwrapped.split)
    generator = torch.Generator().manual_seed(seed)
    groups: dict[tuple[str, ...], list[Estimator]] = {}
    for estimator in estimators:
        groups.setdefault(estimator.sampling, []).append(estimator)
    samplers = {
        sampling: RolloutSampler(vector_env, seed=seed, logits_hook=members[0].parse().logits if sampling else None)
        for sampling, members in groups.items()
    }
    state = {e.name: (Baseline(e.baseline, e.momentum), e.parse()) for e in estimators}
    has_history = {e.name: e.baseline == "moving_average" for e in estimators}
    gradients: dict[str, list[Tensor]] = {e.name: [] for e in estimators}
    zero: dict[str, list[float]] = {e.name: [] for e in estimators}
    start = -warmup if any(has_history.values()) else 0
    for m in range(start, num_batches):
        for sampling, members in groups.items():
            members = [e for e in members if m >= 0 or has_history[e.name]]
            if not members:
                continue
            rollout = samplers[sampling].sample(policy, generator, prompt_index=rows)
            rollout = replace(rollout, group_size=k)  # the rows are groups of k, as the sampler laid them out
            for estimator in members:
                baseline, strategies = state[estimator.name]
                g, zero_share = estimator_gradient(policy, rollout, baseline, strategies, estimator.correction)
                if m >= 0:
                    gradients[estimator.name].append(g)
                    zero[estimator.name].append(zero_share)
    return {name: Samples(torch.stack(gradients[name]), torch.tensor(zero[name]), len(rows)) for name in gradients}


# -- the comparison -------------------------------------------------------------------------------


@dataclass
class Comparison:
    """How M estimates ĝ_m of one estimator at one k compare with its target g, in units of |g| (|g|² for variances).

    ``bias`` is |ḡ − g| / |g|; even an unbiased estimator shows |ḡ − g| ≈ ``noise`` = √(tr Σ̂ / M) / |g|,
    so a bias is seen only where it stands well above that floor. ``scale`` is the component along g,
    ḡ·g / |g|² (1 if unbiased), with its standard error: one coordinate, so far more precise than the
    bias norm over D; ``perpendicular`` is the rest of ḡ − g, which is 0 (up to its own noise floor) for
    an estimator whose expectation is a positive multiple of g. ``cosine`` is cos(ḡ, g) (below 1 by about noise²/2 even if unbiased); the mean
    cosine of single batches, cos(ĝ_m, g), says how well one update points.
    """

    estimator: str
    target: str  # "∇J" or "∇(J + c·H)"
    k: int
    num_batches: int  # M
    samples_per_batch: int  # prompts × k
    bias: float  # |ḡ − g| / |g|
    noise: float  # √(tr Σ̂ / M) / |g|: the bias expected from noise alone
    scale: float  # ḡ·g / |g|²
    scale_se: float
    perpendicular: float  # |ḡ − (ḡ·u) u| / |g|, u = g / |g|: how far the mean points off g
    perpendicular_noise: float  # √(tr Σ̂_⊥ / M) / |g|: the same expected from noise alone
    variance: float  # tr Σ̂ / |g|², Σ̂ the covariance of one batch's estimate
    variance_se: float
    cosine: float  # cos(ḡ, g)
    batch_cosine: float  # mean over batches of cos(ĝ_m, g)
    batch_cosine_se: float
    zero_advantage_fraction: float | None  # mean share of groups whose advantages are all zero (group baselines)
    exact_bias: float | None = None  # |E[ĝ] − g| / |g| where E[ĝ] is known exactly (see ExactTargets.expectation)

    @property
    def scale_t(self) -> float:
        """(scale − 1) / se: Student's t with M − 1 degrees of freedom if the estimator is unbiased along g."""
        return (self.scale - 1.0) / self.scale_se

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {"scale_t": self.scale_t}


def compare(samples: Samples, truth: ExactTargets, estimator: Estimator, k: int) -> Comparison:
    """Bias, variance and cosines of an estimator's samples against its target (see :class:`Comparison`)."""
    estimates = samples.gradients.double()  # (M, D)
    M = len(estimates)
    if M < 2:
        raise ValueError("compare needs at least 2 estimates (a variance)")
    g = truth.target(estimator).double()  # (D,)
    norm = float(g.norm())
    mean = estimates.mean(dim=0)  # (D,)
    squared = ((estimates - mean) ** 2).sum(dim=1) * M / (M - 1)  # (M,) their mean is unbiased for tr Σ
    along = estimates @ g / norm**2  # (M,) each estimate's component along g, in units of |g|
    across = estimates - along[:, None] * g  # (M, D) the components orthogonal to g
    across_squared = ((across - across.mean(dim=0)) ** 2).sum(dim=1) * M / (M - 1)  # (M,) for tr Σ_⊥
    cosines = F.cosine_similarity(estimates, g[None], dim=1)  # (M,)
    expectation = truth.expectation(estimator)
    grouped = estimator.baseline in GROUP_BASELINES  # the others count no groups
    return Comparison(
        estimator=estimator.name,
        target=estimator.target,
        k=k,
        num_batches=M,
        samples_per_batch=samples.samples_per_batch,
        bias=float((mean - g).norm()) / norm,
        noise=math.sqrt(float(squared.mean()) / M) / norm,
        scale=float(along.mean()),
        scale_se=float(along.std()) / math.sqrt(M),
        perpendicular=float(across.mean(dim=0).norm()) / norm,
        perpendicular_noise=math.sqrt(float(across_squared.mean()) / M) / norm,
        variance=float(squared.mean()) / norm**2,
        variance_se=float(squared.std()) / math.sqrt(M) / norm**2,
        cosine=float(F.cosine_similarity(mean, g, dim=0)),
        batch_cosine=float(cosines.mean()),
        batch_cosine_se=float(cosines.std()) / math.sqrt(M),
        zero_advantage_fraction=float(samples.zero_advantage_fraction.mean()) if grouped else None,
        exact_bias=None if expectation is None else float((expectation.double() - g).norm()) / norm,
    )


def standard_estimators(entropy_coef: float = 0.05, temperature: float = 2.0) -> list[Estimator]:
    """The estimators of the study: the four baselines on π's samples, RLOO with an entropy bonus, and RLOO on
    samples from softmax(z / ``temperature``) under each importance correction."""
    tempered = (f"temperature:t={temperature}",)
    return [
        Estimator("none", baseline="none"),
        Estimator("moving_average", baseline="moving_average"),
        Estimator("rloo", baseline="rloo"),
        Estimator("grpo", baseline="grpo"),
        Estimator("rloo + entropy", baseline="rloo", strategies=(f"entropy:coef={entropy_coef}",)),
        Estimator(f"t={temperature:g} truncated", baseline="rloo", strategies=tempered, correction="truncated"),
        Estimator(f"t={temperature:g} sequence", baseline="rloo", strategies=tempered, correction="sequence"),
        Estimator(f"t={temperature:g} uncorrected", baseline="rloo", strategies=tempered, correction="none"),
    ]


def study(
    policy: nn.Module,
    env: TokenVectorEnv,
    estimators: list[Estimator],
    ks: tuple[int, ...] = (2, 4, 8, 16),
    num_batches: int = 200,
    seed: int = 0,
    prompt_index: np.ndarray | list[int] | None = None,
) -> tuple[ExactTargets, list[Comparison]]:
    """The exact targets once, then every estimator at every k (seed ``seed + k``), compared."""
    truth = exact_targets(policy, env, prompt_index)
    rows = []
    for k in ks:
        samples = sample_gradients(policy, env, estimators, k, num_batches, seed + k, prompt_index)
        rows += [compare(samples[e.name], truth, e, k) for e in estimators]
    return truth, rows
