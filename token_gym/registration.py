"""Every task family as a registered Gymnasium id, and the list of them (both derived from ``TASKS``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from token_gym.encoded import TOKENIZER_KWARGS
from token_gym.tasks import TASKS

ENV_IDS = {family.env_id: name for name, family in TASKS.items()}
ENV_KWARGS = {"split": "train", "render_mode": None}


def register_envs() -> None:
    """Register every id; safe to call more than once."""
    for env_id, task in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="token_gym.env:TokenEnv",
            vector_entry_point="token_gym.vector_env:TokenVectorEnv",
            kwargs={"task": task},
        )


def list_envs() -> dict[str, dict[str, Any]]:
    """Each registered id with its keyword arguments and their defaults.

    Task kwargs first, then the tokenizer's and the env's; ``gym.make_vec``
    also takes ``num_envs``, ``autoreset_mode`` and the vector env's own options.
    """
    return {env_id: {**TASKS[task].kwargs(), **TOKENIZER_KWARGS, **ENV_KWARGS} for env_id, task in ENV_IDS.items()}
