"""The agents' shared surface: construction, predict, learn, save/load, determinism, bad input."""

import csv
import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import token_gym  # noqa: F401
from agents import Agent, AgentConfig, PolicyConfig, ReinforceAgent, ReinforceConfig, SLAgent, SLConfig
from agents.sl import corrupt, oracle_demonstrations

ENV = "token_gym/Reverse-v0"
KW = {"length": 3, "alphabet": "abcd"}
TINY = {"n_layer": 1, "n_embd": 16, "n_head": 2}


def reinforce(**kw):
    return ReinforceAgent(ENV, env_kwargs=KW, n_envs=16, group_size=4, policy_kwargs=TINY, **kw)


def sl(**kw):
    return SLAgent(ENV, env_kwargs=KW, batch_size=16, policy_kwargs=TINY, **kw)


def weights(agent):
    return [p.detach().clone() for p in agent.policy.parameters()]


# -- construction ------------------------------------------------------------------------


def test_env_can_be_an_id_a_made_env_or_a_vector_env():
    from_id = reinforce()
    from_env = ReinforceAgent(gym.make(ENV, **KW), n_envs=8, group_size=4, policy_kwargs=TINY)
    vec = gym.make_vec(ENV, num_envs=8, **KW)
    from_vec = ReinforceAgent(vec, group_size=4, policy_kwargs=TINY)
    assert from_env.env_kwargs == KW and from_env.env_id == ENV
    assert from_vec.train_env is vec and from_vec.config.n_envs == 8
    assert from_id.encoded_task.vocab.size == from_vec.encoded_task.vocab.size
    from_env.learn(10)
    from_vec.learn(10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": True}, r"seed must be an integer, got True \(bool\)"),
        ({"seed": 1.0}, "seed must be an integer"),
        ({"baseline": "ppo"}, "baseline must be one of"),
        ({"baseline": "rloo", "group_size": 1}, "group_size must be >= 2"),
        ({"n_envs": 10}, r"n_envs \(10\) must be a multiple of group_size \(4\)"),
        ({"gamma": 1.5}, "gamma"),
        ({"ent_coef": -1}, "ent_coef"),
        ({"kl_coef": float("inf")}, r"kl_coef must be a finite number in \[0, inf\), got inf"),
        ({"kl_coef": float("nan")}, r"kl_coef must be a finite number in \[0, inf\), got nan"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": float("nan")}, r"learning_rate must be a finite number in \(0, inf\), got nan"),
        ({"max_grad_norm": 0}, r"max_grad_norm must be a finite number in \(0, inf\), got 0"),
        ({"max_grad_norm": -1.0}, "max_grad_norm"),
        ({"mask_actions": 1}, "mask_actions must be True or False"),
        ({"importance_correction": "yes"}, "importance_correction must be one of"),
        ({"strategies": ["warp:speed=9"]}, "unknown strategy 'warp'"),
        ({"strategies": ["temperature:t=0"]}, "temperature t must be"),
        ({"policy_kwargs": {"n_layers": 2}}, "unknown policy_kwargs"),
        ({"policy_kwargs": {"n_layer": 0}}, r"policy_kwargs\['n_layer'\] must be a positive integer, got 0"),
        ({"policy_kwargs": {"n_embd": 30}}, r"policy_kwargs\['n_embd'\] must be a multiple of n_head"),
        ({"policy_kwargs": {"dropout": -0.1}}, r"policy_kwargs\['dropout'\]"),
        ({"policy_kwargs": {"kind": "lstm"}}, r"policy_kwargs\['kind'\] must be one of"),
        ({"policy_kwargs": {"max_len": 4}}, r"policy max_len=4 is shorter than the env's observations \(8\)"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs, match):
    base = {"env_kwargs": KW, "n_envs": 16, "group_size": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        ReinforceAgent(ENV, **base)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"corrupt_fraction": float("nan")}, "corrupt_fraction"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"seed": np.True_}, "seed must be an integer"),
        ({"log_dir": 3}, "log_dir must be a path or None"),
    ],
)
def test_bad_sl_hyperparameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SLAgent(ENV, env_kwargs=KW, **kwargs)


def test_an_unknown_hyperparameter_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"SLAgent\(\) got an unexpected keyword argument 'group_size'"):
        SLAgent(ENV, env_kwargs=KW, group_size=4)


