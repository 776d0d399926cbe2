"""register_variant: an id of its own with task kwargs fixed, for clients that take only an id."""

import gymnasium as gym
import numpy as np
import pytest

import token_gym

VARIANT = "test_variants/Reverse3-v0"


@pytest.fixture(autouse=True)
def clean_registry():
    yield
    for env_id in [i for i in gym.registry if i.startswith("test_variants/")]:
        del gym.registry[env_id]


def partial_reward_of_one_right_token(env) -> float:
    """Reset on prompt 0, emit its answer's first token then EOS: the partial reward is 1/3 at length 3."""
    encoded_task = env.unwrapped.encoded_task
    env.reset(options={"prompt_index": 0})
    env.step(encoded_task.demonstration_tokens(0)[0])
    return env.step(encoded_task.vocab.eos_id)[1]


def test_a_variant_makes_the_task_it_names_with_gym_make_and_make_vec():
    spec = token_gym.register_variant(VARIANT, "token_gym/Reverse-v0", length=3, reward="partial")
    assert spec.id == VARIANT and spec.kwargs == {"task": "reverse", "length": 3, "reward": "partial"}
    env = gym.make(VARIANT)
    assert env.observation_space.shape == (3 + 1 + 4,)
    assert partial_reward_of_one_right_token(env) == pytest.approx(1 / 3)
    envs = gym.make_vec(VARIANT, num_envs=3)
    assert isinstance(envs, token_gym.TokenVectorEnv)  # the native vector env, not SyncVectorEnv
    assert envs.single_observation_space.shape == (8,) and envs.encoded_task.task.reward_mode == "partial"
    single = gym.make(VARIANT).reset(seed=4)[0]
    assert np.array_equal(envs.reset(seed=4)[0][0], single)
    assert gym.make(VARIANT, length=4).observation_space.shape == (10,)  # gym.make kwargs still override


def test_registering_the_same_variant_twice_is_fine_and_other_kwargs_are_an_error():
    token_gym.register_variant(VARIANT, "token_gym/Reverse-v0", length=3, reward="partial")
    token_gym.register_variant(VARIANT, "token_gym/Reverse-v0", reward="partial", length=3)
    with pytest.raises(ValueError, match=r"already registered with other kwargs \(they differ in \['length'\]\)"):
        token_gym.register_variant(VARIANT, "token_gym/Reverse-v0", length=4, reward="partial")
    with pytest.raises(ValueError, match="already registered"):
        token_gym.register_variant("token_gym/Reverse-v0", "token_gym/Reverse-v0", length=3)
    assert gym.spec(VARIANT).kwargs["length"] == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "culprit"),
    [
        ({"lenght": 3}, TypeError, "unexpected keyword argument 'lenght'"),
        ({"length": 0}, ValueError, "length"),
        ({"reward": "distractor"}, ValueError, "reward"),
        ({"split": "dev"}, ValueError, "split"),
        ({"task": "sort"}, ValueError, "task"),
    ],
)
def test_bad_kwargs_fail_at_registration_naming_them(kwargs, error, culprit):
    with pytest.raises(error, match=culprit) as caught:
        token_gym.register_variant(VARIANT, "token_gym/Reverse-v0", **kwargs)
    assert VARIANT not in gym.registry
    if kwargs != {"task": "sort"}:
        assert any(VARIANT in note for note in caught.value.__notes__)


def test_the_base_must_be_a_token_gym_id():
    with pytest.raises(ValueError, match="base_id"):
        token_gym.register_variant(VARIANT, "CartPole-v1")
    with pytest.raises(ValueError, match="base_id"):
        token_gym.register_variant(VARIANT, "token_gym/Nope-v0")


def test_a_variant_of_a_variant_and_its_spec_serialises():
    token_gym.register_variant(VARIANT, "token_gym/Reverse-v0", length=3, reward="partial")
    token_gym.register_variant("test_variants/Reverse3Test-v0", VARIANT, split="test")
    env = gym.make("test_variants/Reverse3Test-v0")
    test_prompts = set(env.unwrapped.prompt_indices("test").tolist())
    assert {env.reset()[1]["prompt_index"] for _ in range(50)} <= test_prompts
    spec = gym.envs.registration.EnvSpec.from_json(env.spec.to_json())
    assert spec.kwargs == {"task": "reverse", "length": 3, "reward": "partial", "split": "test"}
