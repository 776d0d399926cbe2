"""Episodes sampled from the policy through the vector env: the data REINFORCE learns from.

The policy proposes a token for every row, the env (``gym.make_vec``) appends it,
decides termination and pays the verifier's reward: the rollout never scores
completions itself. The prompt is encoded once and every further token costs
one cached forward step.

Exploration plugs in through a *logits hook*: ``hook(logits, step) -> logits``
transforms the (B, V) logits before sampling (:mod:`agents.exploration`). The
behaviour log-probs recorded are those of the distribution the tokens were
actually drawn from, so a learner can compare them with the policy's own and
importance-correct.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from agents.policy import Policy
from token_gym import TokenVectorEnv
from token_gym.checks import positive_int

LogitsHook = Callable[[Tensor, int], Tensor]
"""``hook(logits (B, V), step) -> logits (B, V)``: the behaviour distribution is softmax of the result."""
Restart = Callable[[np.ndarray, int], "dict[str, Any] | None"]
"""``restart(prompt_index (B,), group_size) -> reset options | None``: rows to start elsewhere (a prefix, another
prompt) than where the env's draws put them (:meth:`agents.exploration.Strategy.starts`)."""


def sample_tokens(
    logits: Tensor, generator: torch.Generator | None = None, deterministic: bool = False
) -> tuple[Tensor, Tensor]:
    """One token per row from softmax(``logits``) (the most likely one if ``deterministic``), and the
    (B, V) log-probs it was drawn from. Every sampler of ours draws here."""
    log_p = F.log_softmax(logits, dim=-1)  # (B, V)
    if deterministic:
        return log_p.argmax(dim=-1), log_p
    return torch.multinomial(log_p.exp(), 1, generator=generator)[:, 0], log_p


@dataclass
class Rollout:
    """A batch of finished episodes, one row each, in the layout :mod:`agents.objective` scores.

    Rows ``g*k ... g*k + k - 1`` are the k samples of group g (one prompt), as the sampler started them.
    """

    context: Tensor  # (B, T0) prompt (left-padded), separator, and any prefix the episode started from
    completion: Tensor  # (B, C) sampled tokens, pad after the episode ended
    mask: Tensor  # (B, C) bool: tokens of the episode (EOS included)
    behaviour_log_probs: Tensor  # (B, C) log-prob under the distribution sampled from
    entropy: Tensor  # (B, C) entropy of that distribution
    episode_return: Tensor  # (B,) the verifier's reward, paid at the episode's last step
    success: Tensor  # (B,) bool: the verifier's verdict
    prompt_index: np.ndarray  # (B,) index into the task's prompts
    group_size: int = 1  # k samples per prompt, in consecutive rows
    env_seconds: float = 0.0  # time spent inside env.reset / env.step
    seconds: float = 0.0  # wall-clock time of the whole rollout

    @property
    def lengths(self) -> Tensor:
        return self.mask.sum(dim=1)

    @property
    def rewards(self) -> Tensor:
        """(B, C) reward of each step: token_gym pays the return on the last one, 0.0 before."""
        return self.per_step(self.episode_return)

    def per_step(self, episode_rewards: Tensor) -> Tensor:
        """(B, C) rewards with ``episode_rewards`` (B,) paid at each episode's last token."""
        rewards = torch.zeros(self.mask.shape)
        rows = torch.arange(len(rewards))
        rewards[rows, (self.lengths - 1).clamp(min=0)] = episode_rewards.float()
        return rewards * self.mask

    @property
    def num_tokens(self) -> int:
        return int(self.mask.sum())

    @property
    def env_share(self) -> float:
        return self.env_seconds / self.seconds if self.seconds > 0 else 0.0


