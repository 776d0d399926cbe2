"""TokenVectorEnv: N episodes of token generation held in numpy arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from token_gym import draws
from token_gym.checks import positive_int
from token_gym.encoded import EncodedTask
from token_gym.env import TaskView, check_render_mode
from token_gym.render import episode_ink, episode_text, task_frame


class TokenVectorEnv(TaskView, VectorEnv):
    """The :class:`~token_gym.env.TokenEnv` MDP for ``num_envs`` episodes at once.

    It is what ``gym.make_vec(id, num_envs=N)`` returns. Row ``i`` behaves
    exactly as a ``TokenEnv`` reset with ``seed + i`` and given the same
    actions would, infos included, in the layout ``SyncVectorEnv`` gives
    (each key with its ``_key`` mask); only the loops are gone: appending,
    termination, verification and prompt draws are array operations, and
    completions are decoded to text only for rows that finished.

    ## Arguments
    ``num_envs``; ``autoreset_mode``: "NextStep" (gymnasium's default: the
    step after a terminal step resets that row and ignores its action),
    "SameStep" (the row resets at once; the finished episode's observation
    and info are in ``infos["final_obs"]`` and ``infos["final_info"]``) or
    "Disabled" (a row that ended stays as it ended until ``reset`` names it in
    ``reset_mask``: its actions are ignored, its observation does not change,
    and it reports reward 0.0 and ``terminated=False`` — the episode was
    reported once, when it ended. One episode per row, nothing restarted or
    scored twice: what a rollout wants, and what TorchRL prefers);
    ``copy``: True (default) returns observations the caller owns; False
    returns the same array every time, overwritten by the next ``step`` or
    ``reset`` (as ``SyncVectorEnv(copy=False)``), which saves a 8·N·L-byte
    allocation per step; ``completion_text``: False leaves
    ``infos["completion"]`` out (training loops do not read it; decoding it is
    a third of a step); everything else as :class:`~token_gym.env.TokenEnv`.

    ## Reset options
    ``prompt_index``: an int or one per row; ``group_size``: k, to start the
    reset rows in groups of k consecutive rows that share one prompt (for group
    baselines: GRPO, RLOO), each group's prompt drawn from the counter of its
    first row; ``prefix``: one list of token ids for every row, or a list of
    ``num_envs`` lists; ``reset_mask``: a bool array, to reset only those rows.

    Two departures from ``SyncVectorEnv``'s info layout, both for speed:
    ``infos["completion"]`` is a numpy ``str`` array (``""`` where the ``_completion``
    mask is False) rather than an object array, and ``infos["action_mask"]`` is
    a read-only broadcast of the one task mask.
    """

    metadata = {
        "render_modes": ["ansi", "human", "rgb_array"],
        "render_fps": 4,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        task: str = "reverse",
        split: str = "train",
        render_mode: str | None = None,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        copy: bool = True,
        completion_text: bool = True,
        **kwargs: Any,
    ):
        num_envs = positive_int("num_envs", num_envs)
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            modes = [m.value for m in AutoresetMode]
            raise ValueError(f"autoreset_mode must be one of {modes}, got {autoreset_mode!r}") from None
        for name, value in (("copy", copy), ("completion_text", completion_text)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.encoded_task = EncodedTask.build(task, kwargs, f"token_gym task {task!r}")
        self.split = split
        self._choices = self.encoded_task.task.split(split)
        if len(self._choices) == 0:
            raise ValueError(f"split {split!r} of token_gym task {task!r} has no prompts (test_fraction=0?)")
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self._frame = task_frame(self.encoded_task) if render_mode == "rgb_array" else None
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.copy = copy
        self.completion_text = completion_text
        vocab = self.encoded_task.vocab
        self.single_action_space = spaces.Discrete(vocab.size)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = spaces.Box(0, vocab.size - 1, (self.encoded_task.observation_width,), np.int64)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

        n, width, cap = self.num_envs, self.encoded_task.observation_width, self.encoded_task.max_completion_len
        self._eos = np.array(vocab.eos_id)  # scalars as 0-d arrays: numpy's ufuncs take those faster
        self._pad = np.array(vocab.pad_id)
        # Observations are held in the narrowest signed integer type that fits the vocabulary and
        # widened to int64 when copied out; shifting and rewriting rows then moves a quarter of the bytes.
        ids = np.int16 if vocab.size <= np.iinfo(np.int16).max else np.int32
        # A flat buffer, C cells longer than the observations: a completion read at the end of a row
        # (`_finish`) may run into the next row, and past the last one into this tail.
        self._flat = np.full(n * width + cap, vocab.pad_id, dtype=ids)
        self._obs = self._flat[: n * width].reshape(n, width)  # (N, L)
        self._obs_rows = _rows(self._obs)  # the same memory, one element per row
        self._initial_rows = _rows(self.encoded_task.initial_table.astype(ids))
        self._row_end = np.arange(1, n + 1) * width  # flat index just past each row
        self._span = np.arange(cap)[:, None]
        # Character vocabularies: each row's completion text is kept as it grows, as code points,
        # (N, C + 1) uint32, which viewed as `<U{C + 1}` are the texts. Silent tokens (specials) write a
        # NUL and do not advance the row's text cursor, so the next character overwrites it. Other
        # vocabularies decode finished rows from the observation buffer instead, and keep no text.
        keep_text = completion_text and vocab.char_table is not None
        self._codes = vocab.char_table.view(np.uint32) if keep_text else None
        self._text = np.zeros((n if self._codes is not None else 0, cap + 1), dtype=np.uint32)
        self._text_cells = self._text.reshape(-1)
        self._text_rows = _rows(self._text)
        self._text_dtype = np.dtype(f"<U{cap + 1}")
        self._text_start = np.arange(len(self._text)) * (cap + 1)
        self._text_cursor = self._text_start.copy()
        self._blank = np.zeros(1, dtype=self._text_rows.dtype)[0]
        self._silent = np.array(0, dtype=np.uint32)  # the code point of tokens that write no text
        # Per row: `_cursor` = tokens generated * n + prompt (n prompts), the flat index into the
        # task's position-major expected-answer table. The episode ends at EOS or when the cursor
        # reaches `_limit`: the stop length * n + prompt, which is one number when every prompt stops
        # at the cap (all tasks but CombinationLock).
        self._stride = np.array(len(self.encoded_task.prompts))
        stops = self.encoded_task.stop_lengths
        self._limits = stops * self._stride + np.arange(self._stride) if (stops != cap).any() else None
        self._expected = self.encoded_task.expected_cells if self.encoded_task.answers is not None else None
        self._cursor = np.zeros(n, dtype=np.int64)
        self._limit = np.zeros(n, dtype=np.int64) if self._limits is not None else np.array(cap * self._stride)
        self._hits = np.zeros(n, dtype=np.int64)  # answer positions right so far (answer tasks)
        self._prompt = np.zeros(n, dtype=np.int64)
        self._counter: np.ndarray | None = None  # each row's prompt-draw counter (see draws)
        # Rows whose episode is over: NextStep, those that finished at the last step (this step resets
        # them); Disabled, all that finished since they were reset (they stay frozen).
        self._over = np.zeros(0, dtype=np.int64)
        self._success = np.zeros(n, dtype=bool)  # whether each row's last finished episode succeeded
        self._started = False
        self._out = np.zeros((n, width), dtype=np.int64)  # what copy=False hands out, every time
        self._all = np.ones(n, dtype=bool)
        self._masks = np.broadcast_to(self.encoded_task.action_mask, (n, vocab.size))

    # -- the MDP ------------------------------------------------------------

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        n = self.num_envs
        options = dict(options or {})
        unknown = set(options) - {"prompt_index", "group_size", "prefix", "reset_mask"}
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {sorted(unknown)}; valid: ['group_size', 'prefix', 'prompt_index', 'reset_mask']"
            )
        mask = self._check_reset_mask(options.get("reset_mask"))
        seeds = self._seeds(seed)
        super().reset(seed=seed if isinstance(seed, int | np.integer) or seed is None else None)
        # Unseeded rows go on to their next episode; seeded rows restart their count from the seed.
        counter = draws.random_keys(self.np_random, n) if self._counter is None else self._counter + draws.STEP
        seeded = [row for row, s in enumerate(seeds) if s is not None]
        if seeded:
            counter[seeded] = draws.keys_from_seeds(np.array([seeds[row] for row in seeded]))
        rows = np.flatnonzero(mask)
        if "prompt_index" in options:
            if "group_size" in options:
                raise ValueError("options['prompt_index'] and options['group_size'] cannot be given together")
            prompts = self.encoded_task.check_prompt_index(options["prompt_index"], self.num_envs)[rows]
        elif "group_size" in options:
            k = self._check_group_size(options["group_size"], len(rows))
            prompts = np.repeat(draws.pick(counter[rows[::k]], self._choices), k)
        else:
            prompts = draws.pick(counter[rows], self._choices)
        prefixes = self._check_prefixes(options.get("prefix"), rows, prompts)
        self._counter = counter if self._counter is None else np.where(mask, counter, self._counter)
        self._begin(rows, prompts)
        for group, tokens in prefixes:
            self._start_from(group, tokens)
        self._over = self._over[~mask[self._over]]
        self._started = True
        infos = {
            "prompt_index": np.where(mask, self._prompt, 0),
            "_prompt_index": mask.copy(),
            "action_mask": self._masks if mask.all() else np.where(mask[:, None], self._masks, False),
            "_action_mask": mask.copy(),
        }
        if self.render_mode == "human":
            self.render()
        return self._observations(), infos

    def step(self, actions: np.ndarray):
        if not self._started:
            raise ResetNeeded("call reset() before step()")
        actions = self._check_actions(actions)
        frozen = self._over if self.autoreset_mode is AutoresetMode.DISABLED else None
        if frozen is not None and len(frozen):
            # Rows that ended stay as they ended: they take the silent pad token (never an answer hit,
            # writes no text), then their observation and cursor are put back below.
            actions = actions.copy()
            actions[frozen] = self._pad
            frozen_rows = self._obs_rows[frozen]
        hit = None
        if self._expected is not None:
            hit = self._expected[self._cursor] == actions
            self._hits += hit
        self._cursor += self._stride
        if self._codes is not None:
            codes = self._codes[actions]
            self._text_cells[self._text_cursor] = codes
            self._text_cursor += codes != self._silent
        self._flat[:-1] = self._flat[1:]  # every row shifts left by one (row ends spill, then are overwritten)
        self._obs[:, -1] = actions
        ends = self._cursor >= self._limit
        eos = actions == self._eos
        ends |= eos
        if self.encoded_task.task.stops_on_error:
            ends |= ~hit
        mode = self.autoreset_mode
        resetting = self._over
        if mode is not AutoresetMode.SAME_STEP:
            ends[resetting] = False  # NextStep: their action only starts the next episode; Disabled: frozen
        if frozen is not None and len(frozen):
            np.put(self._obs_rows, frozen, frozen_rows)
            self._cursor[frozen] -= self._stride
        finished = ends.nonzero()[0]
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        infos: dict[str, Any] = self._finish(finished, eos, rewards, ends) if len(finished) else {}
        if mode is AutoresetMode.NEXT_STEP:
            if len(resetting):
                self._restart(resetting)
            self._over = finished
        elif mode is AutoresetMode.DISABLED:
            if len(finished):
                self._over = np.union1d(self._over, finished)
        elif len(finished):
            final_obs = np.full(self.num_envs, None, dtype=object)
            final_obs[finished] = list(self._obs[finished].astype(np.int64))
            final_info = {
                "prompt_index": np.where(ends, self._prompt, 0),
                "_prompt_index": ends.copy(),
                "action_mask": np.where(ends[:, None], self._masks, False),
                "_action_mask": ends.copy(),
                **infos,
            }
            infos = {"final_obs": final_obs, "_final_obs": ends.copy(), "final_info": final_info}
            infos["_final_info"] = ends.copy()
            self._restart(finished)
        infos["prompt_index"] = self._prompt.copy()
        infos["_prompt_index"] = self._all.copy()
        infos["action_mask"] = self._masks
        infos["_action_mask"] = self._all.copy()
        if self.render_mode == "human":
            self.render()
        return self._observations(), rewards, ends, np.zeros(self.num_envs, dtype=bool), infos

    def action_masks(self) -> np.ndarray:
        """(num_envs, vocab_size) useful tokens of every row."""
        return np.array(self._masks)

    # -- text ---------------------------------------------------------------

    def decode(self, obs: np.ndarray | None = None) -> list[tuple[str, str]]:
        """(prompt, completion) text of every row of ``obs`` or of the current state."""
        vocab = self.encoded_task.vocab
        rows = self._obs if obs is None else np.asarray(obs)
        return [tuple(vocab.decode(part) for part in self.encoded_task.split_observation(row)) for row in rows]

    def render(self) -> str | tuple[np.ndarray, ...] | None:
        """The rows as text ("ansi"; "human" prints it), or one frame per row ("rgb_array", as
        ``SyncVectorEnv`` gives a tuple of its envs' frames), each what a single env shows."""
        if self.render_mode is None:
            return None
        if self.render_mode == "rgb_array":
            over = np.zeros(self.num_envs, dtype=bool)
            over[self._over] = self._started
            texts = [
                episode_text(int(i), p, c, o) for i, (p, c), o in zip(self._prompt, self.decode(), over, strict=True)
            ]
            if not self._started:
                texts = [""] * self.num_envs
            return tuple(
                self._frame.draw(t, episode_ink(o, s)) for t, o, s in zip(texts, over, self._success, strict=True)
            )
        text = "\n".join(f"[{i}] prompt {self._prompt[i]}: {p!r} -> {c!r}" for i, (p, c) in enumerate(self.decode()))
        if self.render_mode == "human":
            print(text)
            return None
        return text

    # -- internals ----------------------------------------------------------

    def _finish(self, rows: np.ndarray, eos: np.ndarray, rewards: np.ndarray, ends: np.ndarray) -> dict[str, Any]:
        """Verify finished rows; their ``completion``/``is_success`` infos."""
        prompts = self._prompt[rows]
        length = self._cursor[rows] // self._stride  # tokens generated, the last one included
        completion = None
        needs_tokens = self.encoded_task.answers is None or (self.completion_text and self._codes is None)
        if needs_tokens:
            # The completion is the last `length` tokens of the row: read C from where it starts.
            # Gathered position-major, (C, B), handed on as its (B, C) transpose (see Vocabulary.decode_rows).
            completion = self._flat[self._span + (self._row_end[rows] - length)].T
        length -= eos[rows]
        values, success = self.encoded_task.finish(prompts, self._hits[rows], completion, length)
        if self._frame is not None:  # rgb_array frames colour finished rows by their verdict
            self._success[rows] = success
        rewards[rows] = values
        is_success = np.zeros(self.num_envs, dtype=bool)
        is_success[rows] = success
        infos = {"is_success": is_success, "_is_success": ends.copy()}
        if not self.completion_text:
            return infos
        if self._codes is None:
            decoded = self.encoded_task.decode_completions(completion, length)
            texts = np.zeros(self.num_envs, dtype=decoded.dtype)  # "" where no episode finished
            texts[rows] = decoded
        else:  # copied as opaque rows, then seen as text
            texts = np.zeros(self.num_envs, dtype=self._text_rows.dtype)
            np.copyto(texts, self._text_rows, where=ends)
            texts = texts.view(self._text_dtype)
        return {"completion": texts, "_completion": ends.copy(), **infos}

    def _restart(self, rows: np.ndarray) -> None:
        """Autoreset ``rows``: their next episode, a fresh prompt from their own counter."""
        counter = self._counter[rows] + draws.STEP
        self._counter[rows] = counter
        self._begin(rows, draws.pick(counter, self._choices))

    def _begin(self, rows: np.ndarray, prompts: np.ndarray) -> None:
        self._prompt[rows] = prompts
        np.put(self._obs_rows, rows, self._initial_rows[prompts])
        self._cursor[rows] = prompts
        if self._limits is not None:
            self._limit[rows] = self._limits[prompts]
        self._hits[rows] = 0
        if self._codes is not None:
            np.put(self._text_rows, rows, self._blank)
            self._text_cursor[rows] = self._text_start[rows]

    def _observations(self) -> np.ndarray:
        """The observations as int64: a fresh array (``copy=True``), or the one array ``copy=False`` reuses."""
        if self.copy:
            return self._obs.astype(np.int64)
        np.copyto(self._out, self._obs)
        return self._out

    def _check_group_size(self, group_size: object, rows: int) -> int:
        k = positive_int("options['group_size']", group_size)
        if rows % k:
            raise ValueError(f"options['group_size']={k} must divide the {rows} rows being reset")
        return k

    def _seeds(self, seed: object) -> list[int | None]:
        n = self.num_envs
        if seed is None:
            return [None] * n
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
            if seed < 0:
                raise ValueError(f"seed must be non-negative, got {seed}")
            return [int(seed) + i for i in range(n)]
        if isinstance(seed, Sequence) and len(seed) == n:
            for s in seed:
                if s is not None and (isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0):
                    raise ValueError(f"seeds must be non-negative integers or None, got {s!r}")
            return list(seed)
        raise ValueError(f"seed must be an int, None, or a list of {n} ints/None, got {seed!r}")

    def _check_reset_mask(self, mask: object) -> np.ndarray:
        if mask is None:
            return self._all.copy()
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), got {mask!r}")
        if not mask.any():
            raise ValueError("options['reset_mask'] must select at least one row")
        if not self._started and not mask.all():
            raise ValueError("the first reset must reset every row (no reset_mask)")
        return mask.copy()

    def _check_prefixes(
        self, prefix: object, rows: np.ndarray, prompts: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(rows, (R, k) tokens) groups of rows whose prefixes have k tokens, each prefix checked.

        ``prefix`` is one sequence for every row, a list of ``num_envs`` sequences, or an integer
        array (``num_envs``, k): the fast path, checked and applied in numpy for all rows at once.
        """
        if prefix is None:
            return []
        if isinstance(prefix, np.ndarray) and prefix.ndim == 2:
            if len(prefix) != self.num_envs:
                raise ValueError(f"options['prefix'] as an array needs {self.num_envs} rows, got {len(prefix)}")
            return [(rows, self.encoded_task.check_prefixes(prefix[rows], prompts))]
        if isinstance(prefix, np.ndarray):
            prefix = prefix.tolist()
        per_row = (
            isinstance(prefix, Sequence)
            and len(prefix) > 0
            and all(isinstance(p, Sequence | np.ndarray) and not isinstance(p, str) for p in prefix)
        )
        if per_row:
            if len(prefix) != self.num_envs:
                raise ValueError(
                    f"options['prefix'] as one list per row needs {self.num_envs} lists, got {len(prefix)}"
                )
            chosen = [self.encoded_task.check_prefix(prefix[r], int(p)) for r, p in zip(rows, prompts, strict=True)]
        else:
            one = self.encoded_task.check_prefix(prefix, int(prompts[0]))
            self.encoded_task.check_prefixes(
                np.array([one] * len(rows), dtype=np.int64).reshape(len(rows), -1), prompts
            )
            chosen = [one] * len(rows)
        by_length: dict[int, list[int]] = {}
        for i, p in enumerate(chosen):
            by_length.setdefault(len(p), []).append(i)
        return [
            (rows[members], np.array([chosen[i] for i in members], dtype=np.int64).reshape(len(members), k))
            for k, members in by_length.items()
        ]

    def _start_from(self, rows: np.ndarray, tokens: np.ndarray) -> None:
        """Rows just begun continue as if they had generated ``tokens`` (R, k) already."""
        k = tokens.shape[1]
        if k == 0:
            return
        self._obs[rows, :-k] = self._obs[rows, k:]
        self._obs[rows, -k:] = tokens
        self._cursor[rows] += k * self._stride
        if self._codes is not None:
            codes = self._codes[tokens]  # (R, k); silent tokens (0) write no text: move them to the end
            codes = np.take_along_axis(codes, np.argsort(codes == 0, axis=1, kind="stable"), axis=1)
            self._text[rows, :k] = codes
            self._text_cursor[rows] += (codes != 0).sum(axis=1)
        if self._expected is not None:
            expected = self.encoded_task.expected_table[self._prompt[rows], :k]
            self._hits[rows] = (expected == tokens).sum(axis=1)

    def _check_actions(self, actions: object) -> np.ndarray:
        values = np.asarray(actions)
        if values.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {values.shape}")
        if values.dtype.kind not in "iu":
            raise TypeError(f"actions must be integer token ids, got an array of {values.dtype}")
        values = values.astype(np.int64, copy=False)
        if values.view(np.uint64).max() >= self.encoded_task.vocab.size:  # negatives wrap to huge values
            row = int(np.flatnonzero((values < 0) | (values >= self.encoded_task.vocab.size))[0])
            raise ValueError(
                f"action {int(values[row])} of env {row} is outside the vocabulary [0, {self.encoded_task.vocab.size})"
            )
        return values


def _rows(array: np.ndarray) -> np.ndarray:
    """A C-contiguous (N, L) array seen as N opaque elements: copying rows is then one fancy-index op,
    several times faster than numpy's row-by-row copy of a 2D fancy index."""
    return array.view(np.dtype((np.void, array.shape[1] * array.itemsize)))[:, 0]
