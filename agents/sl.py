"""Supervised learning from demonstrations: the weighted log-likelihood with w = 1.

The data are fixed (prompt, completion) pairs the agent did not choose: the
task's oracle on the train split, a JSONL file, or oracle demonstrations of
which a fraction is corrupted (an imperfect demonstrator, to study learning
beyond it with REINFORCE afterwards).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.base import Agent, AgentConfig, _normalise
from agents.objective import policy_loss
from token_gym import EncodedTask, checks
from token_gym.tasks.text import read_jsonl


@dataclass
class Demonstrations:
    """Demonstrations in the layout :func:`agents.objective.policy_loss` scores."""

    context: torch.Tensor  # (N, P + 1) prompt (left-padded) and separator
    completion: torch.Tensor  # (N, C) right-padded with pad
    mask: torch.Tensor  # (N, C) bool: demonstrated tokens (EOS included)

    def __len__(self) -> int:
        return len(self.context)


def _layout(encoded_task: EncodedTask, prompts: list[list[int]], completions: list[list[int]]) -> Demonstrations:
    vocab, width, cap = encoded_task.vocab, encoded_task.prompts.shape[1], encoded_task.max_completion_len
    context = np.full((len(prompts), width + 1), vocab.pad_id, dtype=np.int64)
    completion = np.full((len(prompts), cap), vocab.pad_id, dtype=np.int64)
    mask = np.zeros((len(prompts), cap), dtype=bool)
    for i, (prompt, answer) in enumerate(zip(prompts, completions, strict=True)):
        context[i, width - len(prompt) : width] = prompt
        completion[i, : len(answer)] = answer
        mask[i, : len(answer)] = True
    context[:, -1] = vocab.sep_id
    return Demonstrations(torch.from_numpy(context), torch.from_numpy(completion), torch.from_numpy(mask))


def oracle_demonstrations(encoded_task: EncodedTask, split: str = "train") -> Demonstrations:
    """The task's own demonstration of every prompt of ``split`` (EOS included when there is room)."""
    indices = encoded_task.task.split(split)
    prompts = [[t for t in encoded_task.prompts[i].tolist() if t != encoded_task.vocab.pad_id] for i in indices]
    return _layout(encoded_task, prompts, [encoded_task.demonstration_tokens(int(i)) for i in indices])


def jsonl_demonstrations(encoded_task: EncodedTask, path: str | Path) -> Demonstrations:
    """(prompt, completion) pairs, one JSON object per line: ``{"prompt": "...", "completion": "..."}``."""
    vocab, width, cap = encoded_task.vocab, encoded_task.prompts.shape[1], encoded_task.max_completion_len
    prompts, completions = [], []
    for where, record in read_jsonl(path, require_completion=True):
        prompt = vocab.encode(record["prompt"], f"{where} prompt")
        answer = vocab.encode(record["completion"], f"{where} completion")
        if len(prompt) > width:
            raise ValueError(f"{where}: prompt has {len(prompt)} tokens; this env's prompts hold at most {width}")
        if len(answer) > cap:
            raise ValueError(f"{where}: completion has {len(answer)} tokens; the env's cap is {cap}")
        bad = [t for t in answer if not encoded_task.action_mask[t]]
        if bad:
            raise ValueError(f"{where}: completion uses tokens outside the task's alphabet: {vocab.decode(bad)!r}")
        if len(answer) < cap:
            answer.append(vocab.eos_id)
        prompts.append(prompt)
        completions.append(answer)
    return _layout(encoded_task, prompts, completions)


def corrupt(
    demos: Demonstrations, encoded_task: EncodedTask, fraction: float, rng: np.random.Generator
) -> Demonstrations:
    """A copy where ``fraction`` of the demonstrations have one token (EOS excepted) replaced by a wrong one.

    The demonstrator is then right on exactly 1 − fraction of the prompts.
    """
    alphabet = np.flatnonzero(
        encoded_task.action_mask & (np.arange(encoded_task.vocab.size) != encoded_task.vocab.eos_id)
    )
    completion = demos.completion.clone()
    content = demos.mask & (completion != encoded_task.vocab.eos_id)
    candidates = np.flatnonzero(content.any(dim=1).numpy())
    chosen = rng.choice(candidates, size=round(fraction * len(candidates)), replace=False)
    for row in chosen:
        position = rng.choice(np.flatnonzero(content[row].numpy()))
        right = int(completion[row, position])
        completion[row, position] = int(rng.choice(alphabet[alphabet != right]))
    return Demonstrations(demos.context, completion, demos.mask)


