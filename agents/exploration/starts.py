"""Where episodes start: restarts from archived prefixes (Go-Explore) and a length curriculum.

Both change the start-state distribution of the training data, not the policy's sampling
distribution: a restarted episode is still sampled from π, from a later state (its context
holds the start prefix, and its completion is what π sampled after it), so its REINFORCE
gradient is unbiased *for that state*. What they change is which states the batch visits.
Evaluation always starts from the real prompts of the real task (it asks no strategy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from agents.envs import make_vec
from agents.exploration.base import Strategy, pack_prefixes, unpack_prefixes
from agents.exploration.episodes import Episodes, episodes
from token_gym.checks import choice, number, positive_int
from token_gym.tasks import TASKS

if TYPE_CHECKING:
    from agents.reinforce import ReinforceAgent
    from agents.rollout import Rollout
    from token_gym import EncodedTask, TokenVectorEnv


@dataclass
class Cell:
    """An archived prefix of one prompt: how many finished episodes passed through it, and the best
    reward one of them earned."""

    visits: int
    best: float


class GoExplore(Strategy):
    """Go-Explore restarts: return to an archived prefix without exploring, then explore from it.

    The archive holds cells = (prompt, prefix): every proper prefix (1 to length − 1 tokens) of the
    episodes finished so far, each with its ``visits`` (finished episodes that passed through it:
    its prefix is a proper prefix of theirs, restarted ones included, so choosing a cell visits it)
    and ``best`` (the highest verifier reward, ``episode_return``, of those episodes). A proper
    prefix of an episode is always a start the env accepts: it holds no EOS (EOS ends an
    episode), is shorter than the prompt's stop length, and for CombinationLock is on the
    combination (a wrong token ends the episode); :meth:`update` checks each with
    ``encoded_task.check_prefixes``, the env's own rule.

    In :meth:`starts`, ``fraction`` of the batch's groups, rounded stochastically (⌊fraction · G + u⌋,
    u uniform: the expected share is exact), restart together (all k rows of a group from one cell,
    so a group baseline compares k samples of one state), each group from a cell of the prompt the
    env drew for it (the prompt distribution is unchanged; a prompt without cells starts normally):

    * ``select="score"``: among the prompt's cells of highest ``best``, weights ∝ 1/√(visits + 1);
    * ``select="novel"``: over all the prompt's cells, weights ∝ 1/√(visits + 1).

    The archive keeps at most ``max_cells`` cells: beyond, those of lowest ``best`` go first, most
    visited first among equals (a dropped cell seen again comes back with its new count).
    ``update`` logs ``go_explore_cells``, ``go_explore_restarted`` (share of the batch's rows that
    restarted) and ``go_explore_best`` (highest ``best`` in the archive).

    Changes the start states, not the sampling distribution. Source: Ecoffet et al. 2021, "First
    return, then explore" (arXiv 2004.12919), with cells = prefixes (no domain knowledge needed:
    the MDP is deterministic and the state is the prefix).
    """

    name = "go_explore"

    def __init__(self, fraction: float = 0.25, select: str = "score", max_cells: int = 10_000):
        self.fraction = number("go_explore fraction", fraction, 0.0, 1.0)
        self.select = choice("go_explore select", select, ("score", "novel"))
        self.max_cells = positive_int("go_explore max_cells", max_cells)
        self._archive: dict[int, dict[tuple[int, ...], Cell]] = {}  # prompt -> prefix -> cell
        self._agent: ReinforceAgent | None = None
        self._started: dict[str, Any] | None = None  # what starts() returned for the batch being sampled

    @classmethod
    def at_zero(cls) -> GoExplore:
        return cls(fraction=0.0)

    @property
    def num_cells(self) -> int:
        return sum(len(cells) for cells in self._archive.values())

    def cells(self, prompt_index: int) -> dict[tuple[int, ...], Cell]:
        """The archived prefixes of one prompt."""
        return self._archive.get(int(prompt_index), {})

    def bind(self, agent: ReinforceAgent) -> None:
        self._agent = agent

    def _bound(self) -> ReinforceAgent:
        if self._agent is None:
            raise RuntimeError("the go_explore strategy reads the agent's task and generator: call bind(agent) first")
        return self._agent

    # -- where the batch starts ---------------------------------------------

    def _choose(self, prompt: int, rng: np.random.Generator) -> tuple[int, ...]:
        cells = self._archive[prompt]
        prefixes = list(cells)
        visits = np.array([cells[p].visits for p in prefixes], dtype=np.float64)
        weights = (visits + 1) ** -0.5  # (cells,)
        if self.select == "score":
            best = np.array([cells[p].best for p in prefixes])
            weights = np.where(best >= best.max(), weights, 0.0)
        return prefixes[rng.choice(len(prefixes), p=weights / weights.sum())]

    def starts(self, prompt_index: np.ndarray, group_size: int) -> dict[str, Any] | None:
        self._started = None
        if self.fraction == 0 or not self._archive:
            return None
        rng = self._bound().rng
        n = len(prompt_index)
        group_prompts = np.asarray(prompt_index[::group_size], dtype=np.int64)  # (G,)
        eligible = np.flatnonzero([int(p) in self._archive for p in group_prompts])
        wanted = int(np.floor(self.fraction * len(group_prompts) + rng.random()))
        chosen = rng.permutation(eligible)[: min(wanted, len(eligible))]
        if len(chosen) == 0:
            return None
        reset_mask = np.zeros(n, dtype=bool)
        prefix: list[list[int]] = [[] for _ in range(n)]
        for g in sorted(chosen.tolist()):
            cell = self._choose(int(group_prompts[g]), rng)
            rows = slice(g * group_size, (g + 1) * group_size)  # the group's k rows, all from the cell
            reset_mask[rows] = True
            prefix[rows] = [list(cell)] * group_size
        prompts = np.asarray(prompt_index, dtype=np.int64)
        self._started = {"reset_mask": reset_mask.copy(), "prompt_index": prompts.copy(), "prefix": prefix}
        return {"reset_mask": reset_mask, "prompt_index": prompts.copy(), "prefix": [list(p) for p in prefix]}

    # -- what the batch found -----------------------------------------------

    def _check_started(self, found: Episodes) -> np.ndarray:
        """(B,) rows that restarted, after checking that the rollout started where :meth:`starts` said."""
        started, self._started = self._started, None
        restarted = np.zeros(len(found.length), dtype=bool) if started is None else started["reset_mask"]
        if len(restarted) != len(found.length):
            raise RuntimeError(
                f"go_explore chose starts for {len(restarted)} rows; the rollout has {len(found.length)}"
            )
        for row in range(len(found.length)):
            wanted = tuple(started["prefix"][row]) if restarted[row] else ()
            prompt_ok = not restarted[row] or found.prompt_index[row] == started["prompt_index"][row]
            if found.start_prefix(row) != wanted or not prompt_ok:
                raise RuntimeError(
                    f"row {row} of the rollout started from prompt {found.prompt_index[row]}, prefix "
                    f"{list(found.start_prefix(row))}, not where go_explore's starts() put it (prefix {list(wanted)}): "
                    "the sampler must reset with the options starts() returns"
                )
        return restarted

    def update(self, rollout: Rollout, scalars: dict[str, float]) -> dict[str, float]:
        if self.fraction == 0:
            return {}
        encoded_task = self._bound().encoded_task
        found = episodes(rollout, encoded_task.vocab.sep_id, encoded_task.vocab.pad_id)
        restarted = self._check_started(found)
        _check_starts(encoded_task, found)
        rewards = rollout.episode_return.tolist()
        for row in range(len(found.length)):
            cells = self._archive.setdefault(int(found.prompt_index[row]), {})
            tokens = found.tokens[row].tolist()
            for t in range(1, int(found.length[row])):
                cell = cells.get(prefix := tuple(tokens[:t]))
                if cell is None:
                    cells[prefix] = Cell(1, rewards[row])
                else:
                    cell.visits += 1
                    cell.best = max(cell.best, rewards[row])
        self._evict()
        best = max((c.best for cells in self._archive.values() for c in cells.values()), default=float("nan"))
        return {
            "go_explore_cells": float(self.num_cells),
            "go_explore_restarted": float(restarted.mean()),
            "go_explore_best": float(best),
        }

    def state(self) -> dict[str, Tensor]:
        """The archive, in its order (which :meth:`_choose` draws over)."""
        cells = [
            (prompt, prefix, cell) for prompt, by_prefix in self._archive.items() for prefix, cell in by_prefix.items()
        ]
        if not cells:
            return {}
        return {
            **pack_prefixes([(prompt, prefix) for prompt, prefix, _ in cells]),
            "visits": torch.tensor([cell.visits for _, _, cell in cells], dtype=torch.int64),
            "best": torch.tensor([cell.best for _, _, cell in cells], dtype=torch.float64),
        }

    def load_state(self, state: dict[str, Tensor]) -> None:
        keys = unpack_prefixes(state, self.name)
        visits, best = state.get("visits"), state.get("best")
        if visits is None or best is None or visits.shape != (len(keys),) or best.shape != (len(keys),):
            raise ValueError(f"go_explore state needs visits and best for each of its {len(keys)} cells")
        self._archive = {}
        for (prompt, prefix), n, b in zip(keys, visits.tolist(), best.tolist(), strict=True):
            self._archive.setdefault(prompt, {})[tuple(int(t) for t in prefix)] = Cell(visits=int(n), best=float(b))

    def _evict(self) -> None:
        if self.num_cells <= self.max_cells:
            return
        ranked = sorted(
            (
                (cell.best, -cell.visits, prompt, prefix)
                for prompt, cells in self._archive.items()
                for prefix, cell in cells.items()
            ),
            reverse=True,
        )
        for _, _, prompt, prefix in ranked[self.max_cells :]:
            del self._archive[prompt][prefix]
        self._archive = {prompt: cells for prompt, cells in self._archive.items() if cells}


def _check_starts(encoded_task: EncodedTask, found: Episodes) -> None:
    """Every proper prefix of every episode is a start the env accepts (raises the env's error if not)."""
    for t in range(1, int(found.length.max(initial=0))):
        rows = found.length > t
        try:
            encoded_task.check_prefixes(found.tokens[rows, :t], found.prompt_index[rows])
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"go_explore: a prefix of {t} tokens of an episode is not a valid start: {error}"
            ) from None


