"""Exact objectives and gradients by enumeration (agents/exact.py), checked against closed forms,
autograd through the enumerated sum, and the sampled REINFORCE and SL gradients."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import Tensor, nn

import token_gym  # noqa: F401
from agents.baselines import returns
from agents.exact import (
    enumerate_completions,
    exact_gradient,
    exact_objective,
    exact_objective_and_gradient,
    log_likelihood,
    prompt_contexts,
)
from agents.objective import completion_logits, policy_loss, token_log_probs
from agents.policy import MASKED_LOGIT, PolicyConfig, make_policy
from agents.rollout import RolloutSampler
from agents.sl import oracle_demonstrations


def make_env(env_id: str, num_envs: int = 64, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def small_policy(env, seed: int = 0, kind: str = "transformer", std: float | None = 0.5) -> nn.Module:
    """The brief's small transformer (or a GRU); ``std`` redraws every weight so the policy is far from uniform."""
    encoded_task = env.unwrapped.encoded_task
    torch.manual_seed(seed)
    vocab = encoded_task.vocab
    config = PolicyConfig(vocab.size, vocab.pad_id, encoded_task.observation_width, n_layer=1, n_embd=16, n_head=2)
    config.kind = kind
    policy = make_policy(config, torch.from_numpy(encoded_task.action_mask.copy()))
    if std is not None:
        with torch.no_grad():
            for p in policy.parameters():
                p.normal_(0.0, std)
    return policy


class OraclePolicy(nn.Module):
    """All mass on the demonstration token at every completion position (the policy interface, no parameters)."""

    def __init__(self, encoded_task):
        super().__init__()
        self.vocab = encoded_task.vocab
        pad = self.vocab.pad_id
        self.prompt_of = {tuple(t for t in row.tolist() if t != pad): i for i, row in enumerate(encoded_task.prompts)}
        self.demonstrations = [encoded_task.demonstration_tokens(i) for i in range(len(encoded_task.prompts))]

    def forward(self, tokens: Tensor) -> Tensor:
        B, T = tokens.shape
        logits = torch.full((B, T, self.vocab.size), MASKED_LOGIT)  # (B, T, V)
        for b, row in enumerate(tokens.tolist()):
            start = next(i for i, t in enumerate(row) if t != self.vocab.pad_id)
            sep = row.index(self.vocab.sep_id, start)
            demonstration = self.demonstrations[self.prompt_of[tuple(row[start:sep])]]
            for position in range(sep, T):
                if position - sep < len(demonstration):
                    logits[b, position, demonstration[position - sep]] = 0.0
        return logits


class UniformPolicy(nn.Module):
    """Zero logits over ``allowed`` tokens: uniform over them, probability 0 elsewhere."""

    def __init__(self, allowed: np.ndarray):
        super().__init__()
        self.register_buffer("allowed", torch.from_numpy(allowed.copy()))

    def forward(self, tokens: Tensor) -> Tensor:
        B, T = tokens.shape
        return torch.zeros(B, T, len(self.allowed)).masked_fill(~self.allowed, MASKED_LOGIT)  # (B, T, V)


def total_probability(tree) -> np.ndarray:
    distribution = tree.distribution()
    return distribution.per_prompt(distribution.probability)


# -- the oracle reaches the maximum ------------------------------------------------------------


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("token_gym/Reverse-v0", {"length": 2, "alphabet": "abc", "num_prompts": 5}),
        ("token_gym/Reverse-v0", {"length": 3, "alphabet": "abc", "num_prompts": 5}),
        ("token_gym/Copy-v0", {"length": 3, "alphabet": "abc", "num_prompts": 5, "reward": "partial"}),
        ("token_gym/SecretString-v0", {"length": 3, "alphabet": "abcd", "num_prompts": 3}),
        ("token_gym/CombinationLock-v0", {"length": 3, "alphabet": "abcd", "num_prompts": 3}),
    ],
)
def test_the_oracle_policy_reaches_the_maximum(env_id, kwargs):
    env = make_env(env_id, **kwargs)
    tree = enumerate_completions(OraclePolicy(env.unwrapped.encoded_task), env)
    assert tree.objective() == pytest.approx(1.0, abs=1e-12)
    distribution = tree.distribution()
    assert len(distribution.prompt_index) == len(tree.prompts) == len(env.unwrapped.prompt_indices())
    np.testing.assert_array_equal(distribution.probability, 1.0)  # one completion per prompt, the demonstration
    assert distribution.success.all()
    for i, completion, length in zip(
        distribution.prompt_index, distribution.completion, distribution.length, strict=True
    ):
        assert completion[:length].tolist() == env.unwrapped.demonstration_tokens(int(i))


