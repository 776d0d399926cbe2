"""Where an agent's environments come from: an id, a ``gym.make`` env or a vector env.

Agents accept what stable-baselines3 users pass (an env or an id string) and
always roll out through ``gym.make_vec`` (token_gym's native vector env), so the
agent needs the id and kwargs the env was made with: this module recovers them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

import token_gym
from token_gym import TokenVectorEnv

# kwargs gym.make/make_vec put into a spec that are not the task's
_NOT_TASK_KWARGS = (
    "task",
    "num_envs",
    "vectorization_mode",
    "autoreset_mode",
    "copy",
    "completion_text",
    "render_mode",
    "split",
)
# How agents build the vector envs they roll out through: one episode per row (finished rows stay
# frozen and cost nothing), observations read once per reset (no copy per step), no text in infos.
ROLLOUT_OPTIONS = {"autoreset_mode": "Disabled", "copy": False, "completion_text": False}


def env_source(env: object, env_kwargs: dict[str, Any] | None = None) -> tuple[str | None, dict[str, Any]]:
    """(env id, task kwargs) of ``env``: an id string, a ``gym.make`` env or a ``gym.make_vec`` env.

    The id is None for a vector env built by hand (no spec): it can be trained on,
    but evaluation then needs an env passed explicitly.
    """
    env_kwargs = dict(env_kwargs or {})
    if isinstance(env, str):
        if env not in gym.registry:
            token_gym.register_envs()
        if env not in gym.registry:
            raise ValueError(f"env {env!r} is not a registered id; token_gym ids: {sorted(token_gym.ENV_IDS)}")
        return env, env_kwargs
    if env_kwargs:
        raise ValueError("env_kwargs are only for an env given as an id string; this env was already made")
    base = getattr(env, "unwrapped", env)  # SB3 VecEnv wrappers (VecMonitor) expose .unwrapped too
    if isinstance(getattr(base, "vector_env", None), TokenVectorEnv):  # agents.sb3.TokenSB3VecEnv
        env = base.vector_env
    elif getattr(base, "envs", None) and isinstance(getattr(base.envs[0], "unwrapped", None), token_gym.TokenEnv):
        env = base.envs[0]  # SB3 DummyVecEnv of gym.make envs
    if isinstance(env, TokenVectorEnv) or isinstance(getattr(env, "unwrapped", None), token_gym.TokenEnv):
        spec = getattr(env, "spec", None) or getattr(env.unwrapped, "spec", None)
        if spec is None:
            return None, {}
        return spec.id, {k: v for k, v in spec.kwargs.items() if k not in _NOT_TASK_KWARGS}
    raise TypeError(
        f"env must be a token_gym id string, a gym.make('token_gym/...') env, a gym.make_vec one "
        f"or an SB3 VecEnv of them, got {env!r}"
    )


def encoded_task_of(env: object) -> token_gym.EncodedTask:
    """The :class:`~token_gym.EncodedTask` behind a token_gym env (single or vector)."""
    encoded_task = getattr(getattr(env, "unwrapped", env), "encoded_task", None)
    if encoded_task is None:
        raise TypeError(f"{env!r} is not a token_gym env (it has no .encoded_task)")
    return encoded_task


def make_vec(
    env_id: str | None, kwargs: dict[str, Any], num_envs: int, split: str = "train", **options: Any
) -> TokenVectorEnv:
    """``gym.make_vec(env_id, num_envs, split=split, **kwargs)`` with :data:`ROLLOUT_OPTIONS` (or ``options``):
    the MDP interface agents roll out through."""
    if env_id is None:
        raise ValueError("this env has no registered id (no spec); pass an env made with gym.make_vec instead")
    return gym.make_vec(env_id, num_envs=num_envs, split=split, **{**ROLLOUT_OPTIONS, **options}, **kwargs)


def training_env(
    env: object, env_kwargs: dict[str, Any] | None, n_envs: int
) -> tuple[TokenVectorEnv, str | None, dict[str, Any]]:
    """(vector env to train in, env id, task kwargs) of what a user passed as an agent's ``env``.

    A ``gym.make_vec`` env is used as is (its ``num_envs`` is the batch); anything else is rebuilt
    from its id and kwargs as ``gym.make_vec`` with ``n_envs`` rows of the train split.
    """
    env_id, env_kwargs = env_source(env, env_kwargs)
    if isinstance(getattr(env, "unwrapped", None), TokenVectorEnv):
        return env, env_id, env_kwargs
    return make_vec(env_id, env_kwargs, n_envs, "train"), env_id, env_kwargs
