"""Task families, one entry each: the registry every env id, ``list_envs()`` and the README table derive from.

Adding a task family is one factory (its keyword arguments become ``gym.make`` kwargs) and one
:class:`TaskFamily` line below; ``import token_gym`` then registers ``token_gym/<Name>-v<version>``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from token_gym.tasks.algorithmic import addition, copy, parity, reverse, sort
from token_gym.tasks.base import TEST, TRAIN, Task
from token_gym.tasks.probes import combination_lock, secret_string
from token_gym.tasks.text import text


@dataclass(frozen=True)
class TaskFamily:
    """A task factory and what is derived from it: its name, its env id and its keyword arguments."""

    make: Callable[..., Task]
    example: dict[str, Any] = field(default_factory=dict)  # kwargs of a small instance (tests, smoke runs)
    version: int = 0

    @property
    def name(self) -> str:
        """The ``task`` argument of the envs: the factory's name, ``"secret_string"``."""
        return self.make.__name__

    @property
    def env_id(self) -> str:
        """``"token_gym/SecretString-v0"``."""
        return f"token_gym/{''.join(part.capitalize() for part in self.name.split('_'))}-v{self.version}"

    def kwargs(self) -> dict[str, Any]:
        """The factory's keyword arguments and their defaults (None where there is none)."""
        parameters = inspect.signature(self.make).parameters
        return {name: (None if p.default is inspect.Parameter.empty else p.default) for name, p in parameters.items()}


TASKS = {
    family.name: family
    for family in (
        TaskFamily(copy, {"length": 3}),
        TaskFamily(reverse, {"length": 3}),
        TaskFamily(sort, {"length": 3}),
        TaskFamily(addition, {"digits": 2}),
        TaskFamily(parity, {"length": 4}),
        TaskFamily(secret_string, {"length": 3}),
        TaskFamily(combination_lock, {"length": 3}),
        TaskFamily(
            text,
            {"prompts": ["ab", "ba", "abc", "cab", "bca"], "reward_fn": "token_gym.tasks.rewards:repeats_prompt"},
        ),
    )
}

__all__ = ["TASKS", "TEST", "TRAIN", "Task", "TaskFamily"]
