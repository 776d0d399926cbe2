"""TokenEmbeddingExtractor: embeddings of token ids, padding masked, plugged into SB3 policies."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from sb3_contrib import MaskablePPO, RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.vec_env import DummyVecEnv

import token_gym  # noqa: F401  (registers the ids)
from agents.sb3 import TokenEmbeddingExtractor, make_sb3_vec_env, token_policy_kwargs

torch.set_num_threads(1)
KWARGS = dict(length=3, alphabet="abcd")


def _observations(n=16, seed=0):
    """Real observations from the middle of episodes (different amounts of padding)."""
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=n, **KWARGS)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(int(rng.integers(0, 3))):
        obs, *_ = env.step(rng.integers(3, env.single_action_space.n, size=n))
    return env, torch.as_tensor(obs).float()  # SB3 hands Box observations over as float


@pytest.mark.parametrize("encoder", ["flatten", "attention"])
def test_features_have_the_stated_size_and_depend_on_the_tokens(encoder):
    env, obs = _observations()
    extractor = TokenEmbeddingExtractor(env.single_observation_space, features_dim=24, encoder=encoder)
    assert extractor.encoder.vocab_size == env.encoded_task.vocab.size
    features = extractor(obs)
    assert features.shape == (16, 24) and features.dtype == torch.float32
    changed = obs.clone()
    changed[:, -1] = (changed[:, -1] + 1) % extractor.encoder.vocab_size
    assert not torch.allclose(extractor(changed), features)


@pytest.mark.parametrize("encoder", ["flatten", "attention"])
def test_padding_positions_contribute_nothing(encoder):
    env, obs = _observations()
    pad = env.encoded_task.vocab.pad_id
    masked = TokenEmbeddingExtractor(env.single_observation_space, encoder=encoder, pad_id=pad)
    plain = TokenEmbeddingExtractor(env.single_observation_space, encoder=encoder, pad_id=None)
    plain.load_state_dict(masked.state_dict())
    rows = (obs.long() == pad).all(dim=0)  # positions that are padding in every row
    assert rows.any()
    before_masked, before_plain = masked(obs), plain(obs)
    noise = torch.randn(2, masked.encoder.position_embedding.embedding_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for extractor in (masked, plain):
            extractor.encoder.position_embedding.weight[rows] += noise[0]
            extractor.encoder.token_embedding.weight[pad] += noise[1]
    torch.testing.assert_close(masked(obs), before_masked)
    assert not torch.allclose(plain(obs), before_plain)


def test_no_one_hot_sized_layer_and_gradients_reach_the_embeddings():
    """Parameters scale with vocab × embed_dim, not vocab × width × features as one-hot input would."""
    space = spaces.Box(0, 599, (40,), np.int64)
    extractor = TokenEmbeddingExtractor(space, features_dim=64, embed_dim=16, encoder="attention")
    for module in extractor.modules():
        if isinstance(module, torch.nn.Linear):
            assert module.in_features < 600
    obs = torch.randint(1, 600, (8, 40)).float()
    extractor(obs).sum().backward()
    assert extractor.encoder.token_embedding.weight.grad.abs().sum() > 0
    flatten = TokenEmbeddingExtractor(space, features_dim=64, embed_dim=16)
    one_hot_first_layer = 40 * 600 * 64
    assert sum(p.numel() for p in flatten.parameters()) < one_hot_first_layer / 10


def test_an_all_padding_row_stays_finite():
    """SB3 builds zero observations (buffers, dummy inputs); attention must not turn them into NaN."""
    env, _ = _observations()
    for encoder in ("flatten", "attention"):
        extractor = TokenEmbeddingExtractor(env.single_observation_space, encoder=encoder)
        assert torch.isfinite(extractor(torch.zeros(2, env.single_observation_space.shape[0]))).all()


def test_bad_arguments_name_themselves():
    box = spaces.Box(0, 9, (5,), np.int64)
    with pytest.raises(TypeError, match="MultiDiscrete"):
        TokenEmbeddingExtractor(spaces.MultiDiscrete([10] * 5))
    with pytest.raises(ValueError, match="encoder"):
        TokenEmbeddingExtractor(box, encoder="lstm")
    with pytest.raises(ValueError, match="pad_id"):
        TokenEmbeddingExtractor(box, pad_id=10)
    with pytest.raises(ValueError, match="features_dim"):
        TokenEmbeddingExtractor(box, features_dim=0)
    with pytest.raises(TypeError, match="token_gym env"):
        token_policy_kwargs(gym.make("CartPole-v1"))


def test_policy_kwargs_read_the_pad_id_from_any_kind_of_env():
    tokenizer_kwargs = dict(pad_token="<eos>", eos_token="<pad>", **KWARGS)  # pad is no longer id 0
    single = gym.make("token_gym/Reverse-v0", **tokenizer_kwargs)
    pad = single.unwrapped.encoded_task.vocab.pad_id
    assert pad != 0
    envs = [
        single,
        gym.make_vec("token_gym/Reverse-v0", num_envs=2, **tokenizer_kwargs),
        make_sb3_vec_env("token_gym/Reverse-v0", 2, **tokenizer_kwargs),
        DummyVecEnv([lambda: gym.make("token_gym/Reverse-v0", **tokenizer_kwargs)]),
    ]
    for env in envs:
        kwargs = token_policy_kwargs(env, features_dim=32)
        assert kwargs["features_extractor_class"] is TokenEmbeddingExtractor
        assert kwargs["features_extractor_kwargs"] == {"pad_id": pad, "features_dim": 32}


@pytest.mark.parametrize("cls", [PPO, A2C, DQN, MaskablePPO, RecurrentPPO])
def test_every_algorithm_builds_a_policy_around_it(cls):
    env = make_sb3_vec_env("token_gym/Reverse-v0", 2, seed=0, **KWARGS)
    policy = "MlpLstmPolicy" if cls is RecurrentPPO else "MlpPolicy"
    model = cls(policy, env, policy_kwargs=token_policy_kwargs(env, encoder="attention"), device="cpu")
    extractors = [m for m in model.policy.modules() if isinstance(m, TokenEmbeddingExtractor)]
    assert extractors and all(e.encoder.encoder == "attention" for e in extractors)
    actions, _ = model.predict(env.reset())
    assert actions.shape == (2,) and env.action_space.contains(int(actions[0]))
