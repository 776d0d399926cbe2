"""The language model: a small causal transformer over token ids, nanoGPT-style.

One policy answers three questions, and all three must agree on the same prefix:

* ``forward(tokens)``: logits at every position of left-padded sequences, in one
  pass (scoring given sequences, reading observations);
* ``start(context, max_new)``: encode a prompt once and keep a key/value cache;
* ``step(token, cache)``: logits of the next token after appending one token,
  one forward step per token (sampling a completion).

Sequences are LEFT-padded, as the env's observations are: the content starts at
the first non-pad token. Positions count from there, and padding is masked out
of attention, so a prefix has the same logits whatever padding surrounds it
(tests/test_policy.py checks cache vs full pass and observation vs tokens).

An optional action mask (the task's useful tokens) is part of the policy, so the
distribution sampled from and the distribution scored in the loss are the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from token_gym import checks

MASKED_LOGIT = -1e9  # finite, so that 0 * log 0 terms (entropy, KL) stay 0, not NaN


def _from_vocabulary() -> Any:
    """A field the env's vocabulary sets: not part of the shape ``policy_kwargs`` chooses."""
    return field(metadata={"from_vocabulary": True})


def _shape(check: Callable[[str, Any], Any], default: Any = MISSING) -> Any:
    """A field of the policy's shape, with the check its value must pass (``check(name, value)``)."""
    return field(default=default, metadata={"check": check})


def _kind(name: str, value: object) -> str:
    return checks.choice(name, value, tuple(POLICY_KINDS))


def _dropout(name: str, value: object) -> float:
    return checks.number(name, value, 0.0, 1.0, high_open=True)


@dataclass
class PolicyConfig:
    """Shape of a policy; saved as JSON next to its weights. Every field is checked on construction."""

    vocab_size: int = _from_vocabulary()
    """Token ids the policy reads and writes: the env's vocabulary size."""
    pad_id: int = _from_vocabulary()
    """The padding id; left padding is masked out of attention."""
    max_len: int = _shape(checks.positive_int)
    """Longest sequence (prompt + sep + completion) the position table covers."""
    n_layer: int = _shape(checks.positive_int, 2)
    """Transformer blocks (GRU: stacked cells)."""
    n_head: int = _shape(checks.positive_int, 4)
    """Attention heads per block; must divide ``n_embd`` (the GRU has none)."""
    n_embd: int = _shape(checks.positive_int, 64)
    """Width of the token embeddings and of every hidden layer."""
    dropout: float = _shape(_dropout, 0.0)
    """Dropout probability in [0, 1) inside the blocks (training mode only)."""
    kind: str = _shape(_kind, "transformer")
    """``"transformer"`` or ``"gru"``."""

    def __post_init__(self) -> None:
        self.vocab_size = checks.positive_int("policy vocab_size", self.vocab_size)
        self.pad_id = checks.integer("policy pad_id", self.pad_id, minimum=0)
        if self.pad_id >= self.vocab_size:
            raise ValueError(f"policy pad_id must be a token id below vocab_size={self.vocab_size}, got {self.pad_id}")
        shape = _check_shape({name: getattr(self, name) for name in SHAPE_FIELDS}, lambda key: f"policy {key}")
        for name, value in shape.items():
            setattr(self, name, value)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def shape(self) -> dict[str, Any]:
        """The :data:`SHAPE_FIELDS` of this config: the ``policy_kwargs`` that rebuild it on the same vocabulary."""
        return {name: getattr(self, name) for name in SHAPE_FIELDS}


_SHAPE = {f.name: f for f in fields(PolicyConfig) if not f.metadata.get("from_vocabulary")}
SHAPE_FIELDS = tuple(_SHAPE)
"""What ``policy_kwargs`` may set: every PolicyConfig field but those the vocabulary sets."""


def _check_shape(shape: dict[str, Any], name: Callable[[str], str], unset_ok: bool = False) -> dict[str, Any]:
    """``shape`` with every value checked by its field's check; ``name(key)`` is what errors call it.

    With ``unset_ok``, a field without a default (max_len) may be None: the agent fills it from the env.
    """
    checked = {}
    for key, f in _SHAPE.items():
        unset = unset_ok and f.default is MISSING and shape[key] is None
        checked[key] = None if unset else f.metadata["check"](name(key), shape[key])
    if checked["kind"] == "transformer" and checked["n_embd"] % checked["n_head"]:
        raise ValueError(
            f"{name('n_embd')} must be a multiple of n_head, got n_embd={checked['n_embd']}, n_head={checked['n_head']}"
        )
    return checked


