"""TorchRL: GymEnv by id (it passes ``frameskip`` and retries without it), GymWrapper over our envs."""

import gymnasium as gym
import pytest
import torch

import token_gym  # noqa: F401

torchrl = pytest.importorskip("torchrl")
from torchrl.envs import GymEnv, GymWrapper  # noqa: E402
from torchrl.envs.libs.gym import ACCEPTED_TYPE_ERRORS  # noqa: E402
from torchrl.envs.utils import check_env_specs  # noqa: E402


def play_the_oracle(env) -> tuple[list[float], list[bool]]:
    """One episode of the oracle's tokens through TorchRL's step; the rewards and dones it saw."""
    td = env.reset()
    base = env._env.unwrapped  # the TokenEnv inside, to read which prompt was drawn
    rewards, dones = [], []
    for token in base.demonstration_tokens(base._prompt):
        td["action"] = torch.tensor(token)
        td = env.step(td)
        rewards.append(td["next", "reward"].item())
        dones.append(td["next", "done"].item())
        td = td["next"]
    return rewards, dones


def test_the_env_words_unknown_kwargs_as_torchrl_expects():
    """TorchRL retries without ``frameskip`` only when the TypeError holds Python's own words."""
    with pytest.raises(TypeError) as caught:
        gym.make("token_gym/Copy-v0", length=2, frameskip=1)
    assert ACCEPTED_TYPE_ERRORS["frame_skip"] in str(caught.value)


def test_gym_env_by_id_builds_resets_and_steps():
    env = GymEnv("token_gym/Copy-v0", length=2, categorical_action_encoding=True)
    check_env_specs(env)
    assert env.observation_spec["observation"].shape == (2 + 1 + 3,)
    rewards, dones = play_the_oracle(env)
    assert rewards == [0.0, 0.0, 1.0] and dones == [False, False, True]
    rollout = env.rollout(12, break_when_any_done=False)
    assert rollout["next", "done"].sum() >= 3  # episodes end (at the cap of 3 at the latest) and restart


def test_gym_wrapper_over_a_single_env_and_over_the_native_vector_env():
    env = GymWrapper(gym.make("token_gym/Copy-v0", length=2), categorical_action_encoding=True)
    check_env_specs(env)
    assert play_the_oracle(env)[0][-1] == 1.0
    vector = GymWrapper(gym.make_vec("token_gym/Copy-v0", num_envs=3, length=2, autoreset_mode="SameStep"))
    assert vector.batch_size == torch.Size([3])
    check_env_specs(vector)
    rollout = vector.rollout(6, break_when_any_done=False)
    assert rollout["next", "done"].shape == (3, 6, 1) and rollout["next", "done"].sum() >= 3


def test_gym_wrapper_over_the_vector_env_in_disabled_mode_resets_the_rows_that_ended():
    """TorchRL's preferred autoreset for vector envs: rows that end stay frozen until TorchRL resets them
    (a partial reset, our ``reset_mask``); every episode of a row then counts once."""
    vector = GymWrapper(
        gym.make_vec("token_gym/Copy-v0", num_envs=4, length=2, autoreset_mode="Disabled"),
        categorical_action_encoding=True,
    )
    check_env_specs(vector)
    rollout = vector.rollout(9, break_when_any_done=False)
    done = rollout["next", "done"][..., 0]  # (4, 9)
    assert done.shape == (4, 9) and done.sum(dim=1).min() >= 3  # a cap of 3 tokens: ended and restarted
    reward = rollout["next", "reward"][..., 0]
    assert (reward[~done] == 0).all()  # paid only when an episode ends
