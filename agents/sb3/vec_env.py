"""The native token_gym vector env as a stable-baselines3 ``VecEnv``.

SB3 cannot drive a ``gymnasium.vector.VectorEnv``: it has its own vector API (``step_async`` /
``step_wait``, ``reset()`` returning observations only, one info dict per env, the terminal
observation inside the info of a finished env, ``env_method``). The usual way in,
``DummyVecEnv([lambda: gym.make(id)] * n)``, steps n Python envs one by one through three wrappers
and deep-copies every info. :class:`TokenSB3VecEnv` gives SB3 the same numbers from one
:class:`~token_gym.vector_env.TokenVectorEnv` in same-step autoreset mode: one array operation per
step for all rows, then the per-env info dicts SB3 reads.

Faithfulness (tested against ``DummyVecEnv`` on the same seeds and actions): observations
(int64), rewards (float32), dones, infos (``prompt_index``, ``action_mask``,
``TimeLimit.truncated``; on a finished row also ``completion``, ``is_success`` and
``terminal_observation``), ``reset_infos``, seeding through ``seed()`` (env i gets seed + i) and
options through ``set_options()``. Two differences: every info's ``action_mask`` is the same
read-only array (DummyVecEnv deep-copies one per env per step), and nothing is wrapped in
``Monitor``: wrap the adapter in ``VecMonitor`` (``make_sb3_vec_env`` does) for episode
statistics such as ``ep_rew_mean``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from token_gym.encoded import EncodedTask
from token_gym.vector_env import TokenVectorEnv

# Per-env methods a TokenEnv has, answered row by row from the vector env: name -> (vec, row) -> value.
_ROW_METHODS: dict[str, Callable[[TokenVectorEnv, int], Any]] = {
    "action_masks": lambda vec, row: vec.action_masks()[row],
    "decode": lambda vec, row: vec.decode()[row],
}
TRUNCATED = "TimeLimit.truncated"  # what DummyVecEnv adds to every step's info
# Attributes whose single-env value differs from the vector env's.
_SINGLE_ATTRS = {"action_space": "single_action_space", "observation_space": "single_observation_space"}


class TokenSB3VecEnv(VecEnv):
    """An SB3 ``VecEnv`` over one :class:`TokenVectorEnv` (created with ``autoreset_mode="SameStep"``).

    Env ``i`` of this VecEnv is row ``i`` of the vector env, which behaves exactly as a
    ``gym.make`` env seeded ``seed + i``. Build one with :func:`make_sb3_vec_env`, or wrap a vector
    env you made: ``TokenSB3VecEnv(gym.make_vec(id, num_envs=n, autoreset_mode="SameStep"))``.
    """

    def __init__(self, vector_env: TokenVectorEnv):
        if not isinstance(vector_env, TokenVectorEnv):
            raise TypeError(
                f"TokenSB3VecEnv wraps a token_gym TokenVectorEnv (gym.make_vec of a token_gym id), "
                f"got {type(vector_env).__name__}"
            )
        if vector_env.autoreset_mode is not AutoresetMode.SAME_STEP:
            raise ValueError(
                "TokenSB3VecEnv needs autoreset_mode='SameStep' (SB3 resets finished envs within the step), "
                f"got {vector_env.autoreset_mode.value!r}"
            )
        self.vector_env = vector_env
        self.spec = vector_env.spec  # read by VecMonitor for its log header
        self._actions: np.ndarray | None = None
        super().__init__(vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space)

    @property
    def encoded_task(self) -> EncodedTask:
        """The :class:`~token_gym.encoded.EncodedTask` every env shares (vocabulary, prompts, verifier)."""
        return self.vector_env.encoded_task

    # -- the VecEnv API -------------------------------------------------------

    def reset(self) -> VecEnvObs:
        """Reset every env, with the seeds of the last ``seed()`` and options of ``set_options()``, once."""
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        obs, infos = self.vector_env.reset(seed=seeds, options=self._vector_options())
        self.reset_infos = self._row_infos(infos, truncated=None)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions)")
        actions, self._actions = self._actions, None
        obs, rewards, terminated, truncated, infos = self.vector_env.step(actions)
        dones = terminated | truncated
        step_infos = self._row_infos(infos)
        if dones.any():
            finished = np.flatnonzero(dones)
            final = self._row_infos(infos["final_info"], finished)
            for i, info in zip(finished.tolist(), final, strict=True):
                # The row already reset: this step's info of it is the reset info of its next episode.
                reset_info = step_infos[i]
                del reset_info[TRUNCATED]
                self.reset_infos[i] = reset_info
                info[TRUNCATED] = bool(truncated[i] and not terminated[i])
                info["terminal_observation"] = infos["final_obs"][i]
                step_infos[i] = info
        return obs, rewards.astype(np.float32), dones, step_infos

    def close(self) -> None:
        self.vector_env.close()

    # -- per-env access -------------------------------------------------------

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """What ``env.get_wrapper_attr(attr_name)`` gives on each single env; methods come bound to their row."""
        rows = list(self._get_indices(indices))
        if attr_name in _ROW_METHODS:
            method = _ROW_METHODS[attr_name]
            return [lambda *_, row=row: method(self.vector_env, row) for row in rows]
        value = getattr(self.vector_env, _SINGLE_ATTRS.get(attr_name, attr_name))
        return [value] * len(rows)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute the envs share; per-env values cannot differ in one vector env."""
        rows = list(self._get_indices(indices))
        if sorted(rows) != list(range(self.num_envs)):
            raise ValueError(f"set_attr({attr_name!r}) must target every env: the envs share one vector env")
        setattr(self.vector_env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call a per-env method: ``action_masks`` (for MaskablePPO) or ``decode``."""
        if method_name not in _ROW_METHODS:
            raise AttributeError(
                f"TokenSB3VecEnv.env_method supports {sorted(_ROW_METHODS)}, got {method_name!r}; "
                "use .vector_env for the whole vector env"
            )
        if method_args or method_kwargs:
            raise TypeError(f"env_method({method_name!r}) takes no arguments through TokenSB3VecEnv")
        rows = list(self._get_indices(indices))
        if method_name == "action_masks":  # every step of MaskablePPO: one array, sliced
            masks = self.vector_env.action_masks()
            return [masks[row] for row in rows]
        return [_ROW_METHODS[method_name](self.vector_env, row) for row in rows]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """No env is wrapped: the rows are arrays, not ``gym.Wrapper`` chains."""
        return [False] * len(list(self._get_indices(indices)))

    def render(self, mode: str | None = None) -> str | None:
        """The vector env's rendering ("ansi": text of every row; "human": printed)."""
        if mode is not None and mode != self.render_mode:
            gym.logger.warn(f"render mode {mode!r} differs from the env's render_mode {self.render_mode!r}")
            return None
        return self.vector_env.render()

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

    # -- internals ------------------------------------------------------------

    def _row_infos(
        self, infos: dict[str, Any], rows: np.ndarray | None = None, truncated: bool | None = False
    ) -> list[dict[str, Any]]:
        """SyncVectorEnv-layout infos (key + ``_key`` mask) as one dict per row (``rows``, default all), with
        Python scalars as a single env gives them; ``TimeLimit.truncated`` added unless ``truncated`` is None."""
        count = self.num_envs if rows is None else len(rows)
        out: list[dict[str, Any]] = (
            [{} for _ in range(count)] if truncated is None else [{TRUNCATED: truncated} for _ in range(count)]
        )
        for key, values in infos.items():
            if key[0] == "_" or key in ("final_obs", "final_info"):
                continue
            present = infos.get("_" + key)
            if present is not None:
                present = present if rows is None else present[rows]
                present = None if present.all() else present
            if key == "action_mask":  # one read-only task mask: no copy per env per step
                column = [self.vector_env.encoded_task.action_mask] * count
            else:
                picked = values if rows is None else values[rows]
                column = picked.tolist() if picked.ndim == 1 else list(picked)  # tolist: Python scalars
            if present is None:
                for info, value in zip(out, column, strict=True):
                    info[key] = value
            else:
                for info, value, here in zip(out, column, present, strict=True):
                    if here:
                        info[key] = value
        return out

    def _vector_options(self) -> dict[str, Any] | None:
        """Per-env reset options as the vector env's: every env must name the same keys."""
        if not any(self._options):
            return None
        keys = {frozenset(o) for o in self._options}
        if len(keys) != 1:
            raise ValueError(
                "set_options: every env needs the same option keys through TokenSB3VecEnv, "
                f"got {[sorted(o) for o in self._options]}"
            )
        options: dict[str, Any] = {}
        for key in next(iter(keys)):
            values = [o[key] for o in self._options]
            options[key] = np.array(values, dtype=np.int64) if key == "prompt_index" else values
        return options


def make_sb3_vec_env(
    env_id: str, n_envs: int = 1, seed: int | None = None, monitor: bool = True, **env_kwargs: Any
) -> VecEnv:
    """SB3 VecEnv of ``n_envs`` token_gym episodes: a drop-in for ``make_vec_env(env_id, n_envs, seed)``.

    ``seed`` seeds env i with ``seed + i`` at the first reset, as ``make_vec_env`` does.
    ``monitor`` wraps in ``VecMonitor`` so SB3 logs episode reward/length (``make_vec_env``
    wraps each env in ``Monitor`` for the same reason). ``env_kwargs`` are the id's ``gym.make``
    keyword arguments (``length``, ``alphabet``, ``reward``, ``tokenizer``, ``split``, ...).
    """
    vector_env = gym.make_vec(
        env_id, num_envs=n_envs, vectorization_mode="vector_entry_point", autoreset_mode="SameStep", **env_kwargs
    )
    venv: VecEnv = TokenSB3VecEnv(vector_env)
    if seed is not None:
        venv.seed(seed)
    return VecMonitor(venv) if monitor else venv
