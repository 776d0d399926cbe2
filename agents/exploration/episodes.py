"""What an episode of a rollout was, token by token: the prefix it started from and what it generated.

A row of a :class:`~agents.rollout.Rollout` holds its context (the prompt, left-padded, the
separator, and the prefix the episode started from, if a strategy restarted it there) and the
completion it sampled. Strategies that count or archive episodes need the whole thing, the
*episode tokens*: start prefix + sampled completion, the tokens after the separator that the
env holds when the episode ends. This module reads them from the rollout, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.rollout import Rollout


@dataclass
class Episodes:
    """The episodes of a rollout as numpy arrays, one row each."""

    prompt_index: np.ndarray  # (B,) int64
    tokens: np.ndarray  # (B, S + C) int64: start prefix, then the sampled completion (EOS included), then pad
    start_length: np.ndarray  # (B,) tokens of the start prefix (0: the episode started at the prompt)
    length: np.ndarray  # (B,) start_length + tokens sampled

    def start_prefix(self, row: int) -> tuple[int, ...]:
        return tuple(self.tokens[row, : self.start_length[row]].tolist())

    def key(self, row: int, length: int | None = None) -> tuple[int, bytes]:
        """A hashable (prompt, first ``length`` episode tokens) for counting tables; all of them by default."""
        end = self.length[row] if length is None else length
        return int(self.prompt_index[row]), self.tokens[row, :end].tobytes()


def episodes(rollout: Rollout, sep_id: int, pad_id: int) -> Episodes:
    """The :class:`Episodes` of ``rollout``: each row's start prefix is what follows the first separator
    of its context (prompts hold no separator), its completion the ``mask``-ed tokens sampled."""
    context = rollout.context.numpy()  # (B, T0)
    completion = rollout.completion.numpy()  # (B, C)
    sampled = rollout.mask.sum(dim=1).numpy()  # (B,)
    is_sep = context == sep_id
    if not is_sep.any(axis=1).all():
        raise ValueError("a rollout's context row has no separator: it is not prompt, separator, prefix")
    B, T0 = context.shape
    start_length = T0 - 1 - is_sep.argmax(axis=1)  # (B,) tokens after the first separator
    S = int(start_length.max(initial=0))
    # The start prefixes are right-aligned at the end of the context: take the last S columns and shift
    # each row left by what it does not use, so every episode begins at column 0.
    joined = np.concatenate(
        [context[:, T0 - S :], completion, np.full((B, S), pad_id, dtype=completion.dtype)], axis=1
    )  # (B, 2S + C)
    columns = np.arange(S + completion.shape[1])[None, :] + (S - start_length)[:, None]  # (B, S + C)
    tokens = np.take_along_axis(joined, columns, axis=1).astype(np.int64)
    length = start_length + sampled
    tokens[np.arange(tokens.shape[1])[None, :] >= length[:, None]] = pad_id
    return Episodes(np.asarray(rollout.prompt_index, dtype=np.int64), tokens, start_length.astype(np.int64), length)
