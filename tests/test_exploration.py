"""Exploration strategies: each hook's maths on hand-made batches, parameter errors, strength zero."""

from __future__ import annotations

import dataclasses
import itertools
import math
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

import token_gym  # noqa: F401
from agents import ReinforceAgent
from agents.evaluate import pass_at_k
from agents.exploration import (
    CompletionCount,
    EntropyBonus,
    GoExplore,
    KLPenalty,
    LengthCurriculum,
    LossContext,
    PassAtK,
    PrefixCount,
    Strategy,
    parse_strategies,
    parse_strategy,
)
from agents.exploration.episodes import episodes
from agents.exploration.passk import pass_at_k_rewards
from agents.objective import completion_logits
from agents.rollout import Rollout, RolloutSampler

NEW = [EntropyBonus, KLPenalty, CompletionCount, PrefixCount, PassAtK, GoExplore, LengthCurriculum]
POLICY = {"n_layer": 1, "n_embd": 16, "n_head": 2}


def make_agent(length: int = 3, n_envs: int = 8, group_size: int = 4, **kwargs) -> ReinforceAgent:
    env_kwargs = {"length": length, **kwargs.pop("env_kwargs", {})}
    return ReinforceAgent(
        "token_gym/SecretString-v0",
        env_kwargs=env_kwargs,
        n_envs=n_envs,
        group_size=group_size,
        policy_kwargs=POLICY,
        **kwargs,
    )


@pytest.fixture(scope="module")
def agent() -> ReinforceAgent:
    return make_agent()


def encoded(env_id: str = "token_gym/SecretString-v0", **kwargs):
    return gym.make_vec(env_id, num_envs=1, autoreset_mode="Disabled", **kwargs).unwrapped.encoded_task


def stub(encoded_task, seed: int = 0) -> SimpleNamespace:
    """What go_explore reads of an agent: its task and its generator."""
    return SimpleNamespace(encoded_task=encoded_task, rng=np.random.default_rng(seed))


def ids(encoded_task, text: str) -> list[int]:
    return [encoded_task.vocab.token_text.index(ch) for ch in text]


def make_rollout(
    encoded_task,
    completions: list[list[int]],
    prompts: list[int] | None = None,
    success: list[bool] | None = None,
    rewards: list[float] | None = None,
    group_size: int = 1,
    prefixes: list[list[int]] | None = None,
) -> Rollout:
    """A rollout as the sampler records it: context = prompt, separator, start prefix (left-padded)."""
    vocab, cap = encoded_task.vocab, encoded_task.max_completion_len
    B = len(completions)
    prompts = prompts or [0] * B
    prefixes = prefixes or [[] for _ in range(B)]
    rows = []
    for p, prefix in zip(prompts, prefixes, strict=True):
        prompt = [t for t in encoded_task.prompts[p].tolist() if t != vocab.pad_id]
        rows.append([*prompt, vocab.sep_id, *prefix])
    width = max(len(r) for r in rows)
    context = torch.tensor([[vocab.pad_id] * (width - len(r)) + r for r in rows])
    completion = torch.tensor([c + [vocab.pad_id] * (cap - len(c)) for c in completions])
    mask = torch.tensor([[t < len(c) for t in range(cap)] for c in completions])
    success = torch.tensor(success if success is not None else [False] * B, dtype=torch.bool)
    episode_return = torch.tensor(rewards if rewards is not None else success.tolist(), dtype=torch.float64)
    return Rollout(
        context=context,
        completion=completion,
        mask=mask,
        behaviour_log_probs=torch.zeros(B, cap),
        entropy=torch.zeros(B, cap),
        episode_return=episode_return,
        success=success,
        prompt_index=np.array(prompts),
        group_size=group_size,
    )


def perturb(policy: torch.nn.Module, scale: float = 0.5) -> None:
    with torch.no_grad():
        policy.token_embedding.weight.add_(scale * torch.randn_like(policy.token_embedding.weight))


def loss_context(agent: ReinforceAgent, rollout: Rollout, num_sequences: int | None = None) -> LossContext:
    logits = completion_logits(agent.policy, rollout.context, rollout.completion)  # (B, C, V)
    return LossContext(logits, rollout.context, rollout.completion, rollout.mask.float(), num_sequences or len(logits))


def train(agent: ReinforceAgent, updates: int) -> tuple[list[Rollout], list[dict[str, float]]]:
    """``updates`` real updates of the agent (its strategies called by ``ReinforceAgent._update``), with the
    rollouts it sampled and the scalars it logged."""
    rollouts, logged = [], []
    original = RolloutSampler.sample

    def recording(sampler, *args, **kwargs):
        rollouts.append(original(sampler, *args, **kwargs))
        return rollouts[-1]

    RolloutSampler.sample = recording
    try:
        agent.learn(10**9, callback=lambda a, scalars: logged.append(scalars) or len(logged) < updates)
    finally:
        RolloutSampler.sample = original
    return rollouts, logged


# -- every strategy -------------------------------------------------------------------------------


