"""The shared objective: SL and REINFORCE are the same gradient with different weights and data."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import token_gym  # noqa: F401
from agents.baselines import Baseline, returns
from agents.objective import (
    completion_logits,
    policy_loss,
    token_entropy,
    token_kl,
    token_log_probs,
    weighted_log_likelihood,
)
from agents.policy import PolicyConfig, make_policy
from agents.sl import oracle_demonstrations


@pytest.fixture(scope="module")
def encoded_task():
    return gym.make("token_gym/Reverse-v0", length=4).unwrapped.encoded_task


def make(encoded_task, seed=0):
    torch.manual_seed(seed)
    config = PolicyConfig(
        vocab_size=encoded_task.vocab.size, pad_id=0, max_len=encoded_task.observation_width, n_embd=32
    )
    return make_policy(config, torch.from_numpy(encoded_task.action_mask.copy()))


def gradients(policy, loss):
    policy.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in policy.parameters()]


def test_sl_gradient_equals_reinforce_gradient_with_reward_one_and_no_baseline(encoded_task):
    """The essay's identity: w = 1 on demonstrations is REINFORCE with G = 1, b = 0 on the same tokens."""
    policy = make(encoded_task)
    demos = oracle_demonstrations(encoded_task)
    context, completion, mask = demos.context[:32], demos.completion[:32], demos.mask[:32]

    sl = policy_loss(policy, context, completion, mask, torch.ones(mask.shape)).loss  # SLAgent's weights

    rewards = torch.zeros(mask.shape)  # the env pays 1 on each episode's last token
    rewards[torch.arange(32), mask.sum(dim=1) - 1] = 1.0
    G = returns(rewards, mask, gamma=1.0)
    weights = Baseline("none")(G, mask).weights  # ReinforceAgent's weights
    rl = policy_loss(policy, context, completion, mask, weights).loss

    sl_grads, rl_grads = gradients(policy, sl), gradients(policy, rl)
    for g_sl, g_rl in zip(sl_grads, rl_grads, strict=True):
        torch.testing.assert_close(g_sl, g_rl, rtol=1e-6, atol=1e-7)
    assert all(g.abs().sum() > 0 for g in sl_grads[:3])  # not trivially zero


def test_token_log_probs_match_sampling_one_token_at_a_time(encoded_task):
    policy = make(encoded_task).eval()
    demos = oracle_demonstrations(encoded_task)
    context, completion = demos.context[:4], demos.completion[:4]
    scored = token_log_probs(completion_logits(policy, context, completion), completion)  # one pass
    logits, cache = policy.start(context, completion.shape[1])
    for t in range(completion.shape[1]):
        stepwise = torch.log_softmax(logits, dim=-1).gather(1, completion[:, t : t + 1])[:, 0]
        torch.testing.assert_close(scored[:, t], stepwise, atol=1e-5, rtol=0)
        if t + 1 < completion.shape[1]:
            logits, cache = policy.step(completion[:, t], cache)


def test_tokens_outside_the_mask_do_not_change_the_loss(encoded_task):
    policy = make(encoded_task)
    demos = oracle_demonstrations(encoded_task)
    context, completion, mask = demos.context[:8], demos.completion[:8].clone(), demos.mask[:8].clone()
    mask[:, 3:] = False
    before = policy_loss(policy, context, completion, mask, torch.ones(mask.shape)).loss
    completion[:, 3:] = 5
    after = policy_loss(policy, context, completion, mask, torch.ones(mask.shape)).loss
    torch.testing.assert_close(before, after)


def test_negative_weights_flip_the_gradient():
    log_probs = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    weighted_log_likelihood(log_probs, torch.tensor([[1.0, -3.0]]), torch.ones(1, 2)).backward()
    assert log_probs.grad.tolist() == [[-1.0, 3.0]]  # descent raises log π where w > 0, lowers it where w < 0


def test_entropy_and_kl_terms():
    uniform = torch.zeros(2, 3, 5)
    torch.testing.assert_close(token_entropy(uniform), torch.full((2, 3), math.log(5)))
    logits = torch.randn(2, 3, 5)
    torch.testing.assert_close(token_kl(logits, logits), torch.zeros(2, 3), atol=1e-6, rtol=0)
    assert (token_kl(logits, torch.randn(2, 3, 5)) > 0).all()


