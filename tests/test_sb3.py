"""SB3 and sb3-contrib agents learn token_gym tasks, through gym.make envs and through the adapter.

Each case trains from a fixed seed on a small budget and must solve at least ``THRESHOLD`` of the
training prompts with its deterministic policy (every prompt of the split once, so the rate is
exact, not sampled). During development every case reached 1.0 on seeds 0-3 with these budgets.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO, RecurrentPPO
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

import token_gym  # noqa: F401  (registers the ids)
from agents.sb3 import TokenEmbeddingExtractor, make_sb3_vec_env, token_policy_kwargs

torch.set_num_threads(1)
pytestmark = pytest.mark.slow

THRESHOLD = 0.9
COPY = ("token_gym/Copy-v0", dict(length=2, alphabet="abc"))
COPY_PARTIAL = ("token_gym/Copy-v0", dict(length=2, alphabet="abc", reward="partial"))
REVERSE = ("token_gym/Reverse-v0", dict(length=3, alphabet="abc"))
REVERSE_PARTIAL = ("token_gym/Reverse-v0", dict(length=3, alphabet="abc", reward="partial"))
ON_POLICY = dict(n_steps=64, batch_size=128, n_epochs=4, learning_rate=1e-3, ent_coef=0.01)
# algorithm: (class, task, n_envs, hyperparameters, env steps)
CASES = {
    "ppo": (PPO, REVERSE_PARTIAL, 8, ON_POLICY, 40_000),
    "a2c": (A2C, COPY, 8, dict(n_steps=8, learning_rate=1e-3, ent_coef=0.01), 20_000),
    "dqn": (
        DQN,
        COPY_PARTIAL,
        4,
        dict(learning_starts=1000, exploration_fraction=0.3, train_freq=4, target_update_interval=500)
        | dict(learning_rate=1e-3, buffer_size=20_000, batch_size=64),
        20_000,
    ),
    "maskable_ppo": (MaskablePPO, REVERSE, 8, ON_POLICY, 30_000),
}


def make_env(path: str, task: tuple, n_envs: int, seed: int) -> VecEnv:
    """The user's two ways in: SB3's make_vec_env (DummyVecEnv of gym.make + Monitor), or our adapter."""
    env_id, kwargs = task
    if path == "gym.make":
        return make_vec_env(env_id, n_envs, seed=seed, env_kwargs=kwargs)
    return make_sb3_vec_env(env_id, n_envs, seed=seed, **kwargs)


def success_rate(model, task: tuple, split: str = "train") -> float:
    """Fraction of the split's prompts the deterministic policy answers exactly, each prompt once."""
    env_id, kwargs = task
    vec = gym.make_vec(env_id, num_envs=1, autoreset_mode="SameStep", **kwargs)
    prompts = vec.encoded_task.task.split(split)
    vec = gym.make_vec(env_id, num_envs=len(prompts), autoreset_mode="SameStep", **kwargs)
    obs, _ = vec.reset(options={"prompt_index": prompts})
    done = np.zeros(len(prompts), dtype=bool)
    success = np.zeros(len(prompts), dtype=bool)
    while not done.all():
        masks = {"action_masks": vec.action_masks()} if isinstance(model, MaskablePPO) else {}
        actions, _ = model.predict(obs, deterministic=True, **masks)
        obs, _, terminated, _, infos = vec.step(actions)
        first = terminated & ~done  # rows that reset start a new episode: keep each prompt's first
        success[first] = infos["final_info"]["is_success"][first] if first.any() else False
        done |= terminated
    return float(success.mean())


class MaskAudit(VecEnvWrapper):
    """Counts actions the env's action mask forbids, checked before each step."""

    def __init__(self, venv: VecEnv):
        super().__init__(venv)
        self.steps = self.masked = 0

    def step_async(self, actions: np.ndarray) -> None:
        masks = get_action_masks(self.venv)
        self.masked += int((~masks[np.arange(self.num_envs), actions]).sum())
        self.steps += self.num_envs
        self.venv.step_async(actions)

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        return self.venv.step_wait()


@pytest.mark.parametrize("path", ["gym.make", "adapter"])
@pytest.mark.parametrize("algorithm", sorted(CASES))
def test_agent_learns_small_task(algorithm, path):
    cls, task, n_envs, hyperparameters, steps = CASES[algorithm]
    env = MaskAudit(make_env(path, task, n_envs, seed=0))
    model = cls("MlpPolicy", env, policy_kwargs=token_policy_kwargs(env), seed=0, device="cpu", **hyperparameters)
    assert isinstance(
        model.policy.features_extractor if algorithm != "dqn" else model.q_net.features_extractor,
        TokenEmbeddingExtractor,
    )
    before = success_rate(model, task)
    model.learn(steps)
    after = success_rate(model, task)
    assert before < 0.5, f"{algorithm} solved {before:.0%} before training: the task is too easy to test learning"
    assert after >= THRESHOLD, f"{algorithm} via {path}: {after:.0%} of train prompts after {steps} steps"
    assert len(model.ep_info_buffer) > 0  # episode statistics reached SB3's logger (Monitor / VecMonitor)
    if algorithm == "maskable_ppo":
        assert env.steps >= steps and env.masked == 0, f"MaskablePPO emitted {env.masked} masked tokens"


def test_mask_audit_sees_masked_tokens():
    """The audit above can fail: uniform actions over the vocabulary hit masked tokens."""
    env = MaskAudit(make_sb3_vec_env(*REVERSE[:1], 8, seed=0, **REVERSE[1]))
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(20):
        env.step(rng.integers(0, env.action_space.n, size=8))
    assert env.masked > 0


@pytest.mark.parametrize("path", ["gym.make", "adapter"])
def test_recurrent_ppo_trains_with_the_extractor(path):
    env = make_env(path, COPY, 4, seed=0)
    model = RecurrentPPO(
        "MlpLstmPolicy", env, policy_kwargs=token_policy_kwargs(env), seed=0, device="cpu", **ON_POLICY
    )
    assert isinstance(model.policy.features_extractor, TokenEmbeddingExtractor)
    weights = model.policy.features_extractor.encoder.token_embedding.weight.detach().clone()
    model.learn(1024)
    assert model.num_timesteps >= 1024
    assert not torch.equal(weights, model.policy.features_extractor.encoder.token_embedding.weight)
    actions, state = model.predict(env.reset(), deterministic=True)
    assert actions.shape == (4,) and state is not None