def test_strategies_are_registered_and_parsed_by_name():
    for cls in NEW:
        assert Strategy.registry[cls.name] is cls
        doc = " ".join(cls.__doc__.split())
        assert "Source" in doc and "sampling distribution" in doc
        assert not cls().changes_sampling
    count = parse_strategy("count:beta=0.3")
    assert isinstance(count, CompletionCount) and count.beta == 0.3
    both = parse_strategies(["entropy:coef=0.02,target=1.0", {"name": "pass_at_k", "k": 2}])
    assert [type(s) for s in both.items] == [EntropyBonus, PassAtK] and both.items[0].target == 1.0
    assert repr(parse_strategy("go_explore:fraction=0.5")).startswith("go_explore:fraction=0.5,select=score")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: EntropyBonus(coef=-0.1), "entropy coef"),
        (lambda: EntropyBonus(coef=True), "entropy coef"),
        (lambda: EntropyBonus(target=-1.0), "entropy target"),
        (lambda: EntropyBonus(delta=0.0), "entropy delta"),
        (lambda: EntropyBonus(coef_min=0.5, coef_max=0.1), "entropy coef_max"),
        (lambda: EntropyBonus(coef=2.0, target=1.0), r"entropy coef=2 must lie in \[coef_min, coef_max\]"),
        (lambda: KLPenalty(coef=-1), "kl coef"),
        (lambda: KLPenalty(coef="0.1"), "kl coef"),
        (lambda: CompletionCount(beta=-0.5), "count beta"),
        (lambda: PrefixCount(beta=float("nan")), "prefix_count beta"),
        (lambda: PassAtK(k=0), "pass_at_k k"),
        (lambda: PassAtK(k=2.0), "pass_at_k k"),
        (lambda: GoExplore(fraction=1.5), "go_explore fraction"),
        (lambda: GoExplore(select="best"), "go_explore select"),
        (lambda: GoExplore(max_cells=0), "go_explore max_cells"),
        (lambda: LengthCurriculum(start=0), "curriculum start"),
        (lambda: LengthCurriculum(threshold=1.5), "curriculum threshold"),
    ],
)
def test_bad_parameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


ZERO = {
    EntropyBonus: {"coef": 0.0, "target": None},
    KLPenalty: {"coef": 0.0},
    CompletionCount: {"beta": 0.0},
    PrefixCount: {"beta": 0.0},
    PassAtK: {"k": 1},
    GoExplore: {"fraction": 0.0},
    LengthCurriculum: {"start": None},
}


@pytest.mark.parametrize("cls", NEW, ids=lambda c: c.name)
def test_at_zero_every_hook_is_the_identity(cls):
    agent = make_agent()
    strategy = cls.at_zero()
    assert ZERO[cls].items() <= strategy.params().items()
    strategy.bind(agent)
    perturb(agent.policy)  # the policy moves on after bind (a KL reference taken there would now differ)
    task = agent.encoded_task
    a, b, c, d = ids(task, "abcd")
    eos = task.vocab.eos_id
    rollout = make_rollout(
        task,
        [[a, b, eos], [a, b, eos], [c, eos], [d, d, c, eos]],
        success=[False, True, False, False],
        rewards=[0.25, 1.0, 0.0, 0.5],
        group_size=4,
    )
    prompts = np.zeros(agent.config.n_envs, dtype=np.int64)
    logits = torch.randn(4, task.vocab.size)
    weights = torch.randn(4, task.max_completion_len)
    for _ in range(2):  # the second time with whatever state the first update left
        assert strategy.environment(agent.train_env) is agent.train_env
        assert strategy.starts(prompts, 4) is None
        assert strategy.logits(logits, 0) is logits
        shaped = strategy.rewards(rollout, rollout.episode_return)
        assert shaped.dtype == rollout.episode_return.dtype and torch.equal(shaped, rollout.episode_return)
        assert torch.equal(strategy.weights(weights, rollout), weights)
        term = strategy.loss(loss_context(agent, rollout))
        assert term is None or float(term.detach()) == 0.0
        strategy.update(rollout, {})
    assert not strategy.changes_sampling


@pytest.mark.parametrize("cls", NEW, ids=lambda c: c.name)
def test_the_defaults_do_change_something(cls):
    """At their defaults the strategies are on: at_zero's identities above are not vacuous."""
    agent = make_agent()
    strategy = cls()
    strategy.bind(agent)
    perturb(agent.policy)
    task = agent.encoded_task
    a, b, eos = *ids(task, "ab"), task.vocab.eos_id
    rollout = make_rollout(task, [[a, b, eos], [a, eos], [b, eos], [a, a, eos]], success=[1, 0, 0, 0], group_size=4)
    strategy.update(rollout, {})  # counts, archives
    term = strategy.loss(loss_context(agent, rollout))
    changed = {
        "environment": strategy.environment(agent.train_env) is not agent.train_env,
        "starts": strategy.starts(np.zeros(400, dtype=np.int64), 4) is not None,  # go_explore: 25 of 100 groups
        "rewards": not torch.equal(strategy.rewards(rollout, rollout.episode_return), rollout.episode_return),
        "loss": term is not None and float(term.detach()) != 0.0,
    }
    assert any(changed.values())


