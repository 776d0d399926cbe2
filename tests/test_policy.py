"""The policy: one prefix, one set of logits, however it is read (full pass, cache, observation)."""

import gymnasium as gym
import pytest
import torch

import token_gym  # noqa: F401
from agents.policy import (
    MASKED_LOGIT,
    PolicyConfig,
    content_mask,
    content_positions,
    make_policy,
)
from agents.rollout import RolloutSampler, sample_tokens

KINDS = ["transformer", "gru"]


def small_policy(kind: str, vocab: int = 11, max_len: int = 16, seed: int = 0, mask=None):
    torch.manual_seed(seed)
    return make_policy(PolicyConfig(vocab_size=vocab, pad_id=0, max_len=max_len, n_embd=32, kind=kind), mask).eval()


def test_content_mask_and_positions_count_from_first_non_pad():
    tokens = torch.tensor([[0, 0, 5, 0, 7], [4, 0, 5, 6, 7]])
    valid = content_mask(tokens, pad_id=0)
    assert valid.tolist() == [[False, False, True, True, True], [True] * 5]  # a pad inside content is content
    assert content_positions(valid).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


@pytest.mark.parametrize("kind", KINDS)
def test_cached_steps_equal_full_forward(kind):
    policy = small_policy(kind)
    context = torch.tensor([[0, 0, 5, 6, 7, 1], [0, 4, 5, 6, 7, 1], [3, 4, 5, 6, 7, 1]])  # ragged left padding
    completion = torch.randint(2, 11, (3, 6), generator=torch.Generator().manual_seed(1))
    full = policy(torch.cat([context, completion], dim=1))  # (B, T, V)
    logits, cache = policy.start(context, max_new=6)
    torch.testing.assert_close(logits, full[:, 5], atol=1e-5, rtol=0)
    for t in range(5):
        logits, cache = policy.step(completion[:, t], cache)
        torch.testing.assert_close(logits, full[:, 6 + t], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_left_padding_does_not_change_logits(kind):
    policy = small_policy(kind)
    content = torch.tensor([[5, 6, 1, 8, 9]])
    for pad in range(4):
        padded = torch.cat([torch.zeros(1, pad, dtype=torch.long), content], dim=1)
        torch.testing.assert_close(policy(padded)[:, pad:], policy(content), atol=1e-5, rtol=0)


def test_observation_path_equals_token_path():
    """Reading the env's observation (right-aligned, left-padded) gives the rollout's cached logits."""
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=4, length=4)
    encoded_task = env.unwrapped.encoded_task
    policy = small_policy("transformer", vocab=encoded_task.vocab.size, max_len=encoded_task.observation_width)
    obs, _ = env.reset(seed=0)
    logits, cache = policy.start(
        torch.from_numpy(obs[:, -(encoded_task.prompts.shape[1] + 1) :]), encoded_task.max_completion_len
    )
    for t in range(3):
        torch.testing.assert_close(policy(torch.from_numpy(obs))[:, -1], logits, atol=1e-5, rtol=0)
        token = torch.full((4,), 3 + t)
        obs, *_ = env.step(token.numpy())
        logits, cache = policy.step(token, cache)


@pytest.mark.parametrize("kind", KINDS)
def test_action_mask_is_part_of_the_policy(kind):
    mask = torch.zeros(11, dtype=torch.bool)
    mask[[2, 5, 6]] = True
    policy = small_policy(kind, mask=mask)
    logits = policy(torch.tensor([[4, 5, 1]]))
    assert (logits[..., ~mask] == MASKED_LOGIT).all()
    sampled, _ = sample_tokens(logits[:, -1].expand(512, -1), torch.Generator().manual_seed(0))
    assert set(sampled.unique().tolist()) == {2, 5, 6}


@pytest.mark.parametrize("kind", KINDS)
def test_greedy_generation_with_and_without_cache_agree(kind):
    policy = small_policy(kind, seed=3)
    context = torch.tensor([[0, 4, 5, 1], [6, 7, 8, 1]])
    with torch.no_grad():
        logits, cache = policy.start(context, 6)
        cached, uncached = [], context
        for _ in range(6):
            cached.append(logits.argmax(dim=-1))
            uncached = torch.cat([uncached, policy(uncached)[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
            logits, cache = policy.step(cached[-1], cache) if len(cached) < 6 else (logits, cache)
    assert torch.equal(torch.stack(cached, dim=1), uncached[:, 4:])


def test_sequences_longer_than_max_len_are_refused():
    policy = small_policy("transformer", max_len=6)
    with pytest.raises(ValueError, match="max_len=6"):
        policy(torch.ones(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="max_len=6"):
        policy.start(torch.ones(1, 7, dtype=torch.long), max_new=1)
    policy(torch.tensor([[3, 4, 5, 6, 7, 8, 0, 0, 0]]))  # padding after the content: an episode that ended


def test_unknown_policy_kind_is_refused():
    with pytest.raises(ValueError, match="policy kind"):
        make_policy(PolicyConfig(vocab_size=5, pad_id=0, max_len=4, kind="lstm"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_layer": 0}, r"policy n_layer must be a positive integer, got 0"),
        ({"n_head": 2.0}, r"policy n_head must be an integer"),
        ({"n_embd": True}, r"policy n_embd must be an integer"),
        ({"n_embd": 30, "n_head": 4}, r"policy n_embd must be a multiple of n_head, got n_embd=30, n_head=4"),
        ({"dropout": 1.0}, r"policy dropout must be a finite number in \[0, 1\)"),
        ({"dropout": float("nan")}, r"policy dropout"),
        ({"max_len": 0}, r"policy max_len must be a positive integer"),
        ({"vocab_size": 0}, r"policy vocab_size must be a positive integer"),
        ({"pad_id": 5}, r"policy pad_id must be a token id below vocab_size=5"),
    ],
)
def test_bad_policy_config_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PolicyConfig(**{"vocab_size": 5, "pad_id": 0, "max_len": 4, **kwargs})


def test_a_gru_needs_no_head_count_that_divides_its_width():
    assert PolicyConfig(vocab_size=5, pad_id=0, max_len=4, n_embd=30, n_head=4, kind="gru").n_embd == 30


def test_full_cache_is_refused():
    policy = small_policy("transformer")
    _, cache = policy.start(torch.tensor([[4, 1]]), max_new=1)
    _, cache = policy.step(torch.tensor([5]), cache)
    with pytest.raises(ValueError, match="cache"):
        policy.step(torch.tensor([5]), cache)


def test_cached_sampling_takes_one_step_per_token():
    """The rollout encodes the prompt once, then feeds one (B,) token per step, never the whole prefix."""
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=8, length=3, autoreset_mode="Disabled")
    policy = small_policy("transformer", vocab=env.vocab.size, max_len=env.encoded_task.observation_width)
    calls = []
    original_start, original_step = policy.start, policy.step
    policy.forward = lambda tokens: calls.append(("forward", tokens.shape))  # never called by sampling
    policy.start = lambda context, n: calls.append(("start", context.shape)) or original_start(context, n)
    policy.step = lambda token, cache: calls.append(("step", token.shape)) or original_step(token, cache)
    rollout = RolloutSampler(env, seed=0).sample(policy, torch.Generator().manual_seed(0))
    assert calls[0] == ("start", (8, 4))  # prompt and separator and all(c == ("step", (8,)) for c in calls[1:])
    assert len(calls) - 1 == int(rollout.lengths.max()) - 1
