"""stable-baselines3 / sb3-contrib glue: a token-embedding features extractor and a fast VecEnv adapter.

from stable_baselines3 import PPO
from agents.sb3 import make_sb3_vec_env, token_policy_kwargs

env = make_sb3_vec_env("token_gym/Reverse-v0", n_envs=16, seed=0, length=3, alphabet="abc")
model = PPO("MlpPolicy", env, policy_kwargs=token_policy_kwargs(env)).learn(20_000)
"""

from agents.sb3.callbacks import CurveCallback
from agents.sb3.extractor import TokenEmbeddingExtractor, token_policy_kwargs
from agents.sb3.vec_env import TokenSB3VecEnv, make_sb3_vec_env

__all__ = ["CurveCallback", "TokenEmbeddingExtractor", "TokenSB3VecEnv", "make_sb3_vec_env", "token_policy_kwargs"]