# -- entropy --------------------------------------------------------------------------------------


def entropy_by_hand(logits: torch.Tensor) -> np.ndarray:
    p = np.exp(logits.double().numpy())
    p /= p.sum(axis=-1, keepdims=True)
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=-1)  # 0 · log 0 = 0 (masked tokens)


def test_entropy_term_is_minus_coef_times_the_token_entropies_over_b():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5, requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    batch = LossContext(logits, torch.zeros(2, 1), torch.zeros(2, 3), mask, num_sequences=5)  # 2 rows of 5
    term = EntropyBonus(coef=0.3).loss(batch)
    H = entropy_by_hand(logits.detach())
    expected = -0.3 * (H[0, 0] + H[0, 1] + H[1, 0]) / 5
    assert float(term.detach()) == pytest.approx(expected, rel=1e-6)
    term.backward()  # a step against the gradient raises the entropy
    raised = entropy_by_hand(logits.detach() - 0.1 * logits.grad)
    assert (raised[mask.bool()] > H[mask.bool()]).all()


def test_adaptive_entropy_coefficient_walks_towards_the_target(agent):
    task = agent.encoded_task
    a, eos = ids(task, "a")[0], task.vocab.eos_id
    rollout = make_rollout(task, [[a, eos], [eos]])
    batch = loss_context(agent, rollout)
    H = float((entropy_by_hand(batch.logits.detach()) * batch.mask.numpy()).sum() / batch.mask.sum())

    low = EntropyBonus(coef=0.1, target=H + 0.1, delta=0.05, coef_max=0.18)  # entropy below target: up
    low.loss(batch)
    assert low.update(rollout, {}) == {"entropy_coef": 0.1, "policy_entropy": pytest.approx(H, rel=1e-5)}
    assert low.current_coef == pytest.approx(0.15)
    low.loss(batch)
    assert low.update(rollout, {})["entropy_coef"] == pytest.approx(0.15)  # the coefficient this batch used
    assert low.current_coef == 0.18  # clipped at coef_max
    assert float(low.loss(batch).detach()) == pytest.approx(-0.18 * H * 3 / 2, rel=1e-5)  # 3 tokens, B = 2

    high = EntropyBonus(coef=0.02, target=H - 0.1, delta=0.05, coef_min=0.0)  # above target: down, to coef_min
    high.loss(batch)
    high.update(rollout, {})
    assert high.current_coef == 0.0 and high.loss(batch) is None
    assert high.params()["coef"] == 0.02  # the parameter as given, for the run record

    static = EntropyBonus(coef=0.1)
    static.loss(batch)
    static.update(rollout, {})
    assert static.current_coef == 0.1

    unmeasured = EntropyBonus(coef=0.1, target=10.0)  # no loss this batch: the rollout's recorded entropy
    recorded = dataclasses.replace(rollout, entropy=torch.full(rollout.mask.shape, 2.0) * rollout.mask)
    assert unmeasured.update(recorded, {})["policy_entropy"] == pytest.approx(2.0)


# -- kl -------------------------------------------------------------------------------------------


def test_kl_freezes_a_copy_of_the_policy_when_the_agent_has_no_reference():
    agent = make_agent()
    kl = KLPenalty(coef=0.1)
    kl.bind(agent)
    reference = kl.reference
    assert reference is not agent.policy and agent.reference is reference  # the agent's now: checkpoints hold it
    assert all(not p.requires_grad for p in reference.parameters())
    with torch.no_grad():
        agent.policy.token_embedding.weight.add_(1.0)
    assert not torch.equal(reference.token_embedding.weight, agent.policy.token_embedding.weight)

    with_reference = make_agent(kl_coef=0.1)  # the agent holds a frozen reference: that one is used
    kl = KLPenalty()
    kl.bind(with_reference)
    assert kl.reference is with_reference.reference


def test_kl_term_is_coef_times_the_token_kls_over_b():
    agent = make_agent()
    kl = KLPenalty(coef=0.2)
    kl.bind(agent)
    task = agent.encoded_task
    a, b, eos = *ids(task, "ab"), task.vocab.eos_id
    rollout = make_rollout(task, [[a, b, eos], [b, eos]])
    assert float(kl.loss(loss_context(agent, rollout)).detach()) == pytest.approx(0.0, abs=1e-7)  # π = π_ref at bind
    with torch.no_grad():
        for p in agent.policy.parameters():
            p.add_(0.3 * torch.randn_like(p))
    batch = loss_context(agent, rollout, num_sequences=4)
    with torch.no_grad():
        q = torch.softmax(completion_logits(kl.reference, rollout.context, rollout.completion), -1).double()
    p = torch.softmax(batch.logits.detach(), -1).double()
    by_hand = (p * (p.clamp(min=1e-300).log() - q.clamp(min=1e-300).log())).sum(-1) * rollout.mask
    term = kl.loss(batch).detach()
    assert float(term) == pytest.approx(0.2 * float(by_hand.sum()) / 4, rel=1e-5)
    assert kl.update(rollout, {}) == {"kl_coef": 0.2, "kl_to_reference": pytest.approx(float(by_hand.sum()) / 5)}

    optimizer = torch.optim.Adam(agent.policy.parameters(), lr=0.01)  # the term's gradient pulls π back to π_ref
    for _ in range(20):
        optimizer.zero_grad()
        kl.loss(loss_context(agent, rollout)).backward()
        optimizer.step()
    assert float(kl.loss(loss_context(agent, rollout)).detach()) < float(term) * 4 / 2 * 0.5


