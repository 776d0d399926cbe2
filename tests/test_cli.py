"""The token-gym command: list, train, bench and report in-process, and the installed script once."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents import ReinforceAgent
from agents.bench.results import results_file
from agents.cli import main
from token_gym.registration import list_envs

ROOT = Path(__file__).resolve().parents[1]
TINY_AGENT = ["n_envs=16", "group_size=4", "policy_kwargs={'n_layer':1,'n_embd':16,'n_head':2}"]
CONFIG = """
name = "cli"
budget = 300
[evaluation]
every = 150
samples_per_prompt = 2
[agents.reinforce]
n_envs = 16
group_size = 4
policy_kwargs = { n_layer = 1, n_embd = 16, n_head = 2 }
[[envs]]
id = "CombinationLock"
kwargs = { alphabet = "ab" }
grid = { length = [2, 3] }
"""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_names_every_env_strategy_agent_and_preset(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    for env_id in list_envs():
        line = next(line for line in lines if line.startswith(env_id + " "))
        assert "task_seed" not in line or env_id.endswith("Text-v0")  # the shared kwargs are said once
    assert "token_gym/SecretString-v0" in out and "length=4 alphabet='abcd'" in out and "every id also takes" in out
    code, out, _ = run(capsys, "list", "strategies")
    from agents.exploration.base import Strategy

    assert code == 0 and all(
        any(line.startswith(name + " ") for line in out.splitlines()) for name in Strategy.registry
    )
    assert "temperature   t=1.5" in out
    code, out, _ = run(capsys, "list", "agents")
    assert code == 0
    for name in ("reinforce", "sl", "ppo", "a2c", "dqn", "maskable_ppo"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    assert "group_size=8" in out and "demonstrated tokens" in out and "n_steps=2048" in out
    code, out, _ = run(capsys, "list", "presets")
    assert code == 0 and out.startswith("exploration") and "\nquick" in out


def test_train_saves_the_agent_its_progress_and_record_and_overwrites_nothing(capsys, tmp_path):
    out_dir = tmp_path / "run"
    argv = ["train", "SecretString", "--env-kwargs", "length=2", "alphabet=ab", "--agent", "reinforce"]
    argv += ["--agent-kwargs", *TINY_AGENT, "--steps", "400", "--seed", "3", "--out", str(out_dir), "--no-progress"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert f"agent:    {out_dir / 'agent.zip'}" in out and f"progress: {out_dir / 'progress.csv'}" in out
    assert "test success greedy" in out
    agent = ReinforceAgent.load(out_dir / "agent.zip")
    assert agent.config.seed == 3 and agent.env_kwargs == {"length": 2, "alphabet": "ab"} and agent.num_timesteps >= 400
    rows = (out_dir / "progress.csv").read_text().splitlines()
    record = json.loads((out_dir / "record.json").read_text())
    assert record["steps_trained"] == agent.num_timesteps and record["config"]["seed"] == 3
    assert rows[0].startswith("timesteps,") and len(rows) == 1 + record["curve"]["updates"][-1]  # a row per update
    saved = {name: (out_dir / name).read_bytes() for name in ("agent.zip", "progress.csv", "record.json")}
    code, _, err = run(capsys, *argv)
    assert code == 2 and "already holds agent.zip" in err
    assert {name: (out_dir / name).read_bytes() for name in saved} == saved


def test_train_an_sb3_agent(capsys, tmp_path):
    from stable_baselines3 import PPO

    argv = ["train", "token_gym/Reverse-v0", "--env-kwargs", "length=2", "alphabet=ab", "--agent", "ppo"]
    argv += ["--agent-kwargs", "n_envs=4", "n_steps=32", "batch_size=64", "n_epochs=1", "--steps", "256"]
    code, out, _ = run(capsys, *argv, "--out", str(tmp_path / "ppo"), "--no-progress")
    assert code == 0 and "ppo" in out
    assert PPO.load(tmp_path / "ppo" / "agent.zip").num_timesteps >= 256
    assert (tmp_path / "ppo" / "progress.csv").read_text().count("\n") >= 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "Nope"], ["unknown env 'Nope'", "token_gym/Reverse-v0"]),
        (["train", "Reverse", "--agent", "sac"], ["unknown agent 'sac'", "maskable_ppo"]),
        (["train", "Reverse", "--strategy", "bogus"], ["unknown strategy 'bogus'", "temperature"]),
        (["train", "Reverse", "--env-kwargs", "lenght=3"], ["unknown kwarg 'lenght'", "length"]),
        (["train", "Reverse", "--agent", "ppo", "--strategy", "temperature"], ["strategies apply to reinforce only"]),
        (["bench", "--preset", "nope"], ["unknown preset 'nope'", "exploration, group_size, quick"]),
        (["bench"], ["give a CONFIG.toml or --preset NAME"]),
        (["report", "/nonexistent"], ["has no results.jsonl"]),
    ],
)
def test_bad_names_exit_2_with_the_valid_ones(capsys, argv, expected):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("token-gym: error: ")
    for part in expected:
        assert part in err, err


def test_a_malformed_config_names_file_and_line(capsys, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace("n_envs = 16", "n_envs = 16\nn_env = 3"))
    code, _, err = run(capsys, "bench", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and f"{path}:9: [agents.reinforce]: unknown parameter 'n_env'" in err
    assert not (tmp_path / "out").exists()


def test_bench_then_report_without_rerunning(capsys, tmp_path):
    config = tmp_path / "cli.toml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "bench", str(config), "--out", str(out), "--no-progress")
    assert code == 0 and f"report: {out / 'report' / 'report.md'}" in stdout
    assert len(results_file(out).read().records) == 2
    (out / "report" / "report.md").unlink()
    before = (out / "results.jsonl").read_bytes()
    code, stdout, _ = run(capsys, "report", str(out))
    assert code == 0 and (out / "report" / "report.md").exists() and (out / "report" / "scaling.png").exists()
    assert "plot:   " in stdout and (out / "results.jsonl").read_bytes() == before
    code, stdout, _ = run(capsys, "bench", str(config), "--out", str(out), "--no-progress", "--no-report")
    assert code == 0 and f"nothing to run: all 2 runs are in {out / 'results.jsonl'}" in stdout
    code, stdout, _ = run(capsys, "bench", str(config), "--out", str(out), "--no-progress")
    assert code == 0 and "(up to date: nothing new to add)" in stdout


def test_the_installed_token_gym_script(tmp_path):
    script = shutil.which("token-gym", path=str(Path(sys.executable).parent)) or shutil.which("token-gym")
    if script is None:
        pytest.skip("token-gym is not installed (pip install -e . puts it beside python)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, whichever the install points at
    done = subprocess.run([script, "list", "presets"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "quick" in done.stdout and "exploration" in done.stdout
    done = subprocess.run([script, "train", "Nope"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unknown env 'Nope'" in done.stderr
