"""TokenVectorEnv: exactly what N single envs give, in lockstep, over thousands of steps."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

import token_gym
from tests.helpers import SMALL_KWARGS

CASES = [
    ("token_gym/Reverse-v0", {"length": 3, "reward": "partial"}),
    ("token_gym/Addition-v0", {"digits": 2, "tokenizer": "bpe", "bpe_vocab_size": 24}),
    ("token_gym/SecretString-v0", {"length": 2, "alphabet": "ab", "reward": "distractor", "num_prompts": 3}),
    ("token_gym/CombinationLock-v0", {"length": 3, "alphabet": "ab", "num_prompts": 2}),
    ("token_gym/Text-v0", SMALL_KWARGS["token_gym/Text-v0"]),
]


def assert_infos_equal(ours: dict, theirs: dict, where: str) -> None:
    assert set(ours) == set(theirs), (where, set(ours) ^ set(theirs))
    for key, expected in theirs.items():
        got = ours[key]
        if key == "final_info":
            assert_infos_equal(got, expected, where + "/final_info")
        elif key == "final_obs":
            assert [None if o is None else o.tolist() for o in got] == [
                None if o is None else o.tolist() for o in expected
            ], where
        elif key == "completion":  # ours is a str array; compare where present
            mask = theirs["_completion"]
            assert [str(t) for t in got[mask]] == list(expected[mask]), where
        else:
            assert np.array_equal(np.asarray(got), np.asarray(expected)), (where, key, got, expected)


def run_in_lockstep(ours, theirs, steps: int, seed: int = 11, options: dict | None = None) -> int:
    """Step both with the same actions (mostly useful tokens, sometimes any token, specials too),
    assert every output equal; the number of episodes that ended. In Disabled mode the rows that
    ended are reset after each step, with ``reset_mask``, as a user of that mode does."""
    disabled = ours.autoreset_mode is gym.vector.AutoresetMode.DISABLED
    rng = np.random.default_rng(0)
    vocab, n = ours.encoded_task.vocab, ours.num_envs
    useful = np.flatnonzero(ours.encoded_task.action_mask)
    obs, infos = ours.reset(seed=seed, options=options)
    expected_obs, expected_infos = theirs.reset(seed=seed, options=options)
    assert np.array_equal(obs, expected_obs)
    assert_infos_equal(infos, expected_infos, "reset")
    episodes = 0
    for t in range(steps):
        actions = rng.choice(useful, size=n)
        actions[rng.random(n) < 0.05] = rng.integers(0, vocab.size)
        got, expected = ours.step(actions), theirs.step(actions)
        for name, a, b in zip(("obs", "reward", "terminated", "truncated"), got[:4], expected[:4], strict=True):
            assert np.array_equal(a, b), (t, name, a, b)
            assert a.dtype == b.dtype or name == "reward", (name, a.dtype, b.dtype)
        assert_infos_equal(got[4], expected[4], f"step {t}")
        if ours.render_mode == "rgb_array":  # one frame per row, each the single env's
            frames, expected_frames = ours.render(), theirs.render()
            assert len(frames) == n and all(
                np.array_equal(a, b) for a, b in zip(frames, expected_frames, strict=True)
            ), t
        episodes += int(got[2].sum())
        if disabled and got[2].any():
            again = {**(options or {}), "reset_mask": got[2].copy()}
            a, b = ours.reset(options=again), theirs.reset(options=again)
            assert np.array_equal(a[0], b[0]), t
            assert_infos_equal(a[1], b[1], f"reset after step {t}")
        if t == steps // 2:  # an explicit reset mid-stream, unseeded: both continue their own draws
            assert np.array_equal(ours.reset()[0], theirs.reset()[0])
    return episodes


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=[c[0].split("/")[1] for c in CASES])
def test_lockstep_with_single_envs(env_id, kwargs, mode):
    n = 8
    ours = gym.make_vec(env_id, num_envs=n, autoreset_mode=mode, **kwargs)
    theirs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id, **kwargs)] * n, autoreset_mode=mode)
    assert isinstance(ours, token_gym.TokenVectorEnv)
    assert run_in_lockstep(ours, theirs, 1500) > 100  # many episode boundaries crossed


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
@pytest.mark.parametrize(("env_id", "kwargs"), CASES[2:4], ids=["SecretString", "CombinationLock"])
def test_rgb_array_frames_are_the_single_envs_frames(env_id, kwargs, mode):
    n, rendered = 4, {"render_mode": "rgb_array", **kwargs}
    ours = gym.make_vec(env_id, num_envs=n, autoreset_mode=mode, **rendered)
    theirs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id, **rendered)] * n, autoreset_mode=mode)
    assert run_in_lockstep(ours, theirs, 60) > 10
    single = gym.make(env_id, **rendered)
    single.reset(seed=0)
    assert all(frame.shape == single.render().shape and frame.dtype == np.uint8 for frame in ours.render())


@pytest.mark.parametrize("mode", ["NextStep", "SameStep", "Disabled"])
def test_lockstep_from_a_prefix_with_a_special_token_inside(mode):
    """The completion text skips specials wherever they are, prefix included."""
    kwargs = {"length": 3, "reward": "partial"}
    ours = gym.make_vec("token_gym/Reverse-v0", num_envs=6, autoreset_mode=mode, **kwargs)
    theirs = gym.vector.SyncVectorEnv([lambda: gym.make("token_gym/Reverse-v0", **kwargs)] * 6, autoreset_mode=mode)
    vocab = ours.encoded_task.vocab
    prefix = [vocab.encode("a", "a")[0], vocab.pad_id, vocab.sep_id]
    run_in_lockstep(ours, theirs, 40, options={"prefix": prefix})
    _, infos = ours.reset(seed=0, options={"prefix": prefix[:2]})
    _, _, done, _, infos = ours.step(np.full(6, vocab.eos_id))
    infos = infos.get("final_info", infos)  # SameStep
    assert done.all() and [str(c) for c in infos["completion"]] == ["a"] * 6


def test_lockstep_with_a_vocabulary_too_large_for_int16():
    """Token ids past 32767 take the wider internal buffer; nothing else changes."""
    from tokenizers import Tokenizer

    from token_gym.tokenizer import char_tokenizer

    characters = "".join(chr(0x4E00 + i) for i in range(33_000))
    tokenizer = char_tokenizer(characters)
    assert tokenizer.get_vocab_size() > 32_767
    top = characters[-3:]  # prompts made of the largest ids
    kwargs = {
        "prompts": [top, top[::-1], top[:2]],
        "reward_fn": "token_gym.tasks.rewards:repeats_prompt",
        "max_completion_len": 3,
        "tokenizer": Tokenizer.from_str(tokenizer.to_str()),
    }
    ours = gym.make_vec("token_gym/Text-v0", num_envs=4, **kwargs)
    theirs = gym.vector.SyncVectorEnv([lambda: gym.make("token_gym/Text-v0", **kwargs)] * 4)
    assert ours.unwrapped._obs.dtype == np.int32
    assert run_in_lockstep(ours, theirs, 60) > 10


def test_rewards_match_the_single_env_verifier_under_oracle_actions():
    n = 64
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=n, length=4, autoreset_mode="SameStep")
    _, infos = env.reset(seed=0)
    encoded_task = env.encoded_task
    plans = [encoded_task.demonstration_tokens(int(i)) for i in infos["prompt_index"]]
    for t in range(5):
        _, rewards, terminated, _, infos = env.step(np.array([plan[t] for plan in plans]))
    assert terminated.all() and (rewards == 1.0).all()
    assert infos["final_info"]["is_success"].all()
    assert [str(c) for c in infos["final_info"]["completion"]] == [
        encoded_task.task.answers[i] for i in infos["final_info"]["prompt_index"]
    ]


def test_reset_options_choose_prompts_prefixes_and_rows():
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=4, length=4)
    encoded_task = env.encoded_task
    obs, infos = env.reset(seed=0, options={"prompt_index": 7})
    assert (infos["prompt_index"] == 7).all()
    assert all(pair == (encoded_task.task.prompts[7], "") for pair in env.decode(obs))
    demo = encoded_task.demonstration_tokens(7)
    obs, _ = env.reset(options={"prompt_index": np.array([7, 7, 8, 9]), "prefix": demo[:2]})
    assert env.decode(obs)[0] == (encoded_task.task.prompts[7], encoded_task.task.answers[7][:2])
    obs, _ = env.reset(options={"prompt_index": 7, "prefix": [demo[:1], demo[:2], [], demo[:3]]})
    assert [c for _, c in env.decode(obs)] == [encoded_task.task.answers[7][:k] for k in (1, 2, 0, 3)]
    before = obs.copy()
    obs, infos = env.reset(options={"reset_mask": np.array([False, True, False, False]), "prompt_index": 3})
    assert np.array_equal(obs[[0, 2, 3]], before[[0, 2, 3]])
    assert infos["_prompt_index"].tolist() == [False, True, False, False] and infos["prompt_index"][1] == 3


def test_seed_list_matches_single_envs_seeded_alike():
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=3, length=4)
    _, infos = env.reset(seed=[5, 100, 7])
    singles = [gym.make("token_gym/Reverse-v0", length=4).reset(seed=s)[1]["prompt_index"] for s in (5, 100, 7)]
    assert infos["prompt_index"].tolist() == singles


def test_step_errors_name_the_culprit():
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=3, length=3)
    with pytest.raises(ResetNeeded):
        env.step(np.zeros(3, dtype=np.int64))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(TypeError, match="integer"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="action 99 of env 1"):
        env.step(np.array([3, 99, 3]))
    with pytest.raises(ValueError, match="action -1 of env 2"):
        env.step(np.array([3, 3, -1]))
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(options={"reset_mask": np.zeros(3, dtype=bool)})
    with pytest.raises(ValueError, match="prompt_index"):
        env.reset(options={"prompt_index": [1, 2]})
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        gym.make_vec("token_gym/Reverse-v0", num_envs=2, autoreset_mode="Sometimes")
    with pytest.raises(ValueError, match="copy must be True or False"):
        gym.make_vec("token_gym/Reverse-v0", num_envs=2, copy=1)
    with pytest.raises(ValueError, match=r"options\['group_size'\]=2 must divide the 3 rows"):
        env.reset(options={"group_size": 2})
    with pytest.raises(ValueError, match="cannot be given together"):
        env.reset(options={"group_size": 1, "prompt_index": 0})
    with pytest.raises(ValueError, match="num_envs"):
        token_gym.TokenVectorEnv(num_envs=0)


def test_action_masks_and_metadata():
    env = gym.make_vec("token_gym/Copy-v0", num_envs=5, length=2)
    assert env.action_masks().shape == (5, env.single_action_space.n)
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    same = gym.make_vec("token_gym/Copy-v0", num_envs=5, length=2, autoreset_mode="SameStep")
    assert same.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP


def test_returned_observations_are_fresh():
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=4, length=3)
    first, _ = env.reset(seed=0)
    kept = first.copy()
    first[:] = 0  # a user scribbling on an observation changes nothing inside
    second, *_ = env.step(np.full(4, 3))
    assert not np.shares_memory(first, second)
    assert np.array_equal(second[:, :-1], kept[:, 1:])


def test_copy_false_hands_out_one_array_that_the_next_step_overwrites():
    ours = gym.make_vec("token_gym/Reverse-v0", num_envs=4, length=3, copy=False)
    theirs = gym.make_vec("token_gym/Reverse-v0", num_envs=4, length=3)
    first, _ = ours.reset(seed=0)
    assert np.array_equal(first, theirs.reset(seed=0)[0])
    for action in (3, 4, 2):
        obs, *_ = ours.step(np.full(4, action))
        assert obs is first and np.array_equal(obs, theirs.step(np.full(4, action))[0])


def test_completion_text_can_be_left_out():
    kwargs = {"length": 3, "reward": "partial"}
    with_text = gym.make_vec("token_gym/Reverse-v0", num_envs=8, **kwargs)
    without = gym.make_vec("token_gym/Reverse-v0", num_envs=8, completion_text=False, **kwargs)
    rng = np.random.default_rng(0)
    with_text.reset(seed=1), without.reset(seed=1)
    ended = 0
    for _ in range(40):
        actions = rng.integers(2, with_text.single_action_space.n, size=8)
        a, b = with_text.step(actions), without.step(actions)
        for x, y in zip(a[:4], b[:4], strict=True):
            assert np.array_equal(x, y)
        assert "completion" not in b[4] and "_completion" not in b[4]
        assert {k: v for k, v in a[4].items() if "completion" not in k}.keys() == b[4].keys()
        assert np.array_equal(a[4].get("is_success", []), b[4].get("is_success", []))
        ended += int(a[2].sum())
    assert ended > 20


def test_lockstep_when_prompts_stop_at_different_lengths(monkeypatch):
    """A lock whose combinations are 1 to 3 tokens long under a cap of 4: rows stop at their own
    length (no built-in task does this yet; the vector env's per-row limit must still be exact)."""
    from token_gym.env import TokenEnv
    from token_gym.tasks import TASKS, Task, TaskFamily

    def ragged_lock() -> Task:
        answers = ["a", "ba", "abb", "b", "aa", "bab"]
        prompts = [f"lock {i}" for i in range(len(answers))]
        everyone = np.arange(len(answers))
        return Task("ragged_lock", prompts, answers, "binary", "ab", 4, everyone, everyone, stops_on_error=True)

    monkeypatch.setitem(TASKS, "ragged_lock", TaskFamily(ragged_lock))
    ours = token_gym.TokenVectorEnv(num_envs=6, task="ragged_lock")
    assert ours._limits is not None and len(set(ours.encoded_task.stop_lengths.tolist())) == 3
    theirs = gym.vector.SyncVectorEnv([lambda: TokenEnv(task="ragged_lock")] * 6)
    assert run_in_lockstep(ours, theirs, 600) > 100


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=[c[0].split("/")[1] for c in CASES])
def test_disabled_rows_that_ended_stay_frozen_and_cost_one_report(env_id, kwargs):
    """Stepped past its end, a row keeps its last observation, pays nothing and reports no second end;
    every row equals a single env stepped only until its episode ended."""
    n = 8
    ours = gym.make_vec(env_id, num_envs=n, autoreset_mode="Disabled", **kwargs)
    singles = [gym.make(env_id, **kwargs) for _ in range(n)]
    obs, _ = ours.reset(seed=3)
    last = [env.reset(seed=3 + i)[0] for i, env in enumerate(singles)]
    assert np.array_equal(obs, np.stack(last))
    rng = np.random.default_rng(1)
    useful = np.flatnonzero(ours.encoded_task.action_mask)
    ended = np.zeros(n, dtype=bool)
    for _ in range(ours.encoded_task.max_completion_len + 3):
        actions = rng.choice(useful, size=n)
        obs, rewards, terminated, truncated, infos = ours.step(actions)
        for i, env in enumerate(singles):
            if ended[i]:
                assert np.array_equal(obs[i], last[i]) and rewards[i] == 0.0 and not terminated[i]
                assert not infos.get("_completion", np.zeros(n, bool))[i]
                continue
            last[i], reward, done, _, info = env.step(int(actions[i]))
            assert np.array_equal(obs[i], last[i]) and rewards[i] == reward and terminated[i] == done
            if done:
                assert infos["is_success"][i] == info["is_success"]
                assert str(infos["completion"][i]) == info["completion"]
            ended[i] |= done
    assert ended.all() and not truncated.any()