class RolloutSampler:
    """Collects :class:`Rollout` batches from a token_gym vector env.

    Each batch resets every row, with ``group_size`` k consecutive rows per prompt (the env draws
    the prompts from its split with its own seeded draws: the ``group_size`` reset option), and
    runs one episode per row. With ``autoreset_mode="Disabled"`` (what :func:`agents.envs.make_vec`
    builds) rows that finished cost nothing until the last one ends; any other mode works too, the
    restarted rows' tokens are simply not recorded.
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
        group_size = positive_int("group_size", group_size)
        if env.num_envs % group_size:
            raise ValueError(f"num_envs ({env.num_envs}) must be a multiple of group_size ({group_size})")
        self.env = env
        self.encoded_task = env.unwrapped.encoded_task
        self.group_size = group_size
        self.seed = seed
        self.logits_hook = logits_hook
        self._seeded = False

    def _reset(self, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        seed = None if self._seeded else self.seed  # seeded once, then each reset draws the next prompts
        self._seeded = True
        obs, infos = self.env.reset(seed=seed, options=options)
        return obs, infos["prompt_index"].copy()

    @torch.no_grad()
    def sample(
        self,
        policy: Policy,
        generator: torch.Generator | None = None,
        prompt_index: np.ndarray | None = None,
        deterministic: bool = False,
        restart: Restart | None = None,
    ) -> Rollout:
        """Run one episode in every row of the env; ``prompt_index`` (num_envs,) chooses the prompts, and
        ``restart`` may start some rows elsewhere (a second reset of those rows)."""
        began = time.perf_counter()
        was_training = policy.training
        policy.eval()
        if prompt_index is None:
            options = {"group_size": self.group_size}
        else:
            options = {"prompt_index": np.asarray(prompt_index, dtype=np.int64)}
        obs, prompts = self._reset(options)
        again = None if restart is None else restart(prompts, self.group_size if prompt_index is None else 1)
        if again is not None:
            obs, infos = self.env.reset(options=again)
            moved = again.get("reset_mask", np.ones(len(prompts), dtype=bool))
            prompts = np.where(moved, infos["prompt_index"], prompts)
        env_seconds = time.perf_counter() - began
        n, cap, pad = self.env.num_envs, self.encoded_task.max_completion_len, self.encoded_task.vocab.pad_id
        first = int((obs != pad).argmax(axis=1).min())  # drop columns that are padding in every row
        context = torch.tensor(obs[:, first:])  # a copy: the env may reuse its observation array
        # What the env does not hold: the tokens in the (B, C) layout the loss scores, and the
        # distribution each was drawn from. Which rows ended, what they earned and whether they
        # succeeded come from the env's step results.
        completion = torch.full((n, cap), pad, dtype=torch.long)
        behaviour = torch.zeros(n, cap)
        entropy = torch.zeros(n, cap)
        length = torch.full((n,), cap, dtype=torch.long)
        episode_return = torch.zeros(n, dtype=torch.float64)
        success = torch.zeros(n, dtype=torch.bool)
        done = torch.zeros(n, dtype=torch.bool)

        logits, cache = policy.start(context, cap)
        for t in range(cap):
            if self.logits_hook is not None:
                logits = self.logits_hook(logits, t)
            token, log_p = sample_tokens(logits, generator, deterministic)  # (B,), (B, V)
            completion[:, t] = token
            behaviour[:, t] = log_p.gather(1, token[:, None])[:, 0]
            entropy[:, t] = -(log_p.exp() * log_p).sum(dim=-1)

            tick = time.perf_counter()
            _, reward, terminated, _, infos = self.env.step(token.numpy())
            env_seconds += time.perf_counter() - tick

            ended = torch.from_numpy(terminated) & ~done
            if ended.any():
                verdicts = infos.get("final_info", infos)  # SameStep keeps them beside the reset
                length[ended] = t + 1
                episode_return[ended] = torch.from_numpy(reward)[ended]
                success[ended] = torch.from_numpy(verdicts["is_success"])[ended]
                done |= ended
                if done.all():
                    break
            logits, cache = policy.step(token, cache)
        policy.train(was_training)
        mask = torch.arange(cap) < length[:, None]  # (B, C)
        completion.masked_fill_(~mask, pad)
        return Rollout(
            context=context,
            completion=completion,
            mask=mask,
            behaviour_log_probs=behaviour * mask,
            entropy=entropy * mask,
            episode_return=episode_return,
            success=success,
            prompt_index=prompts,
            group_size=self.group_size if prompt_index is None else 1,
            env_seconds=env_seconds,
            seconds=time.perf_counter() - began,
        )