def test_the_config_holds_the_hyperparameters_once_and_completely():
    agent = reinforce(seed=3, kl_coef=0.5)
    config = agent.config
    assert isinstance(config, ReinforceConfig) and config.seed == 3 and config.kl_coef == 0.5
    assert config.policy_kwargs == {
        **TINY,
        "max_len": agent.encoded_task.observation_width,
        "dropout": 0.0,
        "kind": "transformer",
    }
    assert config.policy_kwargs == agent.policy.config.shape
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.learning_rate = 1.0  # Adam would never see it
    assert not hasattr(agent, "kl_coef") and not hasattr(agent, "hyperparameters")
    shared = ReinforceAgent(ENV, policy=agent, env_kwargs=KW, n_envs=8, group_size=4)
    assert shared.config.policy_kwargs == agent.config.policy_kwargs  # the shape of the policy passed in
    with pytest.raises(ValueError, match=r"policy_kwargs \{'n_layer': 3\} shape a new policy"):
        ReinforceAgent(ENV, policy=agent, env_kwargs=KW, n_envs=8, group_size=4, policy_kwargs={"n_layer": 3})
    assert ReinforceAgent(ENV, **dataclasses.asdict(config), env_kwargs=KW).config == config


def test_every_config_field_has_a_docstring():
    import ast
    import inspect
    import itertools

    for config_class in (AgentConfig, ReinforceConfig, SLConfig, PolicyConfig):
        body = ast.parse(inspect.getsource(config_class)).body[0].body
        documented = {
            node.target.id
            for node, after in itertools.pairwise(body)
            if isinstance(node, ast.AnnAssign)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        }
        declared = {node.target.id for node in body if isinstance(node, ast.AnnAssign)}
        assert declared and declared == documented, f"{config_class.__name__}: {sorted(declared - documented)}"


def test_bad_envs_are_refused():
    with pytest.raises(ValueError, match="not a registered id"):
        SLAgent("token_gym/Nope-v0")
    with pytest.raises(TypeError, match="env must be"):
        SLAgent(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="env_kwargs are only for"):
        SLAgent(gym.make(ENV, **KW), env_kwargs=KW)
    with pytest.raises(ValueError, match="total_timesteps"):
        sl().learn(0)
    with pytest.raises(ValueError, match="corrupt_fraction"):
        sl(corrupt_fraction=1.5)
    vec = gym.make_vec(ENV, num_envs=8, **KW)
    with pytest.raises(ValueError, match=r"n_envs=16, but the vector env given has num_envs=8"):
        ReinforceAgent(vec, n_envs=16, group_size=4, policy_kwargs=TINY)
    assert ReinforceAgent(vec, n_envs=8, group_size=4, policy_kwargs=TINY).config.n_envs == 8  # agreeing is fine


def test_a_vector_env_given_to_load_sets_the_batch(tmp_path):
    path = reinforce().learn(64).save(tmp_path / "agent.zip")  # n_envs=16
    loaded = ReinforceAgent.load(path, env=gym.make_vec(ENV, num_envs=8, **KW))
    assert loaded.config.n_envs == 8 and loaded.train_env.num_envs == 8
    with pytest.raises(ValueError, match="n_envs=32, but the vector env given has num_envs=8"):
        ReinforceAgent.load(path, env=gym.make_vec(ENV, num_envs=8, **KW), n_envs=32)


def test_a_policy_of_another_vocabulary_is_refused():
    other = SLAgent(ENV, env_kwargs={"length": 3}, policy_kwargs=TINY)  # alphabet abcdefgh: more tokens
    with pytest.raises(ValueError, match="vocabulary"):
        sl(policy=other)


def test_sl_then_rl_shares_the_policy():
    teacher = sl().learn(200)
    student = ReinforceAgent(ENV, policy=teacher, env_kwargs=KW, n_envs=16, group_size=4, kl_coef=0.1)
    assert student.policy is teacher.policy
    before = weights(student)
    student.learn(50)
    assert any(not torch.equal(a, b) for a, b in zip(before, weights(teacher), strict=True))
    reference = [p for p in student.reference.parameters()]  # frozen copy of the SL policy
    assert all(torch.equal(a, b) for a, b in zip(before, reference, strict=True))
    assert not any(p.requires_grad for p in reference)


# -- acting --------------------------------------------------------------------------------