def test_kl_before_bind_is_an_error(agent):
    task = agent.encoded_task
    rollout = make_rollout(task, [[task.vocab.eos_id]])
    with pytest.raises(RuntimeError, match="bind"):
        KLPenalty().loss(loss_context(agent, rollout))


# -- count and prefix_count ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_prompts():
    return encoded(length=3, num_prompts=2)


def test_episodes_join_the_start_prefix_and_the_sampled_tokens(two_prompts):
    task = two_prompts
    a, b, c, eos = *ids(task, "abc"), task.vocab.eos_id
    rollout = make_rollout(task, [[a, b, eos], [b, eos], [c]], prompts=[0, 1, 1], prefixes=[[], [a], [a, b]])
    found = episodes(rollout, task.vocab.sep_id, task.vocab.pad_id)
    assert found.start_length.tolist() == [0, 1, 2] and found.length.tolist() == [3, 3, 3]
    assert found.tokens[:, :3].tolist() == [[a, b, eos], [a, b, eos], [a, b, c]]
    assert (found.tokens[:, 3:] == task.vocab.pad_id).all()
    assert found.key(0) != found.key(1) and found.key(1)[1] == found.key(0)[1]  # same tokens, other prompt


def test_count_bonus_is_beta_over_root_n_with_this_batch_counted(two_prompts):
    task = two_prompts
    a, b, c, eos = *ids(task, "abc"), task.vocab.eos_id
    count = CompletionCount(beta=0.5)
    count.bind(SimpleNamespace(encoded_task=task))
    completions = [[a, b, eos], [a, b, eos], [a, c, eos], [a, b, c, eos], [a, b, eos], [a, b, eos]]
    rollout = make_rollout(task, completions, prompts=[0, 0, 0, 0, 1, 1], rewards=[1.0, 0, 0, 0, 0, 0])
    shaped = count.rewards(rollout, rollout.episode_return)
    s2 = 1 / math.sqrt(2)
    assert shaped.tolist() == pytest.approx([1 + 0.5 * s2, 0.5 * s2, 0.5, 0.5, 0.5 * s2, 0.5 * s2])
    assert count.count(0, [a, b, eos]) == 2 and count.count(1, [a, b, eos]) == 2 and count.count(0, [a, b]) == 0
    assert count.update(rollout, {}) == {
        "count_bonus": pytest.approx(float((shaped - rollout.episode_return).mean())),
        "count_entries": 4.0,
    }
    again = count.rewards(rollout, torch.zeros(6, dtype=torch.float64))  # N doubles: β/√4, β/√4, β/√2, ...
    assert again.tolist() == pytest.approx([0.25, 0.25, 0.5 * s2, 0.5 * s2, 0.25, 0.25])
    # an episode restarted from the prefix [a] that sampled [b, EOS] is the completion [a, b, EOS]
    restarted = make_rollout(task, [[b, eos]], prefixes=[[a]])
    assert count.rewards(restarted, torch.zeros(1, dtype=torch.float64)).tolist() == pytest.approx([0.5 / math.sqrt(5)])


def test_prefix_count_bonus_is_beta_times_the_mean_over_the_episodes_own_prefixes(two_prompts):
    task = two_prompts
    a, b, c, eos = *ids(task, "abc"), task.vocab.eos_id
    prefix_count = PrefixCount(beta=0.4)
    prefix_count.bind(SimpleNamespace(encoded_task=task))
    rollout = make_rollout(task, [[a, b, eos], [a, c, eos], [b, eos]], prefixes=[[], [], [a]])
    shaped = prefix_count.rewards(rollout, torch.zeros(3, dtype=torch.float64))
    # N: (a) 2 (rows 0, 1; row 2 was given it), (a,b) 2 (rows 0 and 2), (a,b,eos) 2, (a,c) 1, (a,c,eos) 1
    s2 = 1 / math.sqrt(2)
    assert shaped.tolist() == pytest.approx([0.4 * s2, 0.4 * (s2 + 1 + 1) / 3, 0.4 * s2])
    assert prefix_count.count(0, [a]) == 2 and prefix_count.count(0, [a, b]) == 2 and prefix_count.count(0, []) == 0
    assert prefix_count.update(rollout, {})["prefix_count_entries"] == 5.0


def test_count_before_bind_is_an_error(two_prompts):
    rollout = make_rollout(two_prompts, [[two_prompts.vocab.eos_id]])
    with pytest.raises(RuntimeError, match="bind"):
        CompletionCount().rewards(rollout, rollout.episode_return)


# -- pass_at_k ------------------------------------------------------------------------------------