# -- a uniform policy against closed forms -----------------------------------------------------


@pytest.mark.parametrize("length, alphabet", [(2, "abc"), (3, "abcd")])
def test_uniform_policy_on_secret_string_matches_the_closed_form(length, alphabet):
    """K = |alphabet| + 1 allowed tokens (EOS too), each drawn with probability 1/K, cap L + 1.

    Only the secret followed by EOS pays 1: an early EOS, a wrong letter, or L + 1 letters (the cap) pay 0.
    So J = K^-(L+1), not |alphabet|^-L. With the cap at L the secret pays without EOS: J = K^-L.
    The tree has Σ_{t=0}^{L} A^t completions ending on EOS plus A^(L+1) cut by the cap (A = |alphabet|).
    """
    A, L = len(alphabet), length
    K = A + 1
    env = make_env("token_gym/SecretString-v0", length=L, alphabet=alphabet, num_prompts=2)
    uniform = UniformPolicy(env.unwrapped.encoded_task.action_mask)
    tree = enumerate_completions(uniform, env)
    assert tree.objective() == pytest.approx(K ** -(L + 1), rel=1e-6)
    assert tree.num_completions == len(tree.prompts) * (sum(A**t for t in range(L + 1)) + A ** (L + 1))
    np.testing.assert_allclose(total_probability(tree), 1.0, rtol=1e-6)

    capped = make_env("token_gym/SecretString-v0", length=L, alphabet=alphabet, num_prompts=2, max_completion_len=L)
    assert exact_objective(uniform, capped) == pytest.approx(K**-L, rel=1e-6)

    distractor = make_env("token_gym/SecretString-v0", length=L, alphabet=alphabet, num_prompts=2, reward="distractor")
    # the empty completion (EOS first, probability 1/K) pays 0.1 besides the secret's 1
    assert exact_objective(uniform, distractor) == pytest.approx(K ** -(L + 1) + 0.1 / K, rel=1e-6)


def test_uniform_policy_on_combination_lock_matches_the_closed_form():
    """EOS is in CombinationLock's action mask, and the env treats it as one more wrong token
    (it departs from the combination: the episode ends, reward 0). So uniform over the allowed
    tokens (alphabet + EOS) gives J = (A + 1)^-L, and uniform over the alphabet alone A^-L.
    Every wrong token is a leaf: L·(wrong tokens per step) + 1 completions."""
    A, L = 4, 3
    env = make_env("token_gym/CombinationLock-v0", length=L, alphabet="abcd", num_prompts=3)
    mask = env.unwrapped.encoded_task.action_mask
    tree = enumerate_completions(UniformPolicy(mask), env)
    assert tree.objective() == pytest.approx((A + 1) ** -L, rel=1e-6)
    assert tree.num_completions == 3 * (L * A + 1)

    alphabet_only = mask & (np.arange(len(mask)) != env.unwrapped.vocab.eos_id)
    tree = enumerate_completions(UniformPolicy(alphabet_only), env)
    assert tree.objective() == pytest.approx(A**-L, rel=1e-6)
    assert tree.num_completions == 3 * (L * (A - 1) + 1)
    np.testing.assert_allclose(total_probability(tree), 1.0, rtol=1e-6)


@pytest.mark.parametrize("autoreset_mode", ["NextStep", "SameStep"])
def test_the_tree_is_the_same_in_every_autoreset_mode(autoreset_mode):
    """SameStep files the finished episodes' infos under final_info: successes must still be read."""
    kwargs = {"length": 3, "alphabet": "abcd", "num_prompts": 3, "autoreset_mode": autoreset_mode}
    env = make_env("token_gym/CombinationLock-v0", num_envs=5, **kwargs)
    distribution = enumerate_completions(OraclePolicy(env.unwrapped.encoded_task), env).distribution()
    assert distribution.success.all() and (distribution.reward == 1.0).all()
    tree = enumerate_completions(UniformPolicy(env.unwrapped.encoded_task.action_mask), env)
    assert tree.objective() == pytest.approx(5.0**-3, rel=1e-6)
    assert tree.distribution().success.sum() == 3


