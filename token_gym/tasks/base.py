"""What every task is: fixed prompts, a split, a verifier's rule and an oracle.

A task is plain data at the level of text. It knows nothing about gymnasium
or tokenizers: :mod:`token_gym.encoded` turns it into token ids once, and
both environments read from that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from token_gym.checks import non_negative_int, number

TRAIN, TEST = "train", "test"


@dataclass
class Task:
    """A fixed, seeded set of prompts and how completions to them are judged.

    Attributes:
        name: the task family ("reverse", ...).
        prompts: every prompt, train and test together; indices into this list
            are the ``prompt_index`` seen in env infos.
        answers: the one correct completion of each prompt, for tasks that have
            one; the built-in verifier compares against it on token ids.
        reward_mode: "binary" (exact answer), "partial" (per-position credit),
            or "distractor" (exact pays 1, the empty completion pays
            ``distractor_reward``: a cheap local optimum).
        alphabet: the characters completions are made of; the action mask
            allows tokens spelled only with them, plus EOS. None allows all.
        max_completion_len: the generation cap in tokens, EOS included.
        train, test: prompt indices of each split.
        demonstrations: a demonstration completion per prompt when there is no
            single answer (Text tasks); by default the answers.
        reward_text: for tasks judged on text (Text tasks), the reward of one
            completion: ``reward_text(prompt_index, completion) -> float``.
        stops_on_error: the episode ends at the first token that departs from
            the answer (CombinationLock).
        distractor_reward: what the empty completion pays in "distractor" mode.
        success_threshold: for tasks judged on text, the reward from which a
            completion counts as a success; answer tasks succeed on the exact answer.
    """

    name: str
    prompts: list[str]
    answers: list[str] | None
    reward_mode: str
    alphabet: str | None
    max_completion_len: int
    train: np.ndarray
    test: np.ndarray
    demonstrations: list[str] | None = None
    reward_text: Callable[[int, str], float] | None = None
    stops_on_error: bool = False
    distractor_reward: float = 0.0
    success_threshold: float = 1.0

    def split(self, name: str) -> np.ndarray:
        """Prompt indices of split ``name`` ("train" or "test")."""
        if name == TRAIN:
            return self.train
        if name == TEST:
            return self.test
        raise ValueError(f"split must be 'train' or 'test', got {name!r}")

    def demonstration(self, index: int) -> str:
        """The oracle's completion of prompt ``index`` (without EOS)."""
        source = self.demonstrations if self.demonstrations is not None else self.answers
        if source is None or source[index] is None:
            raise ValueError(f"task {self.name!r} has no demonstration for prompt {index}")
        return source[index]


def task_rng(task_seed: object) -> np.random.Generator:
    """The generator every prompt, secret and split of a task is drawn from."""
    return np.random.default_rng(non_negative_int("task_seed", task_seed))


def check_alphabet(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string of characters, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} must not repeat characters, got {value!r}")
    return value


def random_strings(rng: np.random.Generator, alphabet: str, length: int, count: int) -> list[str]:
    """``count`` distinct random strings, or every string when there are fewer."""
    space = len(alphabet) ** length
    letters = np.array(list(alphabet))
    if space <= max(4 * count, 10_000):
        chosen = rng.permutation(space)[: min(count, space)]
        digits = (chosen[:, None] // len(alphabet) ** np.arange(length)[::-1]) % len(alphabet)
        return ["".join(row) for row in letters[digits]]
    seen: dict[str, None] = {}
    while len(seen) < count:
        for row in letters[rng.integers(len(alphabet), size=(count, length))]:
            seen.setdefault("".join(row))
            if len(seen) == count:
                break
    return list(seen)


def train_test_split(rng: np.random.Generator, count: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle ``range(count)`` and cut it; both splits non-empty when count > 1."""
    test_fraction = number("test_fraction", test_fraction, 0.0, 1.0, high_open=True)
    order = rng.permutation(count)
    n_test = round(count * test_fraction)
    if test_fraction > 0 and count > 1:
        n_test = min(max(n_test, 1), count - 1)
    return np.sort(order[n_test:]), np.sort(order[:n_test])