def test_pass_at_k_rewards_by_hand():
    def scaled(success, k):
        return pass_at_k_rewards(torch.tensor(success, dtype=torch.bool), len(success), k).tolist()

    assert scaled([1, 0, 0, 0], 2) == pytest.approx([1, 1 / 3, 1 / 3, 1 / 3])  # ρ(3,1,1) = 1 − 2/3
    assert scaled([0, 1, 0, 1], 2) == pytest.approx([2 / 3, 1, 2 / 3, 1])  # ρ(3,2,1) = 1 − 1/3
    assert scaled([0, 0, 1, 0], 4) == pytest.approx([1, 1, 1, 1])  # every 4-subset holds the success
    assert scaled([0, 0, 0, 0], 3) == [0, 0, 0, 0]
    assert scaled([1, 0, 0, 0, 0], 3) == pytest.approx([1, 0.5, 0.5, 0.5, 0.5])  # ρ(4,1,2) = 1 − C(3,2)/C(4,2)
    assert scaled([1, 0, 1, 0], 1) == [1, 0, 1, 0]  # k = 1: the binary rewards


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_pass_at_k_rewards_match_brute_force_over_k_subsets(n):
    for k, c in itertools.product(range(1, n + 1), range(n + 1)):
        success = [True] * c + [False] * (n - c)
        rewards = pass_at_k_rewards(torch.tensor(success), n, k).numpy()
        subsets = list(itertools.combinations(range(n), k))
        # r_i = P(a uniformly random k-subset succeeds | it holds sample i): 1 for a correct sample
        for i in range(n):
            holding = [s for s in subsets if i in s]
            assert rewards[i] == pytest.approx(np.mean([any(success[j] for j in s) for s in holding]))
        # the group mean is the unbiased pass@k estimate ρ(n, c, k) = P(a random k-subset succeeds) ...
        brute = np.mean([any(success[j] for j in s) for s in subsets])
        assert rewards.mean() == pytest.approx(brute) and brute == pytest.approx(pass_at_k(n, c, k))
        # ... so PKPO's unscaled rewards, (k/n)·r_i, sum to k·ρ(n, c, k)
        assert (k / n * rewards).sum() == pytest.approx(k * pass_at_k(n, c, k))


def test_pass_at_k_adds_the_credit_to_failures_and_keeps_other_rewards(agent):
    task = agent.encoded_task
    eos = task.vocab.eos_id
    rollout = make_rollout(
        task, [[eos]] * 8, success=[1, 0, 0, 0, 0, 0, 0, 0], rewards=[1.0, 0.5, 0, 0, 0.1, 0, 0, 0], group_size=4
    )
    strategy = PassAtK(k=2)
    strategy.bind(agent)
    shaped = strategy.rewards(rollout, rollout.episode_return)
    assert shaped.tolist() == pytest.approx([1, 0.5 + 1 / 3, 1 / 3, 1 / 3, 0.1, 0, 0, 0])
    assert strategy.update(rollout, {}) == {"pass_at_2": pytest.approx((0.5 + 0.0) / 2)}


def test_pass_at_k_needs_k_samples_per_prompt(agent):
    with pytest.raises(ValueError, match=r"k=5 .*the group size is 4"):
        PassAtK(k=5).bind(agent)
    strategy = PassAtK(k=4)
    strategy.bind(agent)
    single = make_rollout(agent.encoded_task, [[agent.encoded_task.vocab.eos_id]] * 4, group_size=2)
    with pytest.raises(ValueError, match=r"k=4 .*the group size is 2"):
        strategy.rewards(single, single.episode_return)


# -- go_explore -----------------------------------------------------------------------------------


@pytest.fixture
def lock():
    return encoded("token_gym/CombinationLock-v0", length=3, alphabet="abcd", num_prompts=2)


def test_go_explore_archives_every_proper_prefix_with_visits_and_best(two_prompts):
    task = two_prompts
    a, b, c, eos = *ids(task, "abc"), task.vocab.eos_id
    explore = GoExplore(fraction=1.0)
    explore.bind(stub(task))
    rollout = make_rollout(task, [[a, b, eos], [a, c, eos], [b, b, b, c]], prompts=[0, 0, 1], rewards=[0.5, 0.2, 0.7])
    scalars = explore.update(rollout, {})
    cells = {k: (v.visits, v.best) for k, v in explore.cells(0).items()}
    assert cells == {(a,): (2, 0.5), (a, b): (1, 0.5), (a, c): (1, 0.2)}  # never the empty prefix, nor a whole episode
    assert set(explore.cells(1)) == {(b,), (b, b), (b, b, b)}  # cut at the cap: the last token is dropped
    assert scalars == {"go_explore_cells": 6.0, "go_explore_restarted": 0.0, "go_explore_best": 0.7}


