"""Exploration strategies: small composable objects with optional hooks into a REINFORCE update.

Select them by name with parameters, ``"temperature:t=1.5"``, or as dicts; compose them in a list::

    ReinforceAgent(env, strategies=["temperature:t=1.5", "entropy:coef=0.01"])

:mod:`agents.exploration.base` says what a strategy is; one module per family holds them:
:mod:`~agents.exploration.sampling` (temperature, epsilon, top_k, top_p),
:mod:`~agents.exploration.objective` (entropy, kl), :mod:`~agents.exploration.novelty`
(count, prefix_count), :mod:`~agents.exploration.passk` (pass_at_k) and
:mod:`~agents.exploration.starts` (go_explore, curriculum).
"""

from agents.exploration.base import LossContext, Strategies, Strategy, parse_strategies, parse_strategy
from agents.exploration.novelty import CompletionCount, PrefixCount
from agents.exploration.objective import EntropyBonus, KLPenalty
from agents.exploration.passk import PassAtK
from agents.exploration.sampling import EpsilonUniform, Temperature, TopK, TopP
from agents.exploration.starts import GoExplore, LengthCurriculum

__all__ = [
    "CompletionCount",
    "EntropyBonus",
    "EpsilonUniform",
    "GoExplore",
    "KLPenalty",
    "LengthCurriculum",
    "LossContext",
    "PassAtK",
    "PrefixCount",
    "Strategies",
    "Strategy",
    "Temperature",
    "TopK",
    "TopP",
    "parse_strategies",
    "parse_strategy",
]
