"""TokenSB3VecEnv must give SB3 exactly what DummyVecEnv of gym.make envs gives, on the same seeds and actions."""

import gymnasium as gym
import numpy as np
import pytest
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

import token_gym  # noqa: F401  (registers the ids)
from agents.sb3 import TokenSB3VecEnv, make_sb3_vec_env


def _count_vowels(prompt: str, completion: str) -> float:
    return float(sum(c in "aeiou" for c in completion)) / 4


CASES = {
    "copy": ("token_gym/Copy-v0", dict(length=2, alphabet="abc")),
    "reverse-partial": ("token_gym/Reverse-v0", dict(length=3, alphabet="abcd", reward="partial")),
    "combination-lock": ("token_gym/CombinationLock-v0", {}),
    "addition-bpe": ("token_gym/Addition-v0", dict(tokenizer="bpe", bpe_vocab_size=40)),
    "text": (
        "token_gym/Text-v0",
        dict(prompts=["hello", "abc", "tea time", "aeiou"], reward_fn=_count_vowels, max_completion_len=5),
    ),
}


def _dummy(env_id, n, **kwargs):
    return DummyVecEnv([lambda: gym.make(env_id, **kwargs) for _ in range(n)])


def _assert_same(a, b, where):
    """Equal values and types, arrays compared by value and dtype."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a!r} vs {b!r}"
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} ({type(a).__name__}) vs {b!r} ({type(b).__name__})"


def _actions(rng, masks, eos_id, vocab_size):
    """Mostly useful tokens, EOS often (short episodes, many boundaries), now and then any token."""
    n = len(masks)
    useful = [np.flatnonzero(m) for m in masks]
    actions = np.array([rng.choice(u) for u in useful])
    actions[rng.random(n) < 0.2] = eos_id
    wild = rng.random(n) < 0.05
    actions[wild] = rng.integers(0, vocab_size, size=int(wild.sum()))
    return actions


@pytest.mark.parametrize("case", sorted(CASES))
def test_adapter_matches_dummy_vec_env_step_for_step(case):
    env_id, kwargs = CASES[case]
    n, steps = 4, 1500
    ours = make_sb3_vec_env(env_id, n, seed=123, monitor=False, **kwargs)
    theirs = _dummy(env_id, n, **kwargs)
    theirs.seed(123)
    vocab = ours.encoded_task.vocab
    _assert_same(ours.reset(), theirs.reset(), "reset obs")
    _assert_same(ours.reset_infos, theirs.reset_infos, "reset_infos")
    rng = np.random.default_rng(0)
    episodes = successes = 0
    for t in range(steps):
        masks = get_action_masks(theirs)
        _assert_same(get_action_masks(ours), masks, f"step {t} masks")
        actions = _actions(rng, masks, vocab.eos_id, vocab.size)
        got, want = ours.step(actions), theirs.step(actions)
        for name, a, b in zip(("obs", "rewards", "dones", "infos"), got, want, strict=True):
            _assert_same(a, b, f"step {t} {name}")
        _assert_same(ours.reset_infos, theirs.reset_infos, f"step {t} reset_infos")
        episodes += int(want[2].sum())
        successes += sum(bool(i.get("is_success")) for i in want[3])
    assert episodes > 500  # many episode boundaries were crossed
    if case in ("copy", "text"):
        assert successes > 0  # the terminal-reward path was exercised, not only failures


def test_reseeding_and_options_match_dummy_vec_env():
    env_id, kwargs = CASES["reverse-partial"]
    ours, theirs = make_sb3_vec_env(env_id, 3, monitor=False, **kwargs), _dummy(env_id, 3, **kwargs)
    for seed in (7, 8):
        ours.seed(seed), theirs.seed(seed)
        _assert_same(ours.reset(), theirs.reset(), f"seed {seed}")
    # seeds are used once: the next reset continues each env's own episode sequence
    _assert_same(ours.reset(), theirs.reset(), "unseeded reset after a seeded one")
    _assert_same(ours.reset_infos, theirs.reset_infos, "reset_infos")
    for options in ({"prompt_index": 5}, [{"prompt_index": 1}, {"prompt_index": 2}, {"prompt_index": 9}]):
        ours.set_options(options), theirs.set_options(options)
        _assert_same(ours.reset(), theirs.reset(), f"options {options}")
        _assert_same(ours.reset_infos, theirs.reset_infos, f"options {options} reset_infos")
    prefix = {"prefix": [ours.encoded_task.vocab.eos_id + 1]}
    ours.set_options(prefix), theirs.set_options(prefix)
    _assert_same(ours.reset(), theirs.reset(), "prefix option")
    ours.set_options([{"prompt_index": 1}, {}, {}])
    with pytest.raises(ValueError, match="same option keys"):
        ours.reset()


def test_make_sb3_vec_env_matches_make_vec_env_with_monitor_statistics():
    """The helper is a drop-in for SB3's make_vec_env: same seeding, Monitor's episode stats via VecMonitor."""
    env_id, kwargs = CASES["copy"]
    ours = make_sb3_vec_env(env_id, 4, seed=3, **kwargs)
    theirs = make_vec_env(env_id, 4, seed=3, env_kwargs=kwargs)
    assert isinstance(ours, VecMonitor) and theirs.env_is_wrapped(Monitor) == [True] * 4
    np.testing.assert_array_equal(ours.reset(), theirs.reset())
    rng = np.random.default_rng(1)
    finished = 0
    for _ in range(300):
        actions = _actions(rng, get_action_masks(theirs), ours.encoded_task.vocab.eos_id, ours.encoded_task.vocab.size)
        (o1, r1, d1, i1), (o2, r2, d2, i2) = ours.step(actions), theirs.step(actions)
        (
            np.testing.assert_array_equal(o1, o2),
            np.testing.assert_array_equal(r1, r2),
            np.testing.assert_array_equal(d1, d2),
        )
        for a, b in zip(i1, i2, strict=True):
            assert ("episode" in a) == ("episode" in b)
            if "episode" in a:
                finished += 1
                assert a["episode"]["r"] == pytest.approx(b["episode"]["r"]) and a["episode"]["l"] == b["episode"]["l"]
    assert finished > 100


def test_action_masks_reach_maskable_ppo_through_the_adapter_and_wrappers():
    env = make_sb3_vec_env("token_gym/Copy-v0", 3, seed=0, length=2, alphabet="abc")  # VecMonitor on top
    assert is_masking_supported(env)
    masks = get_action_masks(env)
    assert masks.shape == (3, env.action_space.n) and masks.dtype == bool
    np.testing.assert_array_equal(masks, np.stack([env.unwrapped.encoded_task.action_mask] * 3))
    assert [m.tolist() for m in env.get_attr("action_masks")[0]()] == masks[0].tolist()


def test_get_set_attr_env_is_wrapped_render_and_close():
    env = make_sb3_vec_env("token_gym/Copy-v0", 2, seed=0, monitor=False, render_mode="ansi", length=2, alphabet="abc")
    assert env.get_attr("action_space") == [gym.spaces.Discrete(env.encoded_task.vocab.size)] * 2
    assert env.get_attr("observation_space", indices=1) == [env.observation_space]
    assert env.get_attr("split") == ["train", "train"] and env.has_attr("encoded_task") and not env.has_attr("nope")
    env.set_attr("split", "train")
    with pytest.raises(ValueError, match="every env"):
        env.set_attr("split", "test", indices=[0])
    assert env.env_is_wrapped(Monitor) == [False, False]
    env.reset()
    text = env.render()
    assert "prompt" in text and text.count("\n") == 1
    assert env.env_method("decode", indices=[1]) == [env.vector_env.decode()[1]]
    with pytest.raises(AttributeError, match="action_masks"):
        env.env_method("reset")
    env.close()


def test_adapter_rejects_what_it_cannot_drive():
    with pytest.raises(ValueError, match="SameStep"):
        TokenSB3VecEnv(gym.make_vec("token_gym/Copy-v0", num_envs=2))
    with pytest.raises(TypeError, match="TokenVectorEnv"):
        TokenSB3VecEnv(gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"))
    env = make_sb3_vec_env("token_gym/Copy-v0", 2, monitor=False)
    env.reset()
    with pytest.raises(ValueError, match="outside the vocabulary"):
        env.step(np.array([0, 10_000]))


def test_sb3_builds_a_token_gym_env_from_its_id():
    """`PPO("MlpPolicy", "token_gym/Copy-v0")` and `make_vec_env(id)` ask for render_mode="rgb_array" first."""
    env = make_vec_env("token_gym/Copy-v0", 2, seed=0)
    assert env.reset().shape == (2, env.observation_space.shape[0])


def test_sb3_evaluate_policy_sees_the_same_episodes_through_both():
    """SB3's own evaluation loop (Monitor / VecMonitor episode records) gives identical episodes on both paths."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy

    from agents.sb3 import token_policy_kwargs

    env_id, kwargs = "token_gym/Copy-v0", dict(length=3, alphabet="abc", reward="partial")
    ours = make_sb3_vec_env(env_id, 4, seed=11, **kwargs)
    theirs = make_vec_env(env_id, 4, seed=11, env_kwargs=kwargs)
    model = PPO("MlpPolicy", ours, policy_kwargs=token_policy_kwargs(ours), seed=0, device="cpu")
    ours.seed(11)  # the model's seed=0 re-seeded its env
    got = evaluate_policy(model, ours, n_eval_episodes=40, return_episode_rewards=True)
    want = evaluate_policy(model, theirs, n_eval_episodes=40, return_episode_rewards=True)
    assert got[1] == want[1]  # episode lengths
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    assert len(set(got[0])) > 1  # partial credit: the rewards differ between episodes
