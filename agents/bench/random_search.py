"""The random-search line of the scaling plot: env steps a uniform policy needs to find the answer once.

The policy samples uniformly among the task's useful tokens (the action mask: its alphabet and
EOS, U = A + 1 tokens). An episode succeeds with probability p, episodes are independent, so the
number of episodes to the first success is geometric with mean 1 / p, and by Wald's identity the
env steps to it have mean E[episode length] / p.

* SecretString of length L (cap L + 1): the L letters, then EOS — p = U^-(L+1); an episode ends
  at EOS or the cap, E[length] = Σ_{t<cap} (1 − 1/U)^t.
* CombinationLock of length L: every token right, EOS being wrong — p = U^-L; an episode ends at
  the first wrong token, E[length] = Σ_{t<L} U^-t.

Where the completion tree is small, p and E[length] are computed exactly instead, by enumerating
every completion of the uniform policy through the env (:mod:`agents.exact`), which holds for any
task and reward mode; else the closed forms above (those two tasks only). Per prompt, averaged
over the test prompts. bsuite's deep_sea plots 2^N the same way; |A|^L is the shorthand.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.exact import enumerate_completions
from agents.policy import MASKED_LOGIT

EXACT_MAX_LEAVES = 100_000  # U^cap below this: enumerate


@dataclass
class RandomSearch:
    success_probability: float  # p per episode
    mean_length: float  # env steps per episode
    method: str  # "exact" or "closed form"

    @property
    def expected_steps(self) -> float:
        return self.mean_length / self.success_probability if self.success_probability > 0 else float("inf")


def random_search(env_id: str, env_kwargs: dict[str, Any]) -> RandomSearch | None:
    """The uniform policy's success probability and episode length on the test split (None if unknown)."""
    return _cached(env_id, json.dumps(env_kwargs, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _cached(env_id: str, kwargs_json: str) -> RandomSearch | None:
    import gymnasium as gym

    kwargs = json.loads(kwargs_json)
    env = gym.make_vec(env_id, num_envs=1, split="test", **kwargs)
    task = env.unwrapped.encoded_task
    useful = int(task.action_mask.sum())
    cap = int(task.max_completion_len)
    if useful**cap <= EXACT_MAX_LEAVES:
        return exact(env_id, kwargs)
    name = task.task.name
    lengths = np.array([len(a) for a in task.task.answers])
    if name == "secret_string" and (cap == lengths + 1).all():
        L = float(lengths.mean())
        return RandomSearch(useful ** -(L + 1), sum((1 - 1 / useful) ** t for t in range(cap)), "closed form")
    if name == "combination_lock":
        L = int(lengths.max())
        return RandomSearch(useful**-L, sum(useful**-t for t in range(L)), "closed form")
    return None


def exact(env_id: str, env_kwargs: dict[str, Any]) -> RandomSearch:
    """p and E[length] of the uniform policy over the action mask, by enumerating its completions."""
    import gymnasium as gym

    env = gym.make_vec(env_id, num_envs=1024, split="test", autoreset_mode="SameStep", **env_kwargs)
    mask = torch.from_numpy(env.unwrapped.encoded_task.action_mask.copy())
    dist = enumerate_completions(UniformPolicy(mask), env).distribution()
    p = dist.success_probability()  # (P,)
    length = dist.per_prompt(dist.probability * dist.length)  # (P,) E[episode length] per prompt
    return RandomSearch(float(p.mean()), float(length.mean()), "exact")


class UniformPolicy(nn.Module):
    """Equal logits on the allowed tokens, the masked logit elsewhere, whatever the prefix."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("logits", torch.where(mask, 0.0, MASKED_LOGIT))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(tokens.shape[0], tokens.shape[1], -1)  # (B, T, V)
