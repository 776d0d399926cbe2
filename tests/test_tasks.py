"""Tasks: seeded prompt sets, splits, answers, and validation of their parameters."""

import numpy as np
import pytest

from token_gym.tasks import TASKS, algorithmic
from token_gym.tasks.algorithmic import addition, copy, parity, reverse, sort
from token_gym.tasks.probes import combination_lock, secret_string


@pytest.mark.parametrize("make", [copy, reverse, sort, parity, addition])
def test_prompt_set_is_fixed_by_task_seed(make):
    assert make(task_seed=3).prompts == make(task_seed=3).prompts
    assert make(task_seed=3).prompts != make(task_seed=4).prompts


@pytest.mark.parametrize("make", [copy, reverse, sort, parity, addition])
def test_splits_partition_distinct_prompts(make):
    task = make(num_prompts=200, test_fraction=0.25)
    assert len(set(task.prompts)) == len(task.prompts) == 200
    assert not set(task.train) & set(task.test)
    assert sorted([*task.train, *task.test]) == list(range(200))
    assert len(task.test) == 50


def test_small_spaces_use_every_prompt():
    task = reverse(length=2, alphabet="ab", num_prompts=1000)
    assert sorted(task.prompts) == ["aa", "ab", "ba", "bb"]


def given_prompts(monkeypatch, strings: list[str]) -> None:
    """Make the algorithmic tasks draw exactly ``strings`` (Addition: the digits of both operands)."""
    monkeypatch.setattr(algorithmic, "random_strings", lambda rng, alphabet, length, count: list(strings))


@pytest.mark.parametrize(
    ("make", "examples"),
    [
        (reverse, {"abcd": "dcba", "aabb": "bbaa", "hgfe": "efgh", "abba": "abba"}),
        (copy, {"abca": "abca", "hhha": "hhha"}),
        (sort, {"cabd": "abcd", "dcba": "abcd", "baba": "aabb", "hagb": "abgh"}),
        (parity, {"0110": "0", "0111": "1", "0000": "0", "1111": "0", "1000": "1"}),
    ],
)
def test_string_task_oracles_on_hand_written_examples(monkeypatch, make, examples):
    given_prompts(monkeypatch, list(examples))
    task = make(length=4, num_prompts=len(examples))
    assert dict(zip(task.prompts, task.answers, strict=True)) == examples
    assert [task.demonstration(i) for i in range(len(examples))] == list(examples.values())


@pytest.mark.parametrize(
    ("order", "examples"),
    [
        ("reversed", {"042+317": "9530", "999+999": "8991", "000+000": "0000", "500+500": "0001", "001+009": "0100"}),
        ("natural", {"042+317": "0359", "999+999": "1998", "000+000": "0000", "500+500": "1000", "001+009": "0010"}),
    ],
)
def test_addition_oracle_on_hand_written_examples(monkeypatch, order, examples):
    given_prompts(monkeypatch, [prompt.replace("+", "") for prompt in examples])
    task = addition(digits=3, answer_order=order, num_prompts=len(examples))
    assert dict(zip(task.prompts, task.answers, strict=True)) == examples


def test_drawn_prompts_have_the_documented_shape():
    task = addition(digits=3, num_prompts=50)
    assert all(len(p) == 7 and p[3] == "+" and len(a) == 4 for p, a in zip(task.prompts, task.answers, strict=True))
    assert all(len(p) == 6 and set(p) <= set("abcdefgh") for p in reverse(length=6, num_prompts=50).prompts)


def test_probes_use_all_prompts_in_both_splits():
    task = secret_string(num_prompts=3, length=5, alphabet="xy")
    assert list(task.train) == list(task.test) == [0, 1, 2]
    assert all(len(s) == 5 and set(s) <= set("xy") for s in task.answers)
    lock = combination_lock(length=3)
    assert lock.stops_on_error and lock.max_completion_len == 3


def test_default_cap_leaves_room_for_eos():
    assert reverse(length=5).max_completion_len == 6
    assert addition(digits=2).max_completion_len == 4


@pytest.mark.parametrize(
    ("make", "kwargs", "culprit"),
    [
        (reverse, {"length": -1}, "length"),
        (reverse, {"length": 0}, "length"),
        (reverse, {"length": 2.5}, "length"),
        (reverse, {"alphabet": ""}, "alphabet"),
        (reverse, {"alphabet": "aab"}, "alphabet"),
        (reverse, {"reward": "distractor"}, "reward"),
        (reverse, {"num_prompts": 0}, "num_prompts"),
        (reverse, {"test_fraction": 1.0}, "test_fraction"),
        (reverse, {"max_completion_len": 0}, "max_completion_len"),
        (addition, {"answer_order": "backwards"}, "answer_order"),
        (addition, {"digits": 0}, "digits"),
        (secret_string, {"distractor_reward": 2.0}, "distractor_reward"),
        (combination_lock, {"alphabet": ""}, "alphabet"),
    ],
)
def test_invalid_values_name_the_parameter(make, kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        make(**kwargs)


def test_every_task_has_a_demonstration_or_says_so():
    for name, family in TASKS.items():
        if name == "text":
            continue
        task = family.make()
        assert task.demonstration(int(task.train[0])) == task.answers[int(task.train[0])]


def test_random_strings_are_uniform_enough():
    task = copy(length=1, alphabet="abcd", num_prompts=4)
    assert sorted(task.prompts) == list("abcd")
    counts = np.unique(np.array([list(p) for p in copy(length=6, num_prompts=1000).prompts]), return_counts=True)[1]
    assert counts.min() > 0.7 * counts.mean()


def test_a_longer_secret_extends_the_shorter_one():
    """A length curriculum keeps what was found: same task_seed, the secret of length l is a prefix."""
    from token_gym.tasks.probes import combination_lock, secret_string

    for make in (secret_string, combination_lock):
        short, long = make(length=3, num_prompts=5), make(length=7, num_prompts=5)
        assert all(b.startswith(a) for a, b in zip(short.answers, long.answers, strict=True))
        assert len(set(long.answers)) == 5  # each prompt its own secret
    assert secret_string(length=7, num_prompts=5, task_seed=1).answers != secret_string(length=7, num_prompts=5).answers
