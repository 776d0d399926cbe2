"""agents: learners for token_gym — one policy, one loss, two sources of data.

Supervised learning and REINFORCE ascend the same gradient, E[w · ∇ log π(token | prefix)]
(:mod:`agents.objective`); :class:`SLAgent` sets w = 1 on demonstrated tokens, :class:`ReinforceAgent`
sets w = G − b on tokens the policy sampled itself through the env (:mod:`agents.rollout`)::

    from agents import ReinforceAgent, SLAgent, evaluate

    sl = SLAgent("token_gym/Reverse-v0", env_kwargs={"length": 4}, seed=0).learn(50_000)
    rl = ReinforceAgent("token_gym/Reverse-v0", policy=sl, kl_coef=0.05, env_kwargs={"length": 4}).learn(100_000)
    print(evaluate(rl, "token_gym/Reverse-v0", env_kwargs={"length": 4}))
"""

from agents.base import Agent, AgentConfig
from agents.baselines import BASELINES, Baseline
from agents.evaluate import evaluate, pass_at_k
from agents.objective import policy_loss, token_log_probs, weighted_log_likelihood
from agents.policy import GRUPolicy, PolicyConfig, TransformerPolicy, make_policy
from agents.reinforce import ReinforceAgent, ReinforceConfig
from agents.rollout import EpsilonUniform, LogitsHook, Rollout, RolloutSampler, Temperature, returns
from agents.sb3 import TokenEmbeddingExtractor, TokenSB3VecEnv, make_sb3_vec_env, token_policy_kwargs
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
    "TokenEmbeddingExtractor",
    "TokenSB3VecEnv",
    "TransformerPolicy",
    "evaluate",
    "make_policy",
    "make_sb3_vec_env",
    "pass_at_k",
    "policy_loss",
    "returns",
    "token_log_probs",
    "token_policy_kwargs",
    "weighted_log_likelihood",
]
