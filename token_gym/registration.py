"""Every task family as a registered Gymnasium id, the list of them (both derived from ``TASKS``), and variants.

A variant is an id of its own with task kwargs fixed, for clients that take only an id (CleanRL's
``--env-id``, RL Zoo's eval env, anything that calls ``gym.make(env_id)`` with no kwargs).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from token_gym.encoded import TOKENIZER_KWARGS
from token_gym.env import TokenEnv
from token_gym.tasks import TASKS

ENV_IDS = {family.env_id: name for name, family in TASKS.items()}
ENV_KWARGS = {"split": "train", "render_mode": None}
ENTRY_POINT = "token_gym.env:TokenEnv"
VECTOR_ENTRY_POINT = "token_gym.vector_env:TokenVectorEnv"


def register_envs() -> None:
    """Register every id; safe to call more than once."""
    for env_id, task in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=ENTRY_POINT,
            vector_entry_point=VECTOR_ENTRY_POINT,
            kwargs={"task": task},
        )


def list_envs() -> dict[str, dict[str, Any]]:
    """Each registered id with its keyword arguments and their defaults.

    Task kwargs first, then the tokenizer's and the env's; ``gym.make_vec``
    also takes ``num_envs``, ``autoreset_mode`` and the vector env's own options.
    """
    return {env_id: {**TASKS[task].kwargs(), **TOKENIZER_KWARGS, **ENV_KWARGS} for env_id, task in ENV_IDS.items()}


def register_variant(env_id: str, base_id: str, **kwargs: Any) -> gym.envs.registration.EnvSpec:
    """Register ``env_id`` as the token_gym id ``base_id`` with ``kwargs`` fixed; returns its spec.

    ::

        token_gym.register_variant("my/Reverse3-v0", "token_gym/Reverse-v0", length=3, reward="partial")
        env = gym.make("my/Reverse3-v0")                     # what an id-only client calls
        envs = gym.make_vec("my/Reverse3-v0", num_envs=64)   # the native vector env, same kwargs

    The kwargs are checked now, by building the env once: an unknown one (``TypeError``, in
    Python's wording) or a bad value (``ValueError``) fails here, naming it, rather than in a
    client's worker later. ``gym.make`` kwargs still override them. Registering the same id again
    with the same kwargs does nothing (modules may be imported twice); with other kwargs it is an
    error. A variant lives in the process that registered it: workers that start a fresh
    interpreter need the call in a module they import (``gym.make("my_module:my/Reverse3-v0")``).
    """
    if base_id not in gym.registry:
        register_envs()
    base = gym.registry.get(base_id)
    if base is None or base.entry_point != ENTRY_POINT:
        raise ValueError(f"base_id must be a token_gym id such as 'token_gym/Reverse-v0', got {base_id!r}")
    if "task" in kwargs:
        raise ValueError("a variant keeps its base id's task: choose it with base_id, not task=")
    merged = {**base.kwargs, **kwargs}
    existing = gym.registry.get(env_id)
    if existing is not None:
        if existing.entry_point == ENTRY_POINT and existing.kwargs == merged:
            return existing
        differ = sorted(k for k in set(existing.kwargs) | set(merged) if existing.kwargs.get(k) != merged.get(k))
        raise ValueError(f"{env_id!r} is already registered with other kwargs (they differ in {differ})")
    try:
        TokenEnv(**merged).close()
    except (TypeError, ValueError) as error:
        error.add_note(f"while registering the variant {env_id!r} of {base_id!r}")
        raise
    gym.register(id=env_id, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT, kwargs=merged)
    return gym.spec(env_id)
