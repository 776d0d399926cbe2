"""Task families by name; each factory's keyword arguments are its ``gym.make`` kwargs."""

from token_gym.tasks.algorithmic import addition, copy, parity, reverse, sort
from token_gym.tasks.base import TEST, TRAIN, Task
from token_gym.tasks.probes import combination_lock, secret_string
from token_gym.tasks.text import text

TASKS = {
    "copy": copy,
    "reverse": reverse,
    "sort": sort,
    "addition": addition,
    "parity": parity,
    "secret_string": secret_string,
    "combination_lock": combination_lock,
    "text": text,
}

__all__ = ["TASKS", "TEST", "TRAIN", "Task"]
