"""TokenEnv, the single env: the checkers, the MDP, options, text, rendering."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import token_gym
from tests.helpers import ALL_IDS, SMALL_KWARGS


def make(env_id, **kwargs):
    return gym.make(env_id, **{**SMALL_KWARGS[env_id], **kwargs})


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_gymnasium_checker_passes(env_id):
    with _no_warnings():
        check_env(make(env_id).unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_stable_baselines3_checker_passes(env_id):
    with _no_warnings():
        sb3_check_env(make(env_id).unwrapped)


class _no_warnings:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.caught = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        messages = [str(w.message) for w in self.caught if "render" not in str(w.message)]
        assert not messages, messages


def play(env, tokens, **reset_kwargs):
    obs, info = env.reset(**reset_kwargs)
    rewards, steps = [], []
    for token in tokens:
        obs, reward, terminated, truncated, info = env.step(token)
        rewards.append(reward)
        steps.append((obs, terminated, truncated, info))
        if terminated:
            break
    return rewards, steps


@pytest.mark.parametrize("env_id", [i for i in ALL_IDS if "Text" not in i])
@pytest.mark.parametrize("split", ["train", "test"])
def test_oracle_demonstrations_succeed_and_only_the_last_step_pays(env_id, split):
    env = make(env_id, split=split)
    encoded_task = env.unwrapped.encoded_task
    for index in encoded_task.task.split(split)[:20]:
        tokens = encoded_task.demonstration_tokens(int(index))
        rewards, steps = play(env, tokens, options={"prompt_index": int(index)})
        assert len(rewards) == len(tokens)
        assert rewards[:-1] == [0.0] * (len(tokens) - 1)
        assert rewards[-1] == 1.0
        _, terminated, truncated, info = steps[-1]
        assert terminated and not truncated
        assert info["is_success"] is True
        assert info["completion"] == encoded_task.task.answers[index]
        assert all(not s[1] for s in steps[:-1])


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_same_seed_same_prompts_and_different_seeds_differ(env_id):
    def prompts(seed):
        env = make(env_id)
        first = env.reset(seed=seed)[1]["prompt_index"]
        return [first] + [env.reset()[1]["prompt_index"] for _ in range(30)]

    assert prompts(7) == prompts(7)
    if len(make(env_id).unwrapped.encoded_task.task.train) > 1:
        assert prompts(7) != prompts(8)


def test_reset_draws_only_from_its_split():
    for split in ("train", "test"):
        env = make("token_gym/Reverse-v0", split=split)
        allowed = set(env.unwrapped.encoded_task.task.split(split).tolist())
        env.reset(seed=0)
        assert {env.reset()[1]["prompt_index"] for _ in range(300)} <= allowed


@pytest.mark.parametrize("env_id", ALL_IDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_observations_stay_in_the_space_and_rewards_are_terminal(env_id, data):
    env = make(env_id)
    space = env.observation_space
    obs, _ = env.reset(seed=data.draw(st.integers(0, 2**31)))
    assert space.contains(obs)
    for _ in range(40):
        action = data.draw(st.integers(0, env.action_space.n - 1))
        obs, reward, terminated, truncated, _ = env.step(action)
        assert space.contains(obs) and obs.dtype == np.int64
        assert not truncated
        assert isinstance(reward, float)
        if not terminated:
            assert reward == 0.0
        else:
            obs, _ = env.reset()
            assert space.contains(obs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=0, max_size=6))
def test_state_is_recoverable_from_the_observation_even_with_pad_emitted(tokens):
    env = make("token_gym/Reverse-v0", length=5)
    obs, _ = env.reset(seed=1)
    prompt_ids = env.unwrapped.encoded_task.vocab.encode(env.unwrapped.prompt_text, "prompt")
    generated = []
    for token in tokens:
        if token == env.unwrapped.encoded_task.vocab.eos_id:
            break
        obs, *_ = env.step(token)
        generated.append(token)
    prompt, completion = env.unwrapped.encoded_task.split_observation(obs)
    assert (prompt, completion) == (prompt_ids, generated)


def test_partial_reward_counts_positions_and_penalises_length():
    env = make("token_gym/Reverse-v0", length=4, alphabet="abcd", reward="partial")
    encoded_task = env.unwrapped.encoded_task
    vocab = encoded_task.vocab
    index = int(encoded_task.task.train[0])
    answer = encoded_task.task.answers[index]
    ids = [vocab.encode(c, "c")[0] for c in answer]
    wrong = next(t for t in ids if t != ids[1]) if len(set(ids)) > 1 else (ids[1] + 1 - 3) % 4 + 3

    def reward(tokens):
        rewards, _ = play(env, [*tokens, vocab.eos_id], options={"prompt_index": index})
        return rewards[-1]

    assert reward(ids) == 1.0
    assert reward([ids[0], wrong, ids[2], ids[3]]) == 0.75
    assert reward(ids[:2]) == 0.5
    assert reward([]) == 0.0


def test_distractor_pays_a_little_for_the_empty_completion():
    env = make("token_gym/SecretString-v0", reward="distractor", distractor_reward=0.1)
    eos = env.unwrapped.encoded_task.vocab.eos_id
    rewards, steps = play(env, [eos], seed=0)
    assert rewards == [0.1] and steps[-1][3]["is_success"] is False
    secret = env.unwrapped.encoded_task.demonstration_tokens(0)
    assert play(env, secret)[0][-1] == 1.0


def test_combination_lock_ends_at_the_first_wrong_token():
    env = make("token_gym/CombinationLock-v0", length=4, alphabet="abcd")
    encoded_task = env.unwrapped.encoded_task
    right = encoded_task.demonstration_tokens(0)
    assert len(right) == 4 and encoded_task.vocab.eos_id not in right
    wrong = next(
        t for t in np.flatnonzero(encoded_task.action_mask) if t != right[1] and t != encoded_task.vocab.eos_id
    )
    rewards, steps = play(env, [right[0], int(wrong), right[2], right[3]], seed=0)
    assert rewards == [0.0, 0.0] and steps[-1][1]
    rewards, steps = play(env, right)
    assert rewards == [0.0, 0.0, 0.0, 1.0]


def test_reaching_the_cap_terminates_and_pays():
    env = make("token_gym/Copy-v0", length=3, max_completion_len=3)
    encoded_task = env.unwrapped.encoded_task
    index = int(encoded_task.task.train[0])
    tokens = encoded_task.demonstration_tokens(index)
    assert encoded_task.vocab.eos_id not in tokens  # no room for EOS: the cap ends it
    rewards, steps = play(env, tokens, options={"prompt_index": index})
    assert rewards[-1] == 1.0 and steps[-1][1]
    other = make("token_gym/Copy-v0", length=3)
    token = int(np.flatnonzero(other.unwrapped.encoded_task.action_mask)[-1])
    rewards, steps = play(other, [token] * 10, seed=0)
    assert len(rewards) == other.unwrapped.encoded_task.max_completion_len and steps[-1][1]


def test_prefix_option_starts_mid_completion():
    env = make("token_gym/Reverse-v0", length=4)
    encoded_task = env.unwrapped.encoded_task
    tokens = encoded_task.demonstration_tokens(5)
    obs, info = env.reset(options={"prompt_index": 5, "prefix": tokens[:2]})
    assert info["prompt_index"] == 5
    assert env.unwrapped.decode(obs) == (encoded_task.task.prompts[5], encoded_task.task.answers[5][:2])
    rewards = [env.step(t)[1] for t in tokens[2:]]
    assert rewards[-1] == 1.0


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"prompt_index": 10**6}, "prompt_index"),
        ({"prompt_index": -1}, "prompt_index"),
        ({"prompt_index": "3"}, "prompt_index"),
        ({"prefix": [2]}, "EOS"),
        ({"prefix": [999]}, "prefix"),
        ({"prefix": "ab"}, "prefix"),
        ({"prefix": [3] * 20}, "cap"),
        ({"seed": 3}, "unknown reset option"),
    ],
)
def test_bad_reset_options_are_named(options, match):
    env = make("token_gym/Reverse-v0")
    with pytest.raises((ValueError, TypeError), match=match):
        env.reset(options=options)


def test_lock_prefix_must_follow_the_combination():
    env = make("token_gym/CombinationLock-v0", length=3, alphabet="abcd")
    right = env.unwrapped.encoded_task.demonstration_tokens(0)
    env.reset(options={"prefix": right[:2]})
    eos = env.unwrapped.encoded_task.vocab.eos_id
    wrong = next(t for t in np.flatnonzero(env.unwrapped.encoded_task.action_mask) if t not in (right[0], eos))
    with pytest.raises(ValueError, match="departs"):
        env.reset(options={"prefix": [int(wrong)]})


def test_info_and_action_masks():
    env = make("token_gym/Reverse-v0", length=3, alphabet="abc")
    _, info = env.reset(seed=0)
    vocab = env.unwrapped.encoded_task.vocab
    mask = env.unwrapped.action_masks()
    allowed = {vocab.token_text[i] for i in np.flatnonzero(mask) if i != vocab.eos_id}
    assert allowed == set("abc") and mask[vocab.eos_id]
    assert not mask[vocab.pad_id] and not mask[vocab.sep_id]
    assert set(info) == {"prompt_index", "action_mask"}
    assert (info["action_mask"] == mask).all()
    info["action_mask"][:] = False  # the env's own mask is not shared
    assert env.unwrapped.action_masks().any()


def test_decode_and_render(capsys):
    env = make("token_gym/Reverse-v0", length=3, render_mode="ansi")
    obs, info = env.reset(seed=0)
    prompt = env.unwrapped.prompt_text
    assert env.unwrapped.decode(obs) == (prompt, "")
    token = env.unwrapped.encoded_task.demonstration_tokens(info["prompt_index"])[0]
    obs, *_ = env.step(token)
    assert env.unwrapped.decode(obs) == (prompt, prompt[-1])
    assert env.unwrapped.completion_text == prompt[-1]
    assert prompt in env.render() and repr(prompt[-1]) in env.render()
    human = make("token_gym/Reverse-v0", length=3, render_mode="human")
    human.reset(seed=0)
    assert prompt in capsys.readouterr().out


def test_bpe_and_file_tokenizers_work_end_to_end(tmp_path):
    env = make("token_gym/Copy-v0", length=6, alphabet="ab", tokenizer="bpe", bpe_vocab_size=12)
    encoded_task = env.unwrapped.encoded_task
    assert any(len(t) > 1 for t in encoded_task.vocab.token_text)
    index = int(encoded_task.task.train[0])
    tokens = encoded_task.demonstration_tokens(index)
    assert len(tokens) <= 7
    rewards, steps = play(env, tokens, options={"prompt_index": index})
    assert rewards[-1] == 1.0 and steps[-1][3]["completion"] == encoded_task.task.answers[index]
    path = tmp_path / "tok.json"
    encoded_task.vocab.tokenizer.save(str(path))
    from_file = make("token_gym/Copy-v0", length=6, alphabet="ab", tokenizer=str(path))
    assert from_file.unwrapped.encoded_task.vocab.token_text == encoded_task.vocab.token_text


def test_gym_make_with_module_prefix_imports_the_package():
    code = "import gymnasium as gym; env = gym.make('token_gym:token_gym/Reverse-v0', length=3); print(env.reset(seed=0)[0].shape)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(8,)"


def test_registration_is_idempotent_and_complete():
    token_gym.register_envs()
    token_gym.register_envs()
    listed = token_gym.list_envs()
    assert set(listed) == set(token_gym.ENV_IDS) == {i for i in gym.registry if i.startswith("token_gym/")}
    assert listed["token_gym/Reverse-v0"]["length"] == 5
    assert listed["token_gym/Text-v0"]["reward_fn"] is None
    for kwargs in listed.values():
        assert {"tokenizer", "split", "render_mode"} <= set(kwargs)


def test_readme_lists_every_id_with_its_kwargs():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for env_id, kwargs in token_gym.list_envs().items():
        assert env_id in readme
        for name in kwargs:
            assert f"`{name}" in readme, (env_id, name)


def test_spec_serialises():
    env = gym.make("token_gym/Reverse-v0", length=3)
    assert gym.envs.registration.EnvSpec.from_json(env.spec.to_json()).kwargs["length"] == 3


@pytest.mark.parametrize(
    "make",
    [
        lambda: gym.make("token_gym/Reverse-v0", length=4),
        lambda: gym.make_vec("token_gym/Reverse-v0", num_envs=2, length=4),
    ],
)
def test_envs_expose_prompts_demonstrations_and_vocabulary(make):
    env = make().unwrapped
    train, test = env.prompt_indices(), env.prompt_indices("test")
    assert len(train) == 800 and len(test) == 200 and not set(train) & set(test)
    index = int(test[0])
    prompt = env.prompt(index)
    assert env.demonstration(index) == prompt[::-1]
    tokens = env.demonstration_tokens(index)
    assert tokens[-1] == env.vocab.eos_id
    assert "".join(env.vocab.token_text[t] for t in tokens) == prompt[::-1]
    with pytest.raises(ValueError, match="index must be"):
        env.prompt(1000)


def test_observation_layout_by_hand_with_prompts_of_different_lengths():
    """[pad ..., prompt, sep, completion]: content right-aligned, prompts left-padded (vocabulary
    <pad>=0 <sep>=1 <eos>=2 a=3 b=4; width = longest prompt 2 + 1 + cap 2)."""
    env = gym.make(
        "token_gym/Text-v0",
        prompts=["ab", "b"],
        reward_fn="token_gym.tasks.rewards:repeats_prompt",
        max_completion_len=2,
    )
    assert env.reset(options={"prompt_index": 0})[0].tolist() == [0, 0, 3, 4, 1]
    assert env.reset(options={"prompt_index": 1})[0].tolist() == [0, 0, 0, 4, 1]
    assert env.step(3)[0].tolist() == [0, 0, 4, 1, 3]
    assert env.unwrapped.decode() == ("b", "a")
    obs, *_ = env.reset(options={"prompt_index": 1, "prefix": np.array([4])})  # a numpy prefix too
    assert obs.tolist() == [0, 0, 4, 1, 4]


def test_special_tokens_named_and_placed_as_a_tokenizer_has_them():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[E]": 0, "[P]": 1, "[S]": 2, "a": 3, "b": 4}, unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(["[E]", "[P]", "[S]"])
    env = gym.make(
        "token_gym/Copy-v0",
        length=2,
        alphabet="ab",
        tokenizer=tokenizer,
        pad_token="[P]",
        sep_token="[S]",
        eos_token="[E]",
    )
    vocab = env.unwrapped.vocab
    assert (vocab.pad_id, vocab.sep_id, vocab.eos_id) == (1, 2, 0)
    obs, info = env.reset(seed=0)
    assert obs[:3].tolist() == [1, 1, 1] and obs[-1] == 2
    demo = env.unwrapped.demonstration_tokens(info["prompt_index"])
    assert demo[-1] == 0 and play(env, demo, options={"prompt_index": info["prompt_index"]})[0][-1] == 1.0


def test_the_action_mask_leaves_out_prompt_only_characters_and_is_read_only():
    encoded_task = make("token_gym/Addition-v0").unwrapped.encoded_task
    vocab = encoded_task.vocab
    allowed = {vocab.token_text[i] for i in np.flatnonzero(encoded_task.action_mask) if i != vocab.eos_id}
    assert "+" in vocab.token_text and allowed == set("0123456789")
    assert not encoded_task.action_mask.flags.writeable