# -- the exact gradient -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transformer", "gru"])
def test_exact_gradient_equals_autograd_through_the_enumerated_sum(kind):
    """On 3 prompts × 40 completions: ∇ of Σ_c π(c) R(c) (autograd, π scored by agents.objective)
    equals the edge identity Σ Q ∇ log π, whatever the batch sizes of the env and the forward passes."""
    env = make_env("token_gym/Reverse-v0", num_envs=7, length=2, alphabet="abc", num_prompts=4, reward="partial")
    policy = small_policy(env, kind=kind)
    tree = enumerate_completions(policy, env, batch_size=5)
    distribution = tree.distribution()
    assert tree.num_completions == 3 * 40  # 1 + 3 + 9 ending on EOS, 27 cut by the cap, per train prompt

    context = prompt_contexts(env.unwrapped.encoded_task)[distribution.prompt_index]
    completion = torch.from_numpy(distribution.completion)
    mask = torch.arange(completion.shape[1]) < torch.from_numpy(distribution.length)[:, None]
    log_pi = (token_log_probs(completion_logits(policy, context, completion), completion) * mask).sum(dim=1)
    np.testing.assert_allclose(log_pi.detach().numpy(), distribution.log_probability, atol=1e-5)
    J = (log_pi.exp() * torch.from_numpy(distribution.reward).float()).sum() / len(tree.prompts)
    expected = torch.autograd.grad(J, list(policy.parameters()), allow_unused=True)

    assert tree.objective() == pytest.approx(float(J.detach()), rel=1e-5)
    for batch_size in (3, 4096):
        gradient = exact_gradient(policy, tree, batch_size=batch_size)
        assert len(gradient) == len(expected)
        for g, e in zip(gradient, expected, strict=True):
            torch.testing.assert_close(g, torch.zeros_like(g) if e is None else e, rtol=1e-4, atol=1e-6)
    assert sum(float(g.abs().sum()) for g in gradient) > 0.1  # not trivially zero


def test_the_gradient_refuses_a_tree_of_other_parameters():
    env = make_env("token_gym/Reverse-v0", length=2, alphabet="abc", num_prompts=4, reward="partial")
    policy = small_policy(env)
    tree = enumerate_completions(policy, env)
    with torch.no_grad():
        policy.head.weight.add_(torch.randn_like(policy.head.weight))
    with pytest.raises(ValueError, match="other parameters"):
        exact_gradient(policy, tree)


def test_frozen_parameters_get_zeros_and_the_others_are_unchanged():
    env = make_env("token_gym/Reverse-v0", length=2, alphabet="abc", num_prompts=4, reward="partial")
    policy = small_policy(env)
    tree = enumerate_completions(policy, env)
    full = exact_gradient(policy, tree)
    policy.position_embedding.weight.requires_grad_(False)
    frozen = exact_gradient(policy, tree)
    for (name, _), g, f in zip(policy.named_parameters(), full, frozen, strict=True):
        if name == "position_embedding.weight":
            assert g.abs().sum() > 0 and (f == 0).all()
        else:
            torch.testing.assert_close(f, g)


def flat(gradients) -> Tensor:
    return torch.cat([g.reshape(-1) for g in gradients])


