"""Scoring edge cases, single env and vector env alike, against rewards computed by hand.

Partial credit is hits / max(len(completion), len(answer)), a hit being a position below both
lengths that holds the answer's token; EOS is not part of the completion. The character vocabulary
of alphabet "abc" is <pad>=0, <sep>=1, <eos>=2, a=3, b=4, c=5.
"""

import gymnasium as gym
import numpy as np
import pytest

from token_gym.env import TokenEnv
from token_gym.tasks import TASKS, Task, TaskFamily
from token_gym.vector_env import TokenVectorEnv

PAD, SEP, EOS, A, B, C = range(6)
IDS = {"a": A, "b": B, "c": C, "_": PAD, "|": SEP}
REVERSE = {"length": 3, "alphabet": "abc", "reward": "partial", "max_completion_len": 6}


def tokens(text: str, eos: bool = True, ids: dict[str, int] = IDS) -> list[int]:
    """'c_a' -> [c, pad, a, EOS]; "_" is pad and "|" the separator."""
    return [ids[ch] for ch in text] + ([EOS] if eos else [])


def single_outcome(env: gym.Env, prompt: int, actions: list[int], prefix=()) -> tuple[float, bool]:
    env.reset(options={"prompt_index": prompt, "prefix": list(prefix)})
    for action in actions:
        _, reward, terminated, _, info = env.step(action)
        if terminated:
            return reward, info["is_success"]
    raise AssertionError("the episode did not end")


def vector_outcomes(env, prompt: int, completions: list[list[int]], prefix=()) -> list[tuple[float, bool]]:
    """Every row's first episode: row i plays completions[i] (rows that finish early wait on EOS)."""
    env.reset(seed=0, options={"prompt_index": prompt, "prefix": list(prefix)})
    outcomes: list = [None] * env.num_envs
    for t in range(max(len(c) for c in completions)):
        actions = np.array([c[t] if t < len(c) else EOS for c in completions])
        _, rewards, terminated, _, infos = env.step(actions)
        for i in np.flatnonzero(terminated):
            if outcomes[i] is None:
                outcomes[i] = (float(rewards[i]), bool(infos["is_success"][i]))
    assert None not in outcomes
    return outcomes


def both(single: gym.Env, vector, prompt: int, cases: dict, prefix=()) -> None:
    """Each case's (reward, success) is the hand-computed one in the single env and in the vector env."""
    encoded_task = single.unwrapped.encoded_task
    cap, vocab = encoded_task.max_completion_len, encoded_task.vocab
    ids = {**{vocab.token_text[i]: i for i in range(vocab.size) if vocab.token_text[i]}, "_": PAD, "|": SEP}
    plays = [tokens(text, len(prefix) + len(text) < cap, ids) for text in cases]  # EOS unless the cap ends it
    got_vector = vector_outcomes(vector, prompt, plays, prefix)
    for (text, expected), actions, from_vector in zip(cases.items(), plays, got_vector, strict=True):
        from_single = single_outcome(single, prompt, actions, prefix)
        assert from_single == pytest.approx(expected), ("single", text, from_single, expected)
        assert from_vector == pytest.approx(expected), ("vector", text, from_vector, expected)


def reverse_envs(reward: str = "partial", n: int = 1):
    kwargs = {**REVERSE, "reward": reward}
    return gym.make("token_gym/Reverse-v0", **kwargs), gym.make_vec("token_gym/Reverse-v0", num_envs=n, **kwargs)


def prompt_of(env, text: str) -> int:
    return env.unwrapped.encoded_task.task.prompts.index(text)


def test_the_vocabulary_is_the_one_the_cases_are_written_in():
    single, _ = reverse_envs()
    assert single.unwrapped.vocab.token_text == ("", "", "", "a", "b", "c")


# prompt "abc", answer "cba"
PARTIAL = {
    "cba": (1.0, True),
    "cbaa": (3 / 4, False),  # the answer, then an extra token before EOS: penalised, not a success
    "cbaab": (3 / 5, False),
    "cbaaaa": (3 / 6, False),  # at the cap, no EOS
    "cb": (2 / 3, False),
    "": (0.0, False),
    "ccc": (1 / 3, False),
    "acba": (0 / 4, False),  # the answer shifted by one: no position right
    "c_a": (2 / 3, False),  # pad inside a completion is a token like any other, never a hit
    "c|ba": (1 / 4, False),  # so is the separator, and it shifts what follows
    "cba_": (3 / 4, False),  # pad after the answer: a token past the answer's end, not a hit
    "cba|": (3 / 4, False),  # nor is the separator there
    "___": (0.0, False),
}


