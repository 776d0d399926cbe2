"""A stable-baselines3 features extractor that embeds token ids instead of one-hot encoding them.

SB3's default ``FlattenExtractor`` would feed the raw ids to an MLP as if they were magnitudes
(meaningless), and a ``MultiDiscrete`` view one-hot encodes every position; the encoder
(:mod:`agents.encoders`) embeds them instead.

Use it with any SB3 / sb3-contrib algorithm whose policy takes a features extractor::

    PPO("MlpPolicy", env, policy_kwargs=token_policy_kwargs(env))
    # or by hand:
    PPO("MlpPolicy", env, policy_kwargs=dict(features_extractor_class=TokenEmbeddingExtractor))
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.encoders import TokenEncoder


class TokenEmbeddingExtractor(BaseFeaturesExtractor):
    """:class:`agents.encoders.TokenEncoder` as an SB3 features extractor (same arguments, the vocabulary
    and width read from the observation space).

    Args:
        observation_space: the env's ``Box`` of token ids (bounds ``[0, vocab_size - 1]``).
        features_dim, embed_dim, encoder, pad_id, n_heads, n_layers: as :class:`~agents.encoders.TokenEncoder`.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        features_dim: int = 64,
        embed_dim: int = 32,
        encoder: str = "flatten",
        pad_id: int | None = 0,
        n_heads: int = 2,
        n_layers: int = 1,
    ):
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
            raise TypeError(
                "TokenEmbeddingExtractor needs a 1-D Box observation of token ids (a token_gym env), "
                f"got {observation_space!r}; a MultiDiscrete observation is one-hot encoded by SB3 before any extractor"
            )
        vocab_size, width = int(observation_space.high.max()) + 1, int(observation_space.shape[0])
        encoder_module = TokenEncoder(vocab_size, width, features_dim, embed_dim, encoder, pad_id, n_heads, n_layers)
        super().__init__(observation_space, features_dim)
        self.encoder = encoder_module

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.encoder(observations)  # (B, F)


def token_policy_kwargs(env: Any, **extractor_kwargs: Any) -> dict[str, Any]:
    """``policy_kwargs`` that plug :class:`TokenEmbeddingExtractor` into an SB3 policy for ``env``.

    Reads the padding id from the env (a ``gym.make`` env, a ``TokenVectorEnv``, the SB3 adapter or
    any SB3 VecEnv of token_gym envs), so custom tokenizers are masked right.
    """
    kwargs = {"pad_id": _pad_id(env), **extractor_kwargs}
    return {"features_extractor_class": TokenEmbeddingExtractor, "features_extractor_kwargs": kwargs}


def _pad_id(env: Any) -> int:
    encoded_task = getattr(getattr(env, "unwrapped", env), "encoded_task", None)
    if encoded_task is None and hasattr(env, "get_attr"):  # an SB3 VecEnv
        encoded_task = env.get_attr("encoded_task", indices=[0])[0]
    if encoded_task is None:
        raise TypeError(f"token_policy_kwargs needs a token_gym env (with .encoded_task), got {type(env).__name__}")
    return int(encoded_task.vocab.pad_id)