def test_predict_reads_observations():
    agent = sl()
    env = gym.make_vec(ENV, num_envs=5, **KW)
    obs, _ = env.reset(seed=0)
    actions, state = agent.predict(obs, deterministic=True)
    assert state is None and actions.shape == (5,) and actions.dtype == np.int64
    assert agent.encoded_task.action_mask[actions].all()
    single, _ = agent.predict(obs[0], deterministic=True)
    assert isinstance(single, int) and single == actions[0]
    with pytest.raises(ValueError, match="observation must have shape"):
        agent.predict(obs[:, 1:])


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda obs: obs.astype(np.float32), TypeError, "observation must hold integer token ids, got dtype float32"),
        (lambda obs: obs.astype(bool), TypeError, "got dtype bool"),
        (
            lambda obs: np.where(obs == obs[0, -1], 99, obs),
            ValueError,
            r"token id 99, outside the vocabulary \(ids 0 to 6\)",
        ),
        (lambda obs: np.full_like(obs, -1), ValueError, "token id -1, outside the vocabulary"),
    ],
)
def test_predict_refuses_what_is_not_token_ids(change, error, match):
    agent = sl()
    obs, _ = gym.make_vec(ENV, num_envs=3, **KW).reset(seed=0)
    with pytest.raises(error, match=match):
        agent.predict(change(obs))
    with pytest.raises(error, match=match):
        agent.predict(change(obs)[0])


# -- learning --------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [sl, reinforce])
def test_same_seed_same_weights(make):
    a, b, c = make(seed=3).learn(300), make(seed=3).learn(300), make(seed=4).learn(300)
    assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(weights(a), weights(c), strict=True))


def test_learn_logs_scalars_to_csv_and_obeys_the_callback(tmp_path):
    seen = []
    agent = reinforce(log_dir=tmp_path)
    agent.learn(10_000, callback=lambda agent, scalars: seen.append(scalars) or len(seen) < 3)
    assert len(seen) == 3 and agent.num_updates == 3
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert {"timesteps", "loss", "mean_reward", "success_rate", "zero_advantage_fraction", "env_share"} <= set(rows[0])
    assert [int(r["timesteps"]) for r in rows] == sorted(int(r["timesteps"]) for r in rows)


def test_learn_counts_timesteps_and_shows_a_progress_bar(capsys):
    agent = sl()
    agent.learn(100, progress_bar=True)
    assert agent.num_timesteps >= 100
    assert "SLAgent" in capsys.readouterr().err


# -- demonstrations --------------------------------------------------------------------------


def test_jsonl_demonstrations(tmp_path):
    path = tmp_path / "demos.jsonl"
    path.write_text('{"prompt": "abc", "completion": "cba"}\n\n{"prompt": "dd", "completion": "dd"}\n')
    agent = sl(demonstrations=path)
    data = agent.data
    vocab = agent.encoded_task.vocab
    assert len(data) == 2
    assert vocab.decode(data.context[1].tolist()) == "dd" and data.context[1, 0] == vocab.pad_id
    assert data.completion[0].tolist() == [*vocab.encode("cba", "x"), vocab.eos_id]
    agent.learn(20)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"prompt": "abc", "completion": "cba"}\nnot json\n', r"demos.jsonl:2: not valid JSON"),
        ('{"prompt": "abc"}\n', r"demos.jsonl:1: a record needs a string 'completion'"),
        ('{"prompt": "abcdd", "completion": "a"}\n', r"demos.jsonl:1: prompt has 5 tokens"),
        ('{"prompt": "abc", "completion": "abcda"}\n', r"demos.jsonl:1: completion has 5 tokens"),
        ('{"prompt": "abc", "completion": "xyz"}\n', r"demos.jsonl:1 completion"),
        ("", r"demos.jsonl' holds no records"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path, text, match):
    path = tmp_path / "demos.jsonl"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        sl(demonstrations=path).learn(10)


def test_missing_demonstrations_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("nowhere.jsonl")):
        sl(demonstrations=tmp_path / "nowhere.jsonl").learn(10)


def test_corruption_makes_exactly_that_fraction_wrong():
    encoded_task = sl().encoded_task
    demos = oracle_demonstrations(encoded_task)
    bad = corrupt(demos, encoded_task, 0.3, np.random.default_rng(0))
    wrong = (bad.completion != demos.completion).sum(dim=1)
    assert int((wrong > 0).sum()) == round(0.3 * len(demos))
    assert wrong.max() == 1  # one token each
    assert encoded_task.action_mask[bad.completion[bad.mask]].all()  # still alphabet tokens
    assert (bad.completion[demos.completion == encoded_task.vocab.eos_id] == encoded_task.vocab.eos_id).all()
    agent = sl(corrupt_fraction=0.3)
    assert ((agent.data.completion != demos.completion).sum(dim=1) > 0).sum() == round(0.3 * len(demos))


