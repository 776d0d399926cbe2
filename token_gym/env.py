"""TokenEnv: one episode of token generation is one prompt and its completion."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from token_gym import draws
from token_gym.encoded import EncodedTask
from token_gym.render import episode_ink, episode_text, task_frame
from token_gym.tokenizer import Vocabulary


class RenderModeError(ValueError, TypeError):
    """An unsupported ``render_mode``.

    Also a TypeError because stable-baselines3 (``make_vec_env``, ``PPO("MlpPolicy", id)``) asks
    ``gym.make`` for ``render_mode="rgb_array"`` and retries without it only on TypeError.
    """


def check_render_mode(render_mode: str | None, allowed: list[str]) -> str | None:
    if render_mode is not None and render_mode not in allowed:
        raise RenderModeError(f"render_mode must be one of {allowed} or None, got {render_mode!r}")
    return render_mode


class TaskView:
    """What callers need of the task behind an env, the same on the single and the vector env.

    The env holds its task in token ids as ``encoded_task`` (an :class:`~token_gym.encoded.EncodedTask`);
    these read it without reaching inside: prompt indices are those of ``info["prompt_index"]`` and
    ``reset(options={"prompt_index": i})``.
    """

    encoded_task: EncodedTask
    split: str

    @property
    def vocab(self) -> Vocabulary:
        """The tokenizer with its special ids; ``vocab.token_text[i]`` is the text of token ``i``."""
        return self.encoded_task.vocab

    def prompt_indices(self, split: str | None = None) -> np.ndarray:
        """Indices of the prompts of ``split`` ("train" or "test"; default: the split this env draws from)."""
        return self.encoded_task.task.split(self.split if split is None else split)

    def prompt(self, index: int) -> str:
        """The text of prompt ``index``."""
        return self.encoded_task.task.prompts[self._index(index)]

    def demonstration(self, index: int) -> str:
        """The oracle's completion of prompt ``index`` as text (without EOS)."""
        return self.encoded_task.task.demonstration(self._index(index))

    def demonstration_tokens(self, index: int) -> list[int]:
        """The oracle's completion of prompt ``index`` as the actions that produce it, EOS included."""
        return self.encoded_task.demonstration_tokens(self._index(index))

    def _index(self, index: object) -> int:
        return int(self.encoded_task.check_prompt_index(index, name="index"))


