"""Rollouts go through the vector env and record what was really sampled."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import token_gym  # noqa: F401
from agents.exploration import EpsilonUniform, Temperature
from agents.objective import completion_logits, token_log_probs
from agents.policy import MASKED_LOGIT, PolicyConfig, make_policy
from agents.rollout import RolloutSampler

KW = {"length": 4, "alphabet": "abcd", "reward": "partial"}


def setup(num_envs=16, group_size=1, seed=0, hook=None, **kw):
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=num_envs, autoreset_mode="Disabled", **{**KW, **kw})
    encoded_task = env.unwrapped.encoded_task
    torch.manual_seed(0)
    config = PolicyConfig(
        vocab_size=encoded_task.vocab.size, pad_id=0, max_len=encoded_task.observation_width, n_embd=32
    )
    policy = make_policy(config, torch.from_numpy(encoded_task.action_mask.copy()))
    return RolloutSampler(env, group_size, seed=seed, logits_hook=hook), policy, encoded_task


def test_rewards_and_successes_are_the_verifiers():
    sampler, policy, encoded_task = setup(num_envs=64)
    rollout = sampler.sample(policy, torch.Generator().manual_seed(0))
    eos = encoded_task.vocab.eos_id
    lengths = rollout.lengths.numpy()
    assert (lengths >= 1).all() and (lengths <= encoded_task.max_completion_len).all()
    ends_with_eos = rollout.completion[torch.arange(64), rollout.lengths - 1] == eos
    content = rollout.completion.numpy().copy()
    content[content == eos] = 0
    expected, success = encoded_task.verify(rollout.prompt_index, content, lengths - ends_with_eos.numpy())
    np.testing.assert_allclose(rollout.episode_return.numpy(), expected, atol=1e-6)
    assert np.array_equal(rollout.success.numpy(), success)
    assert (rollout.rewards[:, :-1][rollout.mask[:, 1:]] == 0).all()  # paid on the last step only
    # episodes end exactly at EOS or at the cap, and nothing is recorded after the end
    assert ((lengths == encoded_task.max_completion_len) | ends_with_eos.numpy()).all()
    assert (rollout.completion[~rollout.mask] == encoded_task.vocab.pad_id).all()


def test_context_is_the_prompt_and_separator_of_the_reported_prompt():
    sampler, policy, encoded_task = setup()
    rollout = sampler.sample(policy, torch.Generator().manual_seed(0))
    assert np.array_equal(rollout.context[:, :-1].numpy(), encoded_task.prompts[rollout.prompt_index])
    assert (rollout.context[:, -1] == encoded_task.vocab.sep_id).all()
    assert set(rollout.prompt_index) <= set(encoded_task.task.train)


def test_behaviour_log_probs_are_the_policys_without_a_hook():
    sampler, policy, _ = setup()
    rollout = sampler.sample(policy, torch.Generator().manual_seed(1))
    with torch.no_grad():
        scored = token_log_probs(completion_logits(policy, rollout.context, rollout.completion), rollout.completion)
    torch.testing.assert_close(rollout.behaviour_log_probs, scored * rollout.mask, atol=1e-5, rtol=0)


def test_behaviour_log_probs_are_those_of_the_transformed_distribution():
    sampler, policy, _ = setup(hook=Temperature(0.25))
    rollout = sampler.sample(policy, torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = completion_logits(policy, rollout.context, rollout.completion) / 0.25
    expected = token_log_probs(logits, rollout.completion) * rollout.mask
    torch.testing.assert_close(rollout.behaviour_log_probs, expected, atol=1e-4, rtol=0)


def test_a_hook_changes_what_is_sampled():
    calls = []

    def no_eos_first(logits, step):
        calls.append(step)
        if step == 0:
            logits = logits.clone()
            logits[:, 2] = MASKED_LOGIT  # EOS id of the char tokenizer
        return logits

    sampler, policy, encoded_task = setup(num_envs=256, hook=no_eos_first)
    assert encoded_task.vocab.eos_id == 2
    rollout = sampler.sample(policy, torch.Generator().manual_seed(0))
    assert calls[:2] == [0, 1]
    assert (rollout.lengths >= 2).all()  # no empty completion in 256 samples


def test_epsilon_uniform_mixes_with_the_allowed_tokens():
    logits = torch.tensor([[10.0, 0.0, MASKED_LOGIT]])
    probs = EpsilonUniform(0.5)(logits, 0).softmax(-1)
    torch.testing.assert_close(probs[0, 2], torch.tensor(0.0))
    torch.testing.assert_close(probs[0, 1], torch.tensor(0.25), atol=1e-3, rtol=0)


def test_groups_share_a_prompt():
    sampler, policy, _ = setup(num_envs=32, group_size=8)
    rollout = sampler.sample(policy, torch.Generator().manual_seed(0))
    assert rollout.group_size == 8
    assert (rollout.prompt_index.reshape(4, 8) == rollout.prompt_index.reshape(4, 8)[:, :1]).all()
    assert len(set(rollout.prompt_index[::8])) > 1


def test_given_prompts_are_used():
    sampler, policy, _encoded_task = setup(num_envs=4)
    prompts = np.array([7, 3, 7, 3])
    rollout = sampler.sample(policy, torch.Generator().manual_seed(0), prompt_index=prompts)
    assert rollout.prompt_index.tolist() == [7, 3, 7, 3] and rollout.group_size == 1


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_other_autoreset_modes_give_the_same_rollout(mode):
    """Rows restarted by the env after their end are not recorded: the batch is the same."""
    disabled, policy, _ = setup(num_envs=32, group_size=4)
    other = RolloutSampler(gym.make_vec("token_gym/Reverse-v0", num_envs=32, autoreset_mode=mode, **KW), 4, seed=0)
    a = disabled.sample(policy, torch.Generator().manual_seed(2))
    b = other.sample(policy, torch.Generator().manual_seed(2))
    for name in ("completion", "mask", "episode_return", "success", "behaviour_log_probs"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.prompt_index, b.prompt_index)


def test_same_seed_same_rollout():
    a = [setup(seed=5)[0].sample(setup()[1], torch.Generator().manual_seed(3)) for _ in range(2)]
    assert np.array_equal(a[0].prompt_index, a[1].prompt_index)
    assert torch.equal(a[0].completion, a[1].completion)


def test_deterministic_rollout_is_greedy():
    sampler, policy, _ = setup()
    first = sampler.sample(policy, None, prompt_index=np.arange(16), deterministic=True)
    second = sampler.sample(policy, None, prompt_index=np.arange(16), deterministic=True)
    assert torch.equal(first.completion, second.completion)


def test_env_time_is_measured():
    sampler, policy, _ = setup()
    rollout = sampler.sample(policy, torch.Generator().manual_seed(0))
    assert 0 < rollout.env_seconds < rollout.seconds and 0 < rollout.env_share < 1


def test_sampler_errors():
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=6, **KW)
    with pytest.raises(ValueError, match="multiple of group_size"):
        RolloutSampler(env, group_size=4)
    with pytest.raises(ValueError, match="group_size"):
        RolloutSampler(env, group_size=0)
    with pytest.raises(TypeError, match="vector env"):
        RolloutSampler(gym.make("token_gym/Reverse-v0"))
    with pytest.raises(ValueError, match="temperature"):
        Temperature(0)