def test_reinforce_estimate_converges_to_the_exact_gradient():
    """REINFORCE's gradient (policy_loss with w = R, no baseline) is unbiased for ∇J.

    M = 16 independent batches of 3 × 512 samples (prompts stratified: each train prompt equally
    often, as J weighs them); ĝ_m is one batch's gradient, ḡ their mean, D = 3504 coordinates.

    * Along the exact direction u = ∇J / |∇J|: t = (ḡ·u − |∇J|) / se(ĝ_m·u) is Student's t with
      15 degrees of freedom if unbiased; |t| < 4 (P ≈ 0.001). Observed |t| ≤ 1.4 on seeds 0-5 (0.4 here).
    * Per coordinate j, z_j = (ḡ_j − ∇J_j) / se_j, se_j = sd_j / √M, over the coordinates whose se is
      above float noise (1e-6 of the largest; the others, e.g. attention key biases, to which softmax is
      blind, have an exact gradient below 1e-8). E[z²] = 15/13 ≈ 1.15; the coordinates are correlated,
      so the mean of z² spreads (observed 0.4-1.8 on seeds 0-5, 0.5 here): bound 4. The bound has power:
      0.8 ∇J and 1.2 ∇J give mean z² ≥ 20.
    * cos(ḡ, ∇J) > 0.99 (observed ≥ 0.9993).
    """
    env = make_env("token_gym/Reverse-v0", num_envs=1536, length=2, alphabet="abc", num_prompts=4, reward="partial")
    policy = small_policy(env, std=0.3)
    J, exact = exact_objective_and_gradient(policy, env)
    exact = flat(exact)

    prompts = env.unwrapped.prompt_indices()
    sampler = RolloutSampler(env, seed=0)
    generator = torch.Generator().manual_seed(0)
    estimates, rewards = [], []
    for _ in range(16):
        rollout = sampler.sample(policy, generator, prompt_index=np.tile(prompts, env.num_envs // len(prompts)))
        weights = returns(rollout.rewards, rollout.mask)  # G_t = R on every token: w = R, no baseline
        loss = policy_loss(policy, rollout.context, rollout.completion, rollout.mask, weights).loss
        estimates.append(-flat(torch.autograd.grad(loss, list(policy.parameters()))))
        rewards.append(float(rollout.episode_return.mean()))
    estimates = torch.stack(estimates)  # (M, D)
    M = len(estimates)
    assert abs(np.mean(rewards) - J) < 4 * np.std(rewards, ddof=1) / M**0.5  # the objective too

    u = exact / exact.norm()
    along = estimates @ u  # (M,)
    assert abs(float((along.mean() - exact.norm()) / (along.std() / M**0.5))) < 4

    mean, se = estimates.mean(dim=0), estimates.std(dim=0) / M**0.5  # (D,)
    measured = se > 1e-6 * se.max()
    assert float(exact[~measured].abs().max()) < 1e-8

    def mean_z2(target: Tensor) -> float:
        return float((((mean - target) / se)[measured] ** 2).mean())

    assert mean_z2(exact) < 4
    assert mean_z2(0.8 * exact) > 4 and mean_z2(1.2 * exact) > 4
    assert float(torch.cosine_similarity(mean, exact, dim=0)) > 0.99


# -- SL: the exact log-likelihood of demonstrations --------------------------------------------


def test_sl_gradient_equals_the_gradient_of_the_exact_log_likelihood():
    env = make_env("token_gym/Reverse-v0", length=3, alphabet="abc", num_prompts=8)
    encoded_task = env.unwrapped.encoded_task
    policy = small_policy(env)
    demonstrations = oracle_demonstrations(encoded_task)
    prompts = encoded_task.task.split("train")
    torch.testing.assert_close(demonstrations.context, prompt_contexts(encoded_task)[prompts])

    context, completion, mask = demonstrations.context, demonstrations.completion, demonstrations.mask
    sl = policy_loss(policy, context, completion, mask, torch.ones(mask.shape)).loss  # SLAgent's weights
    likelihood = log_likelihood(policy, context, completion, mask)  # (N,)
    expected = torch.autograd.grad(sl, list(policy.parameters()))
    gradient = torch.autograd.grad(-likelihood.mean(), list(policy.parameters()))
    for g, e in zip(gradient, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)
    assert sum(float(g.abs().sum()) for g in gradient) > 0.1

    # the same numbers as the probability the enumerated distribution gives each demonstration
    distribution = enumerate_completions(policy, env, prompts[:3]).distribution()
    for row, i in enumerate(prompts[:3]):
        demonstration = env.unwrapped.demonstration_tokens(int(i))
        match = (distribution.prompt_index == i) & (distribution.length == len(demonstration))
        match &= (distribution.completion[:, : len(demonstration)] == demonstration).all(axis=1)
        assert match.sum() == 1
        assert distribution.log_probability[match][0] == pytest.approx(float(likelihood[row].detach()), abs=1e-5)


# -- the distribution and the guards ----------------------------------------------------------


def test_distribution_statistics_of_a_uniform_policy():
    """Uniform over K = 4 tokens on SecretString L = 2 (cap 3): pass@1 = 4^-3, pass@k = 1 − (1 − 4^-3)^k,
    and the entropy is Σ_c π(c) · (−log π(c)) = E[length] · log 4 with E[length] = 1 + 3/4 + 9/16."""
    env = make_env("token_gym/SecretString-v0", length=2, alphabet="abc")
    distribution = enumerate_completions(UniformPolicy(env.unwrapped.encoded_task.action_mask), env).distribution()
    p = 4.0**-3
    np.testing.assert_allclose(distribution.success_probability(), [p], rtol=1e-6)
    np.testing.assert_allclose(distribution.pass_at_k(8), [1 - (1 - p) ** 8], rtol=1e-6)
    np.testing.assert_allclose(distribution.entropy(), [(1 + 3 / 4 + 9 / 16) * np.log(4)], rtol=1e-6)


def test_guards():
    env = make_env("token_gym/Reverse-v0", length=2, alphabet="abc", num_prompts=4)
    uniform = UniformPolicy(env.unwrapped.encoded_task.action_mask)
    with pytest.raises(ValueError, match="max_edges"):
        enumerate_completions(uniform, env, max_edges=50)
    with pytest.raises(ValueError, match="distinct"):
        enumerate_completions(uniform, env, [1, 1])
    with pytest.raises(TypeError, match="vector env"):
        enumerate_completions(uniform, gym.make("token_gym/Reverse-v0", length=2))
