"""A task in token ids: what both environments read from.

:class:`EncodedTask` tokenizes a :class:`~token_gym.tasks.Task` once and
holds numpy arrays, so that building observations, deciding termination and
verifying completions are array operations on any batch of episodes.

What the two envs share, and how. Both call the same methods, the single env
with a batch of one, for the initial observations, prefix and prompt-index
checks (``check_prefixes``, ``check_prompt_index``) and end-of-episode scoring
(``finish``: ``score`` from counted hits, or ``verify`` on text). Two rules run
in each env's own form over the same tables: counting answer hits as tokens
arrive (``expected`` for the single env; ``expected_cells`` through per-row
cursors in the vector env) and termination (``ends``; ``stop_lengths`` through
cursors). The lockstep tests in tests/test_vector_env.py keep those pairs equal.

Observation layout (width ``L = P + 1 + C``; P the longest prompt, C the cap)::

    [pad ... pad, prompt tokens, sep, completion tokens]   (content right-aligned)

The content always starts with a prompt token or the separator, never with
padding, so the full state (prompt and every generated token, padding tokens
included) is recoverable from one observation.

Generating a token shifts the observation left by one and writes the token
last; a batch of observations is shifted as one flat buffer (a single memmove,
then the last column is overwritten with the new tokens). The verifier takes
completions right-padded, ``(B, C)``, with their lengths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from token_gym.checks import integer
from token_gym.tasks import TASKS, Task
from token_gym.tokenizer import (
    EOS,
    PAD,
    SEP,
    SPECIAL_TOKENS,
    Vocabulary,
    bpe_tokenizer,
    char_tokenizer,
    load_tokenizer,
)

TOKENIZER_KWARGS = {"tokenizer": "char", "bpe_vocab_size": 64, "pad_token": PAD, "sep_token": SEP, "eos_token": EOS}


def make_tokenizer(task: Task, tokenizer: str | Path | Tokenizer, bpe_vocab_size: int) -> Tokenizer:
    texts = list(task.prompts) + list(task.answers or task.demonstrations or [])
    texts = [t for t in texts if t is not None]
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    if tokenizer == "char":
        characters = "".join(texts) + (task.alphabet or "")
        if not characters:
            raise ValueError(
                "tokenizer='char' found no characters in the task's prompts, answers or demonstrations "
                "(all empty): the only action would be EOS; give demonstrations, or a tokenizer"
            )
        return char_tokenizer(characters)
    if tokenizer == "bpe":
        return bpe_tokenizer(texts, bpe_vocab_size, "".join(texts) + (task.alphabet or ""))
    if isinstance(tokenizer, str | Path):
        return load_tokenizer(tokenizer)
    raise ValueError(
        f"tokenizer must be 'char', 'bpe', a tokenizer.json path or a tokenizers.Tokenizer, got {tokenizer!r}"
    )


def _pad_rows(rows: Sequence[Sequence[int]], width: int, pad: int, left: bool) -> np.ndarray:
    out = np.full((len(rows), width), pad, dtype=np.int64)
    for i, row in enumerate(rows):
        if row:
            if left:
                out[i, width - len(row) :] = row
            else:
                out[i, : len(row)] = row
    return out


@dataclass(eq=False)
class EncodedTask:
    """A task, its vocabulary, and its prompts and answers as padded id arrays."""

    task: Task
    vocab: Vocabulary
    prompts: np.ndarray  # (n, P) left-padded prompt ids
    answers: np.ndarray | None  # (n, A) right-padded answer ids
    answer_lengths: np.ndarray | None  # (n,)
    action_mask: np.ndarray  # (V,) read-only: tokens worth generating

    def __post_init__(self) -> None:
        # The episode of prompt i ends when its completion reaches stop_lengths[i] tokens (or on EOS):
        # the cap, or for CombinationLock the answer's length.
        self.stop_lengths = np.full(len(self.prompts), self.max_completion_len, dtype=np.int64)
        if self.answers is None:
            return
        if self.task.stops_on_error:
            self.stop_lengths = self.answer_lengths.copy()
        # The verifier reads answers position-major, (A, n), so a batch gathers into contiguous (A, B).
        self._answer_columns = np.ascontiguousarray(self.answers.T)
        # The answer token at every completion position 0..C, -1 from each answer's end on: (n, C + 1).
        width = self.max_completion_len + 1
        self.expected_table = np.full((len(self.answers), width), -1, dtype=np.int64)
        inside = np.arange(self.answers.shape[1]) < self.answer_lengths[:, None]
        self.expected_table[:, : self.answers.shape[1]] = np.where(inside, self.answers, -1)
        # The same, position-major and flat: the token at `position` of prompt i's answer is at
        # `position * n + i`, a cursor that advances by n per token and never needs clamping.
        self.expected_cells = np.ascontiguousarray(self.expected_table.T).reshape(-1)

    @classmethod
    def build(cls, task: str, kwargs: Mapping[str, Any], where: str) -> EncodedTask:
        """Make task family ``task`` from ``gym.make`` kwargs; errors name ``where`` (the env id)."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; known tasks: {sorted(TASKS)}")
        known = TASKS[task].kwargs()
        unknown = sorted(set(kwargs) - set(known) - set(TOKENIZER_KWARGS))
        if unknown:
            # Python's own wording, which clients match on (TorchRL retries without `frameskip` only then).
            valid = sorted(set(known) | set(TOKENIZER_KWARGS))
            more = f" (and {unknown[1:]})" if len(unknown) > 1 else ""
            raise TypeError(f"{where} got an unexpected keyword argument {unknown[0]!r}{more}; valid: {valid}")
        options = {**TOKENIZER_KWARGS, **{k: v for k, v in kwargs.items() if k in TOKENIZER_KWARGS}}
        for role in ("pad_token", "sep_token", "eos_token"):
            if not isinstance(options[role], str) or not options[role]:
                raise ValueError(
                    f"{role} must be the token's text, such as {TOKENIZER_KWARGS[role]!r}, got {options[role]!r}"
                )
        bpe_vocab_size = integer("bpe_vocab_size", options["bpe_vocab_size"], minimum=len(SPECIAL_TOKENS) + 1)
        the_task = TASKS[task].make(**{k: v for k, v in kwargs.items() if k in known})
        tokenizer = make_tokenizer(the_task, options["tokenizer"], bpe_vocab_size)
        vocab = Vocabulary.of(tokenizer, options["pad_token"], options["sep_token"], options["eos_token"])
        return cls.encode(the_task, vocab)

    @classmethod
    def encode(cls, task: Task, vocab: Vocabulary) -> EncodedTask:
        prompts = [vocab.encode(p, f"prompt {i}") for i, p in enumerate(task.prompts)]
        answers = answer_lengths = None
        if task.answers is not None:
            rows = [vocab.encode(a, f"answer {i}") for i, a in enumerate(task.answers)]
            longest = max(len(r) for r in rows)
            if longest > task.max_completion_len:
                raise ValueError(
                    f"max_completion_len={task.max_completion_len} is shorter than the longest answer ({longest} tokens)"
                )
            answers = _pad_rows(rows, max(longest, 1), vocab.pad_id, left=False)
            answer_lengths = np.array([len(r) for r in rows], dtype=np.int64)
        width = max(len(p) for p in prompts)
        mask = np.zeros(vocab.size, dtype=bool)
        specials = (vocab.pad_id, vocab.sep_id, vocab.eos_id)
        for token_id, piece in enumerate(vocab.token_text):
            allowed = task.alphabet is None or all(c in task.alphabet for c in piece)
            mask[token_id] = token_id not in specials and piece != "" and allowed
        mask[vocab.eos_id] = True
        mask.flags.writeable = False
        return cls(task, vocab, _pad_rows(prompts, width, vocab.pad_id, left=True), answers, answer_lengths, mask)

    # -- shapes ---------------------------------------------------------------

    @property
    def max_completion_len(self) -> int:
        return self.task.max_completion_len

    @property
    def observation_width(self) -> int:
        return self.prompts.shape[1] + 1 + self.max_completion_len

    # -- episodes -------------------------------------------------------------

    def initial_observations(self, prompt_index: np.ndarray) -> np.ndarray:
        """(B, L) observations of fresh episodes: padding, prompt, separator."""
        return np.take(self.initial_table, prompt_index, axis=0)

    @cached_property
    def initial_table(self) -> np.ndarray:
        """Every prompt's initial observation, (n, L), built once."""
        obs = np.full((len(self.prompts), self.observation_width), self.vocab.pad_id, dtype=np.int64)
        start = self.max_completion_len
        obs[:, start : start + self.prompts.shape[1]] = self.prompts
        obs[:, -1] = self.vocab.sep_id
        return obs

    def check_prefix(self, prefix: object, prompt_index: int) -> list[int]:
        """One prefix to start generation from, as a list of token ids (see :meth:`check_prefixes`)."""
        if isinstance(prefix, np.ndarray):
            prefix = prefix.tolist()
        if not isinstance(prefix, Sequence) or isinstance(prefix, str):
            raise TypeError(f"options['prefix'] must be a sequence of token ids, got {prefix!r}")
        tokens = [self.check_token(t, "options['prefix'] token") for t in prefix]
        matrix = np.array(tokens, dtype=np.int64).reshape(1, len(tokens))
        return self.check_prefixes(matrix, np.array([prompt_index]))[0].tolist()

    def check_prefixes(self, tokens: np.ndarray, prompt_index: np.ndarray) -> np.ndarray:
        """(R, k) int64 prefixes, one per prompt: token ids, no EOS, shorter than the cap (and for
        CombinationLock on the combination, since a wrong token would have ended the episode).

        Both envs check prefixes here, the vector env thousands of rows in one call.
        """
        if tokens.ndim != 2 or (tokens.size and tokens.dtype.kind not in "iu"):
            raise TypeError(f"options['prefix'] must hold integer token ids, got an array of {tokens.dtype}")
        tokens = tokens.astype(np.int64, copy=False)
        k = tokens.shape[1]
        outside = (tokens < 0) | (tokens >= self.vocab.size)
        if outside.any():
            raise ValueError(
                f"options['prefix'] token {int(tokens[outside][0])} is outside the vocabulary [0, {self.vocab.size})"
            )
        if (tokens == self.vocab.eos_id).any():
            raise ValueError("options['prefix'] contains EOS: that episode would already be over")
        limit = self.stop_lengths[prompt_index]  # (R,)
        if (k >= limit).any():
            cap = int(limit[k >= limit][0])
            raise ValueError(f"options['prefix'] has {k} tokens; it must leave room below the cap of {cap}")
        if self.task.stops_on_error and k and (tokens != self.answers[prompt_index, :k]).any():
            raise ValueError("options['prefix'] departs from the combination: that episode would already be over")
        return tokens

    def check_token(self, token: object, name: str = "action") -> int:
        """A token id as a Python int, or a clear error naming ``name``."""
        if type(token) is int and 0 <= token < self.vocab.size:  # the common case, first
            return token
        if isinstance(token, np.ndarray) and token.size == 1 and token.ndim <= 1:
            token = token.reshape(()).item() if np.issubdtype(token.dtype, np.integer) else token
        if isinstance(token, bool | np.bool_) or not isinstance(token, int | np.integer):
            raise TypeError(f"{name} must be an integer token id, got {token!r} ({type(token).__name__})")
        if not 0 <= token < self.vocab.size:
            raise ValueError(f"{name} {int(token)} is outside the vocabulary [0, {self.vocab.size})")
        return int(token)

    # An answer task's reward depends only on the completion's length and its *hits*: how many
    # positions below both lengths hold the answer's token. Envs count hits as tokens arrive
    # (`expected` in the single env; the vector env reads `expected_cells` with a per-row cursor
    # `tokens * n + prompt`), so a finished episode costs no comparison at all; `verify` counts them
    # in a batch. Either way `score` turns them into rewards: one rule. `stop_lengths` says where each
    # prompt's episode ends, for both envs.

    def expected(self, prompt_index: int, position: int) -> int:
        """The answer token at ``position`` (0 to C) of a prompt's answer; -1 past its end.

        For one episode (the single env); the vector env reads ``expected_cells`` with a cursor.
        """
        return int(self.expected_table[prompt_index, position])

    def ends(self, prompt_index: int, length: int, token: int, hit: bool | None = None) -> bool:
        """Whether appending ``token`` as the ``length``-th completion token ends one episode:
        on EOS, at the prompt's stop length, and (CombinationLock) when the token was not a ``hit``.

        The single env's rule in plain ints; the vector env applies the same ``stop_lengths`` with cursors.
        """
        if token == self.vocab.eos_id or length >= self.max_completion_len:
            return True
        return self.task.stops_on_error and (not hit or length >= self.stop_lengths[prompt_index])

    def score(self, prompt_index: np.ndarray, hits: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rewards (float64) and successes (bool) of finished answer-task completions.

        ``length`` counts the completion's tokens without the final EOS.
        """
        answer_length = self.answer_lengths[prompt_index]
        success = (hits == answer_length) & (length == answer_length)
        if self.task.reward_mode == "partial":
            return hits / np.maximum(np.maximum(length, answer_length), 1), success
        rewards = success.astype(np.float64)
        if self.task.reward_mode == "distractor":
            rewards[(length == 0) & ~success] = self.task.distractor_reward
        return rewards, success

    def finish(
        self, prompt_index: np.ndarray, hits: np.ndarray, completion: np.ndarray, length: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rewards and successes of episodes an env just ended: from the hits it counted when the
        task has answers, else by the verifier on the completion's text."""
        if self.answers is None:
            return self.verify(prompt_index, completion, length)
        return self.score(prompt_index, hits, length)

    def check_prompt_index(
        self, index: object, rows: int | None = None, name: str = "options['prompt_index']"
    ) -> np.ndarray:
        """A prompt index (``rows=None``) or one per row, as int64; errors name ``name``."""
        count = len(self.task.prompts)
        values = np.asarray(index)
        shape = () if rows is None else (rows,)
        if values.ndim == 0 and rows is not None:
            values = np.broadcast_to(values, shape)
        wanted = "an integer" if rows is None else f"an integer or {rows} integers"
        if values.shape != shape or values.dtype.kind not in "iu":
            raise ValueError(f"{name} must be {wanted} in [0, {count}), got {index!r}")
        if ((values < 0) | (values >= count)).any():
            raise ValueError(f"{name} must be {wanted} in [0, {count}), got {index!r}")
        return values.astype(np.int64)

    def verify(
        self, prompt_index: np.ndarray, completion: np.ndarray, length: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rewards (float64) and successes (bool) of finished completions.

        ``completion`` is (B, C), right-padded; ``length`` counts its tokens
        without the final EOS.
        """
        if self.answers is None:
            texts = self.decode_completions(completion, length)
            rewards = np.array([self.task.reward_text(int(i), t) for i, t in zip(prompt_index, texts, strict=True)])
            return rewards.astype(np.float64).reshape(-1), rewards >= self.task.success_threshold
        answers = np.take(self._answer_columns, prompt_index, axis=1)  # (A, B)
        width = min(answers.shape[0], completion.shape[1])
        overlap = np.minimum(length, self.answer_lengths[prompt_index])
        hit = (completion.T[:width] == answers[:width]) & (np.arange(width)[:, None] < overlap)  # (width, B)
        return self.score(prompt_index, hit.sum(axis=0), length)

    def decode_completions(self, completion: np.ndarray, length: np.ndarray) -> np.ndarray:
        return self.vocab.decode_rows(completion, length)

    def demonstration_tokens(self, prompt_index: int) -> list[int]:
        """The oracle's completion of a prompt as the token ids an agent would emit, EOS included."""
        tokens = self.vocab.encode(self.task.demonstration(prompt_index), f"demonstration {prompt_index}")
        if not self.task.stops_on_error and len(tokens) < self.max_completion_len:
            tokens.append(self.vocab.eos_id)
        return tokens[: self.max_completion_len]

    def split_observation(self, obs: np.ndarray) -> tuple[list[int], list[int]]:
        """Prompt ids and completion ids held in one observation."""
        row = np.asarray(obs).reshape(-1).tolist()
        start = next((i for i, t in enumerate(row) if t != self.vocab.pad_id), len(row))
        content = row[start:]
        if self.vocab.sep_id not in content:
            raise ValueError("observation has no separator: it is not a token_gym observation of this env")
        sep = content.index(self.vocab.sep_id)
        return content[:sep], content[sep + 1 :]
