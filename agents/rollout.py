"""Episodes sampled from the policy through the vector env: the data REINFORCE learns from.

The policy proposes a token for every row, the env (``gym.make_vec``) appends it,
decides termination and pays the verifier's reward: the rollout never scores
completions itself. The prompt is encoded once and every further token costs
one cached forward step.

Exploration plugs in through a *logits hook*: ``hook(logits, step) -> logits``
transforms the (B, V) logits before sampling (temperature, epsilon mixing,
masks...). The behaviour log-probs recorded are those of the distribution the
tokens were actually drawn from, so a learner can compare them with the
policy's own and importance-correct.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from agents.policy import MASKED_LOGIT, Policy
from token_gym import TokenVectorEnv

LogitsHook = Callable[[Tensor, int], Tensor]
"""``hook(logits (B, V), step) -> logits (B, V)``: the behaviour distribution is softmax of the result."""


class Temperature:
    """Divide logits by ``temperature`` (> 1 flattens, < 1 sharpens)."""

    def __init__(self, temperature: float):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.temperature = temperature

    def __call__(self, logits: Tensor, step: int) -> Tensor:
        return logits / self.temperature


class EpsilonUniform:
    """With probability ``epsilon`` a token uniform over the allowed ones, else the policy's."""

    def __init__(self, epsilon: float):
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.epsilon = epsilon

    def __call__(self, logits: Tensor, step: int) -> Tensor:
        allowed = logits > MASKED_LOGIT / 2
        uniform = allowed / allowed.sum(dim=-1, keepdim=True)
        probs = (1 - self.epsilon) * F.softmax(logits, dim=-1) + self.epsilon * uniform
        return probs.clamp(min=1e-30).log().masked_fill(~allowed, MASKED_LOGIT)


@dataclass
class Rollout:
    """A batch of finished episodes, one row each, in the layout :mod:`agents.objective` scores."""

    context: Tensor  # (B, T0) prompt (left-padded) and separator
    completion: Tensor  # (B, C) sampled tokens, pad after the episode ended
    mask: Tensor  # (B, C) bool: tokens of the episode (EOS included)
    behaviour_log_probs: Tensor  # (B, C) log-prob under the distribution sampled from
    entropy: Tensor  # (B, C) entropy of that distribution
    rewards: Tensor  # (B, C) reward of each step (token_gym pays on the last one)
    success: Tensor  # (B,) bool: the verifier's verdict
    prompt_index: np.ndarray  # (B,) index into the task's prompts
    group: np.ndarray  # (B,) rows with the same group id share a prompt (k samples per prompt)
    env_seconds: float = 0.0  # time spent inside env.reset / env.step
    seconds: float = 0.0  # wall-clock time of the whole rollout

    @property
    def lengths(self) -> Tensor:
        return self.mask.sum(dim=1)

    @property
    def episode_return(self) -> Tensor:
        return self.rewards.sum(dim=1)

    @property
    def num_tokens(self) -> int:
        return int(self.mask.sum())

    @property
    def env_share(self) -> float:
        return self.env_seconds / self.seconds if self.seconds > 0 else 0.0


