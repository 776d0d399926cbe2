"""What an exploration strategy is: a small object with optional hooks into one REINFORCE update.

An update (``agents/reinforce.py: ReinforceAgent._update``) runs, in order::

    env      = strategies.environment(agent.train_env)          # curriculum: which task to train on
    rollout  = sampler.sample(policy, logits_hook=strategies.logits,  # sampling: β instead of π
                              restart=strategies.starts)        # where episodes start (prompt, prefix)
    R        = strategies.rewards(rollout, rollout.episode_return)   # novelty bonus, pass@k transform
    w        = strategies.weights(baseline(returns(R)), rollout)     # advantages
    loss     = policy_loss(w) + strategies.loss(LossContext)    # entropy bonus, KL penalty
    optimizer step
    scalars |= strategies.update(rollout, scalars)              # counts, archives, adaptive coefficients

Every hook is a no-op by default, so a strategy overrides only what it changes. A strategy whose
``logits`` hook changes the distribution says so (``changes_sampling``): the rollout then records
the behaviour log-probs of what was actually sampled, and the agent importance-corrects. At
strength zero every strategy changes nothing, bit for bit (tests/test_exploration.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from agents.reinforce import ReinforceAgent
    from agents.rollout import Rollout
    from token_gym import TokenVectorEnv


@dataclass
class LossContext:
    """What a loss term sees: the batch being trained on and the policy's logits on it (with grad)."""

    logits: Tensor  # (B, C, V) logits that predicted each completion token
    context: Tensor  # (B, T0)
    completion: Tensor  # (B, C)
    mask: Tensor  # (B, C) float: tokens of the episodes
    num_sequences: int  # B of the whole batch (rows may be a subset)


