"""Prompt draws: the single env's scalar path is the vector env's array path, bit for bit."""

import numpy as np

from token_gym import draws


def test_draw_one_equals_pick_for_every_episode_and_key():
    rng = np.random.default_rng(0)
    keys = np.concatenate([draws.keys_from_seeds(np.arange(50)), draws.random_keys(rng, 50)])
    choices = np.arange(3, 1003)
    for episode in (0, 1, 2, 17, 10**6, 2**40):
        counters = keys + np.full(len(keys), episode, dtype=np.uint64) * draws.STEP  # wraps, as meant
        expected = draws.pick(counters, choices)
        assert [draws.draw_one(int(k), episode, choices) for k in keys] == expected.tolist()


def test_draws_spread_over_the_choices():
    """Consecutive episodes of one key, and one episode across keys, both look uniform."""
    choices = np.arange(10)
    key = int(draws.keys_from_seeds(np.array([7]))[0])
    over_episodes = np.bincount([draws.draw_one(key, e, choices) for e in range(5000)], minlength=10)
    over_keys = np.bincount(draws.pick(draws.keys_from_seeds(np.arange(5000)), choices), minlength=10)
    for counts in (over_episodes, over_keys):
        assert counts.min() > 400 and counts.max() < 600  # 500 expected each; ±100 is > 4 sigma
