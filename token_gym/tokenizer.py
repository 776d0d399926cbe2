"""Tokenizers for token_gym: always a ``tokenizers.Tokenizer``.

Three sources, one result:

* ``"char"`` — one token per character of the task's text, plus the special
  tokens. Encoding and decoding are exact over the task's characters, and a
  character outside the vocabulary is an error, not a silent drop.
* ``"bpe"`` — a small byte-pair encoding trained on the task's own prompts and
  answers, so multi-character tokens appear as in a real language model.
* a path to a ``tokenizer.json`` file, or a ``tokenizers.Tokenizer`` object.

Every tokenizer must hold three special tokens: padding, a separator (which
also plays beginning-of-completion), and end-of-sequence. :class:`Vocabulary`
finds their ids and names whichever is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

PAD, SEP, EOS = "<pad>", "<sep>", "<eos>"
SPECIAL_TOKENS = (PAD, SEP, EOS)


def char_tokenizer(characters: Iterable[str]) -> Tokenizer:
    """A character-level tokenizer: ids 0-2 are pad, sep, eos; then the sorted characters."""
    characters = sorted(set(characters))
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *characters])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def bpe_tokenizer(texts: Iterable[str], vocab_size: int, alphabet: Iterable[str]) -> Tokenizer:
    """A byte-pair encoding trained on ``texts``; deterministic for the same texts."""
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"bpe_vocab_size must be at least {len(SPECIAL_TOKENS) + 1}, got {vocab_size}")
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.decoder = decoders.Fuse()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=sorted(set(alphabet)),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer)
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a ``tokenizer.json`` from disk (never from the network)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"tokenizer file {str(path)!r} is a directory; give the path of its tokenizer.json")
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file {str(path)!r} does not exist")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception on bad JSON
        raise ValueError(f"tokenizer file {str(path)!r} is not a valid tokenizer.json: {error}") from error


@dataclass(frozen=True)
class Vocabulary:
    """A tokenizer with its special ids and a fast id → text table.

    ``token_text[i]`` is what id ``i`` contributes to decoded text (empty for
    specials). ``concatenates`` is true when decoding is plain concatenation of
    those pieces, which lets the vector env decode a batch in numpy.
    """

    tokenizer: Tokenizer
    pad_id: int
    sep_id: int
    eos_id: int
    token_text: tuple[str, ...]
    concatenates: bool
    char_table: np.ndarray | None  # (V,) '<U1' when every token is at most one character

    @property
    def size(self) -> int:
        return len(self.token_text)

    @classmethod
    def of(cls, tokenizer: Tokenizer, pad: str = PAD, sep: str = SEP, eos: str = EOS) -> Vocabulary:
        ids = {}
        for role, token in (("pad_token", pad), ("sep_token", sep), ("eos_token", eos)):
            token_id = tokenizer.token_to_id(token)
            if token_id is None:
                raise ValueError(
                    f"the tokenizer has no {role} {token!r}; add it to the tokenizer "
                    f"or name the one it has with {role}=..."
                )
            ids[role] = token_id
        if len(set(ids.values())) != 3:
            raise ValueError(f"pad_token, sep_token and eos_token must be three different tokens, got {ids}")
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        specials = set(ids.values())
        text = tuple("" if i in specials else tokenizer.decode([i], skip_special_tokens=False) for i in range(size))
        concatenates = isinstance(tokenizer.decoder, decoders.Fuse)
        single_chars = concatenates and all(len(piece) <= 1 for piece in text)
        char_table = np.array(text, dtype="<U1") if single_chars else None
        return cls(tokenizer, ids["pad_token"], ids["sep_token"], ids["eos_token"], text, concatenates, char_table)

    def encode(self, text: str, what: str) -> list[int]:
        """Encode ``text`` exactly, or raise naming ``what`` (e.g. "prompt 3")."""
        try:
            ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        except Exception as error:
            raise ValueError(f"the tokenizer cannot encode {what} {text!r}: {error}") from error
        if self.decode(ids) != text:
            raise ValueError(
                f"the tokenizer's vocabulary lacks tokens of {what} {text!r} (it decodes back as {self.decode(ids)!r})"
            )
        special = {self.pad_id, self.sep_id, self.eos_id} & set(ids)
        if special:
            raise ValueError(f"{what} {text!r} encodes to special token ids {sorted(special)}")
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` with special tokens dropped."""
        ids = [int(i) for i in ids]
        if self.concatenates:
            return "".join(self.token_text[i] for i in ids)
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def decode_rows(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Text of each row's first ``lengths[i]`` ids, as a numpy ``str`` array.

        Its elements are ``np.str_`` (a ``str`` subclass). For character-level
        vocabularies the whole batch is decoded in numpy, without a Python
        string per row: each id becomes its character's code point (0 for the
        silent special tokens), and the (B, W) code points viewed as ``<U{W}``
        are the texts, since numpy drops trailing NULs.
        """
        if self.char_table is None:
            texts = [self.decode(row[:n]) for row, n in zip(ids, lengths, strict=True)]
            return np.array(texts, dtype=str) if texts else np.zeros(0, dtype="<U1")
        width = ids.shape[1]
        if width == 0:
            return np.zeros(len(ids), dtype="<U1")
        # Position-major, (W, B): numpy's loops then run along the batch, not along a few positions.
        # Callers with many rows hand in the transpose of a (W, B) array, so this costs no copy.
        positions = np.arange(width)[:, None]
        codes = self.char_table.view(np.uint32)[ids.T]  # (W, B) code points, 0 for silent tokens
        codes *= positions < lengths  # nothing past a row's length
        # A silent token inside a row would leave a NUL mid-text: move such rows' NULs to the end.
        odd = np.flatnonzero((codes != 0).sum(axis=0) != np.minimum(lengths, width))
        if len(odd):
            order = np.argsort(codes[:, odd] == 0, axis=0, kind="stable")
            codes[:, odd] = np.take_along_axis(codes[:, odd], order, axis=0)
        return np.ascontiguousarray(codes.T).view(f"<U{width}")[:, 0]