class LengthCurriculum(Strategy):
    """Length curriculum: train on the task at length ``start``, one longer each time a batch succeeds.

    The task is the agent's own (``env_id``, ``env_kwargs``) with its ``length`` kwarg replaced; after
    a batch whose success rate is at least ``threshold`` the length rises by one, up to the agent's
    own length (the full task, trained on with the agent's own env). Each length's vector env is
    built once, with ``agents.envs.make_vec`` and the agent's number of rows, its prompt draws
    seeded from the agent's generator; it must have the agent's vocabulary and action mask, and
    observations the policy can read (narrower ones are: positions count from the first content
    token). SecretString and CombinationLock secrets are nested, the secret of length l being the
    first l tokens of the longer one, so what was learned at l is the start of length l + 1. But on
    SecretString the shorter task also rewards stopping (EOS after l tokens), which fails at l + 1:
    each raise starts from a policy sure of a wrong last step, and a high learning rate can collapse
    there. CombinationLock ends at the combination's length by itself: it has no stop to unlearn.
    ``update`` logs ``curriculum_length``: the length the batch was sampled at.

    ``start=None`` starts at the full length (off). Changes the training task, not the sampling
    distribution. Source: curriculum learning (Bengio et al. 2009); task-length curricula for
    algorithmic tasks (Zaremba & Sutskever 2014, "Learning to execute").
    """

    name = "curriculum"

    def __init__(self, start: int | None = 1, threshold: float = 0.5):
        self.start = None if start is None else positive_int("curriculum start", start)
        self.threshold = number("curriculum threshold", threshold, 0.0, 1.0)
        self._agent: ReinforceAgent | None = None
        self._full: int | None = None  # the agent's own length
        self._length: int | None = None  # the length of the next batch
        self._envs: dict[int, TokenVectorEnv] = {}

    @classmethod
    def at_zero(cls) -> LengthCurriculum:
        return cls(start=None)

    @property
    def length(self) -> int | None:
        """The task length the next batch is sampled at (None before :meth:`bind`)."""
        return self._length

    def bind(self, agent: ReinforceAgent) -> None:
        task = agent.encoded_task.task.name
        defaults = TASKS[task].kwargs() if task in TASKS else {}
        if "length" not in defaults:
            raise ValueError(
                f"the curriculum strategy varies the task's 'length' kwarg; {agent.env_id} (task {task!r}) "
                f"has none (its kwargs: {sorted(defaults)})"
            )
        if agent.env_id is None:
            raise ValueError("the curriculum strategy builds envs from the agent's env id; this env has none")
        full = positive_int("length", agent.env_kwargs.get("length", defaults["length"]))
        if self.start is not None and self.start > full:
            raise ValueError(f"curriculum start={self.start} is longer than the task's length={full}")
        self._agent, self._full = agent, full
        self._length = full if self.start is None else self.start

    def environment(self, env: TokenVectorEnv) -> TokenVectorEnv:
        if self.start is None:
            return env
        if self._agent is None:
            raise RuntimeError("the curriculum strategy reads the agent's task: call bind(agent) first")
        if self._length == self._full:
            return env
        if self._length not in self._envs:
            self._envs[self._length] = self._build(
                self._length, env.num_envs, seed=int(self._agent.rng.integers(2**31))
            )
        return self._envs[self._length]

    def _build(self, length: int, num_envs: int, seed: int) -> TokenVectorEnv:
        agent = self._agent
        env = make_vec(agent.env_id, {**agent.env_kwargs, "length": length}, num_envs)
        encoded_task, full = env.unwrapped.encoded_task, agent.encoded_task
        if encoded_task.vocab.token_text != full.vocab.token_text:
            raise ValueError(f"the task at length {length} has another vocabulary than at length {self._full}")
        if not np.array_equal(encoded_task.action_mask, full.action_mask):
            raise ValueError(f"the task at length {length} allows other tokens than at length {self._full}")
        max_len = agent.policy.config.max_len
        if encoded_task.observation_width > max_len:
            raise ValueError(
                f"observations at length {length} ({encoded_task.observation_width} tokens) exceed the policy's max_len={max_len}"
            )
        env.reset(seed=seed)  # the prompt draws, seeded from the agent's generator
        return env

    def update(self, rollout: Rollout, scalars: dict[str, float]) -> dict[str, float]:
        if self._length is None or self.start is None:
            return {}
        used = self._length
        if used < self._full and float(rollout.success.float().mean()) >= self.threshold:
            self._length = used + 1
        return {"curriculum_length": float(used)}

    def state(self) -> dict[str, Tensor]:
        """The length of the next batch, and where each shorter length's env stands in its prompt draws."""
        if self._length is None or self.start is None:
            return {}
        state = {"length": torch.tensor(self._length, dtype=torch.int64)}
        for length, env in self._envs.items():
            state |= {f"length{length}.{k}": v for k, v in self._agent._env_draws(self._agent._sampler(env)).items()}
        return state

    def load_state(self, state: dict[str, Tensor]) -> None:
        if self._length is None or self.start is None:
            super().load_state(state)
            return
        length = state.get("length")
        if length is None or length.numel() != 1:
            raise ValueError(f"curriculum state needs the length of the next batch, got {sorted(state)}")
        self._length = positive_int("curriculum length (saved)", int(length))
        if not self.start <= self._length <= self._full:
            raise ValueError(f"curriculum length (saved) {self._length} is outside [{self.start}, {self._full}]")
        agent, self._envs = self._agent, {}
        for key in sorted(k for k in state if k.endswith(".env_random")):
            prefix = key[: -len("env_random")]
            built = positive_int("curriculum length (saved env)", int(prefix[len("length") : -1]))
            draws = {"env_random": state[key], "env_counter": state[f"{prefix}env_counter"]}
            env = self._envs[built] = self._build(built, agent.config.n_envs, seed=0)  # its draws, put back:
            agent._restore_env_draws(draws, agent._sampler(env))
