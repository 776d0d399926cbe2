"""Shared test fixtures: kwargs that make every registered id constructible."""

import token_gym


def echo_reward(prompt: str, completion: str) -> float:
    return float(completion == prompt)


TEXT_KWARGS = {"prompts": ["ab", "ba", "abc", "cab", "bca"], "reward_fn": echo_reward, "demonstrations": None}

SMALL_KWARGS = {
    "token_gym/Copy-v0": {"length": 3},
    "token_gym/Reverse-v0": {"length": 3},
    "token_gym/Sort-v0": {"length": 3},
    "token_gym/Addition-v0": {"digits": 2},
    "token_gym/Parity-v0": {"length": 4},
    "token_gym/SecretString-v0": {"length": 3},
    "token_gym/CombinationLock-v0": {"length": 3},
    "token_gym/Text-v0": {"prompts": ["ab", "ba", "abc", "cab", "bca"], "reward_fn": echo_reward},
}

ALL_IDS = sorted(token_gym.ENV_IDS)
