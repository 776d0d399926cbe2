"""Aggregate scores over seeds (and settings) the way rliable does, with scipy doing the statistics.

* IQM, the interquartile mean: ``scipy.stats.trim_mean(scores, 0.25)`` — the mean of the middle
  half of the runs, robust to a lucky or failed seed and less noisy than the median.
* 95% confidence intervals by the percentile bootstrap, ``scipy.stats.bootstrap``. Given one array
  per setting (a task, in rliable's words) scipy resamples each independently: the *stratified*
  bootstrap of Agarwal et al. (2021), which keeps every setting in every resample.
* Probability of improvement P(X > Y) (ties count half): per setting the Mann–Whitney U statistic
  of X's runs against Y's over n·m (``scipy.stats.mannwhitneyu``), averaged over settings, with a
  stratified-bootstrap interval.

Why not rliable itself: rliable 1.2 needs ``arch<8``, and arch 7.x does not import under pandas 3
(checked with arch 7.2.0 and pandas 3.1.1), while arch 8 breaks rliable's bootstrap. These are the
same estimators with one dependency, scipy, whose API is stable; tests/test_bench.py checks the
report's numbers against scipy called directly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

N_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass
class Interval:
    point: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        return {k: (None if not np.isfinite(v) else float(v)) for k, v in vars(self).items()}


def iqm(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """IQM of the runs of every sample pooled (rliable's ``aggregate_iqm``: trim_mean(·, 0.25) of all runs)."""
    return stats.trim_mean(np.concatenate(samples, axis=axis), 0.25, axis=axis)


def mean(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(np.concatenate(samples, axis=axis), axis=axis)


def improvement(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 averaged over settings; ``samples`` = (x₁, y₁, x₂, y₂, ...)."""
    values = []
    for x, y in zip(samples[::2], samples[1::2], strict=True):
        u = stats.mannwhitneyu(x, y, axis=axis, method="asymptotic").statistic
        values.append(u / (x.shape[axis] * y.shape[axis]))
    return np.mean(values, axis=0)


def interval(statistic, samples: list[np.ndarray], seed: int = 0, n_resamples: int = N_RESAMPLES) -> Interval:
    """``statistic`` of ``samples`` (one 1-D array per setting) and its 95% stratified-bootstrap interval.
    No interval (NaN) when a setting has fewer than two runs."""
    samples = [np.asarray(s, dtype=float) for s in samples]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # ties make mannwhitneyu's p-value 0/0; only its U is used
        point = float(statistic(*samples))
        if any(len(s) < 2 for s in samples):
            return Interval(point, float("nan"), float("nan"))
        result = stats.bootstrap(
            tuple(samples),
            statistic,
            n_resamples=n_resamples,
            confidence_level=CONFIDENCE,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
    ci = result.confidence_interval
    return Interval(point, float(ci.low), float(ci.high))


def iqm_interval(samples: list[np.ndarray], seed: int = 0) -> Interval:
    return interval(iqm, samples, seed)


def mean_interval(samples: list[np.ndarray], seed: int = 0) -> Interval:
    return interval(mean, samples, seed)


def improvement_interval(xs: list[np.ndarray], ys: list[np.ndarray], seed: int = 0) -> Interval:
    """P(X > Y) over settings paired by position: ``xs[i]`` and ``ys[i]`` are the runs of setting i."""
    pairs = [a for x, y in zip(xs, ys, strict=True) for a in (x, y)]
    return interval(improvement, pairs, seed)
