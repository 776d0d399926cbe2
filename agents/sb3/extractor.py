"""A stable-baselines3 features extractor that embeds token ids instead of one-hot encoding them.

A token_gym observation is a ``Box`` of token ids, ``[pad ..., prompt, sep, completion so far]``
with the content right-aligned. SB3's default ``FlattenExtractor`` would feed the raw ids to an MLP
as if they were magnitudes (meaningless), and a ``MultiDiscrete`` view one-hot encodes every
position (``width × vocab`` inputs: 40 positions of a 600-token BPE vocabulary are 24,000 inputs).
Embedding the ids costs ``vocab × embed_dim`` parameters once, shared by every position.

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
from torch import nn

ENCODERS = ("flatten", "attention")


class TokenEmbeddingExtractor(BaseFeaturesExtractor):
    """Token + position embeddings, padding masked, then a small encoder to ``features_dim`` features.

    ``encoder="flatten"`` (default) concatenates the embedded positions and applies a linear layer:
    every position keeps its own weights, which is what algorithmic tasks (copy, reverse, sort)
    need, at ``width × embed_dim × features_dim`` parameters. ``encoder="attention"`` runs
    ``n_layers`` transformer encoder layers (padding masked as keys) and reads the last position,
    the token the next action follows, as a language model would; its size does not grow with the
    width.

    Args:
        observation_space: the env's ``Box`` of token ids (bounds ``[0, vocab_size - 1]``).
        features_dim: size of the output, the input of SB3's policy/value heads.
        embed_dim: size of token and position embeddings.
        encoder: "flatten" or "attention".
        pad_id: the padding token, whose positions contribute nothing; token_gym's built-in
            tokenizers use 0. None treats padding as an ordinary token.
        n_heads, n_layers: of the attention encoder.
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
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {list(ENCODERS)}, got {encoder!r}")
        for name, value in (("features_dim", features_dim), ("embed_dim", embed_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        super().__init__(observation_space, features_dim)
        self.vocab_size = int(observation_space.high.max()) + 1
        self.width = int(observation_space.shape[0])
        if pad_id is not None and not 0 <= pad_id < self.vocab_size:
            raise ValueError(f"pad_id must be in [0, {self.vocab_size}) or None, got {pad_id!r}")
        self.pad_id = pad_id
        self.encoder = encoder
        self.token_embedding = nn.Embedding(self.vocab_size, embed_dim)
        self.position_embedding = nn.Embedding(self.width, embed_dim)
        if encoder == "flatten":
            self.head = nn.Sequential(nn.Linear(self.width * embed_dim, features_dim), nn.ReLU())
        else:
            layer = nn.TransformerEncoderLayer(
                embed_dim, n_heads, dim_feedforward=4 * embed_dim, dropout=0.0, batch_first=True, norm_first=True
            )
            self.blocks = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.head = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        ids = observations.long()  # (B, W); SB3 hands Box observations over as floats
        positions = torch.arange(self.width, device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)  # (B, W, E)
        padding = ids == self.pad_id if self.pad_id is not None else torch.zeros_like(ids, dtype=torch.bool)
        padding[:, -1] = False  # the last position is never padding in a real observation; keeps attention defined
        if self.encoder == "flatten":
            x = x * (~padding).unsqueeze(-1)  # (B, W, E) padding positions carry nothing
            return self.head(x.flatten(1))  # (B, F)
        x = self.blocks(x, src_key_padding_mask=padding)  # (B, W, E)
        return self.head(x[:, -1])  # (B, F)


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
