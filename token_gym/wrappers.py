"""One-hot observations, for generic networks that read an observation as a vector of numbers.

A token_gym observation is a row of token ids. An MLP fed those ids as floats (CleanRL's
``ppo.py``, SB3's ``MlpPolicy`` without a features extractor) sees token 7 as "7.0", a quantity
between tokens 6 and 8, and barely learns. One-hot encoding gives each (position, token) pair an
input of its own, which is what such a network needs; token-embedding networks (``agents.sb3``)
do not need it and are cheaper on large vocabularies.

The encoded observation is flat, ``Box(0, 1, (width * vocab_size,), float32)``, position-major:
input ``p * vocab_size + t`` is 1.0 when position ``p`` holds token ``t``. Flat because the
generic clients size their first layer from the space's shape and apply it to the observation
as it comes (CleanRL: ``nn.Linear(np.prod(shape), 64)`` on ``(N, *shape)``, which fails on a
``(width, vocab_size)`` matrix); SB3 flattens either. Padding is all zeros: the content is
right-aligned and always starts with a non-pad token, so the state stays recoverable, and pad
emitted inside a completion reads as the zero row it is.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv, VectorObservationWrapper, VectorWrapper
from gymnasium.vector.utils import batch_space


def one_hot(ids: np.ndarray, vocab_size: int, pad_id: int) -> np.ndarray:
    """(..., L) token ids as (..., L * vocab_size) float32 one-hot rows; ``pad_id`` positions all zeros."""
    ids = np.asarray(ids)
    flat = ids.reshape(-1)
    out = np.zeros(flat.size * vocab_size, dtype=np.float32)
    out[np.arange(flat.size) * vocab_size + flat] = flat != pad_id
    return out.reshape(*ids.shape[:-1], ids.shape[-1] * vocab_size)


def _encoding(space: spaces.Space, env: object) -> tuple[spaces.Box, int, int]:
    """The one-hot space of a token-id ``space``, its vocabulary size, and the pad id of ``env``."""
    if not (isinstance(space, spaces.Box) and len(space.shape) == 1 and np.issubdtype(space.dtype, np.integer)):
        raise ValueError(f"one-hot encoding needs a 1-D integer Box of token ids, got {space}")
    vocab = getattr(getattr(env, "unwrapped", env), "vocab", None)
    if vocab is None:
        raise ValueError(f"one-hot encoding needs a token_gym env (with .vocab), got {env!r}")
    return spaces.Box(0.0, 1.0, (space.shape[0] * vocab.size,), np.float32), vocab.size, vocab.pad_id


class OneHotObservation(gym.ObservationWrapper):
    """A token_gym env whose observations are one-hot, flat float32 (see the module docstring).

    ``OneHotObservation(gym.make("token_gym/Reverse-v0", length=3))``: observation space
    ``Box(0, 1, (8 * 11,), float32)``. Actions, rewards, infos and ``action_masks()`` are the env's.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space, self._vocab_size, self._pad_id = _encoding(env.observation_space, env)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return one_hot(observation, self._vocab_size, self._pad_id)

    def action_masks(self) -> np.ndarray:
        """The env's useful tokens, callable on the wrapper as on the env (MaskablePPO)."""
        return self.env.get_wrapper_attr("action_masks")()


class OneHotVectorObservation(VectorObservationWrapper):
    """The native vector env (``gym.make_vec``) with one-hot, flat float32 observations.

    Rows are encoded as :class:`OneHotObservation` encodes one. Unlike gymnasium's base class it
    also accepts ``autoreset_mode="SameStep"``, and then encodes ``infos["final_obs"]`` too.
    """

    def __init__(self, env: VectorEnv):
        VectorWrapper.__init__(self, env)  # not VectorObservationWrapper's: it refuses SameStep
        self.single_observation_space, self._vocab_size, self._pad_id = _encoding(env.single_observation_space, env)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)

    def observations(self, observations: np.ndarray) -> np.ndarray:
        return one_hot(observations, self._vocab_size, self._pad_id)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        if self.env.metadata.get("autoreset_mode") is AutoresetMode.SAME_STEP and "final_obs" in infos:
            final = infos["final_obs"].copy()
            for i in np.flatnonzero(infos["_final_obs"]):
                final[i] = self.observations(final[i])
            infos = {**infos, "final_obs": final}
        return self.observations(observations), rewards, terminations, truncations, infos

    def action_masks(self) -> np.ndarray:
        """(num_envs, vocab_size) useful tokens of every row."""
        return self.env.action_masks()