class TokenEnv(TaskView, gym.Env):
    """Generate a completion to a prompt, one token per step; a verifier pays at the end.

    ## Description
    Token generation as a Markov decision process. The state is the prompt
    plus the tokens generated so far, the action is the next token, and the
    transition appends it. Prompts come from the task's fixed, seeded set;
    ``reset`` draws one from the chosen split. Which task (Reverse, Addition,
    SecretString, your own Text task, ...) is the ``task`` argument, set by
    the registered id.

    ## Action Space
    ``Discrete(vocab_size)``: any token of the tokenizer's vocabulary.
    ``action_masks()`` (and ``info["action_mask"]``) marks the useful ones:
    tokens spelled with the task's alphabet, and EOS.

    ## Observation Space
    ``Box(0, vocab_size - 1, (P + 1 + C,), int64)``: ``[pad ..., prompt,
    sep, completion so far]`` with the content right-aligned, where P is the
    longest prompt and C the completion cap, in tokens. Prompt and completion
    are recoverable from any observation (``decode(obs)``).

    ## Rewards
    0.0 on every step but the last; the last step pays the task's verifier on
    the completion (EOS excluded): ``reward="binary"`` 1.0 for the exact
    answer, ``"partial"`` the fraction of positions right (divided by the
    longer of completion and answer), SecretString's ``"distractor"`` also a
    little for the empty completion. Text tasks pay their ``reward_fn``.

    ## Episode End
    Terminated when EOS is emitted or the completion reaches
    ``max_completion_len`` tokens (CombinationLock also at the first wrong
    token). Never truncated: the cap lives inside the env, so the final
    reward is always paid.

    ## Arguments
    ``task``: the task family. ``split``: "train" (default) or "test", the
    prompts ``reset`` draws from. ``tokenizer``: "char" (default), "bpe"
    (with ``bpe_vocab_size``), a tokenizer.json path or a
    ``tokenizers.Tokenizer``; ``pad_token``/``sep_token``/``eos_token`` name
    its special tokens. ``render_mode``: "ansi" (the text), "human" (printed)
    or "rgb_array" (the text drawn into an (H, W, 3) uint8 frame of one size
    per env, green once solved, orange once failed: for video recorders).
    Every other keyword is the task's (see ``token_gym.list_envs()``).

    ## Reset options
    ``{"prompt_index": i}`` starts from prompt ``i`` of the whole set;
    ``{"prefix": [ids]}`` starts with those tokens already generated.

    ## Info
    ``prompt_index`` and ``action_mask`` always; on the last step also
    ``completion`` (text) and ``is_success``.
    """

    metadata = {"render_modes": ["ansi", "human", "rgb_array"], "render_fps": 4}

    def __init__(self, task: str = "reverse", split: str = "train", render_mode: str | None = None, **kwargs: Any):
        where = f"token_gym task {task!r}"
        self.encoded_task = EncodedTask.build(task, kwargs, where)
        self.split = split
        self._choices = self.encoded_task.task.split(split)
        if len(self._choices) == 0:
            raise ValueError(f"split {split!r} of {where} has no prompts (test_fraction=0?)")
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        vocab = self.encoded_task.vocab
        self.action_space = spaces.Discrete(vocab.size)
        self.observation_space = spaces.Box(0, vocab.size - 1, (self.encoded_task.observation_width,), np.int64)
        self._obs = self.encoded_task.initial_observations(np.zeros(1, dtype=np.int64))[0]  # (L,)
        self._completion = np.full((1, self.encoded_task.max_completion_len), vocab.pad_id, dtype=np.int64)
        self._length = 0
        self._hits = 0  # answer positions right so far (answer tasks)
        self._prompt = -1
        self._key: int | None = None
        self._episode = -1
        self._over = True
        self._started = False
        self._success = False
        self._frame = task_frame(self.encoded_task) if render_mode == "rgb_array" else None

    # -- the MDP ------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = dict(options or {})
        unknown = set(options) - {"prompt_index", "prefix"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; valid: ['prefix', 'prompt_index']")
        super().reset(seed=seed)
        key, episode = self._key, self._episode + 1
        if seed is not None:
            key, episode = int(draws.keys_from_seeds(np.array([seed]))[0]), 0
        elif key is None:
            key, episode = int(draws.random_keys(self.np_random, 1)[0]), 0
        if "prompt_index" in options:
            prompt = int(self.encoded_task.check_prompt_index(options["prompt_index"]))
        else:
            prompt = draws.draw_one(key, episode, self._choices)
        prefix = self.encoded_task.check_prefix(options["prefix"], prompt) if "prefix" in options else []
        self._key, self._episode, self._prompt = key, episode, prompt
        self._obs = self.encoded_task.initial_observations(np.array([prompt]))[0]  # a fresh copy
        self._completion[:] = self.encoded_task.vocab.pad_id
        self._length = self._hits = 0
        for token in prefix:
            self._append(token)
        self._over, self._started, self._success = False, True, False
        if self.render_mode == "human":
            self.render()
        return self._observation(), self._info()

    def step(self, action: int):
        if not self._started:
            raise ResetNeeded("call reset() before step()")
        if self._over:
            raise ResetNeeded("the episode is over (terminated); call reset() before step()")
        token = self.encoded_task.check_token(action)
        hit = self._append(token)
        terminated = bool(self.encoded_task.ends(self._prompt, self._length, token, hit))
        reward = 0.0
        info = self._info()
        if terminated:
            self._over = True
            prompt, length = (
                np.array([self._prompt]),
                np.array([self._length - (token == self.encoded_task.vocab.eos_id)]),
            )
            rewards, success = self.encoded_task.finish(prompt, np.array([self._hits]), self._completion, length)
            reward = float(rewards[0])
            info["completion"] = self.encoded_task.vocab.decode(self._completion[0, : length[0]])
            info["is_success"] = self._success = bool(success[0])
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Tokens worth generating (the task's alphabet and EOS), for MaskablePPO."""
        return self.encoded_task.action_mask.copy()

    # -- text ---------------------------------------------------------------

    def decode(self, obs: np.ndarray | None = None) -> tuple[str, str]:
        """(prompt, completion) as text, of ``obs`` or of the current state."""
        prompt, completion = self.encoded_task.split_observation(self._observation() if obs is None else obs)
        return self.encoded_task.vocab.decode(prompt), self.encoded_task.vocab.decode(completion)

    @property
    def prompt_text(self) -> str:
        return self.encoded_task.task.prompts[self._prompt] if self._started else ""

    @property
    def completion_text(self) -> str:
        return self.decode()[1] if self._started else ""

    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn('render() needs render_mode="ansi", "human" or "rgb_array" at gym.make')
            return None
        text = episode_text(self._prompt, *self.decode(), self._over) if self._started else ""
        if self.render_mode == "human":
            print(text)
            return None
        if self.render_mode == "rgb_array":
            return self._frame.draw(text, episode_ink(self._started and self._over, self._success))
        return text

    # -- internals ----------------------------------------------------------

    def _observation(self) -> np.ndarray:
        return self._obs.copy()

    def _append(self, token: int) -> bool | None:
        """Append ``token``; whether it was the answer's token there (None for tasks without answers)."""
        hit = None
        if self.encoded_task.answers is not None:
            hit = token == self.encoded_task.expected(self._prompt, self._length)
            self._hits += int(hit)
        self._obs[:-1] = self._obs[1:]
        self._obs[-1] = token
        self._completion[0, self._length] = token
        self._length += 1
        return hit

    def _info(self) -> dict[str, Any]:
        return {"prompt_index": self._prompt, "action_mask": self.encoded_task.action_mask.copy()}