def test_go_explore_restarts_whole_groups_from_cells_of_their_prompt(two_prompts):
    task = two_prompts
    a, b, eos = *ids(task, "ab"), task.vocab.eos_id
    explore = GoExplore(fraction=1.0)
    explore.bind(stub(task))
    explore.update(make_rollout(task, [[a, b, eos]], prompts=[0], rewards=[0.3]), {})
    drawn = np.array([1, 1, 0, 0, 1, 1, 0, 0])  # groups of 2: prompt 1 has no cells, prompt 0 has (a), (a, b)
    options = explore.starts(drawn, 2)
    assert options["reset_mask"].tolist() == [False, False, True, True, False, False, True, True]
    assert options["prompt_index"].tolist() == drawn.tolist()
    assert options["prefix"][2] == options["prefix"][3] and options["prefix"][6] == options["prefix"][7]
    assert {tuple(options["prefix"][r]) for r in (2, 6)} <= {(a,), (a, b)}
    assert all(options["prefix"][r] == [] for r in (0, 1, 4, 5))
    # the env accepts the options as they are
    env = gym.make_vec("token_gym/SecretString-v0", num_envs=8, autoreset_mode="Disabled", length=3, num_prompts=2)
    env.reset(seed=0, options={"group_size": 2})
    obs, infos = env.reset(options=options)
    for row in (2, 3, 6, 7):
        prefix = options["prefix"][row]
        assert obs[row, -len(prefix) :].tolist() == prefix and obs[row, -len(prefix) - 1] == task.vocab.sep_id
    assert infos["prompt_index"][options["reset_mask"]].tolist() == [0, 0, 0, 0]


def test_go_explore_fraction_is_rounded_stochastically(two_prompts):
    task = two_prompts
    a, eos = ids(task, "a")[0], task.vocab.eos_id
    explore = GoExplore(fraction=0.5)
    explore.bind(stub(task))
    explore.update(make_rollout(task, [[a, a, eos], [a, a, eos]], prompts=[0, 1]), {})
    four_groups = [explore.starts(np.zeros(8, dtype=np.int64), 2)["reset_mask"].sum() for _ in range(20)]
    assert set(four_groups) == {4}  # 0.5 · 4 groups = 2 groups of 2 rows, every time
    explore.fraction = 0.25  # 0.25 · 2 groups: one group half the time, none otherwise
    picks = [explore.starts(np.zeros(2, dtype=np.int64), 1) for _ in range(400)]
    assert 0.4 < np.mean([p is not None for p in picks]) < 0.6


def test_go_explore_selection_weights(two_prompts):
    task = two_prompts
    a, b, c, d = ids(task, "abcd")
    explore = GoExplore(fraction=1.0, select="score")
    explore.bind(stub(task))
    # cells (a) and (b) hold the highest best reward, 1.0, with 3 and 15 visits; (c) has 0.5 and one visit
    completions = [[a, a]] * 3 + [[b, b]] * 15 + [[c, c]]
    explore.update(make_rollout(task, [[*t, d] for t in completions], rewards=[1.0] * 18 + [0.5]), {})
    assert {k: v.visits for k, v in explore.cells(0).items() if len(k) == 1} == {(a,): 3, (b,): 15, (c,): 1}
    options = explore.starts(np.zeros(3000, dtype=np.int64), 1)
    chosen = [tuple(p) for p in options["prefix"]]
    assert set(chosen) <= {(a,), (a, a), (b,), (b, b)}  # best 1.0 only: (c) and (c, c) never
    weights = {(a,): 4**-0.5, (a, a): 4**-0.5, (b,): 16**-0.5, (b, b): 16**-0.5}
    total = sum(weights.values())
    for prefix, weight in weights.items():
        assert chosen.count(prefix) / 3000 == pytest.approx(weight / total, abs=0.03)
    explore.select = "novel"  # every cell, ∝ 1/√(visits + 1)
    chosen = [tuple(p) for p in explore.starts(np.zeros(3000, dtype=np.int64), 1)["prefix"]]
    weights |= {(c,): 2**-0.5, (c, c): 2**-0.5}
    total = sum(weights.values())
    assert chosen.count((c,)) / 3000 == pytest.approx(weights[(c,)] / total, abs=0.03)


def test_go_explore_counts_restarts_and_checks_the_rollout_started_there(two_prompts):
    task = two_prompts
    a, b, eos = *ids(task, "ab"), task.vocab.eos_id
    explore = GoExplore(fraction=1.0)
    explore.bind(stub(task))
    explore.update(make_rollout(task, [[a, b, eos]], rewards=[0.0]), {})
    options = explore.starts(np.zeros(2, dtype=np.int64), 2)
    prefix = options["prefix"][0]
    tail = [a, b, eos][len(prefix) :]
    restarted = make_rollout(task, [tail, tail], prefixes=[prefix, prefix], rewards=[0.6, 0.0], group_size=2)
    scalars = explore.update(restarted, {})
    assert scalars["go_explore_restarted"] == 1.0
    assert explore.cells(0)[(a,)].visits == 3 and explore.cells(0)[(a,)].best == 0.6
    explore.starts(np.zeros(2, dtype=np.int64), 2)
    ignored = make_rollout(task, [[a, b, eos], [a, b, eos]], group_size=2)  # a sampler that ignored the starts
    with pytest.raises(RuntimeError, match="not where go_explore's starts"):
        explore.update(ignored, {})