def test_partial_credit_edge_cases():
    single, vector = reverse_envs(n=len(PARTIAL))
    both(single, vector, prompt_of(single, "abc"), PARTIAL)


def test_binary_reward_pays_only_the_exact_answer():
    cases = {"cba": (1.0, True), "cbaa": (0.0, False), "cb": (0.0, False), "cba_": (0.0, False), "": (0.0, False)}
    single, vector = reverse_envs("binary", n=len(cases))
    both(single, vector, prompt_of(single, "abc"), cases)


def test_an_episode_from_a_prefix_counts_the_prefix_hits_in_both_envs():
    single, vector = reverse_envs(n=4)
    prompt = prompt_of(single, "abc")
    cases = {"a": (1.0, True), "": (2 / 3, False), "b": (2 / 3, False), "aa": (3 / 4, False)}
    both(single, vector, prompt, cases, prefix=tokens("cb", eos=False))
    cases = {"a": (2 / 3, False), "": (1 / 3, False), "ba": (1 / 4, False), "aaa": (2 / 5, False)}
    both(single, vector, prompt, cases, prefix=tokens("c_", eos=False))  # a pad in the prefix: no hit


@pytest.mark.parametrize("make", [lambda: gym.make("token_gym/Reverse-v0", **REVERSE), lambda: reverse_envs(n=2)[1]])
def test_a_prefix_must_be_shorter_than_the_cap(make):
    env = make()
    cap = env.unwrapped.encoded_task.max_completion_len
    assert cap == 6
    env.reset(options={"prefix": [A] * (cap - 1)})  # one token short of the cap: the next token ends it
    for length in (cap, cap + 1):
        with pytest.raises(ValueError, match="cap"):
            env.reset(options={"prefix": [A] * length})


def test_a_prefix_one_short_of_the_cap_ends_at_the_next_token_and_pays():
    single, vector = reverse_envs(n=2)
    prompt = prompt_of(single, "abc")
    prefix = tokens("cbaaa", eos=False)
    cases = {"a": (3 / 6, False), "b": (3 / 6, False)}
    both(single, vector, prompt, cases, prefix=prefix)


def ragged() -> Task:
    """Answers of different lengths under one cap: pad fills the answer table past the shorter ones."""
    answers, everyone = ["a", "ba", "abc"], np.arange(3)
    return Task("ragged", ["a", "b", "c"], answers, "partial", "abc", 5, everyone, everyone)


def test_pad_past_a_short_answer_never_counts_even_where_the_answer_table_holds_pad(monkeypatch):
    monkeypatch.setitem(TASKS, "ragged", TaskFamily(ragged))
    single, vector = TokenEnv(task="ragged"), TokenVectorEnv(num_envs=5, task="ragged")
    assert single.encoded_task.vocab.pad_id == PAD and single.encoded_task.answers[0].tolist() == [A, PAD, PAD]
    cases = {"a": (1.0, True), "a_": (1 / 2, False), "a__": (1 / 3, False), "_": (0.0, False), "a|": (1 / 2, False)}
    both(single, vector, 0, cases)
    cases = {"ba": (1.0, True), "b_": (1 / 2, False), "ba__": (2 / 4, False), "bab": (2 / 3, False), "": (0.0, False)}
    both(single, vector, 1, cases)
    # verify(), the batch verifier, agrees on the same completions
    encoded = single.encoded_task
    completions = np.array([[A, PAD, PAD, 0, 0], [A, A, 0, 0, 0], [PAD, 0, 0, 0, 0]])
    rewards, success = encoded.verify(np.zeros(3, dtype=np.int64), completions, np.array([3, 2, 1]))
    assert rewards.tolist() == pytest.approx([1 / 3, 1 / 2, 0.0]) and not success.any()
    rewards, success = encoded.verify(np.array([2]), np.array([[A, B, C, 0, 0]]), np.array([3]))  # one row
    assert rewards.tolist() == [1.0] and success.tolist() == [True]


def test_distractor_pays_the_empty_completion_only():
    kwargs = {"length": 2, "alphabet": "abc", "reward": "distractor", "distractor_reward": 0.1}
    single = gym.make("token_gym/SecretString-v0", **kwargs)
    secret = single.unwrapped.encoded_task.task.answers[0]
    wrong = "".join("a" if ch != "a" else "b" for ch in secret)
    cases = {secret: (1.0, True), "": (0.1, False), wrong: (0.0, False), secret[0]: (0.0, False), "_": (0.0, False)}
    both(single, gym.make_vec("token_gym/SecretString-v0", num_envs=len(cases), **kwargs), 0, cases)
