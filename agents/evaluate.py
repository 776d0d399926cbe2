"""How well an agent completes a split's prompts: success, reward, pass@k, diversity.

Every episode goes through the env (``gym.make_vec`` on the chosen split), so
the verifier decides, as in training. Our agents take the fast path (the
rollout sampler: one cached forward step per token); anything else with
stable-baselines3's ``predict(obs, deterministic=...)`` is driven through the
env's observations, so SB3 models and ours are measured alike.
"""

from __future__ import annotations

import inspect
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.base import Agent
from agents.envs import encoded_task_of, env_source, make_vec
from agents.rollout import RolloutSampler
from token_gym import TokenVectorEnv, checks


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c succeed (Chen et al., 2021): 1 − C(n−c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per prompt, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _eval_env(env: object, split: str, num_envs: int, env_kwargs: dict[str, Any] | None) -> TokenVectorEnv:
    env_id, kwargs = env_source(env, env_kwargs)
    if env_id is None:  # a hand-made vector env: use it, prompts are chosen explicitly anyway
        if env.num_envs != num_envs:
            raise ValueError(f"this vector env has no spec to rebuild from; it needs num_envs={num_envs}")
        return env
    return make_vec(env_id, kwargs, num_envs, split, completion_text=True)  # distinct completions of SB3 models


def _run_predict(model: Any, env: TokenVectorEnv, prompts: np.ndarray, deterministic: bool, seed: int) -> dict:
    """Episodes of ``model.predict`` on rows started at ``prompts``, read from the env's observations."""
    obs, _ = env.reset(seed=seed, options={"prompt_index": prompts})
    n = env.num_envs
    done = np.zeros(n, dtype=bool)
    rewards, success = np.zeros(n), np.zeros(n, dtype=bool)
    completions = np.full(n, "", dtype=object)
    # sb3-contrib's MaskablePPO samples unmasked unless told the masks: score the policy as trained
    wants_masks = "action_masks" in inspect.signature(model.predict).parameters
    for _ in range(env.unwrapped.encoded_task.max_completion_len):
        masks = {"action_masks": env.action_masks()} if wants_masks else {}
        actions, _ = model.predict(obs, deterministic=deterministic, **masks)
        obs, reward, terminated, _, infos = env.step(np.asarray(actions, dtype=np.int64).reshape(n))
        ended = terminated & ~done
        if not ended.any():
            continue
        rewards[ended] = reward[ended]
        success[ended] = infos["is_success"][ended]
        completions[ended] = infos["completion"][ended]
        done |= ended
        if done.all():
            break
    return {"reward": rewards, "success": success, "completion": list(completions), "entropy": None}


def _run_ours(agent: Agent, env: TokenVectorEnv, prompts: np.ndarray, deterministic: bool, seed: int) -> dict:
    sampler = RolloutSampler(env, seed=seed)
    rollout = sampler.sample(agent.policy, torch.Generator().manual_seed(seed), prompts, deterministic)
    completions = [tuple(row[m].tolist()) for row, m in zip(rollout.completion, rollout.mask, strict=True)]
    entropy = (rollout.entropy.sum(), rollout.mask.sum())
    return {
        "reward": rollout.episode_return.double().numpy(),
        "success": rollout.success.numpy(),
        "completion": completions,
        "entropy": entropy,
    }


def evaluate(
    agent: Any,
    env: object,
    split: str = "test",
    n_episodes: int | None = None,
    samples_per_prompt: int = 1,
    deterministic: bool = False,
    seed: int = 0,
    num_envs: int = 1024,
    env_kwargs: dict[str, Any] | None = None,
    wrapper: Callable[[TokenVectorEnv], Any] | None = None,
) -> dict[str, float]:
    """Success rate, mean reward, pass@k, distinct completions (and mean token entropy, ours only).

    Args:
        agent: one of our agents, or anything with ``predict(obs, deterministic=...)`` (an SB3 model).
        env: the task: an id string (with ``env_kwargs``), a ``gym.make`` or ``gym.make_vec`` env;
            its ``split`` prompts are evaluated.
        n_episodes: episodes in all; each prompt gets ``samples_per_prompt`` of them, so
            ``n_episodes // samples_per_prompt`` prompts (a seeded choice). Default: every prompt of the split.
        samples_per_prompt: n, for pass@k (k = 1 and n) and distinct completions per prompt.
        deterministic: greedy decoding (then n = 1).
        wrapper: the vector-env wrapper a model other than ours was trained through, applied to the env
            evaluate builds (``token_gym.OneHotVectorObservation`` for a model trained on
            ``OneHotObservation``), so that it sees what it saw in training.
    Returns:
        ``success_rate``, ``mean_reward``, ``pass@1``, ``pass@n``, ``distinct_completions`` (mean number of
        different completions per prompt), ``distinct_fraction`` (that over n), ``mean_token_entropy``
        (NaN for models other than ours), ``n_episodes``, ``n_prompts``.
    """
    samples_per_prompt = checks.positive_int("samples_per_prompt", samples_per_prompt)
    if deterministic and samples_per_prompt > 1:
        raise ValueError("deterministic evaluation gives one completion per prompt: use samples_per_prompt=1")
    if not callable(getattr(agent, "predict", None)):
        raise TypeError(f"agent must have a predict(obs, deterministic=...) method, got {type(agent).__name__}")
    n = samples_per_prompt
    encoded_task = encoded_task_of(_eval_env(env, split, 1, env_kwargs) if isinstance(env, str) else env)
    choices = encoded_task.task.split(split)
    if n_episodes is None:
        prompts = choices
    else:
        if checks.integer("n_episodes", n_episodes) < n:
            raise ValueError(f"n_episodes must be at least samples_per_prompt ({n}), got {n_episodes!r}")
        prompts = np.random.default_rng(seed).permutation(choices)[: n_episodes // n]
    episodes = np.repeat(prompts, n)  # (E,) each prompt n times in a row
    batch = min(num_envs, len(episodes))
    vec = _eval_env(env, split, batch, env_kwargs)
    ours = isinstance(agent, Agent)
    if wrapper is not None:
        if ours:
            raise ValueError("wrapper is for models trained through a wrapper; our agents read token ids")
        vec = wrapper(vec)
    results: dict[str, list] = defaultdict(list)
    entropy_sum, entropy_tokens = 0.0, 0
    for start in range(0, len(episodes), batch):
        chunk = episodes[start : start + batch]
        rows = np.resize(chunk, batch)  # the last batch is topped up, extras dropped below
        run = _run_ours if ours else _run_predict
        out = run(agent, vec, rows, deterministic, seed + start)
        for key in ("reward", "success", "completion"):
            results[key].extend(list(out[key])[: len(chunk)])
        if out["entropy"] is not None:
            entropy_sum += float(out["entropy"][0])
            entropy_tokens += int(out["entropy"][1])
    success = np.array(results["success"], dtype=bool).reshape(-1, n)  # (prompts, n)
    completions = results["completion"]
    distinct = np.array([len(set(completions[i : i + n])) for i in range(0, len(completions), n)])
    c = success.sum(axis=1)
    metrics = {
        "success_rate": float(success.mean()),
        "mean_reward": float(np.mean(results["reward"])),
        "pass@1": float(np.mean([pass_at_k(n, int(ci), 1) for ci in c])),
        f"pass@{n}": float(np.mean([pass_at_k(n, int(ci), n) for ci in c])),
        "distinct_completions": float(distinct.mean()),
        "distinct_fraction": float(distinct.mean() / n),
        "mean_token_entropy": entropy_sum / entropy_tokens if entropy_tokens else float("nan"),
        "n_episodes": int(success.size),
        "n_prompts": len(success),
    }
    return metrics