def test_the_loss_is_the_weighted_log_likelihood_and_hands_back_its_logits(encoded_task):
    """Entropy and KL terms are strategies now (tests/test_exploration.py); the loss is −Σ w log π / B."""
    policy = make(encoded_task, seed=0)
    demos = oracle_demonstrations(encoded_task)
    context, completion, mask = demos.context[:8], demos.completion[:8], demos.mask[:8]
    weights = torch.rand(8, mask.shape[1])
    terms = policy_loss(policy, context, completion, mask, weights, num_sequences=10)
    logits = completion_logits(policy, context, completion)
    expected = -(weights * token_log_probs(logits, completion) * mask).sum() / 10
    torch.testing.assert_close(terms.loss, expected)
    torch.testing.assert_close(terms.logits, logits)
    assert terms.logits.requires_grad
    torch.testing.assert_close(terms.entropy, (token_entropy(logits) * mask).sum() / mask.sum())


# -- baselines: the w of REINFORCE ---------------------------------------------------------


def episodes(returns_per_episode, length=3):
    R = torch.tensor(returns_per_episode, dtype=torch.float32)
    mask = torch.ones(len(R), length, dtype=torch.bool)
    return R[:, None].expand(-1, length).clone(), mask


def test_rloo_subtracts_the_mean_of_the_other_samples():
    G, mask = episodes([1.0, 0.0, 0.0, 0.5, 0.5, 0.5])
    out = Baseline("rloo")(G, mask, group_size=3)
    torch.testing.assert_close(out.weights[:, 0], torch.tensor([1.0, -0.5, -0.5, 0.0, 0.0, 0.0]))
    assert out.zero_advantage_fraction == 0.5  # the second prompt's samples all got 0.5: reported


def test_grpo_normalises_within_groups():
    G, mask = episodes([1.0, 0.0, 3.0, 3.0])
    out = Baseline("grpo")(G, mask, group_size=2)
    std = torch.tensor([1.0, 0.0]).std()
    torch.testing.assert_close(out.weights[:2, 0], torch.tensor([0.5, -0.5]) / (std + 1e-6))
    assert (out.weights[2:] == 0).all() and out.zero_advantage_fraction == 0.5


def test_moving_average_baseline_tracks_past_returns():
    baseline = Baseline("moving_average", momentum=0.5)
    G, mask = episodes([1.0, 0.0])
    torch.testing.assert_close(baseline(G, mask).weights[:, 0], torch.tensor([0.5, -0.5]))
    G, mask = episodes([1.0, 1.0])
    torch.testing.assert_close(baseline(G, mask).weights[:, 0], torch.tensor([0.5, 0.5]))


def test_weights_are_zero_outside_episodes():
    G, mask = episodes([1.0, 0.0])
    mask[:, 2] = False
    for name in ("none", "moving_average", "rloo", "grpo"):
        assert (Baseline(name)(G, mask, group_size=2).weights[:, 2] == 0).all()


def test_baseline_errors():
    with pytest.raises(ValueError, match="baseline must be one of"):
        Baseline("ppo")
    G, mask = episodes([1.0, 0.0])
    with pytest.raises(ValueError, match="at least 2 samples"):
        Baseline("rloo")(G, mask, group_size=1)


def test_discounted_returns():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    torch.testing.assert_close(returns(rewards, mask, 0.5), torch.tensor([[0.25, 0.5, 1.0, 0.0]]))
    torch.testing.assert_close(returns(rewards, mask, 1.0), torch.tensor([[1.0, 1.0, 1.0, 0.0]]))


