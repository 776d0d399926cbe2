"""agents: learners for token_gym — one policy, one loss, two sources of data.

Supervised learning and REINFORCE ascend the same gradient, E[w · ∇ log π(token | prefix)]
(:mod:`agents.objective`); :class:`SLAgent` sets w = 1 on demonstrated tokens, :class:`ReinforceAgent`
sets w = G − b on tokens the policy sampled itself through the env (:mod:`agents.rollout`). The
stable-baselines3 glue is imported from :mod:`agents.sb3`, RLlib's from :mod:`agents.rllib`::

    from agents import ReinforceAgent, SLAgent, evaluate

    sl = SLAgent("token_gym/Reverse-v0", env_kwargs={"length": 4}, seed=0).learn(50_000)
    rl = ReinforceAgent("token_gym/Reverse-v0", policy=sl, kl_coef=0.05, env_kwargs={"length": 4}).learn(100_000)
    print(evaluate(rl, "token_gym/Reverse-v0", env_kwargs={"length": 4}))
"""

from agents.base import Agent, AgentConfig
from agents.baselines import BASELINES, Baseline, returns
from agents.evaluate import evaluate, pass_at_k
from agents.exploration import EpsilonUniform, Temperature
from agents.objective import policy_loss, token_log_probs, weighted_log_likelihood
from agents.policy import GRUPolicy, PolicyConfig, TransformerPolicy, make_policy
from agents.reinforce import ReinforceAgent, ReinforceConfig
from agents.rollout import LogitsHook, Rollout, RolloutSampler, sample_tokens
from agents.sl import SLAgent, SLConfig

__all__ = [
    "BASELINES",
    "Agent",
    "AgentConfig",
    "Baseline",
    "EpsilonUniform",
    "GRUPolicy",
    "LogitsHook",
    "PolicyConfig",
    "ReinforceAgent",
    "ReinforceConfig",
    "Rollout",
    "RolloutSampler",
    "SLAgent",
    "SLConfig",
    "Temperature",
    "TransformerPolicy",
    "evaluate",
    "make_policy",
    "pass_at_k",
    "policy_loss",
    "returns",
    "sample_tokens",
    "token_log_probs",
    "weighted_log_likelihood",
]