# -- checkpoints -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [sl, reinforce])
def test_save_and_load_round_trip(tmp_path, make):
    agent = make(seed=2).learn(200)
    path = agent.save(tmp_path / "agent")
    assert path.name == "agent.zip"
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    assert config["algorithm"] == agent.algorithm and config["task"]["env_kwargs"] == KW
    assert config["vocabulary"]["tokens"] == ["<pad>", "<sep>", "<eos>", "a", "b", "c", "d"]
    assert config["config"] == dataclasses.asdict(agent.config) and config["config"]["seed"] == 2
    loaded = Agent.load(path)
    assert type(loaded) is type(agent) and loaded.config == agent.config
    assert (loaded.num_timesteps, loaded.num_updates) == (agent.num_timesteps, agent.num_updates) != (0, 0)
    with zipfile.ZipFile(path) as archive:
        assert {"config.json", "policy.pt", "optimizer.pt", "random.pt"} <= set(archive.namelist())
    assert all(torch.equal(a, b) for a, b in zip(weights(agent), weights(loaded), strict=True))
    obs, _ = gym.make_vec(ENV, num_envs=8, **KW).reset(seed=1)
    assert np.array_equal(agent.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    on_env = type(agent).load(path, env=gym.make(ENV, **KW))
    assert on_env.policy.config == agent.policy.config


CONTINUED = {  # each reads a different part of the saved state when it goes on learning
    "sl": sl,  # the shuffle generator and the rest of its epoch
    "reinforce-rloo": lambda: reinforce(kl_coef=0.1, ent_coef=0.01),  # group prompts drawn by env.np_random; KL
    "reinforce-moving-average": lambda: ReinforceAgent(  # prompts from the env's counters; the baseline's average
        ENV,
        env_kwargs={**KW, "reward": "partial"},
        n_envs=16,
        group_size=1,
        baseline="moving_average",
        policy_kwargs=TINY,
    ),
}


@pytest.mark.parametrize("name", CONTINUED)
def test_learning_after_load_goes_on_as_if_never_interrupted(tmp_path, name):
    straight = CONTINUED[name]().learn(200).learn(200)
    resumed = CONTINUED[name]().learn(200)
    resumed = Agent.load(resumed.save(tmp_path / "agent.zip")).learn(200)
    assert all(torch.equal(a, b) for a, b in zip(weights(straight), weights(resumed), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(weights(straight), weights(CONTINUED[name]()), strict=True))
    assert (resumed.num_timesteps, resumed.num_updates) == (straight.num_timesteps, straight.num_updates)
    assert resumed.config == straight.config
    assert torch.equal(resumed.generator.get_state(), straight.generator.get_state())
    for a, b in zip(
        straight.optimizer.state_dict()["state"].values(), resumed.optimizer.state_dict()["state"].values(), strict=True
    ):
        assert all(torch.equal(a[k], b[k]) for k in ("step", "exp_avg", "exp_avg_sq"))  # Adam's moments
    if isinstance(straight, ReinforceAgent):
        assert resumed.baseline.value == straight.baseline.value
        assert (straight.baseline.value is None) == (straight.config.baseline != "moving_average")
        assert (straight.reference is None) == (straight.config.kl_coef == 0) == (resumed.reference is None)
        if straight.reference is not None:
            pairs = zip(straight.reference.parameters(), resumed.reference.parameters(), strict=True)
            assert all(torch.equal(a, b) for a, b in pairs)


def test_an_agent_on_a_borrowed_longer_policy_saves_and_loads(tmp_path):
    teacher = SLAgent(ENV, env_kwargs={"length": 5, "alphabet": "abcd"}, policy_kwargs=TINY)
    student = ReinforceAgent(ENV, policy=teacher, env_kwargs=KW, n_envs=8, group_size=4)
    width = student.encoded_task.observation_width
    assert student.config.policy_kwargs["max_len"] == teacher.encoded_task.observation_width > width
    loaded = ReinforceAgent.load(student.save(tmp_path / "rl.zip"))  # rebuilt with the teacher's max_len
    assert loaded.policy.config == student.policy.config
    assert all(torch.equal(a, b) for a, b in zip(weights(student), weights(loaded), strict=True))


def test_load_overrides_config_fields(tmp_path):
    path = sl().save(tmp_path / "sl.zip")
    loaded = SLAgent.load(path, learning_rate=0.01, batch_size=8)
    assert loaded.config.learning_rate == 0.01 and loaded.config.batch_size == 8
    assert loaded.optimizer.param_groups[0]["lr"] == 0.01
    with pytest.raises(ValueError, match="learning_rate must be"):
        SLAgent.load(path, learning_rate=-1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        SLAgent.load(path, nope=1)


def test_kl_reference_is_saved(tmp_path):
    agent = reinforce(kl_coef=0.5).learn(100)
    agent.learn(100)
    loaded = ReinforceAgent.load(agent.save(tmp_path / "rl.zip"))
    for a, b in zip(agent.reference.parameters(), loaded.reference.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_kl_penalty_added_at_load_holds_to_the_loaded_policy(tmp_path):
    def make():
        return ReinforceAgent(ENV, env_kwargs={**KW, "reward": "partial"}, n_envs=16, group_size=4, policy_kwargs=TINY)

    path = make().learn(200).save(tmp_path / "rl.zip")  # no KL, no reference saved
    loaded = ReinforceAgent.load(path, kl_coef=0.1)
    assert all(torch.equal(a, b) for a, b in zip(loaded.reference.parameters(), weights(loaded), strict=True))
    assert not any(p.requires_grad for p in loaded.reference.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(weights(loaded), weights(make()), strict=True))  # it learned


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("missing.zip")):
        Agent.load(tmp_path / "missing.zip")
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    with pytest.raises(ValueError, match=re.escape("junk.zip: not an agent checkpoint")):
        Agent.load(junk)
    path = sl().save(tmp_path / "sl.zip")
    with pytest.raises(ValueError, match=re.escape("sl.zip: holds a 'sl' agent")):
        ReinforceAgent.load(path)
    longer = gym.make(ENV, length=5, alphabet="abcd")  # longer observations
    with pytest.raises(ValueError, match=re.escape("sl.zip: policy max_len=8 is shorter than the env's observations")):
        SLAgent.load(path, env=longer, allow_other_task=True)
    half = tmp_path / "half.zip"
    with zipfile.ZipFile(half, "w") as archive:
        archive.writestr("config.json", "{}")
    with pytest.raises(
        ValueError, match=r"half.zip: not an agent checkpoint \(missing \['optimizer.pt', 'policy.pt', 'random.pt'\]\)"
    ):
        Agent.load(half)


SAVE_THEN_PAUSE_IN_THE_NEXT_SAVE = """
import sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from agents import SLAgent
agent = SLAgent({env!r}, env_kwargs={kw!r}, batch_size=16, policy_kwargs={tiny!r})
path, paused = sys.argv[1], Path(sys.argv[2])
agent.save(path)  # the good checkpoint
agent.learn(64)
real_save = torch.save
def save_then_pause(*args, **kwargs):  # the next save stops after its first tensor member
    real_save(*args, **kwargs)
    paused.touch()
    time.sleep(120)
torch.save = save_then_pause
agent.save(path)
"""


def test_a_save_killed_midway_leaves_the_previous_checkpoint(tmp_path):
    path, paused = tmp_path / "agent.zip", tmp_path / "paused"
    script = SAVE_THEN_PAUSE_IN_THE_NEXT_SAVE.format(env=ENV, kw=KW, tiny=TINY)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", script, str(path), str(paused)], cwd=root, env=env)
    try:
        deadline = time.monotonic() + 120
        while not paused.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert paused.exists(), f"the saving process never reached its second save (exit code {process.poll()})"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    loaded = SLAgent.load(path)  # whole, and the first save's
    assert loaded.num_timesteps == 0
    leftovers = [p.name for p in tmp_path.iterdir() if p not in (path, paused)]
    assert leftovers and all(name.startswith(".agent.zip.") and name.endswith(".tmp") for name in leftovers)


def test_an_interrupted_save_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    agent = sl()
    path = agent.save(tmp_path / "agent.zip")
    before = path.read_bytes()
    agent.learn(64)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        agent.save(path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_a_save_is_on_disk_before_it_replaces_the_checkpoint(tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or fsync(fd))
    monkeypatch.setattr(
        os, "replace", lambda a, b: events.append(("replace", Path(a).name, Path(b).name)) or replace(a, b)
    )
    sl().save(tmp_path / "agent.zip")
    assert events[0] == "fsync" and events[1][0] == "replace" and events[1][2] == "agent.zip"
    assert events[1][1].startswith(".agent.zip.") and events[1][1].endswith(".tmp")


def test_a_checkpoint_refuses_an_env_of_another_vocabulary(tmp_path):
    path = sl().learn(64).save(tmp_path / "abcd.zip")
    wxyz = gym.make(ENV, length=3, alphabet="wxyz")  # the same size: the weights would load, meaning nothing
    for allow_other_task in (False, True):
        with pytest.raises(
            ValueError, match=re.escape("abcd.zip: the checkpoint's vocabulary differs from the env's")
        ) as error:
            SLAgent.load(path, env=wxyz, allow_other_task=allow_other_task)
        message = str(error.value)
        assert "id 3 is 'a' vs 'w'" in message and "4 ids mean other tokens" in message
        assert "['<pad>', '<sep>', '<eos>', 'a', 'b', 'c', 'd']" in message  # both sides
        assert "['<pad>', '<sep>', '<eos>', 'w', 'x', 'y', 'z']" in message


def test_loading_onto_another_task_must_be_asked_for(tmp_path):
    agent = sl().learn(64)
    path = agent.save(tmp_path / "reverse.zip")
    copy = gym.make("token_gym/Copy-v0", length=3, alphabet="abcd")  # the same vocabulary, another task
    with pytest.raises(
        ValueError, match=r"reverse.zip: trained on token_gym/Reverse-v0\(alphabet='abcd', length=3\)"
    ) as error:
        SLAgent.load(path, env=copy)
    assert "this env is token_gym/Copy-v0(alphabet='abcd', length=3)" in str(error.value)
    assert "allow_other_task=True" in str(error.value)
    with pytest.raises(ValueError, match="trained on"):
        SLAgent.load(path, env_kwargs={"length": 3, "alphabet": "abcd", "reward": "partial"})  # other kwargs too
    moved = SLAgent.load(path, env=copy, allow_other_task=True)
    assert moved.env_id == "token_gym/Copy-v0"
    assert all(torch.equal(a, b) for a, b in zip(weights(agent), weights(moved), strict=True))
    rl = ReinforceAgent(copy, policy=moved, n_envs=8, group_size=4)  # and on to REINFORCE there
    assert rl.policy is moved.policy


def test_checkpoints_load_without_unpickling(tmp_path, monkeypatch):
    path = sl().save(tmp_path / "sl.zip")
    calls = []
    original = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or original(*a, **k))
    SLAgent.load(path)
    assert calls and all(k.get("weights_only") is True for k in calls)


class RunsCode:
    """Unpickling this calls ``open(marker, "w")``: what a malicious checkpoint member could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def replace_member(path, name, data):
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members[name] = data
    with zipfile.ZipFile(path, "w") as archive:
        for n, d in members.items():
            archive.writestr(n, d)


def test_a_member_that_is_not_plain_tensors_is_refused_naming_the_file(tmp_path):
    path = sl().save(tmp_path / "sl.zip")
    marker = tmp_path / "code-ran"
    buffer = io.BytesIO()
    torch.save({"weight": RunsCode(marker)}, buffer)
    replace_member(path, "policy.pt", buffer.getvalue())
    with pytest.raises(ValueError, match=re.escape("sl.zip: member policy.pt is not plain tensors")) as error:
        SLAgent.load(path)
    assert "open" in str(error.value) and "nothing was unpickled" in str(error.value)
    assert "weights_only" not in str(error.value)  # not torch's advice to load it unsafely
    assert not marker.exists()
    replace_member(path, "random.pt", b"not a tensor file at all")
    with pytest.raises(ValueError, match=re.escape("sl.zip: member ")) as error:
        SLAgent.load(path)
    assert "weights_only" not in str(error.value)


def edit_config(path, edit):
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    edit(config)
    replace_member(path, "config.json", json.dumps(config).encode())


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda c: c["config"].update(learning_rat=0.1),
            r"config.json's config has unknown key\(s\) \['learning_rat'\]",
        ),
        (lambda c: c.update(optimiser={}), r"config.json has unknown key\(s\) \['optimiser'\]"),
        (lambda c: c["state"].update(epoch=3), r"unknown state \['epoch'\], which SLAgent does not have"),
        (lambda c: c["config"].update(batch_size=0), r"config.json's config: batch_size must be a positive integer"),
        (lambda c: c["state"].pop("num_updates"), r"the checkpoint lacks 'num_updates'"),
        (lambda c: c.pop("vocabulary"), r"config.json lacks \['vocabulary'\]"),
        (lambda c: c.update(format_version=1), r"checkpoint format 1; this version reads 2"),
    ],
)
def test_a_config_json_with_unknown_or_bad_keys_is_refused_naming_file_and_key(tmp_path, edit, match):
    path = sl().save(tmp_path / "sl.zip")
    edit_config(path, edit)
    with pytest.raises(ValueError, match="sl.zip: " + match):
        SLAgent.load(path)


def test_unknown_members_are_refused(tmp_path):
    path = sl().save(tmp_path / "sl.zip")
    with zipfile.ZipFile(path) as archive:
        policy = archive.read("policy.pt")
    replace_member(path, "reference.pt", policy)  # an SL agent has none
    with pytest.raises(ValueError, match=re.escape("sl.zip: unknown state ['reference.pt']")):
        SLAgent.load(path)
    replace_member(path, "notes.txt", b"hello")
    with pytest.raises(ValueError, match=re.escape("sl.zip: unknown member(s) ['notes.txt']")):
        SLAgent.load(path)


def test_a_sampling_strategy_plugs_into_reinforce_and_is_corrected_for():
    from agents import Temperature

    seen = []

    class Watched(Temperature):
        def logits(self, logits, step):
            seen.append(step)
            return super().logits(logits, step)

    agent = reinforce(strategies=[Watched(2.0)]).learn(100)
    assert seen and agent.correction == "truncated"
    assert agent.config.strategies == ["temperature:t=2.0"]  # kept as its spec
    assert reinforce(strategies=["temperature:t=1.0"]).correction == "none"  # β = π: nothing to correct
    assert reinforce(strategies=["epsilon"], importance_correction="sequence").correction == "sequence"


def test_logger_widens_the_csv_when_a_scalar_appears(tmp_path):
    from agents.logger import ScalarLogger

    logger = ScalarLogger(tmp_path)
    logger.record(1, {"loss": 0.5})
    logger.record(2, {"loss": 0.4, "kl": 0.1})
    logger.record(3, {"loss": 0.3, "kl": 0.2})
    with open(tmp_path / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["timesteps"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["kl"] == "" and rows[2]["kl"] == "0.2"


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_widening_interrupted_midway_leaves_every_row_written(tmp_path, monkeypatch):
    from agents.logger import ScalarLogger

    logger = ScalarLogger(tmp_path)
    logger.record(1, {"loss": 0.5})
    logger.record(2, {"loss": 0.4})

    def interrupted(self, rows):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(csv.DictWriter, "writerows", interrupted)
        with pytest.raises(KeyboardInterrupt):
            logger.record(3, {"loss": 0.3, "kl": 0.1})  # a new column: the file is written again
    assert [(r["timesteps"], r["loss"]) for r in read_rows(tmp_path / "progress.csv")] == [("1", "0.5"), ("2", "0.4")]
    assert sorted(p.name for p in tmp_path.iterdir() if "progress" in p.name) == ["progress.csv"]  # no temp left
    logger.record(4, {"loss": 0.2, "kl": 0.2})
    rows = read_rows(tmp_path / "progress.csv")
    assert [r["timesteps"] for r in rows] == ["1", "2", "4"] and rows[0]["kl"] == "" and rows[2]["kl"] == "0.2"


def test_a_logger_continues_an_existing_csv(tmp_path):
    from agents.logger import ScalarLogger

    ScalarLogger(tmp_path).record(1, {"loss": 0.5})
    with open(tmp_path / "progress.csv", "a") as f:
        f.write("2,0.")  # a row a killed run was writing
    again = ScalarLogger(tmp_path)
    again.record(3, {"loss": 0.3})
    again.record(4, {"loss": 0.2, "kl": 0.1})
    rows = read_rows(tmp_path / "progress.csv")
    assert [(r["timesteps"], r["loss"], r["kl"]) for r in rows] == [
        ("1", "0.5", ""),
        ("2", "0.", ""),
        ("3", "0.3", ""),
        ("4", "0.2", "0.1"),
    ]
