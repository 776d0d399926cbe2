"""A token-id encoder for actor-critic libraries: embeddings of ids, never one-hot, never ids as numbers.

A token_gym observation is a row of token ids, ``[pad ..., prompt, sep, completion so far]`` with
the content right-aligned. Fed to an MLP as floats the ids are meaningless magnitudes, and one-hot
encoding every position costs ``width × vocab`` inputs (40 positions of a 600-token BPE vocabulary
are 24,000). Embedding the ids costs ``vocab × embed_dim`` parameters once, shared by every
position. Torch only: stable-baselines3's features extractor (:mod:`agents.sb3.extractor`) and
RLlib's module (:mod:`agents.rllib`) both wrap it.
"""

from __future__ import annotations

import torch
from torch import nn

from token_gym.checks import choice, positive_int

ENCODERS = ("flatten", "attention")


class TokenEncoder(nn.Module):
    """Token + position embeddings, padding masked, then a small encoder to ``features_dim`` features.

    ``encoder="flatten"`` (default) concatenates the embedded positions and applies a linear layer:
    every position keeps its own weights, which is what algorithmic tasks (copy, reverse, sort)
    need, at ``width × embed_dim × features_dim`` parameters. ``encoder="attention"`` runs
    ``n_layers`` transformer encoder layers (padding masked as keys) and reads the last position,
    the token the next action follows, as a language model would; its size does not grow with the
    width.

    Args:
        vocab_size, width: the ids' range and the observation's length.
        features_dim: size of the output.
        embed_dim: size of token and position embeddings.
        encoder: "flatten" or "attention".
        pad_id: the padding token, whose positions contribute nothing; None treats padding as an
            ordinary token.
        n_heads, n_layers: of the attention encoder.
    """

    def __init__(
        self,
        vocab_size: int,
        width: int,
        features_dim: int = 64,
        embed_dim: int = 32,
        encoder: str = "flatten",
        pad_id: int | None = 0,
        n_heads: int = 2,
        n_layers: int = 1,
    ):
        super().__init__()
        self.vocab_size, self.width = positive_int("vocab_size", vocab_size), positive_int("width", width)
        features_dim, embed_dim = positive_int("features_dim", features_dim), positive_int("embed_dim", embed_dim)
        self.encoder = choice("encoder", encoder, ENCODERS)
        if pad_id is not None and not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must be in [0, {vocab_size}) or None, got {pad_id!r}")
        self.pad_id, self.features_dim = pad_id, features_dim
        self.token_embedding = nn.Embedding(vocab_size, embed_dim)
        self.position_embedding = nn.Embedding(width, embed_dim)
        if encoder == "flatten":
            self.head = nn.Sequential(nn.Linear(width * embed_dim, features_dim), nn.ReLU())
        else:
            layer = nn.TransformerEncoderLayer(
                embed_dim, n_heads, dim_feedforward=4 * embed_dim, dropout=0.0, batch_first=True, norm_first=True
            )
            self.blocks = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.head = nn.Sequential(nn.LayerNorm(embed_dim), nn.Linear(embed_dim, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        ids = observations.long()  # (B, W); libraries hand Box observations over as floats
        positions = torch.arange(self.width, device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)  # (B, W, E)
        padding = ids == self.pad_id if self.pad_id is not None else torch.zeros_like(ids, dtype=torch.bool)
        padding[:, -1] = False  # the last position is never padding in a real observation; keeps attention defined
        if self.encoder == "flatten":
            x = x * (~padding).unsqueeze(-1)  # (B, W, E) padding positions carry nothing
            return self.head(x.flatten(1))  # (B, F)
        x = self.blocks(x, src_key_padding_mask=padding)  # (B, W, E)
        return self.head(x[:, -1])  # (B, F)
