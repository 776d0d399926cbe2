"""RLlib path: token_gym under RLlib's pinned gymnasium, the RLModule, PPO learning, the example.

Skipped where RLlib is not installed (the main venv has Ray core only, for the benchmark
harness); CI runs it in .venv-rllib, which holds ``token-gym[rllib]`` and whatever gymnasium
version RLlib pins.
"""

import gymnasium as gym
import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.rllib", exc_type=ImportError)
torch = pytest.importorskip("torch")

import token_gym  # noqa: E402
from agents.rllib import (  # noqa: E402
    TokenRLModule,
    make_token_env,
    ppo_config,
    register_rllib_envs,
    rllib_env_id,
    token_module_spec,
)
from examples import rllib_ppo  # noqa: E402

torch.set_num_threads(1)
COPY = "token_gym/Copy-v0"
COPY_CONFIG = {"length": 2, "alphabet": "ab", "reward": "partial"}
BUILT_IN_IDS = sorted(set(token_gym.ENV_IDS) - {"token_gym/Text-v0"})  # Text needs the user's prompts


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False)  # env runner errors reach the test log
    yield
    ray.shutdown()


@pytest.mark.parametrize("env_id", BUILT_IN_IDS)
def test_every_id_passes_the_env_checker_under_rllibs_gymnasium(env_id):
    from gymnasium.utils.env_checker import check_env

    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", BUILT_IN_IDS)
def test_native_vector_env_matches_sync_vector_env_under_rllibs_gymnasium(env_id):
    """RLlib steps whichever vector env it is given: ours must agree with SyncVectorEnv (NextStep autoreset)."""
    native = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    sync = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync")
    allowed = np.flatnonzero(native.action_masks()[0])
    rng = np.random.default_rng(0)
    obs_native, _ = native.reset(seed=7)
    obs_sync, _ = sync.reset(seed=7)
    np.testing.assert_array_equal(obs_native, obs_sync)
    finished = 0
    for _ in range(40):
        actions = rng.choice(allowed, size=3)
        step_native, step_sync = native.step(actions), sync.step(actions)
        for got, want in zip(step_native[:4], step_sync[:4], strict=True):
            np.testing.assert_array_equal(got, want)
        finished += int(step_native[2].sum())
    assert finished >= 3  # the comparison went through autoresets
    native.close()
    sync.close()


def test_creator_gives_native_vector_env_when_rllib_asks_for_num_envs():
    single = make_token_env(COPY, dict(COPY_CONFIG))
    vector = make_token_env(COPY, {**COPY_CONFIG, "num_envs": 4})
    assert isinstance(single.unwrapped, token_gym.TokenEnv)
    assert isinstance(vector, token_gym.TokenVectorEnv)
    assert vector.num_envs == 4
    assert rllib_env_id(COPY) == "token_gym:token_gym/Copy-v0"
    with pytest.raises(ValueError, match="env_id"):
        rllib_env_id("token_gym/Nope-v0")
    with pytest.raises(ValueError, match="autoreset_mode"):
        make_token_env(COPY, {"num_envs": 2, "autoreset_mode": "SameStep"})
    with pytest.raises(ValueError, match="autoreset_mode"):
        ppo_config(COPY, {"autoreset_mode": "SameStep"})


def test_token_module_masks_tokens_and_reports_values():
    env = gym.make(COPY, **COPY_CONFIG)
    spec = token_module_spec(COPY, COPY_CONFIG)
    mask = spec.model_config["action_mask"]
    assert sum(mask) == 3  # a, b, EOS
    module = TokenRLModule(
        observation_space=env.observation_space, action_space=env.action_space, model_config=spec.model_config
    )
    obs = torch.as_tensor(np.stack([env.reset(seed=s)[0] for s in range(5)]))  # (5, W) int64
    out = module.forward_train({"obs": obs})
    logits = out["action_dist_inputs"]
    assert logits.shape == (5, env.action_space.n)
    probs = torch.softmax(logits, dim=-1)
    assert (probs[:, ~torch.as_tensor(mask)] == 0).all()
    assert (probs[:, torch.as_tensor(mask)] > 0).all()
    assert module.compute_values({"obs": obs}).shape == (5,)
    with pytest.raises(ValueError, match="action_mask"):
        TokenRLModule(
            observation_space=env.observation_space,
            action_space=env.action_space,
            model_config={"action_mask": [True]},
        )


@pytest.mark.slow
def test_ppo_learns_to_copy_with_a_remote_env_runner(local_ray):
    """Random play scores ~0.2 (partial credit over a, b, EOS); PPO passes 0.75 within 8 iterations.

    A policy that ignores the prompt tops out at 0.67 return and 1/3 success on the three
    train prompts, so the thresholds need the module to read the observation. Seeds 0-3
    reached 0.96-0.98 return and 0.89-0.94 success at iteration 8.
    """
    algo = ppo_config(COPY, COPY_CONFIG, num_env_runners=1, seed=0).build_algo()
    returns, successes = [], []
    for _ in range(8):
        metrics = algo.train()["env_runners"]
        returns.append(metrics["episode_return_mean"])
        successes.append(metrics["success"])
    algo.stop()
    assert returns[0] < 0.4, returns
    assert max(returns[-3:]) > 0.75, returns
    assert max(successes[-3:]) > 0.5, successes


@pytest.mark.slow
def test_registered_names_reach_remote_runners_as_native_vector_envs(local_ray):
    """``register_rllib_envs()`` makes the plain id work on a remote env runner, on the fast path."""
    from ray.rllib.algorithms.ppo import PPOConfig

    assert COPY in register_rllib_envs()
    spec = ppo_config(COPY, COPY_CONFIG).rl_module_spec
    config = (
        PPOConfig()
        .environment(COPY, env_config=COPY_CONFIG)
        .env_runners(num_env_runners=1, num_envs_per_env_runner=8, gym_env_vectorize_mode="vector_entry_point")
        .rl_module(rl_module_spec=spec)
        .training(train_batch_size_per_learner=256, minibatch_size=128, num_epochs=1)
    )
    algo = config.build_algo()
    result = algo.train()
    kinds = algo.env_runner_group.foreach_env_runner(
        lambda runner: (type(runner.env.unwrapped).__name__, torch.get_num_threads()), local_env_runner=False
    )
    algo.stop()
    assert kinds == [("TokenVectorEnv", 1)]
    assert result["env_runners"]["num_env_steps_sampled"] >= 256


@pytest.mark.slow
def test_example_runs(capsys):
    last = rllib_ppo.main(iterations=2)
    assert 0.0 <= last["success"] <= 1.0
    assert 0.0 < last["return"] <= 1.0
    assert 0.0 <= last["test_success"] <= 1.0  # the held-out prompts were decoded
    out = capsys.readouterr().out
    assert "iteration   2" in out
    assert "test prompts" in out
