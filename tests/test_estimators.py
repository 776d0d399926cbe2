"""Gradient estimators against the exact gradient (agents/estimators.py).

* the exact entropy gradient (a tree paying surprisal) equals autograd through the enumerated sum;
* the study's gradient is the agent's: ``estimator_gradient`` on ReinforceAgent's own batch gives the
  gradient ``ReinforceAgent._update`` steps with, for every estimator of the study;
* on Reverse with partial reward, k = 16, M = 300 batches of 4 prompts × 16 (one shared sampling run):
  no baseline, the moving average, RLOO and the sequence-corrected tempered estimator are unbiased;
  GRPO, the truncated and the uncorrected tempered estimators are not; the entropy bonus is unbiased
  for its own exact expectation and biased for the gradient of the regularised objective;
  RLOO's variance is below no baseline's.

The statistics are those of tests/test_exact.py: t along the target direction u = g / |g|,
t = (mean ĝ·u − |g|) / se, Student's t with M − 1 = 299 dof if unbiased (|t| < 4: P ≈ 1e-4); and per
coordinate z_j = (ḡ_j − g_j) / se_j over the coordinates whose se is above float noise, mean z² ≈ 1
if unbiased (the coordinates are correlated, so it spreads; bound 4). Observed on seeds 0-2 (seed 0 is
run here): unbiased |t| ≤ 1.5 and mean z² ≤ 2.1; biased ones mean z² ≥ 12 (truncated), ≥ 22
(uncorrected), ≈ 500 (GRPO), ≥ 238 (entropy bonus against ∇(J + c·H)).
"""

import numpy as np
import pytest
import torch
from torch import Tensor

import token_gym  # noqa: F401
from agents import ReinforceAgent
from agents.baselines import Baseline
from agents.estimators import (
    Samples,
    compare,
    estimator_gradient,
    exact_targets,
    flat,
    sample_gradients,
    standard_estimators,
    surprisal_tree,
)
from agents.exact import enumerate_completions, prompt_contexts
from agents.objective import completion_logits, token_log_probs
from tests.test_exact import make_env, small_policy

REVERSE = {"length": 2, "alphabet": "abc", "num_prompts": 5, "reward": "partial"}  # 4 train prompts
ESTIMATORS = {e.name: e for e in standard_estimators(entropy_coef=0.05, temperature=2.0)}
K, M = 16, 300


def reverse_env(num_envs: int = 64):
    return make_env("token_gym/Reverse-v0", num_envs=num_envs, **REVERSE)


@pytest.fixture(scope="module")
def study():
    """(exact targets, {name: Samples}) of every estimator at k = 16: one sampling run (~9 s)."""
    env = reverse_env()
    policy = small_policy(env, std=0.3)
    truth = exact_targets(policy, env)
    samples = sample_gradients(policy, env, list(ESTIMATORS.values()), K, M, seed=0)
    return truth, samples


def t_along(samples: Samples, target: Tensor) -> float:
    """(mean ĝ·u − |g|) / se: Student's t with M − 1 dof if E[ĝ] = g (along u = g / |g|)."""
    along = samples.gradients.double() @ (target.double() / target.norm())  # (M,)
    return float((along.mean() - target.norm()) / (along.std() / len(along) ** 0.5))


def mean_z2(samples: Samples, target: Tensor) -> float:
    """Mean over the measured coordinates of ((ḡ_j − g_j) / se_j)²: about 1 if E[ĝ] = g."""
    g = samples.gradients.double()  # (M, D)
    mean, se = g.mean(dim=0), g.std(dim=0) / len(g) ** 0.5  # (D,)
    measured = se > 1e-6 * se.max()  # the others (e.g. attention key biases) have an exact gradient below 1e-8
    assert float(target[~measured].abs().max()) < 1e-6
    return float((((mean - target.double()) / se)[measured] ** 2).mean())


# -- the exact side -----------------------------------------------------------------------------


def test_the_entropy_gradient_is_autograd_through_the_enumerated_sum():
    """A tree whose leaves pay −log π(c) has objective H̄ and exact gradient ∇H̄ = ∇ of −Σ_c π log π (autograd)."""
    env = reverse_env()
    policy = small_policy(env, std=0.3)
    tree = enumerate_completions(policy, env)
    distribution = tree.distribution()
    context = prompt_contexts(env.unwrapped.encoded_task)[distribution.prompt_index]
    completion = torch.from_numpy(distribution.completion)
    mask = torch.arange(completion.shape[1]) < torch.from_numpy(distribution.length)[:, None]
    log_pi = (token_log_probs(completion_logits(policy, context, completion), completion) * mask).sum(dim=1)
    entropy = -(log_pi.exp() * log_pi).sum() / len(tree.prompts)
    expected = flat(torch.autograd.grad(entropy, list(policy.parameters())))

    truth = exact_targets(policy, env)
    assert surprisal_tree(tree).objective() == pytest.approx(float(distribution.entropy().mean()), rel=1e-9)
    assert truth.entropy == pytest.approx(float(entropy.detach()), rel=1e-5)
    torch.testing.assert_close(truth.entropy_gradient, expected, rtol=1e-4, atol=1e-6)
    assert float(expected.norm()) > 0.1
    # the entropy bonus ascends something else in expectation (E[Σ_t ∇H(π(·|s_t))]): not ∇H̄
    assert float(torch.cosine_similarity(truth.per_token_entropy_gradient, expected, dim=0)) < 0.5