def test_groups_of_rows_share_a_prompt_drawn_from_their_first_rows_counter():
    env = gym.make_vec("token_gym/Reverse-v0", num_envs=12, length=4)
    _, plain = env.reset(seed=5)
    _, grouped = env.reset(seed=5, options={"group_size": 4})
    prompts = grouped["prompt_index"].reshape(3, 4)
    assert (prompts == prompts[:, :1]).all()
    assert prompts[:, 0].tolist() == plain["prompt_index"][::4].tolist()  # row 4g's own draw
    _, again = env.reset(seed=5, options={"group_size": 4})
    assert np.array_equal(again["prompt_index"], grouped["prompt_index"])  # seeded: reproducible
    _, later = env.reset(options={"group_size": 4})  # unseeded: every counter moved on
    assert not np.array_equal(later["prompt_index"], grouped["prompt_index"])
    mask = np.zeros(12, dtype=bool)
    mask[[1, 2, 7, 9]] = True
    _, partial = env.reset(options={"group_size": 2, "reset_mask": mask})
    assert (
        partial["prompt_index"][1] == partial["prompt_index"][2]
        and partial["prompt_index"][7] == partial["prompt_index"][9]
    )


@pytest.mark.parametrize(("env_id", "kwargs"), CASES[:4], ids=[c[0].split("/")[1] for c in CASES[:4]])
def test_prefixes_as_an_array_equal_single_envs_started_from_them(env_id, kwargs):
    """The fast path (an (N, k) array, checked and applied in numpy) starts each row as a single env would."""
    n, vec = 6, gym.make_vec(env_id, num_envs=6, **kwargs)
    encoded = vec.encoded_task
    prompts = np.resize(vec.prompt_indices(), n)
    k = int(encoded.stop_lengths[prompts].min()) - 1
    rng = np.random.default_rng(0)
    if encoded.task.stops_on_error:
        prefixes = encoded.answers[prompts, :k]
    else:  # any tokens but EOS, specials included
        prefixes = rng.choice(np.setdiff1d(np.arange(encoded.vocab.size), [encoded.vocab.eos_id]), size=(n, k))
    obs, _ = vec.reset(options={"prompt_index": prompts, "prefix": prefixes})
    singles = [gym.make(env_id, **kwargs) for _ in range(n)]
    expected = [
        e.reset(options={"prompt_index": int(p), "prefix": q.tolist()})[0]
        for e, p, q in zip(singles, prompts, prefixes, strict=True)
    ]
    assert np.array_equal(obs, np.stack(expected))
    actions = np.full(n, encoded.vocab.eos_id)
    _, rewards, done, _, infos = vec.step(actions)
    for i, env in enumerate(singles):
        _, reward, terminated, _, info = env.step(int(actions[i]))
        assert rewards[i] == reward and done[i] == terminated and str(infos["completion"][i]) == info["completion"]
    with pytest.raises(ValueError, match="contains EOS"):
        vec.reset(options={"prefix": np.full((n, 1), encoded.vocab.eos_id)})
    with pytest.raises(TypeError, match="integer token ids"):
        vec.reset(options={"prefix": np.zeros((n, 1))})
