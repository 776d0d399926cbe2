"""Strategies that change what is sampled are recorded and corrected for; at strength zero they change nothing.

* every registered strategy at strength zero leaves training bit for bit as it was;
* the behaviour log-probs the rollout records are those of the distribution sampled from;
* the sequence-ratio correction of temperature-sampled batches is unbiased for the on-policy gradient,
  checked against the exact gradient (agents.exact); the uncorrected one is rejected by the same test.
"""

import numpy as np
import pytest
import torch

import token_gym  # noqa: F401
from agents import ReinforceAgent
from agents.baselines import returns
from agents.exact import exact_objective_and_gradient
from agents.exploration import Strategy, Temperature
from agents.objective import completion_logits, policy_loss, token_log_probs
from agents.rollout import RolloutSampler
from tests.test_exact import flat, make_env, small_policy

TINY = {"n_layer": 1, "n_embd": 16, "n_head": 2}


def weights_after(strategies, env_id="token_gym/SecretString-v0", **kwargs):
    kw = {"length": 3, "alphabet": "abc", "reward": "partial", "num_prompts": 2}
    agent = ReinforceAgent(
        env_id, env_kwargs=kw, n_envs=32, group_size=4, policy_kwargs=TINY, strategies=strategies, **kwargs
    )
    agent.learn(400)
    return [p.detach().clone() for p in agent.policy.parameters()], agent


@pytest.mark.parametrize("name", sorted(Strategy.registry))
def test_every_strategy_at_strength_zero_changes_nothing_bit_for_bit(name):
    plain, _ = weights_after([])
    zero, agent = weights_after([Strategy.registry[name].at_zero()])
    assert agent.correction == "none"  # nothing to correct: β = π
    assert all(torch.equal(a, b) for a, b in zip(plain, zero, strict=True)), name


def test_a_strategy_at_strength_zero_is_not_a_no_op_by_accident():
    """The comparison above has power: a strategy that does act changes the weights."""
    plain, _ = weights_after([])
    for spec in ("temperature:t=2.0", "epsilon:epsilon=0.5", "top_k:k=1"):
        acting, agent = weights_after([spec])
        assert agent.correction == "truncated"
        assert not all(torch.equal(a, b) for a, b in zip(plain, acting, strict=True)), spec


@pytest.mark.parametrize(
    "spec", ["temperature:t=0.5", "temperature:t=3.0", "epsilon:epsilon=0.3", "top_k:k=2", "top_p:p=0.6"]
)
def test_behaviour_log_probs_are_those_of_the_distribution_sampled_from(spec):
    """Score the sampled tokens again, in one full forward pass, under the strategy's transform."""
    from agents.exploration import parse_strategy

    env = make_env("token_gym/Reverse-v0", num_envs=64, length=3, alphabet="abcd", autoreset_mode="Disabled")
    policy = small_policy(env)
    strategy = parse_strategy(spec)
    rollout = RolloutSampler(env, seed=0, logits_hook=strategy.logits).sample(policy, torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = completion_logits(policy, rollout.context, rollout.completion)  # (B, C, V)
        transformed = torch.stack([strategy.logits(logits[:, t], t) for t in range(logits.shape[1])], dim=1)
        expected = token_log_probs(transformed, rollout.completion) * rollout.mask
        plain = token_log_probs(logits, rollout.completion) * rollout.mask
    torch.testing.assert_close(rollout.behaviour_log_probs, expected, atol=1e-4, rtol=0)
    assert (rollout.behaviour_log_probs - plain).abs().max() > 1e-2  # it did sample from another distribution


def test_sequence_corrected_gradient_of_tempered_samples_is_the_on_policy_gradient():
    """Samples from softmax(z / 2), weighted w = R · ∏ π/β (the sequence ratio, a constant), average to ∇J.

    Same statistics as tests/test_exact.py's REINFORCE check: M = 16 batches, t along the exact
    direction (|t| < 4, Student's t with 15 dof: P ≈ 0.001), cosine > 0.98. Measured on seeds 0-2:
    sequence t = 0.95, 0.78, -0.05 and cos ≥ 0.9997; per-token truncated t = -7.5 to -10, cos 0.96, norm
    0.9 of the exact (biased, as expected); no correction t = -4.8 to -6.2, cos 0.88 — rejected here by
    its cosine (it ascends the tempered objective instead).
    """
    env = make_env("token_gym/Reverse-v0", num_envs=1536, length=2, alphabet="abc", num_prompts=4, reward="partial")
    policy = small_policy(env, std=0.3)
    _, exact = exact_objective_and_gradient(policy, env)
    exact = flat(exact)
    prompts = env.unwrapped.prompt_indices()
    sampler = RolloutSampler(env, seed=0, logits_hook=Temperature(2.0))
    generator = torch.Generator().manual_seed(0)
    estimates = {"sequence": [], "none": []}
    for _ in range(16):
        rollout = sampler.sample(policy, generator, prompt_index=np.tile(prompts, env.num_envs // len(prompts)))
        weights = returns(rollout.rewards, rollout.mask)
        for correction, out in estimates.items():
            loss = policy_loss(
                policy,
                rollout.context,
                rollout.completion,
                rollout.mask,
                weights,
                behaviour_log_probs=rollout.behaviour_log_probs,
                correction=correction,
            ).loss
            out.append(-flat(torch.autograd.grad(loss, list(policy.parameters()))))
    u = exact / exact.norm()

    def t_along(estimate: list) -> float:
        along = torch.stack(estimate) @ u  # (M,)
        return float((along.mean() - exact.norm()) / (along.std() / len(along) ** 0.5))

    corrected = torch.stack(estimates["sequence"]).mean(dim=0)
    assert abs(t_along(estimates["sequence"])) < 4
    assert float(torch.cosine_similarity(corrected, exact, dim=0)) > 0.98
    uncorrected = torch.stack(estimates["none"]).mean(dim=0)
    assert float(torch.cosine_similarity(uncorrected, exact, dim=0)) < 0.95  # the test has power