class Strategy:
    """Base class: every hook does nothing. Subclasses set ``name`` (the registry key) and a docstring with
    the idea, the formula, the source and whether it changes the sampling distribution."""

    name: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Strategy]]] = {}

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.name:  # a subclass that keeps its parent's name does not replace it
            Strategy.registry[cls.name] = cls

    @property
    def changes_sampling(self) -> bool:
        """True when :meth:`logits` changes the sampling distribution (the agent then importance-corrects)."""
        return False

    @property
    def adds_loss(self) -> bool:
        """Whether :meth:`loss` may add a term (then every row of a batch is scored, zero weights too)."""
        return type(self).loss is not Strategy.loss

    @classmethod
    def at_zero(cls) -> Strategy:
        """The strategy at strength zero: on, and changing nothing (tests check it bit for bit)."""
        return cls()

    def params(self) -> dict[str, Any]:
        """The strategy's parameters, as given (the run record holds them)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def bind(self, agent: ReinforceAgent) -> None:
        """Called once by the agent before training: its policy, env and task are there to read."""

    def environment(self, env: TokenVectorEnv) -> TokenVectorEnv:
        """The vector env to sample this batch from (a curriculum changes it); evaluation never asks."""
        return env

    def logits(self, logits: Tensor, step: int) -> Tensor:
        """(B, V) logits of the ``step``-th completion token → the logits to sample from."""
        return logits

    def starts(self, prompt_index: np.ndarray, group_size: int) -> dict[str, Any] | None:
        """Reset options for rows to start elsewhere than the env drew (``reset_mask``, ``prompt_index``,
        ``prefix``), given the prompts it drew; None keeps them."""
        return None

    def rewards(self, rollout: Rollout, rewards: Tensor) -> Tensor:
        """(B,) episode rewards → shaped episode rewards (paid at each episode's last token)."""
        return rewards

    def weights(self, weights: Tensor, rollout: Rollout) -> Tensor:
        """(B, C) per-token weights w (advantages) → transformed weights."""
        return weights

    def loss(self, batch: LossContext) -> Tensor | None:
        """An extra term to add to the loss (None: none)."""
        return None

    def update(self, rollout: Rollout, scalars: dict[str, float]) -> dict[str, float]:
        """After the optimizer step: update own state; scalars to log."""
        return {}

    def state(self) -> dict[str, Tensor]:
        """What the strategy has gathered while training (counts, an archive, a coefficient), as tensors:
        a checkpoint holds it, so that ``learn`` after ``load`` goes on where it stopped. Empty: nothing."""
        return {}

    def load_state(self, state: dict[str, Tensor]) -> None:
        """Put back what :meth:`state` returned (called after :meth:`bind`)."""
        if state:
            raise ValueError(f"the {self.name} strategy keeps no state, got {sorted(state)}")

    def __repr__(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.name}:{args}" if args else self.name


class Strategies(Strategy):
    """Several strategies as one, applied in the order given (each hook feeds the next)."""

    def __init__(self, strategies: Sequence[Strategy] = ()):
        self.items = list(strategies)

    @property
    def changes_sampling(self) -> bool:
        return any(s.changes_sampling for s in self.items)

    @property
    def adds_loss(self) -> bool:
        return any(s.adds_loss for s in self.items)

    def params(self) -> dict[str, Any]:
        return {"items": [repr(s) for s in self.items]}

    def bind(self, agent: ReinforceAgent) -> None:
        for s in self.items:
            s.bind(agent)

    def environment(self, env: TokenVectorEnv) -> TokenVectorEnv:
        for s in self.items:
            env = s.environment(env)
        return env

    def logits(self, logits: Tensor, step: int) -> Tensor:
        for s in self.items:
            if s.changes_sampling:
                logits = s.logits(logits, step)
        return logits

    def starts(self, prompt_index: np.ndarray, group_size: int) -> dict[str, Any] | None:
        chosen = [o for s in self.items if (o := s.starts(prompt_index, group_size)) is not None]
        if len(chosen) > 1:
            raise ValueError("only one strategy may choose where episodes start")
        return chosen[0] if chosen else None

    def rewards(self, rollout: Rollout, rewards: Tensor) -> Tensor:
        for s in self.items:
            rewards = s.rewards(rollout, rewards)
        return rewards

    def weights(self, weights: Tensor, rollout: Rollout) -> Tensor:
        for s in self.items:
            weights = s.weights(weights, rollout)
        return weights

    def loss(self, batch: LossContext) -> Tensor | None:
        terms = [t for s in self.items if (t := s.loss(batch)) is not None]
        return sum(terms[1:], terms[0]) if terms else None

    def update(self, rollout: Rollout, scalars: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.items:
            out.update(s.update(rollout, scalars))
        return out

    def state(self) -> dict[str, Any]:
        """Each stateful strategy's :meth:`Strategy.state`, keyed ``"{position}:{name}"``."""
        return {f"{i}:{s.name}": state for i, s in enumerate(self.items) if (state := s.state())}

    def load_state(self, state: dict[str, Any]) -> None:
        by_key = {f"{i}:{s.name}": s for i, s in enumerate(self.items)}
        unknown = sorted(set(state) - set(by_key))
        if unknown:
            raise ValueError(f"state of strategies {unknown}, which are not this agent's ({list(by_key)})")
        for key, value in state.items():
            by_key[key].load_state(value)

    def __repr__(self) -> str:
        return " + ".join(repr(s) for s in self.items) or "none"


def pack_prefixes(keys: Sequence[tuple[int, Sequence[int]]]) -> dict[str, Tensor]:
    """Keys (prompt index, token ids) of a count table or an archive as tensors, in order:
    ``prompts`` (N,), ``lengths`` (N,) and ``tokens`` (all keys' ids, concatenated)."""
    prompts = [int(prompt) for prompt, _ in keys]
    token_lists = [np.asarray(tokens, dtype=np.int64) for _, tokens in keys]
    return {
        "prompts": torch.tensor(prompts, dtype=torch.int64),
        "lengths": torch.tensor([len(t) for t in token_lists], dtype=torch.int64),
        "tokens": torch.from_numpy(np.concatenate(token_lists) if token_lists else np.zeros(0, dtype=np.int64)),
    }


def unpack_prefixes(state: dict[str, Tensor], name: str) -> list[tuple[int, np.ndarray]]:
    """What :func:`pack_prefixes` packed, checked (``name`` says whose state it is in errors)."""
    try:
        prompts, lengths, tokens = (state[k].numpy().astype(np.int64) for k in ("prompts", "lengths", "tokens"))
    except (KeyError, AttributeError) as error:
        raise ValueError(f"{name} state needs int tensors prompts, lengths and tokens ({error})") from None
    if len(prompts) != len(lengths) or (lengths < 0).any() or int(lengths.sum()) != len(tokens):
        raise ValueError(f"{name} state: {len(prompts)} prompts, {len(lengths)} lengths, {len(tokens)} tokens disagree")
    ends = np.cumsum(lengths)
    return [(int(p), tokens[end - n : end]) for p, n, end in zip(prompts, lengths, ends, strict=True)]


def parse_strategy(spec: str | dict[str, Any] | Strategy) -> Strategy:
    """A strategy from ``"temperature:t=1.5"``, ``"epsilon:epsilon=0.1,warmup=10"``, a dict
    ``{"name": "temperature", "t": 1.5}``, or a Strategy (returned as is). Values are read as
    Python literals (numbers, True/False, None) or kept as strings. Unknown names list the known ones."""
    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, str):
        name, _, rest = spec.partition(":")
        params: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"strategy {spec!r}: parameters are key=value pairs separated by commas, got {item!r}")
            params[key.strip()] = _literal(value.strip())
    elif isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise ValueError(f"a strategy given as a table needs a string 'name', got {spec!r}")
    else:
        raise TypeError(f"a strategy is a 'name:key=value,...' string, a dict with 'name', or a Strategy, got {spec!r}")
    name = name.strip()
    if name not in Strategy.registry:
        raise ValueError(f"unknown strategy {name!r}; known strategies: {sorted(Strategy.registry)}")
    cls = Strategy.registry[name]
    try:
        return cls(**params)
    except TypeError as error:
        raise ValueError(f"strategy {name!r}: {error}") from None


def parse_strategies(specs: str | dict[str, Any] | Strategy | Sequence[Any] | None) -> Strategies:
    """A list of specs (or one, or None / "none" for no strategy) as one :class:`Strategies`."""
    if specs is None or specs == "none":
        return Strategies()
    if isinstance(specs, str | dict | Strategy):
        specs = [specs]
    return Strategies([parse_strategy(s) for s in specs if s != "none"])


def _literal(text: str) -> Any:
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
