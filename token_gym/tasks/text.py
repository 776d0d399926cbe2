"""Text: bring your own task — prompts, a reward function, optional demonstrations.

Reward functions follow the convention of TRL's reward functions, one
completion at a time: ``reward_fn(prompt, completion, **fields) -> float``,
where ``fields`` are the extra keys of the prompt's JSONL record (for
example a reference ``answer``). It runs once per finished episode, on text.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from token_gym.checks import number, positive_int
from token_gym.tasks.base import Task, task_rng, train_test_split

RewardFn = Callable[..., float]


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSONL file; each needs a string ``prompt``, may have a string ``completion``."""
    return [record for _, record in read_jsonl(path)]


def read_jsonl(path: str | Path, require_completion: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """``("file:line", record)`` pairs of a JSONL file, so later checks can name the line too."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"JSONL file {str(path)!r} does not exist")
    records = []
    for line_number, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}:{line_number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not valid JSON ({error.msg})") from None
        record = _check_record(record, where)
        if require_completion and "completion" not in record:
            raise ValueError(f"{where}: a record needs a string 'completion'")
        records.append((where, record))
    if not records:
        raise ValueError(f"JSONL file {str(path)!r} holds no records")
    return records


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a file; a line that is not UTF-8 is an error naming the file and line."""
    with path.open("rb") as raw:
        for line_number, line in enumerate(raw, start=1):
            try:
                yield line_number, line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}:{line_number}: not UTF-8 text ({error.reason} at byte {error.start})"
                ) from None


def _check_record(record: object, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: a record must be a JSON object, got {type(record).__name__}")
    if not isinstance(record.get("prompt"), str):
        raise ValueError(f"{where}: a record needs a string 'prompt'")
    if "completion" in record and not isinstance(record["completion"], str):
        raise ValueError(f"{where}: 'completion' must be a string")
    return record


def resolve_reward_fn(reward_fn: RewardFn | str) -> RewardFn:
    """A callable, or ``"package.module:function"`` imported from the user's own code."""
    if callable(reward_fn):
        return reward_fn
    if not isinstance(reward_fn, str) or reward_fn.count(":") != 1:
        raise ValueError(f"reward_fn must be a callable or 'module:function', got {reward_fn!r}")
    module_name, function_name = reward_fn.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"reward_fn {reward_fn!r}: cannot import module {module_name!r} ({error})") from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"reward_fn {reward_fn!r}: module {module_name!r} has no function {function_name!r}")
    return function


def _name(function: RewardFn) -> str:
    return f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"


def _fields(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("prompt", "completion")}


def _check_signature(function: RewardFn, records: Sequence[Mapping[str, Any]]) -> None:
    """The reward function must accept ``(prompt, completion, **fields)`` of every record: said now, not
    at the end of the first episode."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some builtins have no signature: nothing to check
        return
    for index, record in enumerate(records):
        try:
            signature.bind(record["prompt"], "", **_fields(record))
        except TypeError as error:
            fields = sorted(_fields(record))
            raise ValueError(
                f"reward function {_name(function)} cannot be called as reward_fn(prompt, completion, **fields) "
                f"with the fields {fields} of prompt {index}: {error}"
            ) from None


def _checked_reward(function: RewardFn, records: Sequence[Mapping[str, Any]]) -> Callable[[int, str], float]:
    _check_signature(function, records)

    def reward(index: int, completion: str) -> float:
        record = records[index]
        try:
            value = function(record["prompt"], completion, **_fields(record))
        except Exception as error:
            raise RuntimeError(
                f"reward function {_name(function)} raised {type(error).__name__} on prompt {index}: {error}"
            ) from error
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"reward function {_name(function)} returned {value!r} ({type(value).__name__}) "
                f"on prompt {index}; it must return a float"
            )
        if not math.isfinite(value):
            raise ValueError(f"reward function {_name(function)} returned {value} on prompt {index}")
        return float(value)

    return reward


def text(
    prompts: Sequence[str] | str | Path | None = None,
    reward_fn: RewardFn | str | None = None,
    demonstrations: Sequence[str] | None = None,
    max_completion_len: int = 32,
    success_threshold: float = 1.0,
    test_fraction: float = 0.2,
    task_seed: int = 0,
) -> Task:
    """Text: your prompts and your reward function.

    Args:
        prompts: a list of prompt strings, or the path of a JSONL file whose
            records hold ``prompt`` and optionally ``completion`` (a
            demonstration) and any fields the reward function wants.
        reward_fn: ``reward_fn(prompt, completion, **fields) -> float``, a
            callable or a ``"module:function"`` string.
        demonstrations: one completion per prompt, for learning from
            demonstrations (overrides JSONL ``completion`` fields).
        max_completion_len: the generation cap in tokens, EOS included.
        success_threshold: a finished episode counts as a success
            (``info["is_success"]``) when its reward reaches this.
        test_fraction, task_seed: the seeded train/test split.
    """
    if prompts is None or reward_fn is None:
        raise ValueError(
            "the Text task needs prompts=[...] or a JSONL path, and reward_fn=callable or 'module:function'"
        )
    if isinstance(prompts, str | Path):
        records = load_jsonl(prompts)
    elif isinstance(prompts, Sequence) and prompts:
        records = [_check_record({"prompt": p}, f"prompts[{i}]") for i, p in enumerate(prompts)]
    else:
        raise ValueError(f"prompts must be a non-empty list of strings or a JSONL path, got {prompts!r}")
    if demonstrations is not None:
        if len(demonstrations) != len(records) or not all(isinstance(d, str) for d in demonstrations):
            raise ValueError(f"demonstrations must be {len(records)} strings, one per prompt")
        demos: list[str] | None = list(demonstrations)
    elif any("completion" in r for r in records):
        demos = [r.get("completion") for r in records]
    else:
        demos = None
    train, test = train_test_split(task_rng(task_seed), len(records), test_fraction)
    return Task(
        name="text",
        prompts=[r["prompt"] for r in records],
        answers=None,
        reward_mode="function",
        alphabet=None,
        max_completion_len=positive_int("max_completion_len", max_completion_len),
        train=train,
        test=test,
        demonstrations=demos,
        reward_text=_checked_reward(resolve_reward_fn(reward_fn), records),
        success_threshold=number("success_threshold", success_threshold),
    )
