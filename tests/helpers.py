"""Shared test fixtures: a small instance of every registered id (from the task registry)."""

import token_gym
from token_gym.tasks import TASKS

SMALL_KWARGS = {family.env_id: family.example for family in TASKS.values()}
ALL_IDS = sorted(token_gym.ENV_IDS)
