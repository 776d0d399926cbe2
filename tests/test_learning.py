"""The agents learn: small tasks, fixed seeds, real thresholds on the TEST split (unseen prompts).

Each test trains a small transformer on one thread in seconds to tens of seconds. REINFORCE tests
stop early once the training batches succeed almost always (as SB3's StopTrainingOnRewardThreshold
would); the budget is the cap, the threshold is checked on the test split.
"""

import pytest

from agents import ReinforceAgent, SLAgent, evaluate

pytestmark = pytest.mark.slow

REVERSE = "token_gym/Reverse-v0"


def stop_when_training_succeeds(rate):
    return lambda agent, scalars: scalars["success_rate"] < rate


def test_sl_reverse_4():
    kw = {"length": 4}
    agent = SLAgent(REVERSE, env_kwargs=kw, seed=0, learning_rate=3e-3).learn(40_000)
    metrics = evaluate(agent, REVERSE, env_kwargs=kw, deterministic=True)
    assert metrics["n_prompts"] == 200
    assert metrics["success_rate"] >= 0.95, metrics


def test_reinforce_reverse_4_partial_reward():
    kw = {"length": 4, "reward": "partial"}
    # lr 1e-3 (the default): 3e-3 is faster on seed 0 but collapsed to a deterministic wrong policy on seeds 1 and 2
    agent = ReinforceAgent(REVERSE, env_kwargs=kw, seed=0, n_envs=256, group_size=8, learning_rate=1e-3)
    agent.learn(600_000, callback=stop_when_training_succeeds(0.97))
    metrics = evaluate(agent, REVERSE, env_kwargs=kw, deterministic=True)
    assert metrics["success_rate"] >= 0.90, metrics


def test_reinforce_copy_4_binary_reward():
    """Binary reward: a uniform policy succeeds once in 5^5 = 3125 tries; wide batches find the signal."""
    copy, kw = "token_gym/Copy-v0", {"length": 4, "alphabet": "abcd", "reward": "binary"}
    agent = ReinforceAgent(
        copy,
        env_kwargs=kw,
        seed=0,
        n_envs=1024,
        group_size=1,
        baseline="none",  # w = R: only successes are reinforced, failures weigh 0
        learning_rate=2e-3,
        policy_kwargs={"n_embd": 32},
    )
    agent.learn(2_000_000, callback=stop_when_training_succeeds(0.95))
    metrics = evaluate(agent, copy, env_kwargs=kw, deterministic=True)
    assert metrics["success_rate"] >= 0.90, metrics


def test_reinforce_goes_beyond_an_imperfect_demonstrator():
    """SL imitates a demonstrator wrong on 30% of prompts; REINFORCE with a KL leash to it does better."""
    kw = {"length": 4, "reward": "binary"}
    sl = SLAgent(REVERSE, env_kwargs=kw, seed=0, corrupt_fraction=0.3, learning_rate=3e-3).learn(60_000)
    before = evaluate(sl, REVERSE, env_kwargs=kw, samples_per_prompt=4)
    rl = ReinforceAgent(REVERSE, policy=sl.frozen_copy(), env_kwargs=kw, seed=0, group_size=8, kl_coef=0.05)
    rl.learn(100_000)
    after = evaluate(rl, REVERSE, env_kwargs=kw, samples_per_prompt=4)
    assert before["success_rate"] < 0.85, before  # the SL policy reproduces the demonstrator's mistakes
    assert after["success_rate"] >= before["success_rate"] + 0.1, (before, after)
