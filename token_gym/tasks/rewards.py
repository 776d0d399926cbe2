"""Ready-made reward functions for Text tasks, usable as ``reward_fn="token_gym.tasks.rewards:NAME"``."""

from __future__ import annotations


def exact_match(prompt: str, completion: str, answer: str, **_: object) -> float:
    """1.0 when the completion equals the record's ``answer`` field, else 0.0."""
    return float(completion == answer)


def prefix_match(prompt: str, completion: str, answer: str, **_: object) -> float:
    """Fraction of the ``answer`` that the completion gets right before its first mistake."""
    right = 0
    for produced, wanted in zip(completion, answer, strict=False):
        if produced != wanted:
            break
        right += 1
    return right / max(len(answer), len(completion), 1)


def repeats_prompt(prompt: str, completion: str, **_: object) -> float:
    """1.0 when the completion repeats the prompt: a reward that needs no dataset fields."""
    return float(completion == prompt)