def policy_shape(policy_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """Every shape key of a new policy: ``policy_kwargs`` with PolicyConfig's defaults filled in, checked.

    ``max_len`` stays None when not given: the agent then takes the env's observation width.
    """
    if policy_kwargs is not None and not isinstance(policy_kwargs, dict):
        raise ValueError(f"policy_kwargs must be a dict, got {policy_kwargs!r}")
    policy_kwargs = dict(policy_kwargs or {})
    unknown = sorted(set(policy_kwargs) - set(SHAPE_FIELDS))
    if unknown:
        raise ValueError(f"unknown policy_kwargs {unknown}; valid: {', '.join(sorted(SHAPE_FIELDS))}")
    shape = {key: policy_kwargs.get(key, None if f.default is MISSING else f.default) for key, f in _SHAPE.items()}
    return _check_shape(shape, lambda key: f"policy_kwargs[{key!r}]", unset_ok=True)


def content_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """(B, T) bool: True from the first non-pad token of each row on (left padding is False)."""
    return (tokens != pad_id).long().cummax(dim=1).values.bool()


def content_positions(valid: Tensor) -> Tensor:
    """(B, T) positions counted from the first content token (0 on padding)."""
    return (valid.long().cumsum(dim=1) - 1).clamp(min=0)


@dataclass
class KVCache:
    """Keys and values of every layer for the tokens seen so far, preallocated."""

    keys: list[Tensor]  # n_layer × (B, H, T_max, D)
    values: list[Tensor]  # n_layer × (B, H, T_max, D)
    valid: Tensor  # (B, T_max) bool: which cached positions are content
    length: int  # how many positions are filled
    next_position: Tensor  # (B,) position of the next token
    all_valid: bool = False  # no padding anywhere: attention needs no mask


def _attention_mask(valid: Tensor) -> Tensor | None:
    """(B, 1, T, T) bool: a query sees earlier content keys, and itself (so padding rows are not all-masked,
    which would give NaN); None when there is no padding: plain causal attention, the fast kernel."""
    if bool(valid.all()):
        return None
    T = valid.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=valid.device).tril()
    return (causal & valid[:, None, None, :]) | torch.eye(T, dtype=torch.bool, device=valid.device)


class SelfAttention(nn.Module):
    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: Tensor, mask: Tensor | None, cache: tuple[Tensor, Tensor, int] | None = None) -> Tensor:
        """``mask`` (B, 1, T, T_keys) bool, or None: causal over all keys (no padding, the fast kernel)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        if cache is not None:  # write this step's keys/values, attend over everything so far
            keys, values, start = cache
            keys[:, :, start : start + T] = k
            values[:, :, start : start + T] = v
            k, v = keys[:, :, : start + T], values[:, :, : start + T]
        dropout = self.dropout if self.training else 0.0
        causal = mask is None and T > 1
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal)  # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.attn = SelfAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: Tensor, mask: Tensor | None, cache: tuple[Tensor, Tensor, int] | None = None) -> Tensor:
        x = x + self.attn(self.ln1(x), mask, cache)
        return x + self.mlp(self.ln2(x))


class TransformerPolicy(nn.Module):
    """π(token | prefix): a causal transformer with learned positions and tied embeddings."""

    def __init__(self, config: PolicyConfig, action_mask: Tensor | None = None):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = nn.Embedding(config.max_len, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight  # weight tying, as in GPT-2
        allowed = torch.ones(config.vocab_size, dtype=torch.bool) if action_mask is None else action_mask.bool()
        self.register_buffer("allowed", allowed.clone())
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _logits(self, x: Tensor) -> Tensor:
        logits = self.head(self.ln_f(x))  # (B, T, V)
        return logits.masked_fill(~self.allowed, MASKED_LOGIT)

    def forward(self, tokens: Tensor) -> Tensor:
        """(B, T) left-padded token ids -> (B, T, V) next-token logits at every position."""
        valid = content_mask(tokens, self.config.pad_id)  # (B, T)
        self._check_length(tokens)
        x = self.token_embedding(tokens) + self.position_embedding(self._positions(valid))  # (B, T, C)
        mask = _attention_mask(valid)
        for block in self.blocks:
            x = block(x, mask)
        return self._logits(x)

    @torch.no_grad()
    def start(self, context: Tensor, max_new: int) -> tuple[Tensor, KVCache]:
        """Encode left-padded ``context`` (B, T0); logits (B, V) of the first new token and a cache."""
        B, T0 = context.shape
        self._check_length(context)
        config, device = self.config, context.device
        T_max = T0 + max_new
        head_dim = config.n_embd // config.n_head
        shape = (B, config.n_head, T_max, head_dim)
        cache = KVCache(
            keys=[torch.zeros(shape, device=device) for _ in self.blocks],
            values=[torch.zeros(shape, device=device) for _ in self.blocks],
            valid=torch.ones(B, T_max, dtype=torch.bool, device=device),
            length=0,
            next_position=torch.zeros(B, dtype=torch.long, device=device),
        )
        valid = content_mask(context, config.pad_id)
        cache.valid[:, :T0] = valid
        positions = self._positions(valid)
        x = self.token_embedding(context) + self.position_embedding(positions)  # (B, T0, C)
        mask = _attention_mask(valid)
        for block, keys, values in zip(self.blocks, cache.keys, cache.values, strict=True):
            x = block(x, mask, (keys, values, 0))
        cache.length = T0
        cache.all_valid = bool(valid.all())
        cache.next_position = positions[:, -1] + 1
        return self._logits(x[:, -1]), cache

    @torch.no_grad()
    def step(self, token: Tensor, cache: KVCache) -> tuple[Tensor, KVCache]:
        """Append ``token`` (B,) to every row; logits (B, V) of the token after it."""
        t = cache.length
        if t >= cache.keys[0].shape[2]:
            raise ValueError(f"the cache holds {t} positions and is full; start() with a larger max_new")
        position = cache.next_position.clamp(max=self.config.max_len - 1)  # see _positions
        x = self.token_embedding(token[:, None]) + self.position_embedding(position[:, None])  # (B, 1, C)
        mask = None if cache.all_valid else cache.valid[:, None, None, : t + 1]  # (B, 1, 1, t + 1)
        for block, keys, values in zip(self.blocks, cache.keys, cache.values, strict=True):
            x = block(x, mask, (keys, values, t))
        cache.length = t + 1
        cache.next_position = cache.next_position + 1
        return self._logits(x[:, -1]), cache

    def _positions(self, valid: Tensor) -> Tensor:
        """Content positions, clamped to the table. Only padding after an episode's end goes past it: rows
        that started from a prefix share a batch with rows that did not, so the tensor is wider than any
        row's content, and its last columns are the padding after the first rows ended (never scored)."""
        return content_positions(valid).clamp(max=self.config.max_len - 1)

    def _check_length(self, tokens: Tensor) -> None:
        """Every row's content (first to last non-pad token) must fit the position table."""
        content = tokens != self.config.pad_id  # (B, T)
        T = tokens.shape[1]
        first = content.long().argmax(dim=1)
        last = T - 1 - content.flip(1).long().argmax(dim=1)
        longest = int((last - first + 1).clamp(min=0).max()) if content.any() else 0
        if longest > self.config.max_len:
            raise ValueError(f"sequence of {longest} tokens is longer than the policy's max_len={self.config.max_len}")


