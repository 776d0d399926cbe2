"""Checks of user-supplied parameters, one home for all of them: each names the parameter it refuses.

A bool is never accepted as a number (``True`` is an ``int`` to Python, never to a user), a string
is never parsed, and NaN or infinity is refused unless asked for.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def integer(name: str, value: object, minimum: int | None = None) -> int:
    """``value`` as a Python int, at least ``minimum``, or a ValueError naming ``name``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return int(value)


def positive_int(name: str, value: object) -> int:
    return integer(name, value, minimum=1)


def non_negative_int(name: str, value: object) -> int:
    return integer(name, value, minimum=0)


def number(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float within ``[low, high]`` (``(`` / ``)`` with ``*_open``), or a ValueError."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        left = "(-inf" if low is None else f"{'(' if low_open else '['}{low:g}"
        right = "inf)" if high is None else f"{high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a finite number in {left}, {right}, got {value!r}")
    return value


def positive(name: str, value: object) -> float:
    return number(name, value, 0.0, low_open=True)


def non_negative(name: str, value: object) -> float:
    return number(name, value, 0.0)


def boolean(name: str, value: object) -> bool:
    """``value`` as a Python bool (a numpy bool too), or a ValueError: 0 and 1 are numbers, not flags."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def choice(name: str, value: object, allowed: tuple[str, ...] | list[str]) -> str:
    """One of ``allowed``, or a ValueError that lists them."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value
