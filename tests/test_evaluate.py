"""evaluate(): ours through the fast path, anything with predict() through observations, same numbers."""

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest

import token_gym  # noqa: F401
from agents import SLAgent, evaluate, pass_at_k

ENV = "token_gym/Reverse-v0"
KW = {"length": 3, "alphabet": "abcd", "reward": "partial"}


class Oracle:
    """An SB3-shaped model that reverses the prompt it reads from the observation."""

    def __init__(self, env):
        self.encoded_task = env.unwrapped.encoded_task

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        actions = []
        for row in obs:
            prompt, completion = self.encoded_task.split_observation(row)
            answer = [*prompt[::-1], self.encoded_task.vocab.eos_id]
            actions.append(answer[len(completion)])
        return np.array(actions), None


class Constant:
    def __init__(self, token):
        self.token = token

    def predict(self, obs, deterministic=False):
        return np.full(len(obs), self.token), None


def test_pass_at_k_is_the_unbiased_estimator():
    for n, c, k in [(5, 0, 1), (5, 2, 1), (5, 2, 3), (5, 5, 2), (4, 1, 4)]:
        subsets = list(itertools.combinations([1] * c + [0] * (n - c), k))
        assert math.isclose(pass_at_k(n, c, k), np.mean([any(s) for s in subsets]))
    with pytest.raises(ValueError, match="pass@3"):
        pass_at_k(2, 1, 3)


def test_a_perfect_model_through_observations():
    env = gym.make(ENV, **KW)
    metrics = evaluate(Oracle(env), env, deterministic=True)
    assert metrics["success_rate"] == 1.0 and metrics["mean_reward"] == 1.0 and metrics["pass@1"] == 1.0
    assert metrics["n_prompts"] == len(env.unwrapped.encoded_task.task.test)
    assert math.isnan(metrics["mean_token_entropy"])


def test_an_empty_completion_earns_nothing():
    eos = gym.make(ENV, **KW).unwrapped.encoded_task.vocab.eos_id
    metrics = evaluate(Constant(eos), ENV, env_kwargs=KW, samples_per_prompt=3)
    assert metrics["success_rate"] == 0.0 and metrics["mean_reward"] == 0.0 and metrics["pass@3"] == 0.0
    assert metrics["distinct_completions"] == 1.0 and metrics["distinct_fraction"] == pytest.approx(1 / 3)


def test_our_fast_path_equals_the_observation_path():
    agent = SLAgent(ENV, env_kwargs=KW, policy_kwargs={"n_embd": 16, "n_layer": 1}).learn(300)

    class ThroughObservations:
        def predict(self, obs, deterministic=False):
            return agent.predict(obs, deterministic=deterministic)

    fast = evaluate(agent, ENV, env_kwargs=KW, deterministic=True, num_envs=7)  # several batches
    slow = evaluate(ThroughObservations(), ENV, env_kwargs=KW, deterministic=True)
    for key in ("success_rate", "mean_reward", "distinct_completions", "n_episodes"):
        assert fast[key] == pytest.approx(slow[key]), key
    assert 0 < fast["mean_reward"] < 1


def test_sampling_evaluation_reports_pass_at_k_and_diversity():
    agent = SLAgent(ENV, env_kwargs=KW, policy_kwargs={"n_embd": 16, "n_layer": 1})  # untrained: diverse
    metrics = evaluate(agent, gym.make_vec(ENV, num_envs=2, **KW), n_episodes=40, samples_per_prompt=4)
    assert metrics["n_episodes"] == 40 and metrics["n_prompts"] == 10
    assert metrics["pass@4"] >= metrics["pass@1"] == pytest.approx(metrics["success_rate"])
    assert metrics["distinct_completions"] > 2 and metrics["mean_token_entropy"] > 1.0
    again = evaluate(agent, ENV, env_kwargs=KW, n_episodes=40, samples_per_prompt=4)
    assert again == metrics  # seeded


def test_train_split_can_be_evaluated():
    env = gym.make(ENV, **KW)
    metrics = evaluate(Oracle(env), env, split="train", deterministic=True)
    assert metrics["n_prompts"] == len(env.unwrapped.encoded_task.task.train)


def test_evaluate_errors():
    env = gym.make(ENV, **KW)
    with pytest.raises(ValueError, match="samples_per_prompt"):
        evaluate(Oracle(env), env, samples_per_prompt=0)
    with pytest.raises(ValueError, match="deterministic"):
        evaluate(Oracle(env), env, deterministic=True, samples_per_prompt=2)
    with pytest.raises(ValueError, match="n_episodes"):
        evaluate(Oracle(env), env, n_episodes=1, samples_per_prompt=2)
    with pytest.raises(TypeError, match="predict"):
        evaluate(object(), env)
    with pytest.raises(ValueError, match="split"):
        evaluate(Oracle(env), env, split="validation")
