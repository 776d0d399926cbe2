"""Algorithmic tasks: the answer is a function of the prompt, so they generalise.

Each factory takes its task's parameters as keyword arguments (they become
``gym.make`` kwargs) and returns a :class:`~token_gym.tasks.base.Task` whose
prompts are drawn once from ``task_seed`` and split into train and test.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from token_gym.checks import choice, positive_int
from token_gym.tasks.base import Task, check_alphabet, random_strings, task_rng, train_test_split

ANSWER_MODES = ("binary", "partial")


def _answer_task(
    name: str,
    prompts: list[str],
    answers: list[str],
    alphabet: str,
    reward: str,
    test_fraction: float,
    rng: np.random.Generator,
    max_completion_len: int | None,
) -> Task:
    longest = max(len(a) for a in answers)
    cap = longest + 1 if max_completion_len is None else positive_int("max_completion_len", max_completion_len)
    train, test = train_test_split(rng, len(prompts), test_fraction)
    return Task(
        name=name,
        prompts=prompts,
        answers=answers,
        reward_mode=choice("reward", reward, ANSWER_MODES),
        alphabet=alphabet,
        max_completion_len=cap,
        train=train,
        test=test,
    )


def _string_task(name: str, answer: Callable[[str], str]) -> Callable[..., Task]:
    def make(
        length: int = 5,
        alphabet: str = "abcdefgh",
        reward: str = "binary",
        num_prompts: int = 1000,
        test_fraction: float = 0.2,
        task_seed: int = 0,
        max_completion_len: int | None = None,
    ) -> Task:
        length = positive_int("length", length)
        alphabet = check_alphabet("alphabet", alphabet)
        rng = task_rng(task_seed)
        prompts = random_strings(rng, alphabet, length, positive_int("num_prompts", num_prompts))
        answers = [answer(p) for p in prompts]
        return _answer_task(name, prompts, answers, alphabet, reward, test_fraction, rng, max_completion_len)

    make.__name__ = name
    return make


copy = _string_task("copy", lambda prompt: prompt)
copy.__doc__ = "Copy: repeat the prompt. ``abca`` → ``abca``."

reverse = _string_task("reverse", lambda prompt: prompt[::-1])
reverse.__doc__ = "Reverse: the prompt backwards. ``abcd`` → ``dcba``."

sort = _string_task("sort", lambda prompt: "".join(sorted(prompt)))
sort.__doc__ = "Sort: the prompt's characters in alphabet (code point) order. ``cabd`` → ``abcd``."


def addition(
    digits: int = 3,
    answer_order: str = "reversed",
    reward: str = "binary",
    num_prompts: int = 1000,
    test_fraction: float = 0.2,
    task_seed: int = 0,
    max_completion_len: int | None = None,
) -> Task:
    """Addition of two ``digits``-digit numbers, zero-padded: ``"042+317"``.

    The answer always has ``digits + 1`` digits, zero-padded. With
    ``answer_order="reversed"`` (default) it is written least significant digit
    first (``042+317`` → ``9530``), the order in which carries are computed, so
    each answer digit depends only on the prompt and earlier answer digits;
    ``"natural"`` writes it most significant first (``0359``).
    """
    digits = positive_int("digits", digits)
    if answer_order not in ("reversed", "natural"):
        raise ValueError(f"answer_order must be 'reversed' or 'natural', got {answer_order!r}")
    rng = task_rng(task_seed)
    pairs = random_strings(rng, "0123456789", 2 * digits, positive_int("num_prompts", num_prompts))
    prompts = [f"{p[:digits]}+{p[digits:]}" for p in pairs]
    answers = []
    for p in pairs:
        total = f"{int(p[:digits]) + int(p[digits:]):0{digits + 1}d}"
        answers.append(total[::-1] if answer_order == "reversed" else total)
    return _answer_task("addition", prompts, answers, "0123456789", reward, test_fraction, rng, max_completion_len)


def parity(
    length: int = 8,
    reward: str = "binary",
    num_prompts: int = 1000,
    test_fraction: float = 0.2,
    task_seed: int = 0,
    max_completion_len: int | None = None,
) -> Task:
    """Parity of a bit string: ``"0110"`` → ``"0"``, ``"0111"`` → ``"1"``."""
    length = positive_int("length", length)
    rng = task_rng(task_seed)
    prompts = random_strings(rng, "01", length, positive_int("num_prompts", num_prompts))
    answers = [str(p.count("1") % 2) for p in prompts]
    return _answer_task("parity", prompts, answers, "01", reward, test_fraction, rng, max_completion_len)