@dataclass
class GRUCache:
    hidden: Tensor  # (n_layer, B, C)


class GRUPolicy(nn.Module):
    """π(token | prefix) as a GRU, behind the same interface as :class:`TransformerPolicy`.

    Left padding is skipped by keeping the hidden state at zero until the
    content starts, so padding never changes the prediction.
    """

    def __init__(self, config: PolicyConfig, action_mask: Tensor | None = None):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.cells = nn.ModuleList(nn.GRUCell(config.n_embd, config.n_embd) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size)
        allowed = torch.ones(config.vocab_size, dtype=torch.bool) if action_mask is None else action_mask.bool()
        self.register_buffer("allowed", allowed.clone())

    def _advance(self, token: Tensor, valid: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """One step for every row; rows where ``valid`` is False keep their hidden state."""
        x = self.token_embedding(token)  # (B, C)
        new = []
        for cell, h in zip(self.cells, hidden, strict=True):
            x = torch.where(valid[:, None], cell(x, h), h)
            new.append(x)
        return x, torch.stack(new)

    def _logits(self, x: Tensor) -> Tensor:
        return self.head(self.ln_f(x)).masked_fill(~self.allowed, MASKED_LOGIT)

    def forward(self, tokens: Tensor) -> Tensor:
        B, T = tokens.shape
        valid = content_mask(tokens, self.config.pad_id)
        hidden = torch.zeros(self.config.n_layer, B, self.config.n_embd, device=tokens.device)
        outputs = []
        for t in range(T):
            x, hidden = self._advance(tokens[:, t], valid[:, t], hidden)
            outputs.append(x)
        return self._logits(torch.stack(outputs, dim=1))  # (B, T, V)

    @torch.no_grad()
    def start(self, context: Tensor, max_new: int) -> tuple[Tensor, GRUCache]:
        B, T0 = context.shape
        valid = content_mask(context, self.config.pad_id)
        hidden = torch.zeros(self.config.n_layer, B, self.config.n_embd, device=context.device)
        for t in range(T0):
            x, hidden = self._advance(context[:, t], valid[:, t], hidden)
        return self._logits(x), GRUCache(hidden)

    @torch.no_grad()
    def step(self, token: Tensor, cache: GRUCache) -> tuple[Tensor, GRUCache]:
        valid = torch.ones_like(token, dtype=torch.bool)
        x, hidden = self._advance(token, valid, cache.hidden)
        return self._logits(x), GRUCache(hidden)


Policy = TransformerPolicy | GRUPolicy
POLICY_KINDS = {"transformer": TransformerPolicy, "gru": GRUPolicy}


def make_policy(config: PolicyConfig, action_mask: Tensor | None = None) -> Policy:
    """Build the policy ``config.kind`` names."""
    return POLICY_KINDS[config.kind](config, action_mask)