def test_go_explore_archive_is_bounded(two_prompts):
    task = two_prompts
    a, b, c, eos = *ids(task, "abc"), task.vocab.eos_id
    explore = GoExplore(max_cells=3)
    explore.bind(stub(task))
    rollout = make_rollout(task, [[a, b, eos], [a, c, eos], [b, c, eos], [b, b, eos]], rewards=[0.2, 0.9, 0.2, 0.2])
    explore.update(rollout, {})
    # by best reward: (a) and (a, c) hold 0.9; then among 0.2 the least visited: (a, b), (b, b), (b, c) once, (b) twice
    kept = set(explore.cells(0))
    assert len(kept) == 3 and {(a,), (a, c)} <= kept and (b,) not in kept


def test_go_explore_cells_are_starts_the_env_accepts(lock):
    letters = ids(lock, "abcd")
    combination = lock.answers[0].tolist()
    explore = GoExplore()
    explore.bind(stub(lock))
    wrong = [next(t for t in letters if t != right) for right in combination]
    rollout = make_rollout(lock, [combination, [combination[0], wrong[1]]], rewards=[1.0, 0.0])
    explore.update(rollout, {})  # the lock's episodes are on the combination up to their last token
    assert set(explore.cells(0)) == {tuple(combination[:1]), tuple(combination[:2])}
    off_the_combination = make_rollout(lock, [[wrong[0], *combination[1:]]])  # an episode no env would end so
    with pytest.raises(ValueError, match=r"go_explore: a prefix of 1 tokens .* departs from the combination"):
        explore.update(off_the_combination, {})


def test_go_explore_through_the_agent_the_env_and_the_rollout():
    """The agent restarts the chosen groups from archived prefixes (a batch mixing restarted and fresh rows
    is wider than an observation: the policy reads it by content positions)."""
    explore = GoExplore(fraction=0.5, select="novel")
    agent = make_agent(length=3, n_envs=16, group_size=4, strategies=[explore], learning_rate=1e-2)
    rollouts, logged = train(agent, 6)  # update() checks each row started where starts() said
    restarted = [scalars["go_explore_restarted"] for scalars in logged]
    assert restarted[0] == 0.0 and restarted[1:] == [0.5] * 5  # 2 of 4 groups once the archive has cells
    found = episodes(rollouts[-1], agent.encoded_task.vocab.sep_id, agent.encoded_task.vocab.pad_id)
    assert (found.start_length > 0).sum() == 8 and (found.length <= agent.encoded_task.max_completion_len).all()
    assert logged[-1]["go_explore_cells"] > 0
    assert rollouts[-1].context.shape[1] > agent.encoded_task.prompts.shape[1] + 1  # prefixes in the context


def test_go_explore_before_bind_is_an_error(two_prompts):
    explore = GoExplore()
    with pytest.raises(RuntimeError, match="bind"):
        explore.update(make_rollout(two_prompts, [[two_prompts.vocab.eos_id]]), {})


# -- curriculum -----------------------------------------------------------------------------------


def test_curriculum_raises_the_length_when_a_batch_succeeds():
    agent = make_agent(length=3)
    curriculum = LengthCurriculum(start=1, threshold=0.5)
    curriculum.bind(agent)
    env = curriculum.environment(agent.train_env)
    task = env.unwrapped.encoded_task
    assert curriculum.length == 1 and env.num_envs == agent.config.n_envs and task.answers.shape[1] == 1
    assert task.answers[:, 0].tolist() == agent.encoded_task.answers[:, 0].tolist()  # nested secrets
    assert curriculum.environment(agent.train_env) is env  # built once
    rollout = RolloutSampler(env, 4, seed=0).sample(agent.policy, agent.generator)  # the policy reads it
    assert rollout.context.shape[1] + rollout.completion.shape[1] <= agent.encoded_task.observation_width

    eos = task.vocab.eos_id
    failing = make_rollout(task, [[eos]] * 4, success=[True, False, False, False])
    assert curriculum.update(failing, {}) == {"curriculum_length": 1.0} and curriculum.length == 1
    passing = make_rollout(task, [[eos]] * 4, success=[True, True, False, False])
    assert curriculum.update(passing, {}) == {"curriculum_length": 1.0} and curriculum.length == 2
    assert curriculum.environment(agent.train_env).unwrapped.encoded_task.answers.shape[1] == 2
    curriculum.update(passing, {})
    assert curriculum.length == 3 and curriculum.environment(agent.train_env) is agent.train_env
    assert curriculum.update(passing, {}) == {"curriculum_length": 3.0} and curriculum.length == 3  # no further


def test_curriculum_errors_name_the_problem(agent):
    with pytest.raises(ValueError, match=r"curriculum start=4 is longer than the task's length=3"):
        LengthCurriculum(start=4).bind(agent)
    addition = SimpleNamespace(
        encoded_task=encoded("token_gym/Addition-v0", digits=2), env_id="token_gym/Addition-v0", env_kwargs={}
    )
    with pytest.raises(ValueError, match=r"'length' kwarg; token_gym/Addition-v0 \(task 'addition'\) has none"):
        LengthCurriculum().bind(addition)
    with pytest.raises(RuntimeError, match="bind"):
        LengthCurriculum().environment(agent.train_env)


