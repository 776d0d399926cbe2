"""Text-v0: bring your own prompts, reward function, tokenizer and demonstrations."""

import json

import gymnasium as gym
import numpy as np

import token_gym  # noqa: F401
from token_gym.tokenizer import bpe_tokenizer


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_jsonl_fields_reach_the_reward_function(tmp_path):
    path = write_jsonl(
        tmp_path / "qa.jsonl",
        [{"prompt": "2+2=", "answer": "4", "completion": "4"}, {"prompt": "3+4=", "answer": "7", "completion": "7"}],
    )
    env = gym.make(
        "token_gym/Text-v0",
        prompts=path,
        reward_fn="token_gym.tasks.rewards:exact_match",
        max_completion_len=3,
        test_fraction=0.0,
        tokenizer="char",
    )
    encoded_task = env.unwrapped.encoded_task
    for index in (0, 1):
        env.reset(options={"prompt_index": index})
        for token in encoded_task.demonstration_tokens(index):
            _, reward, terminated, _, info = env.step(token)
        assert terminated and reward == 1.0 and info["is_success"]
        assert info["completion"] == ["4", "7"][index]


def test_callable_reward_and_success_threshold():
    def length_reward(prompt, completion):
        return len(completion) / 4

    env = gym.make(
        "token_gym/Text-v0",
        prompts=["ab", "ba"],
        reward_fn=length_reward,
        max_completion_len=4,
        success_threshold=0.5,
        test_fraction=0.0,
    )
    a = int(np.flatnonzero(env.unwrapped.action_masks())[-1])
    env.reset(seed=0)
    rewards = [env.step(a)[1] for _ in range(4)]
    assert rewards == [0.0, 0.0, 0.0, 1.0]
    env.reset()
    env.step(a)
    _, reward, terminated, _, info = env.step(env.unwrapped.encoded_task.vocab.eos_id)
    assert terminated and reward == 0.25 and info["is_success"] is False


def test_user_tokenizer_object_and_demonstrations():
    prompts = ["hello world", "hello there", "world there"]
    tokenizer = bpe_tokenizer(prompts * 3, 40, "".join(prompts))
    env = gym.make(
        "token_gym/Text-v0",
        prompts=prompts,
        demonstrations=["dlrow", "ereht", "ereht"],
        reward_fn=lambda p, c: float(c == p.split()[-1][::-1]),
        tokenizer=tokenizer,
        test_fraction=0.0,
    )
    encoded_task = env.unwrapped.encoded_task
    assert encoded_task.vocab.tokenizer is tokenizer
    env.reset(options={"prompt_index": 0})
    for token in encoded_task.demonstration_tokens(0):
        _, reward, terminated, _, info = env.step(token)
    assert terminated and reward == 1.0 and info["completion"] == "dlrow"
    # no alphabet: every non-special token is allowed, plus EOS
    mask = encoded_task.action_mask
    assert mask.sum() == encoded_task.vocab.size - 2


def test_vector_env_runs_text_tasks():
    env = gym.make_vec(
        "token_gym/Text-v0", num_envs=3, prompts=["ab", "ba", "aa"], reward_fn=lambda p, c: float(c == p)
    )
    env.reset(seed=0)
    eos = env.encoded_task.vocab.eos_id
    _, rewards, terminated, _, infos = env.step(np.full(3, eos))
    assert terminated.all() and (rewards == 0.0).all() and [str(c) for c in infos["completion"]] == ["", "", ""]