class RolloutSampler:
    """Collects :class:`Rollout` batches from a token_gym vector env.

    Each batch resets every row: with ``group_size`` k > 1 the env is told to
    start ``num_envs / k`` prompts k times each (prompts drawn with the env's own
    generator from its split), for group baselines (RLOO, GRPO); with k = 1 the
    env draws the prompts itself.
    """

    def __init__(
        self,
        env: TokenVectorEnv,
        group_size: int = 1,
        seed: int | None = None,
        logits_hook: LogitsHook | None = None,
    ):
        if not isinstance(env.unwrapped, TokenVectorEnv):
            raise TypeError(f"RolloutSampler needs a token_gym vector env (gym.make_vec), got {env!r}")
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
            raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
        if env.num_envs % group_size:
            raise ValueError(f"num_envs ({env.num_envs}) must be a multiple of group_size ({group_size})")
        self.env = env
        self.encoded_task = env.unwrapped.encoded_task
        self.group_size = group_size
        self.seed = seed
        self.logits_hook = logits_hook
        self._seeded = False

    def _reset(self, prompt_index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, float]:
        start = time.perf_counter()
        if not self._seeded:
            self.env.reset(seed=self.seed)
            self._seeded = True
        n, k = self.env.num_envs, self.group_size
        if prompt_index is None and k > 1:
            choices = self.encoded_task.task.split(self.env.unwrapped.split)
            prompt_index = np.repeat(self.env.np_random.choice(choices, size=n // k, replace=n // k > len(choices)), k)
        options = None if prompt_index is None else {"prompt_index": np.asarray(prompt_index, dtype=np.int64)}
        obs, infos = self.env.reset(options=options)
        return obs, infos["prompt_index"].copy(), time.perf_counter() - start

    @torch.no_grad()
    def sample(
        self,
        policy: Policy,
        generator: torch.Generator | None = None,
        prompt_index: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> Rollout:
        """Run one episode in every row of the env; ``prompt_index`` (num_envs,) chooses the prompts."""
        began = time.perf_counter()
        was_training = policy.training
        policy.eval()
        obs, prompts, env_seconds = self._reset(prompt_index)
        n, cap, pad = self.env.num_envs, self.encoded_task.max_completion_len, self.encoded_task.vocab.pad_id
        first = int((obs != pad).argmax(axis=1).min())  # drop columns that are padding in every row
        context = torch.from_numpy(obs[:, first:])
        completion = torch.full((n, cap), pad, dtype=torch.long)
        mask = torch.zeros(n, cap, dtype=torch.bool)
        behaviour = torch.zeros(n, cap)
        entropy = torch.zeros(n, cap)
        rewards = torch.zeros(n, cap)
        success = torch.zeros(n, dtype=torch.bool)
        done = torch.zeros(n, dtype=torch.bool)

        logits, cache = policy.start(context, cap)
        for t in range(cap):
            if self.logits_hook is not None:
                logits = self.logits_hook(logits, t)
            log_p = F.log_softmax(logits, dim=-1)  # (B, V) the behaviour distribution
            if deterministic:
                token = log_p.argmax(dim=-1)
            else:
                token = torch.multinomial(log_p.exp(), 1, generator=generator)[:, 0]
            live = ~done
            completion[:, t] = torch.where(live, token, pad)
            mask[:, t] = live
            behaviour[:, t] = log_p.gather(1, token[:, None])[:, 0] * live
            entropy[:, t] = -(log_p.exp() * log_p).sum(dim=-1) * live

            tick = time.perf_counter()
            _, reward, terminated, _, infos = self.env.step(token.numpy())
            env_seconds += time.perf_counter() - tick

            ended = torch.from_numpy(terminated) & live
            rewards[:, t] = torch.from_numpy(reward).float() * live
            if ended.any():
                success |= ended & torch.from_numpy(infos["is_success"])
            done |= ended
            if done.all():
                break
            logits, cache = policy.step(token, cache)
        policy.train(was_training)
        if prompt_index is None:
            group = np.arange(n) // self.group_size
        else:  # rows given the same prompt form a group
            group = np.unique(prompts, return_inverse=True)[1].reshape(-1)
        return Rollout(
            context=context,
            completion=completion,
            mask=mask,
            behaviour_log_probs=behaviour,
            entropy=entropy,
            rewards=rewards,
            success=success,
            prompt_index=prompts,
            group=group,
            env_seconds=env_seconds,
            seconds=time.perf_counter() - began,
        )


def returns(rewards: Tensor, mask: Tensor, gamma: float = 1.0) -> Tensor:
    """(B, C) returns G_t = Σ_{t' ≥ t} γ^{t'−t} r_{t'} of each episode, 0 after it ended."""
    if gamma == 1.0:
        G = rewards.flip(1).cumsum(1).flip(1)
    else:
        G = torch.zeros_like(rewards)
        running = torch.zeros(rewards.shape[0])
        for t in reversed(range(rewards.shape[1])):
            running = rewards[:, t] + gamma * running
            G[:, t] = running
    return G * mask
