"""Exploration strategies: small objects that change how the agent samples, is rewarded, or where it starts."""

from agents.exploration.sampling import EpsilonUniform, Temperature

__all__ = ["EpsilonUniform", "Temperature"]
