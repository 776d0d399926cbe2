"""Every task family as a registered Gymnasium id, and the list of them."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from token_gym.encoded import TOKENIZER_KWARGS, task_kwargs

ENV_IDS = {
    "token_gym/Copy-v0": "copy",
    "token_gym/Reverse-v0": "reverse",
    "token_gym/Sort-v0": "sort",
    "token_gym/Addition-v0": "addition",
    "token_gym/Parity-v0": "parity",
    "token_gym/SecretString-v0": "secret_string",
    "token_gym/CombinationLock-v0": "combination_lock",
    "token_gym/Text-v0": "text",
}
ENV_KWARGS = {"split": "train", "render_mode": None}
VECTOR_KWARGS = {"num_envs": 1, "autoreset_mode": "NextStep"}


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
    also takes ``num_envs`` and ``autoreset_mode`` ("NextStep" or "SameStep").
    """
    return {env_id: {**task_kwargs(task), **TOKENIZER_KWARGS, **ENV_KWARGS} for env_id, task in ENV_IDS.items()}
