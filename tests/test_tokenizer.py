"""Tokenizers: exact round trips, special tokens, BPE, files, and the batched decoder."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from token_gym.tokenizer import EOS, PAD, SEP, Vocabulary, bpe_tokenizer, char_tokenizer, load_tokenizer

ALPHABET = "abcdefgh0123456789+ "


def test_char_tokenizer_puts_specials_first_and_round_trips():
    vocab = Vocabulary.of(char_tokenizer(ALPHABET))
    assert (vocab.pad_id, vocab.sep_id, vocab.eos_id) == (0, 1, 2)
    assert vocab.size == 3 + len(set(ALPHABET))
    for text in ["", "a", "hgfe dcba", "042+317", "  ++"]:
        ids = vocab.encode(text, "prompt 0")
        assert len(ids) == len(text)
        assert vocab.decode(ids) == text


def test_char_tokenizer_refuses_unknown_characters_naming_the_text():
    vocab = Vocabulary.of(char_tokenizer("abc"))
    with pytest.raises(ValueError, match="prompt 7 'abz'"):
        vocab.encode("abz", "prompt 7")


def test_bpe_learns_multi_character_tokens_and_is_deterministic():
    texts = ["abcabcabc", "abab", "cabcab"] * 20
    first, second = bpe_tokenizer(texts, 40, "abc"), bpe_tokenizer(texts, 40, "abc")
    assert first.to_str() == second.to_str()
    vocab = Vocabulary.of(first)
    ids = vocab.encode("abcabc", "answer 0")
    assert len(ids) < 6  # merged
    assert vocab.decode(ids) == "abcabc"


def test_bpe_that_drops_a_character_is_an_error_not_a_silent_loss():
    vocab = Vocabulary.of(bpe_tokenizer(["abab"], 20, "ab"))
    with pytest.raises(ValueError, match="lacks tokens of prompt 1 'abz'"):
        vocab.encode("abz", "prompt 1")


def test_tokenizer_file_round_trip(tmp_path):
    path = tmp_path / "tokenizer.json"
    char_tokenizer("xyz").save(str(path))
    vocab = Vocabulary.of(load_tokenizer(path))
    assert vocab.decode(vocab.encode("zyx", "prompt 0")) == "zyx"


def test_missing_tokenizer_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        load_tokenizer(tmp_path / "nope.json")


def test_invalid_tokenizer_file_names_the_path(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json"):
        load_tokenizer(path)


def test_vocabulary_names_the_missing_special_token():
    from tokenizers import Tokenizer, models

    tokenizer = Tokenizer(models.WordLevel({PAD: 0, EOS: 1, "a": 2}, unk_token=None))
    with pytest.raises(ValueError, match=f"sep_token '{SEP}'"):
        Vocabulary.of(tokenizer)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 10), min_size=0, max_size=6), min_size=1, max_size=8), st.data())
def test_batched_decode_equals_decoding_each_row(rows, data):
    """Including rows with special tokens inside the completion and anything past the length."""
    vocab = Vocabulary.of(char_tokenizer("abcdefgh"))
    width = 6
    ids = np.full((len(rows), width), vocab.pad_id, dtype=np.int64)
    lengths = np.zeros(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        lengths[i] = data.draw(st.integers(0, len(row)))
    texts = vocab.decode_rows(ids, lengths)
    assert [str(t) for t in texts] == [vocab.decode(ids[i, : lengths[i]]) for i in range(len(rows))]


def test_batched_decode_for_multi_character_tokens():
    vocab = Vocabulary.of(bpe_tokenizer(["abcabc", "abab"] * 5, 30, "abc"))
    ids = np.array([vocab.encode("abcab", "x") + [vocab.eos_id] * 3])[:, :4]
    assert vocab.decode_rows(ids, np.array([len(vocab.encode("abcab", "x"))]))[0] == "abcab"


def test_character_id_order_is_pinned():
    """The id order is part of the checkpoint format: a saved policy's embedding rows are these ids."""
    vocab = Vocabulary.of(char_tokenizer("cab+ 0a"))
    assert vocab.tokenizer.get_vocab(with_added_tokens=True) == {
        "<pad>": 0, "<sep>": 1, "<eos>": 2, " ": 3, "+": 4, "0": 5, "a": 6, "b": 7, "c": 8,
    }  # fmt: skip
    assert vocab.token_text == ("", "", "", " ", "+", "0", "a", "b", "c")
    assert vocab.encode("ab c", "prompt 0") == [6, 7, 3, 8]


@pytest.mark.parametrize(
    ("env_id", "kwargs", "tokens"),
    [
        ("token_gym/Reverse-v0", {}, ["<pad>", "<sep>", "<eos>", *"abcdefgh"]),
        ("token_gym/Addition-v0", {}, ["<pad>", "<sep>", "<eos>", "+", *"0123456789"]),
        ("token_gym/Parity-v0", {}, ["<pad>", "<sep>", "<eos>", "0", "1"]),
    ],
)
def test_the_envs_character_vocabularies_are_pinned(env_id, kwargs, tokens):
    import gymnasium as gym

    import token_gym  # noqa: F401

    tokenizer = gym.make(env_id, **kwargs).unwrapped.vocab.tokenizer
    assert [tokenizer.id_to_token(i) for i in range(tokenizer.get_vocab_size())] == tokens
