"""token_gym: language-model token generation as Gymnasium environments.

``import token_gym`` registers every task family as ``token_gym/Name-v0``::

    import gymnasium as gym
    import token_gym

    env = gym.make("token_gym/Reverse-v0", length=5)
    envs = gym.make_vec("token_gym/Reverse-v0", num_envs=1024)  # natively batched

    token_gym.register_variant("my/Reverse3-v0", "token_gym/Reverse-v0", length=3)  # for id-only clients
    env = token_gym.OneHotObservation(gym.make("my/Reverse3-v0"))  # for generic MLPs
"""

from token_gym.encoded import EncodedTask
from token_gym.env import TokenEnv
from token_gym.registration import ENV_IDS, list_envs, register_envs, register_variant
from token_gym.tasks import TASKS, Task
from token_gym.tokenizer import Vocabulary
from token_gym.vector_env import TokenVectorEnv
from token_gym.wrappers import OneHotObservation, OneHotVectorObservation

register_envs()

__all__ = [
    "ENV_IDS",
    "TASKS",
    "EncodedTask",
    "OneHotObservation",
    "OneHotVectorObservation",
    "Task",
    "TokenEnv",
    "TokenVectorEnv",
    "Vocabulary",
    "list_envs",
    "register_envs",
    "register_variant",
]
