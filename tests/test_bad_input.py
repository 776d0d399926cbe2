"""Bad input: every case the environments issue lists gets a clear error naming the culprit."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

import token_gym  # noqa: F401
from token_gym.tokenizer import char_tokenizer


def reverse(**kwargs):
    return gym.make("token_gym/Reverse-v0", length=3, **kwargs)


@pytest.mark.parametrize("action", [99, 11, -1, 2**40])
def test_out_of_range_action(action):
    env = reverse()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=f"action {action} is outside the vocabulary"):
        env.unwrapped.step(action)


@pytest.mark.parametrize("action", [2.0, "a", None, True, np.array([1, 2]), np.float32(3)])
def test_wrong_type_action(action):
    env = reverse()
    env.reset(seed=0)
    with pytest.raises(TypeError, match="action must be an integer token id"):
        env.unwrapped.step(action)


def test_integer_like_actions_are_accepted():
    env = reverse()
    env.reset(seed=0)
    for action in (3, np.int64(3), np.int32(3), np.array(3), np.array([3])):
        obs, reward, terminated, _, _ = env.unwrapped.step(action)
        assert obs[-1] == 3 and reward == 0.0 and not terminated
        assert env.unwrapped.decode(obs)[1] == env.unwrapped.encoded_task.vocab.token_text[3]
        env.reset()


def test_step_before_reset_and_after_the_end():
    env = reverse().unwrapped
    with pytest.raises(ResetNeeded, match="before step"):
        env.step(3)
    env.reset(seed=0)
    env.step(env.encoded_task.vocab.eos_id)
    with pytest.raises(ResetNeeded, match="episode is over"):
        env.step(3)


def test_unknown_kwarg_is_named_with_the_valid_ones():
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'lenght'; valid: .*'length'"):
        gym.make("token_gym/Reverse-v0", lenght=3)


@pytest.mark.filterwarnings("ignore:.*render_mode.*:UserWarning")  # gymnasium warns before our error
@pytest.mark.parametrize(
    ("kwargs", "culprit"),
    [
        ({"length": -2}, "length must be a positive integer"),
        ({"alphabet": ""}, "alphabet must be a non-empty string"),
        ({"split": "validation"}, "split must be 'train' or 'test'"),
        ({"render_mode": "rgb"}, "render_mode"),
        ({"tokenizer": 42}, "tokenizer must be"),
        ({"max_completion_len": 2}, "max_completion_len=2 is shorter than the longest answer"),
        ({"test_fraction": 0.0, "split": "test"}, "no prompts"),
    ],
)
def test_invalid_values(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        gym.make("token_gym/Reverse-v0", **{"length": 3, **kwargs})


def test_tokenizer_lacking_the_tasks_tokens():
    with pytest.raises(ValueError, match=r"lacks tokens|cannot encode"):
        gym.make("token_gym/Reverse-v0", length=3, tokenizer=char_tokenizer("abc"))


def test_tokenizer_file_that_does_not_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        gym.make("token_gym/Reverse-v0", tokenizer=str(tmp_path / "missing.json"))


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"prompt": "ab"}) + "\n\n" + '{"prompt": "ba"\n')
    with pytest.raises(ValueError, match=r"prompts.jsonl:3: not valid JSON"):
        gym.make("token_gym/Text-v0", prompts=str(path), reward_fn=lambda p, c: 0.0)
    path.write_text(json.dumps({"prompt": "ab"}) + "\n" + json.dumps({"question": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"prompts.jsonl:2: a record needs a string 'prompt'"):
        gym.make("token_gym/Text-v0", prompts=str(path), reward_fn=lambda p, c: 0.0)
    with pytest.raises(FileNotFoundError, match=r"nowhere\.jsonl"):
        gym.make("token_gym/Text-v0", prompts=str(tmp_path / "nowhere.jsonl"), reward_fn=lambda p, c: 0.0)


def _finish_episode(env):
    env.reset(seed=0)
    return env.step(env.unwrapped.encoded_task.vocab.eos_id)


def _raises(prompt, completion):
    raise KeyError("boom")


@pytest.mark.parametrize(
    ("reward_fn", "error", "match"),
    [
        (_raises, RuntimeError, r"reward function .*_raises raised KeyError on prompt \d+"),
        (lambda p, c: math.nan, ValueError, r"returned nan on prompt"),
        (lambda p, c: math.inf, ValueError, r"returned inf on prompt"),
        (lambda p, c: "1.0", TypeError, r"returned '1.0' \(str\).*must return a float"),
        (lambda p, c: None, TypeError, r"returned None"),
        (lambda p, c: True, TypeError, r"returned True \(bool\)"),
    ],
)
def test_reward_function_failures_are_named(reward_fn, error, match):
    env = gym.make("token_gym/Text-v0", prompts=["ab", "ba"], reward_fn=reward_fn, test_fraction=0.0)
    with pytest.raises(error, match=match):
        _finish_episode(env)


def test_reward_fn_string_that_cannot_be_resolved():
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        gym.make("token_gym/Text-v0", prompts=["a"], reward_fn="no_such_module:f")
    with pytest.raises(ValueError, match="has no function 'nope'"):
        gym.make("token_gym/Text-v0", prompts=["a"], reward_fn="token_gym.tasks.rewards:nope")
    with pytest.raises(ValueError, match="reward_fn must be a callable"):
        gym.make("token_gym/Text-v0", prompts=["a"], reward_fn=3)


def test_text_task_without_prompts_or_reward():
    with pytest.raises(ValueError, match="needs prompts"):
        gym.make("token_gym/Text-v0")


def test_nothing_changes_when_a_reset_is_refused():
    env = reverse().unwrapped
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError):
        env.reset(options={"prompt_index": -5})
    assert np.array_equal(env.decode(), env.decode(obs))
    follow = env.reset()[1]["prompt_index"]
    fresh = reverse().unwrapped
    fresh.reset(seed=0)
    assert fresh.reset()[1]["prompt_index"] == follow  # the refused reset did not consume a draw


@pytest.mark.parametrize(
    ("env_id", "kwargs", "culprit"),
    [
        ("token_gym/Reverse-v0", {"test_fraction": "0.2"}, "test_fraction must be a number"),
        ("token_gym/Reverse-v0", {"test_fraction": float("nan")}, "test_fraction must be a finite number"),
        ("token_gym/Reverse-v0", {"bpe_vocab_size": "64"}, "bpe_vocab_size must be an integer"),
        ("token_gym/SecretString-v0", {"reward": "distractor", "distractor_reward": "0.1"}, "distractor_reward"),
        ("token_gym/Reverse-v0", {"pad_token": 0}, "pad_token must be the token's text"),
        ("token_gym/Reverse-v0", {"eos_token": ""}, "eos_token must be the token's text"),
        ("token_gym/Reverse-v0", {"task_seed": -1}, "task_seed must be a non-negative integer"),
        ("token_gym/SecretString-v0", {"task_seed": "abc"}, "task_seed must be an integer"),
        ("token_gym/Parity-v0", {"task_seed": 1.5}, "task_seed must be an integer"),
        ("token_gym/Text-v0", {"prompts": ["ab"], "reward_fn": "token_gym.tasks.rewards:exact_match"}, "fields"),
        (
            "token_gym/Text-v0",
            {"prompts": ["ab"], "reward_fn": "token_gym.tasks.rewards:repeats_prompt", "success_threshold": "high"},
            "success_threshold must be a number",
        ),
        (
            "token_gym/Text-v0",
            {"prompts": ["", ""], "reward_fn": "token_gym.tasks.rewards:repeats_prompt"},
            "found no characters",
        ),
    ],
)
def test_wrong_type_task_kwargs_are_named(env_id, kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        gym.make(env_id, **kwargs)


def test_a_reward_function_that_does_not_fit_the_records_is_reported_at_build_time(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"prompt": "ab", "solution": "ba"}) + "\n")
    with pytest.raises(ValueError, match=r"exact_match cannot be called .* fields \['solution'\] of prompt 0"):
        gym.make("token_gym/Text-v0", prompts=str(path), reward_fn="token_gym.tasks.rewards:exact_match")


def test_jsonl_that_is_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"prompt": "ab"}\n{"prompt": "caf\xe9"}\n')
    with pytest.raises(ValueError, match=r"latin1.jsonl:2: not UTF-8"):
        gym.make("token_gym/Text-v0", prompts=str(path), reward_fn="token_gym.tasks.rewards:repeats_prompt")


def test_a_tokenizer_path_that_is_a_directory_is_named(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        reverse(tokenizer=str(tmp_path))


def test_unknown_kwargs_use_pythons_wording_for_clients_that_match_on_it():
    """TorchRL's GymEnv passes `frameskip` and retries without it only on Python's own message."""
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'frameskip'"):
        gym.make("token_gym/Copy-v0", length=2, frameskip=4)


def test_seeds_of_any_size_are_accepted_as_gymnasium_does():
    """reset(seed=2**70): reproducible, distinct from its neighbour, row i of the vector env = a single env at seed + i."""
    single = [reverse().reset(seed=2**70 + i)[1]["prompt_index"] for i in range(3)]
    assert single[0] == reverse().reset(seed=2**70)[1]["prompt_index"]
    vector = gym.make_vec("token_gym/Reverse-v0", num_envs=3, length=3).reset(seed=2**70)[1]["prompt_index"]
    assert vector.tolist() == single
    draws = [reverse().reset(seed=2**70 + i)[1]["prompt_index"] for i in range(40)]
    assert len(set(draws)) > 20  # big seeds are not folded onto a few keys
    with pytest.raises(ValueError, match="seed must be non-negative"):
        gym.make_vec("token_gym/Reverse-v0", num_envs=2, length=3).reset(seed=-1)