@dataclass(frozen=True, kw_only=True)
class SLConfig(AgentConfig):
    """Behaviour cloning's hyperparameters, beyond :class:`~agents.base.AgentConfig`'s."""

    demonstrations: str = "oracle"
    """"oracle" (the task's own answers on the train split) or the path of a JSONL file of
    ``{"prompt": ..., "completion": ...}`` records."""
    corrupt_fraction: float = 0.0
    """Share in [0, 1] of the demonstrations given one wrong token (seeded): an imperfect demonstrator."""
    batch_size: int = 64
    """Demonstrations per update."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.demonstrations, str | os.PathLike):
            raise TypeError(f"demonstrations must be 'oracle' or a JSONL path, got {self.demonstrations!r}")
        _normalise(
            self,
            demonstrations=os.fspath(self.demonstrations),
            corrupt_fraction=checks.number("corrupt_fraction", self.corrupt_fraction, 0.0, 1.0),
            batch_size=checks.positive_int("batch_size", self.batch_size),
        )


class SLAgent(Agent):
    """Behaviour cloning: maximise log π(demonstrated token | prefix), w = 1 on every demonstrated token.

    Hyperparameters: the fields of :class:`SLConfig`. ``learn(total_timesteps)`` counts demonstrated tokens.
    """

    algorithm = "sl"
    config_class = SLConfig
    config: SLConfig

    def __init__(self, env: object, policy: nn.Module | Agent | None = None, seed: int = 0, **kwargs: Any):
        super().__init__(env, policy, seed, **kwargs)
        self._data: Demonstrations | None = None
        self._order = np.zeros(0, dtype=np.int64)

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        scalars, members = super()._state()
        members["random"]["order"] = torch.from_numpy(self._order.copy())  # the rest of the epoch being shuffled
        return scalars, members

    def _load_state(
        self, scalars: dict[str, Any], members: dict[str, Any], path: Path, saved: AgentConfig, same_task: bool
    ) -> None:
        super()._load_state(scalars, members, path, saved, same_task)
        order = members["random"].pop("order")
        data = ("demonstrations", "corrupt_fraction", "seed")
        if same_task and all(getattr(saved, name) == getattr(self.config, name) for name in data):
            self._order = order.numpy().astype(np.int64)

    @property
    def data(self) -> Demonstrations:
        """The demonstrations, read on first use (so a checkpoint loads without its JSONL file)."""
        if self._data is None:
            config = self.config
            if config.demonstrations == "oracle":
                data = oracle_demonstrations(self.encoded_task)
            else:
                data = jsonl_demonstrations(self.encoded_task, config.demonstrations)
            if config.corrupt_fraction > 0:
                data = corrupt(data, self.encoded_task, config.corrupt_fraction, np.random.default_rng(config.seed))
            self._data = data
        return self._data

    def _batch(self) -> np.ndarray:
        """Indices of the next minibatch: epochs of seeded shuffles."""
        size = self.config.batch_size
        if len(self._order) < size:
            self._order = np.concatenate([self._order, self.rng.permutation(len(self.data))])
        rows, self._order = self._order[:size], self._order[size:]
        return rows

    def _update(self) -> dict[str, float]:
        rows = torch.from_numpy(self._batch())
        context, completion, mask = self.data.context[rows], self.data.completion[rows], self.data.mask[rows]
        weights = torch.ones_like(mask, dtype=torch.float32)  # SL: w = 1 on tokens someone else chose
        terms = policy_loss(self.policy, context, completion, mask, weights)
        grad_norm = self._step(terms.loss, self.config.max_grad_norm)
        return {
            "timesteps": int(mask.sum()),
            "loss": float(terms.loss.detach()),
            "entropy": float(terms.entropy),
            "grad_norm": grad_norm,
        }
