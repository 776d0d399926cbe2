"""render_mode="rgb_array": the ansi text drawn with the package's bitmap font, for video recorders."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

from token_gym.env import RenderModeError
from token_gym.render import BACKGROUND, MARGIN, TextFrame, font


def episode_frames(env, tokens):
    env.reset(seed=0)
    frames = [env.render()]
    for token in tokens:
        *_, terminated, _, _ = env.step(token)
        frames.append(env.render())
        if terminated:
            break
    return frames


def test_frames_are_rgb_uint8_of_one_video_friendly_size_per_env():
    env = gym.make("token_gym/Reverse-v0", length=3, render_mode="rgb_array")
    assert env.unwrapped.render() is not None  # before any reset: a blank frame of the same size
    blank = env.unwrapped.render()
    assert (blank == np.array(BACKGROUND, dtype=np.uint8)).all()
    env.reset(seed=0)
    demo = env.unwrapped.demonstration_tokens(env.unwrapped._prompt)
    eos = env.unwrapped.vocab.eos_id
    pad = env.unwrapped.vocab.pad_id
    frames = episode_frames(env, demo) + episode_frames(env, [pad, pad, pad, pad]) + episode_frames(env, [eos])
    for frame in frames:
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape == blank.shape
        assert frame.shape[2] == 3 and frame.shape[0] % 16 == 0 and frame.shape[1] % 16 == 0


def test_different_states_give_different_frames():
    env = gym.make("token_gym/Reverse-v0", length=3, render_mode="rgb_array")
    _, info = env.reset(seed=0)
    demo = env.unwrapped.demonstration_tokens(info["prompt_index"])
    frames = episode_frames(env, demo)
    for a in range(len(frames)):
        for b in range(a + 1, len(frames)):
            assert not np.array_equal(frames[a], frames[b]), (a, b)
    other = gym.make("token_gym/Reverse-v0", length=3, render_mode="rgb_array")
    other.reset(options={"prompt_index": (info["prompt_index"] + 1) % 10})
    assert not np.array_equal(other.render(), frames[0])
    wrong = next(t for t in np.flatnonzero(env.unwrapped.action_masks()) if t != demo[0])
    failed = episode_frames(env, [int(wrong), *demo[1:]])[-1]
    solved = frames[-1]
    colours = {tuple(c) for c in np.unique(solved.reshape(-1, 3), axis=0)} - {BACKGROUND}
    assert colours and colours != {tuple(c) for c in np.unique(failed.reshape(-1, 3), axis=0)} - {BACKGROUND}


def test_a_character_is_drawn_as_its_glyph():
    index, glyphs = font()
    frame = TextFrame(4).draw("A", (255, 0, 0))
    ink = (frame != np.array(BACKGROUND, dtype=np.uint8)).any(axis=2)
    height, width = glyphs.shape[1:]
    assert np.array_equal(ink[MARGIN : MARGIN + height, MARGIN : MARGIN + width], glyphs[index["A"]])
    assert ink.sum() == glyphs[index["A"]].sum() > 0
    unknown = TextFrame(4).draw("\u4e00", (255, 0, 0))  # a character the font lacks: the box glyph
    assert (unknown != np.array(BACKGROUND, dtype=np.uint8)).any(axis=2).sum() == glyphs[index["\ufffd"]].sum()


def test_the_frame_holds_the_longest_text_an_env_can_render():
    """Quotes and backslashes make repr longer than the text: the bound must still hold."""
    from token_gym.tokenizer import char_tokenizer

    prompts = ["a'b\"c\\", "''", '""']
    kwargs = {
        "prompts": prompts,
        "reward_fn": "token_gym.tasks.rewards:repeats_prompt",
        "max_completion_len": 5,
        "tokenizer": char_tokenizer("".join(prompts) + "\n"),
    }
    env = gym.make("token_gym/Text-v0", render_mode="rgb_array", **kwargs)
    ansi = gym.make("token_gym/Text-v0", render_mode="ansi", **kwargs)
    rows, columns = env.unwrapped._frame.shape
    bound = rows * columns  # the characters a frame holds: every text must fit
    vocab = env.unwrapped.vocab
    for tokens in (["'"] * 5, ['"', "'", "\\", "\n", "'"], ["\\"] * 5):
        ids = [vocab.encode(t, "token")[0] for t in tokens]
        for prompt in range(len(prompts)):
            for e in (env, ansi):
                e.reset(options={"prompt_index": prompt})
                for token in ids:
                    e.step(token)
            assert len(ansi.render()) <= bound
            assert env.render().shape == env.unwrapped._frame.frame_shape


def test_gym_make_with_rgb_array_warns_nothing_and_unknown_modes_raise():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("token_gym/Copy-v0", length=2, render_mode="rgb_array")
        env.reset(seed=0)
        env.render()  # the passive checker inspects the first frame
        env.step(3)
        env.render()
    for mode in ("rgb", "depth_array"):
        with pytest.raises(RenderModeError, match="render_mode"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gymnasium's own warning that the mode is not declared
            gym.make("token_gym/Copy-v0", render_mode=mode)
    assert issubclass(RenderModeError, TypeError) and issubclass(RenderModeError, ValueError)
    collected = gym.make("token_gym/Copy-v0", length=2, render_mode="rgb_array_list")  # gymnasium's RenderCollection
    collected.reset(seed=0)
    collected.step(3)
    assert [frame.shape[2] for frame in collected.render()] == [3, 3]


def test_stable_baselines3_probe_by_id_gets_rgb_array_without_warnings():
    from stable_baselines3.common.base_class import maybe_make_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = maybe_make_env("token_gym/Copy-v0", verbose=0)
    assert env.render_mode == "rgb_array"


def test_record_video_writes_an_episode(tmp_path):
    pytest.importorskip("moviepy")
    folder = tmp_path / "videos"
    env = gym.make("token_gym/Reverse-v0", length=3, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.wrappers.RecordVideo(env, str(folder), episode_trigger=lambda episode: True)
        _, info = env.reset(seed=0)
        for token in env.unwrapped.demonstration_tokens(info["prompt_index"]):
            env.step(token)
        env.close()
    videos = list(folder.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


def test_gymnasiums_vector_record_video_writes_the_vector_envs_frames(tmp_path):
    pytest.importorskip("moviepy")
    folder = tmp_path / "videos"
    envs = gym.make_vec("token_gym/Reverse-v0", num_envs=4, length=3, render_mode="rgb_array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        envs = gym.wrappers.vector.RecordVideo(envs, str(folder), episode_trigger=lambda episode: True)
        envs.reset(seed=0)
        for _ in range(4):
            envs.step(envs.action_space.sample())
        envs.close()
    videos = list(folder.glob("*.mp4"))  # one per episode of row 0 (a random completion may end early)
    assert videos and all(video.stat().st_size > 1000 for video in videos)
