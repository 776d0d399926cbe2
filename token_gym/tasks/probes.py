"""Exploration probes: the answer cannot be inferred from the prompt, only found.

Train and test are the same prompts here, since there is nothing to
generalise: success measures whether exploration found the secret.
"""

from __future__ import annotations

import numpy as np

from token_gym.checks import choice, non_negative_int, number, positive_int
from token_gym.tasks.base import Task, check_alphabet


def _hidden_strings(
    length: object, alphabet: object, num_prompts: object, task_seed: object
) -> tuple[list[str], list[str]]:
    """Prompts ``"0"``, ``"1"``, ... and a hidden string of ``length`` over ``alphabet`` for each.

    Prompt i's string is drawn from its own generator, seeded ``(task_seed, i)``, one character at a
    time: the string of length l is the first l characters of the string of any greater length.
    A length curriculum therefore keeps what was found (and two prompts never share a stream).
    """
    length = positive_int("length", length)
    alphabet = check_alphabet("alphabet", alphabet)
    num_prompts = positive_int("num_prompts", num_prompts)
    seed = non_negative_int("task_seed", task_seed)
    letters = np.array(list(alphabet))
    secrets = [
        "".join(letters[np.random.default_rng([seed, i]).integers(len(alphabet), size=length)])
        for i in range(num_prompts)
    ]
    return [str(i) for i in range(num_prompts)], secrets


def secret_string(
    length: int = 4,
    alphabet: str = "abcd",
    reward: str = "binary",
    distractor_reward: float = 0.1,
    num_prompts: int = 1,
    task_seed: int = 0,
    max_completion_len: int | None = None,
) -> Task:
    """SecretString: guess a hidden string of ``length`` over ``alphabet``.

    Each prompt (``"0"``, ``"1"``, ...) has its own secret drawn from
    ``task_seed``. A uniform random policy finds it with probability
    ``len(alphabet) ** -length`` (then EOS), which makes exploration the whole
    problem. ``reward="partial"`` pays per correct position; ``"distractor"``
    pays ``distractor_reward`` for the empty completion (EOS at once): a cheap
    wrong answer that is far easier to find than the secret.
    """
    distractor_reward = number("distractor_reward", distractor_reward, 0.0, 1.0, high_open=True)
    prompts, secrets = _hidden_strings(length, alphabet, num_prompts, task_seed)
    everything = np.arange(len(prompts))
    return Task(
        name="secret_string",
        prompts=prompts,
        answers=secrets,
        reward_mode=choice("reward", reward, ("binary", "partial", "distractor")),
        alphabet=alphabet,
        max_completion_len=length + 1
        if max_completion_len is None
        else positive_int("max_completion_len", max_completion_len),
        train=everything,
        test=everything,
        distractor_reward=distractor_reward if reward == "distractor" else 0.0,
    )


def combination_lock(
    length: int = 4,
    alphabet: str = "abcd",
    num_prompts: int = 1,
    task_seed: int = 0,
) -> Task:
    """CombinationLock: enter a hidden combination; one wrong token ends the episode.

    The episode terminates at the first token that departs from the
    combination (reward 0.0), or after ``length`` correct tokens (reward 1.0).
    No partial credit exists: the reward is terminal and binary, and a wrong
    token anywhere dooms the episode.
    """
    prompts, combinations = _hidden_strings(length, alphabet, num_prompts, task_seed)
    everything = np.arange(len(prompts))
    return Task(
        name="combination_lock",
        prompts=prompts,
        answers=combinations,
        reward_mode="binary",
        alphabet=alphabet,
        max_completion_len=length,
        train=everything,
        test=everything,
        stops_on_error=True,
    )