def test_leaving_out_zero_weight_rows_keeps_the_gradient(encoded_task):
    """ReinforceAgent skips episodes whose weights are all zero; the gradient must not change."""
    policy = make(encoded_task)
    demos = oracle_demonstrations(encoded_task)
    context, completion, mask = demos.context[:16], demos.completion[:16], demos.mask[:16]
    weights = torch.zeros(mask.shape)
    weights[::3] = 0.7
    full = gradients(policy, policy_loss(policy, context, completion, mask, weights).loss)
    rows = torch.arange(0, 16, 3)
    part = policy_loss(policy, context[rows], completion[rows], mask[rows], weights[rows], num_sequences=16).loss
    for a, b in zip(full, gradients(policy, part), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_importance_correction_truncates_pi_over_behaviour(encoded_task):
    policy = make(encoded_task)
    demos = oracle_demonstrations(encoded_task)
    context, completion, mask = demos.context[:8], demos.completion[:8], demos.mask[:8]
    weights = torch.ones(mask.shape)
    with torch.no_grad():
        log_pi = token_log_probs(completion_logits(policy, context, completion), completion)
    plain = policy_loss(policy, context, completion, mask, weights).loss
    same = policy_loss(policy, context, completion, mask, weights, behaviour_log_probs=log_pi).loss
    torch.testing.assert_close(same, plain)  # β = π: ratio 1
    likelier = policy_loss(policy, context, completion, mask, weights, behaviour_log_probs=log_pi + 1.0).loss
    torch.testing.assert_close(likelier, plain * math.exp(-1.0))  # β > π: weights × π/β
    rarer = policy_loss(policy, context, completion, mask, weights, behaviour_log_probs=log_pi - 1.0).loss
    torch.testing.assert_close(rarer, plain)  # β < π: truncated at 1


class ContextFreePolicy(torch.nn.Module):
    """π(· | any prefix) = softmax(θ): a policy whose gradient can be written down by hand."""

    def __init__(self, logits):
        super().__init__()
        self.theta = torch.nn.Parameter(torch.tensor(logits))

    def forward(self, tokens):  # (B, T) -> (B, T, V)
        return self.theta.expand(*tokens.shape, -1)


def test_importance_corrected_gradient_treats_the_ratio_as_a_constant():
    """∂loss/∂θ = −(1/B) Σ_t w_t · min(1, π_t/β_t) · (e_{a_t} − softmax(θ)), the ratio not differentiated.

    One sequence of two tokens: the first sampled where β < π (ratio e^0.5, truncated to 1), the
    second where β > π (ratio e^−0.7); a gradient through the ratio would add w·∂ratio/∂θ·log π.
    """
    theta = [0.0, 1.0, -1.0]
    policy = ContextFreePolicy(theta)
    context, completion = torch.tensor([[1]]), torch.tensor([[1, 0]])
    mask, weights = torch.ones(1, 2, dtype=torch.bool), torch.tensor([[2.0, -1.0]])
    p = np.exp(theta) / np.exp(theta).sum()  # softmax(θ), by hand
    log_pi = np.log(p[[1, 0]])
    behaviour = torch.tensor([[log_pi[0] - 0.5, log_pi[1] + 0.7]], dtype=torch.float32)

    loss = policy_loss(policy, context, completion, mask, weights, behaviour_log_probs=behaviour).loss
    loss.backward()

    ratio = [1.0, math.exp(-0.7)]
    expected = np.zeros(3)
    for t, token in enumerate([1, 0]):
        expected -= weights[0, t].item() * ratio[t] * (np.eye(3)[token] - p)
    torch.testing.assert_close(policy.theta.grad, torch.tensor(expected, dtype=torch.float32))
    torch.testing.assert_close(loss, torch.tensor(-(2.0 * 1.0 * log_pi[0] - 1.0 * ratio[1] * log_pi[1])).float())


def test_masked_tokens_count_nowhere_in_the_loss_or_its_reports():
    """Hand-computed: only the first token of the second row is masked in; θ as in the test above."""
    theta = [0.0, 1.0, -1.0]
    policy, reference = ContextFreePolicy(theta), ContextFreePolicy([1.0, 0.0, 0.0])
    context, completion = torch.tensor([[1], [1]]), torch.tensor([[1, 2], [0, 1]])
    mask = torch.tensor([[False, False], [True, False]])
    weights = torch.tensor([[5.0, 5.0], [2.0, 7.0]])
    p, q = (np.exp(t) / np.exp(t).sum() for t in (np.array(theta), np.array([1.0, 0.0, 0.0])))
    terms = policy_loss(policy, context, completion, mask, weights)
    torch.testing.assert_close(terms.loss, torch.tensor(-2.0 * math.log(p[0]) / 2))  # KL is a strategy's, not here
    torch.testing.assert_close(terms.entropy, torch.tensor(-(p * np.log(p)).sum()).float())  # one token
    kl = token_kl(terms.logits, completion_logits(reference, context, completion)) * mask  # what kl adds
    torch.testing.assert_close(kl.sum() / mask.sum(), torch.tensor((p * np.log(p / q)).sum()).float())
    torch.testing.assert_close(
        weighted_log_likelihood(
            torch.log(torch.tensor([[0.5, 0.25]])), torch.tensor([[1.0, 3.0]]), torch.tensor([[1.0, 0.0]])
        ),
        torch.tensor(math.log(2.0)),
    )
