"""Novelty bonuses: pay episodes for going where the policy has rarely been.

A count-based bonus β / √N adds to the verifier's reward: N counts how often the same thing
(a completion, or the prefixes an episode passed through) has been sampled for the same prompt.
What is new pays up to β; what was seen a hundred times pays β / 10. The bonus is shaped
reward, so with a group baseline (RLOO, GRPO) it ranks the k samples of a prompt by novelty
even when none of them succeeded: a gradient where the sparse reward alone gives none.

When the counts move: in :meth:`rewards`, *before* the bonus is computed. The current batch is
counted: a completion sampled for the first time, once in this batch, has N = 1 and gets β; two
identical samples in one batch both get β / √2 (so the k samples of a group cannot all collect
the full bonus by agreeing). The bonus of a row therefore never depends on its position in the batch.

Neither changes the sampling distribution. Counts are exact (a table keyed by prompt and token
ids), unbounded: they grow by at most the batch's rows (``count``) or tokens (``prefix_count``)
per update. Episodes that started from a prefix (a starts strategy) are counted whole: the
start prefix and what was sampled after it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from agents.exploration.base import Strategy, pack_prefixes, unpack_prefixes
from agents.exploration.episodes import Episodes, episodes
from token_gym.checks import non_negative

if TYPE_CHECKING:
    from agents.reinforce import ReinforceAgent
    from agents.rollout import Rollout


class _Counting(Strategy):
    """What both count bonuses share: the table, the vocabulary's ids, the bonus's logging."""

    def __init__(self, beta: float):
        self.beta = non_negative(f"{self.name} beta", beta)
        self._counts: defaultdict[tuple[int, bytes], int] = defaultdict(int)
        self._ids: tuple[int, int] | None = None  # (sep, pad) of the task's vocabulary
        self._bonus: Tensor | None = None  # (B,) the last batch's bonus

    @classmethod
    def at_zero(cls) -> _Counting:
        return cls(beta=0.0)

    def bind(self, agent: ReinforceAgent) -> None:
        vocab = agent.encoded_task.vocab
        self._ids = (vocab.sep_id, vocab.pad_id)

    def count(self, prompt_index: int, tokens: list[int] | tuple[int, ...]) -> int:
        """N(prompt, tokens): how often it has been counted so far."""
        return self._counts.get((int(prompt_index), np.asarray(tokens, dtype=np.int64).tobytes()), 0)

    def _episodes(self, rollout: Rollout) -> Episodes:
        if self._ids is None:
            raise RuntimeError(f"the {self.name} strategy reads the task's vocabulary: call bind(agent) first")
        return episodes(rollout, *self._ids)

    def _novelty(self, found: Episodes) -> Tensor:
        """(B,) the bonus of each episode divided by β, counting this batch first."""
        raise NotImplementedError

    def rewards(self, rollout: Rollout, rewards: Tensor) -> Tensor:
        if self.beta == 0:
            return rewards
        self._bonus = self.beta * self._novelty(self._episodes(rollout))  # (B,)
        return rewards + self._bonus.to(rewards.dtype)

    def update(self, rollout: Rollout, scalars: dict[str, float]) -> dict[str, float]:
        if self._bonus is None:
            return {}
        bonus, self._bonus = self._bonus, None
        return {f"{self.name}_bonus": float(bonus.mean()), f"{self.name}_entries": float(len(self._counts))}

    def state(self) -> dict[str, Tensor]:
        if not self._counts:
            return {}
        keys = [(prompt, np.frombuffer(tokens, dtype=np.int64)) for prompt, tokens in self._counts]
        return {**pack_prefixes(keys), "counts": torch.tensor(list(self._counts.values()), dtype=torch.int64)}

    def load_state(self, state: dict[str, Tensor]) -> None:
        keys = unpack_prefixes(state, self.name)
        counts = state.get("counts")
        if counts is None or counts.shape != (len(keys),) or bool((counts < 1).any()):
            raise ValueError(f"{self.name} state needs one count >= 1 per key ({len(keys)} keys)")
        self._counts = defaultdict(int)
        for (prompt, tokens), n in zip(keys, counts.tolist(), strict=True):
            self._counts[(prompt, tokens.tobytes())] = int(n)


class CompletionCount(_Counting):
    """Count bonus on completions: r ← r + β / √N(prompt, completion).

    N(prompt, completion) counts the episodes of that prompt whose tokens (EOS included, so a
    completion cut at the cap differs from the same tokens ended by EOS) were exactly these, this
    batch included (see the module docstring). For answer tasks the completion is the answer, so
    this is UCB-style exploration on answers. ``update`` logs ``count_bonus`` (mean bonus of the
    batch) and ``count_entries`` (distinct (prompt, completion) pairs seen).

    Does not change the sampling distribution. Source: count-based exploration (Strehl & Littman
    2008; Bellemare et al. 2016); outcome-based exploration for LLM reasoning (Song et al. 2025,
    arXiv 2509.06941), which counts final answers per prompt with a UCB bonus.
    """

    name = "count"

    def __init__(self, beta: float = 0.1):
        super().__init__(beta)

    def _novelty(self, found: Episodes) -> Tensor:
        keys = [found.key(row) for row in range(len(found.length))]
        for key in keys:
            self._counts[key] += 1
        counts = torch.tensor([self._counts[key] for key in keys], dtype=torch.float64)  # (B,) N ≥ 1
        return counts.rsqrt()


class PrefixCount(_Counting):
    """Count bonus on prefixes: r ← r + β · mean_t 1/√N(prompt, s_t) over the episode's own prefixes.

    The prefixes s_t of an episode are the token sequences its own tokens produced: after its first
    sampled token, its second, ..., the whole episode (terminal state included); the prompt alone
    (where every episode of the prompt is) and, for an episode restarted from a prefix, the states
    inside that start prefix (given, not chosen) are left out. N(prompt, s) counts the episodes whose
    tokens produced s, this batch included. The mean, rather than the sum, keeps the bonus in [0, β]
    whatever the length; a rare prefix early in an episode pays for the whole episode, since every
    later prefix is rare too. ``update`` logs ``prefix_count_bonus`` and ``prefix_count_entries``.

    Does not change the sampling distribution. Source: count-based exploration on states (Bellemare
    et al. 2016, "Unifying count-based exploration and intrinsic motivation"), states being prefixes
    here; arXiv 2509.06941 for counts per prompt in LLM RL.
    """

    name = "prefix_count"

    def __init__(self, beta: float = 0.1):
        super().__init__(beta)

    def _novelty(self, found: Episodes) -> Tensor:
        rows = []
        for row in range(len(found.length)):
            keys = [found.key(row, t) for t in range(found.start_length[row] + 1, found.length[row] + 1)]
            for key in keys:
                self._counts[key] += 1
            rows.append(keys)
        novelty = [
            float(np.mean([self._counts[key] ** -0.5 for key in keys])) if keys else 0.0 for keys in rows
        ]  # an episode that sampled nothing (impossible in token_gym: it ends on a token) earns nothing
        return torch.tensor(novelty, dtype=torch.float64)  # (B,)