def test_curriculum_end_to_end_climbs_to_the_full_task():
    agent = make_agent(
        length=3, n_envs=32, group_size=4, strategies=[LengthCurriculum(start=1, threshold=0.5)], learning_rate=3e-3
    )
    rollouts, logged = train(agent, 150)
    lengths = [scalars["curriculum_length"] for scalars in logged]
    for rollout, length in zip(rollouts, lengths, strict=True):
        assert rollout.completion.shape[1] == length + 1  # SecretString's cap: the length + 1 (EOS)
    assert lengths[0] == 1 and lengths[-1] == 3 and sorted(lengths) == lengths


# -- learning sanity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "keys"),
    [
        ("entropy:coef=0.01,target=1.0", {"entropy_coef", "policy_entropy"}),
        ("kl:coef=0.1", {"kl_coef", "kl_to_reference"}),
        ("count", {"count_bonus", "count_entries"}),
        ("prefix_count", {"prefix_count_bonus", "prefix_count_entries"}),
        ("pass_at_k:k=2", {"pass_at_2"}),
    ],
)
def test_strategies_run_in_the_update_order_and_log(spec, keys):
    agent = make_agent(n_envs=16, group_size=4, strategies=[spec], learning_rate=1e-2)
    _, logged = train(agent, 3)
    assert keys <= set(logged[-1]) and all(math.isfinite(logged[-1][k]) for k in keys)


def test_entropy_bonus_keeps_the_policy_spread_out():
    def final_entropy(coef: float) -> float:
        agent = make_agent(length=2, n_envs=32, group_size=4, strategies=[EntropyBonus(coef=coef)], learning_rate=1e-2)
        rollouts, _ = train(agent, 40)
        return float(rollouts[-1].entropy.sum() / rollouts[-1].mask.sum())

    assert final_entropy(0.5) > final_entropy(0.0) + 0.2


def test_count_bonus_spreads_the_completions():
    def distinct(strategy: Strategy) -> float:
        agent = make_agent(length=3, n_envs=32, group_size=4, strategies=[strategy], learning_rate=1e-2)
        rollouts, _ = train(agent, 40)
        seen = []
        for rollout in rollouts[-10:]:
            found = episodes(rollout, agent.encoded_task.vocab.sep_id, agent.encoded_task.vocab.pad_id)
            seen.append(len({found.key(r) for r in range(len(found.length))}))
        return float(np.mean(seen))

    assert distinct(CompletionCount(beta=1.0)) > distinct(CompletionCount.at_zero()) + 3


TASK = {"reward": "partial", "num_prompts": 4}  # every batch has a gradient, and the prompt draws matter
STATEFUL = {  # each keeps what it gathered while training: a checkpoint must hold it
    "count": "count:beta=0.5",
    "prefix_count": "prefix_count:beta=0.5",
    "go_explore": "go_explore:fraction=0.5,select=novel",
    "entropy-adaptive": "entropy:coef=0.01,target=2.0,delta=0.01",
    "curriculum-rising": "curriculum:start=1,threshold=0.0",  # one longer after every batch
    "curriculum-held": "curriculum:start=3,threshold=1.0",  # stays on the length-3 env across the save
}


@pytest.mark.parametrize("name", STATEFUL)
def test_a_strategys_state_survives_save_and_load(tmp_path, name):
    def make() -> ReinforceAgent:
        strategies = [STATEFUL[name]]
        return make_agent(6, 16, 4, env_kwargs=TASK, strategies=strategies, learning_rate=1e-2)

    straight = make().learn(300).learn(300)
    resumed = make().learn(300)
    saved = resumed.strategies.state()
    assert saved, "the strategy gathered nothing: the test would not test the checkpoint"
    path = resumed.save(tmp_path / "agent.zip")
    loaded = ReinforceAgent.load(path)
    again = loaded.strategies.state()
    assert saved.keys() == again.keys() and all(
        saved[k].keys() == again[k].keys() and all(torch.equal(saved[k][n], again[k][n]) for n in saved[k])
        for k in saved
    )
    loaded.learn(300)
    assert loaded.num_timesteps == straight.num_timesteps
    assert all(torch.equal(a, b) for a, b in zip(straight.policy.parameters(), loaded.policy.parameters(), strict=True))
    fresh = ReinforceAgent.load(path, strategies=["none"])  # other strategies: the saved state is not theirs
    assert fresh.strategies.state() == {}


def test_a_strategy_state_that_does_not_fit_is_refused_naming_the_file(tmp_path):
    agent = make_agent(n_envs=16, group_size=4, strategies=["count"]).learn(100)
    path = agent.save(tmp_path / "agent.zip")
    with pytest.raises(ValueError, match="no state"):
        make_agent(strategies=["temperature"]).strategies.load_state({"0:temperature": {"x": torch.zeros(1)}})
    with pytest.raises(ValueError, match="one count >= 1 per key"):
        state = agent.strategies.state()["0:count"]
        agent.strategies.items[0].load_state({**state, "counts": state["counts"][:-1]})
    assert ReinforceAgent.load(path).strategies.state()["0:count"]["counts"].sum() > 0