# -- the sampled side is the agent's ----------------------------------------------------------


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_the_study_forms_the_agents_gradient(name):
    """ReinforceAgent._update samples a batch and steps with a gradient; on that batch estimator_gradient gives it."""
    estimator = ESTIMATORS[name]
    k = 4
    env = make_env("token_gym/Reverse-v0", num_envs=4 * k, autoreset_mode="Disabled", **REVERSE)
    policy = small_policy(env, std=0.3)
    agent = ReinforceAgent(
        env,
        policy=policy,
        group_size=k,
        baseline=estimator.baseline,
        strategies=list(estimator.strategies),
        importance_correction=estimator.correction,
    )
    seen = {}
    sample = agent.sampler.sample

    def recording_sample(*args, **kwargs):
        seen["rollout"] = sample(*args, **kwargs)
        return seen["rollout"]

    def recording_step(loss, max_grad_norm):  # the gradient the optimizer would have stepped with
        parameters = list(agent.policy.parameters())
        pieces = torch.autograd.grad(loss, parameters, allow_unused=True)
        seen["gradient"] = -flat(
            [torch.zeros_like(p) if g is None else g for p, g in zip(parameters, pieces, strict=True)]
        )
        return 0.0

    agent.sampler.sample, agent._step = recording_sample, recording_step
    agent._update()
    assert agent.correction == (estimator.correction if estimator.sampling else "none")
    rollout = seen["rollout"]
    assert rollout.group_size == k
    baseline = Baseline(estimator.baseline, estimator.momentum)
    gradient, _ = estimator_gradient(policy, rollout, baseline, estimator.parse(), estimator.correction)
    assert float(gradient.norm()) > 1e-3
    torch.testing.assert_close(gradient, seen["gradient"], rtol=1e-4, atol=1e-7)


def test_sampling_is_seeded_and_stratified():
    env = reverse_env()
    policy = small_policy(env, std=0.3)
    estimators = [ESTIMATORS["rloo"], ESTIMATORS["t=2 sequence"]]
    a = sample_gradients(policy, env, estimators, 2, 3, seed=5)
    b = sample_gradients(policy, env, estimators, 2, 3, seed=5)
    c = sample_gradients(policy, env, estimators, 2, 3, seed=6)
    assert all(torch.equal(a[n].gradients, b[n].gradients) for n in a)
    assert not torch.equal(a["rloo"].gradients, c["rloo"].gradients)
    assert a["rloo"].gradients.shape == (3, sum(p.numel() for p in policy.parameters()))
    assert a["rloo"].samples_per_batch == 4 * 2


# -- bias ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["none", "moving_average", "rloo", "t=2 sequence"])
def test_unbiased_estimators_average_to_the_exact_gradient(study, name):
    truth, samples = study
    g = truth.gradient
    assert abs(t_along(samples[name], g)) < 4
    assert mean_z2(samples[name], g) < 4
    assert mean_z2(samples[name], 0.9 * g) > 4 and mean_z2(samples[name], 1.1 * g) > 4  # the bound has power
    assert compare(samples[name], truth, ESTIMATORS[name], K).cosine > 0.99


def test_grpo_is_biased_it_scales_the_gradient_up(study):
    """GRPO divides each group by its reward std (≈ 0.25 here): E[ĝ] ≈ 4 ∇J, measured on the same batches as RLOO."""
    truth, samples = study
    row = compare(samples["grpo"], truth, ESTIMATORS["grpo"], K)
    assert row.scale_t > 10 and row.scale > 2
    assert mean_z2(samples["grpo"], truth.gradient) > 50


@pytest.mark.parametrize("name", ["t=2 truncated", "t=2 uncorrected"])
def test_tempered_samples_without_the_sequence_ratio_are_biased(study, name):
    """Truncating π/β at 1 (or not correcting) leaves a bias the sequence ratio removes (same batches)."""
    truth, samples = study
    assert mean_z2(samples[name], truth.gradient) > 8
    assert t_along(samples[name], truth.gradient) < -3  # both too short along ∇J


def test_the_entropy_bonus_is_unbiased_for_its_own_expectation_not_for_the_regularised_gradient(study):
    """E[ĝ] = ∇J + c·E[Σ_t ∇H(π(·|s_t))] (exact, from the tree), which is not ∇(J + c·H̄)."""
    truth, samples = study
    estimator = ESTIMATORS["rloo + entropy"]
    own = truth.expectation(estimator)
    assert abs(t_along(samples[estimator.name], own)) < 4
    assert mean_z2(samples[estimator.name], own) < 4
    row = compare(samples[estimator.name], truth, estimator, K)
    assert row.exact_bias > 0.2  # exact: |E[ĝ] − ∇(J + c·H̄)| / |∇(J + c·H̄)|
    assert abs(row.scale_t) > 10 and mean_z2(samples[estimator.name], truth.target(estimator)) > 50


# -- variance ------------------------------------------------------------------------------------


def test_rloo_has_less_variance_than_no_baseline_on_partial_reward(study):
    """Paired on the same batches: d_m = |ĝ_m − ḡ|² (none) − |ĝ_m − ḡ|² (RLOO) has mean > 0 (t > 4; observed 10.6-12)."""
    truth, samples = study
    spread = {
        name: ((samples[name].gradients - samples[name].gradients.mean(dim=0)) ** 2).sum(dim=1)
        for name in ("none", "rloo")
    }
    d = spread["none"] - spread["rloo"]  # (M,)
    assert float(d.mean() / (d.std() / len(d) ** 0.5)) > 4
    none, rloo = (compare(samples[n], truth, ESTIMATORS[n], K).variance for n in ("none", "rloo"))
    assert rloo < 0.8 * none
    assert np.isfinite(none) and rloo > 0
