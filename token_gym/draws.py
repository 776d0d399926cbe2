"""Prompt draws that a batch of environments can compute in one numpy call.

Each environment owns a 64-bit key (from its seed) and counts its episodes;
the prompt of episode ``k`` is a splitmix64 hash of the *counter*
``key + k * STEP``, so moving to the next episode is one addition. A single env
and row ``i`` of the vector env seeded with ``seed + i`` therefore pick the
same prompts, and the vector env draws for thousands of resetting rows
without a Python loop over per-row generators.
"""

from __future__ import annotations

import numpy as np

# Constants as 0-d arrays rather than numpy scalars: numpy's ufuncs take those about twice as fast.
_GAMMA, _M1, _M2 = (np.array(c, dtype=np.uint64) for c in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))
_30, _27, _31 = (np.array(c, dtype=np.uint64) for c in (30, 27, 31))


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _30)  # a new array: the rest works in place
    x *= _M1
    x ^= x >> _27
    x *= _M2
    x ^= x >> _31
    return x


def keys_from_seeds(seeds: np.ndarray | list[int]) -> np.ndarray:
    """(N,) uint64 keys of non-negative integer seeds, of any size (gymnasium accepts any).

    A seed below 2**64 is used as it is; a larger one is first folded into 64 bits (:func:`fold`).
    """
    values = np.asarray(seeds)
    if values.dtype != object:  # every seed fits a machine integer: the common case, in one call
        return _mix(values.astype(np.uint64) + _GAMMA)
    return _mix(np.array([fold(int(s)) for s in values.reshape(-1)], dtype=np.uint64) + _GAMMA)


def fold(seed: int) -> int:
    """A seed of any size as 64 bits: itself below 2**64, else its 64-bit words mixed one after the other
    (so 2**70 and 2**70 + 1 stay apart)."""
    if seed < 2**64:
        return seed
    x = 0
    while seed:
        word, seed = seed & _MASK, seed >> 64
        x = int(_mix(np.array([(x ^ word) & _MASK], dtype=np.uint64) + _GAMMA)[0])
    return x


def random_keys(rng: np.random.Generator, count: int) -> np.ndarray:
    """Keys for unseeded environments, from a generator."""
    return rng.integers(0, 2**63, size=count, dtype=np.int64).astype(np.uint64)


STEP = _GAMMA  # what a counter advances by from one episode to the next


def pick(counter: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """One element of ``choices`` per counter ``key + episode * STEP``."""
    x = _mix(counter)
    x %= np.array(len(choices), dtype=np.uint64)
    return choices[x]


_MASK = 2**64 - 1


def draw_one(key: int, episode: int, choices: np.ndarray) -> int:
    """``pick`` for one environment's episode, in plain integers: the single env's reset, ten times
    cheaper.

    Must equal ``pick`` bit for bit (tests/test_draws.py, and the lockstep tests of the two envs).
    """
    x = (key + episode * int(_GAMMA)) & _MASK
    x = ((x ^ (x >> 30)) * int(_M1)) & _MASK
    x = ((x ^ (x >> 27)) * int(_M2)) & _MASK
    return int(choices[(x ^ (x >> 31)) % len(choices)])
