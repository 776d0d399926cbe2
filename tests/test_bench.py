"""The benchmark harness: configs and their errors, runs and records, the append-only results file,
resuming after a kill, the report's statistics against scipy, Ray."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from agents.bench import ConfigError, RunSpec, build_report, load_config, parse_config, run_sweep
from agents.bench import random_search as rs
from agents.bench.results import JsonLines, results_file
from agents.bench.stats import improvement, iqm

ROOT = Path(__file__).resolve().parents[1]
POLICY = "{ n_layer = 1, n_embd = 16, n_head = 2 }"
TINY = f"""
name = "tiny"
seeds = 2
budget = 600
strategies = ["none"]

[evaluation]
every = 200
samples_per_prompt = 4

[agents.reinforce]
n_envs = 16
group_size = 4
policy_kwargs = {POLICY}

[agents.sl]
batch_size = 16
policy_kwargs = {POLICY}

[[envs]]
id = "SecretString"
kwargs = {{ alphabet = "ab" }}
grid = {{ length = [2, 6] }}
"""


def write(tmp_path: Path, text: str, name: str = "tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    config = load_config(write(folder, TINY))
    summary = run_sweep(config, folder / "out", progress=False, log=lambda _: None)
    return config, summary, folder / "out"


# -- configs ------------------------------------------------------------------------------------


def test_config_expands_to_a_seed_major_grid_with_difficulties():
    config = parse_config(TINY, "tiny.toml")
    runs = config.grid().runs
    assert len(runs) == 2 * 2 * 2  # seeds × lengths × agents
    assert [r.seed for r in runs] == [0] * 4 + [1] * 4  # seed-major: a sweep cut short has whole seeds
    assert {(r.difficulty["name"], r.difficulty["value"]) for r in runs} == {("length", 2), ("length", 6)}
    assert all(r.budget == 600 and r.evaluation["every"] == 200 and r.evaluation["threshold"] == 0.9 for r in runs)
    assert len({r.key() for r in runs}) == len(runs)
    assert runs[0].env_kwargs == {"alphabet": "ab", "length": 2} and runs[0].env_id == "token_gym/SecretString-v0"


def line_with(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "needle", "expected"),
    [
        ("budget = 600", "budget = 600\nbudgte = 3", "budgte", ["unknown key 'budgte'", "valid keys: name"]),
        ("group_size = 4", "group_sise = 4", "group_sise", ["[agents.reinforce]", "'group_sise'", "valid: n_envs"]),
        ('{ alphabet = "ab" }', '{ alphabet = "ab", lenght = 2 }', "lenght", ["[[envs]] #1", "'lenght'", "length"]),
        ("every = 200", "every = 200\nevry = 3", "evry", ["[evaluation]", "'evry'", "valid keys: every"]),
        ('id = "SecretString"', 'id = "SecretStrong"', "SecretStrong", ["unknown env", "token_gym/Reverse-v0"]),
        ("[agents.sl]", "[agents.sl]\ntype = 'sac'", "'sac'", ["unknown agent 'sac'", "reinforce, sl, ppo, a2c, dqn"]),
        ('["none"]', '["none", "temprature:t=2"]', "temprature", ["strategies[1]", "known strategies", "temperature"]),
        ("every = 200", "every = 0", "every = 0", ["[evaluation]", "'every' must be a positive integer"]),
        ("[2, 6]", "[2, 0]", "grid", ["[[envs]] #1", "length"]),  # a value the env refuses
    ],
)
def test_config_errors_name_the_key_table_file_and_line(tmp_path, old, new, needle, expected):
    assert old in TINY
    text = TINY.replace(old, new)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert message.startswith(f"{path}:{line_with(text, needle)}:"), message
    for part in expected:
        assert part in message, message


def test_a_toml_syntax_error_names_file_and_line(tmp_path):
    text = TINY.replace("seeds = 2", "seeds = = 2")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{path}:{line_with(text, 'seeds = =')}: TOML syntax error"):
        load_config(path)


def test_sb3_or_sl_with_a_strategy_is_skipped_once_or_an_error_if_asked():
    text = TINY.replace('["none"]', '["none", "temperature:t=2.0"]') + "\n[agents.ppo]\nn_steps = 8\n"
    grid = parse_config(text).grid()
    pairs = [note for note in grid.skipped if "strategies apply to reinforce only" in note]
    assert len(pairs) == 1 and pairs[0].count("ppo × temperature:t=2.0") == 1 and "sl × temperature:t=2.0" in pairs[0]
    assert not any(r.strategies and r.agent_type != "reinforce" for r in grid.runs)
    assert {r.agent_type for r in grid.runs} == {"reinforce", "sl", "ppo"}
    with pytest.raises(ConfigError, match=r"^<config>:1: agent .sl. \(sl\) cannot take strategy"):
        parse_config('on_incompatible = "error"\n' + text)


def test_the_run_key_changes_with_what_changes_a_run_and_nothing_else():
    base = parse_config(TINY).grid().runs[0]
    same = RunSpec(**{**base.to_dict(), "agent": "another label", "bench": "other", "setting": "x"})
    assert same.key() == base.key()
    for change in (
        {"seed": 9},
        {"budget": 601},
        {"env_kwargs": {**base.env_kwargs, "length": 3}},
        {"agent_kwargs": {**base.agent_kwargs, "n_envs": 8}},
        {"strategies": [{"name": "temperature", "t": 2.0}]},
        {"evaluation": {**base.evaluation, "threshold": 0.8}},
    ):
        assert RunSpec(**{**base.to_dict(), **change}).key() != base.key(), change
    # strategies are canonical: the default written out or not is one run
    a = parse_config(TINY.replace('["none"]', '["temperature"]')).strategies[0]
    b = parse_config(TINY.replace('["none"]', '["temperature:t=1.5"]')).strategies[0]
    assert a.specs == b.specs == [{"name": "temperature", "t": 1.5}] and a.label == "temperature:t=1.5"


# -- runs, records, resuming ------------------------------------------------------------------------

RECORD_FIELDS = {
    "format", "key", "config", "timestep_unit", "importance_correction", "versions", "steps_trained", "stopped",
    "solved", "steps_to_threshold", "seconds_to_threshold", "censored", "final", "auc", "training", "curve",
    "timing", "worker", "host", "finished_at", "saved",
}  # fmt: skip
FINAL_FIELDS = {
    "greedy_success", "sampled_success", "pass@1", "pass@k", "k", "distinct_completions", "mean_token_entropy",
}  # fmt: skip


def check_record(record: dict, spec: RunSpec) -> None:
    assert set(record) >= RECORD_FIELDS, RECORD_FIELDS - set(record)
    assert record["key"] == spec.key() and record["config"] == spec.to_dict()
    assert set(record["final"]) >= FINAL_FIELDS
    assert set(record["versions"]) >= {"token-gym", "torch", "gymnasium", "stable-baselines3", "python"}
    assert record["solved"] == (record["steps_to_threshold"] is not None) and record["censored"] == (
        not record["solved"]
    )
    curve = record["curve"]
    assert len(curve["steps"]) == len(curve["greedy"]) == len(record["training"]["entropy"]) >= 1
    assert 0.0 <= record["auc"]["greedy"] <= 1.0
    timing = record["timing"]
    assert timing["wall"] >= timing["training"] + timing["evaluation"] > 0
    assert timing["overhead"] == pytest.approx(timing["wall"] - timing["training"] - timing["evaluation"])


def test_a_tiny_grid_writes_one_whole_record_per_run(tiny_sweep):
    config, summary, out = tiny_sweep
    grid = config.grid().runs
    records = results_file(out).read().records
    assert summary.ran == len(grid) == len(records) and not summary.failed
    by_key = {r["key"]: r for r in records}
    for spec in grid:
        check_record(by_key[spec.key()], spec)
    units = {r["config"]["agent_type"]: r["timestep_unit"] for r in records}
    assert units == {"reinforce": "env steps", "sl": "demonstrated tokens"}
    ours = [r for r in records if r["config"]["agent_type"] == "reinforce"]
    assert all(
        r["importance_correction"] is not None and r["training"]["zero_advantage_fraction"][0] is not None for r in ours
    )
    # SecretString-6 in 600 env steps: no seed finds a 1-in-2187 secret; kept as censored, not dropped
    hard = [r for r in ours if r["config"]["env_kwargs"]["length"] == 6]
    assert len(hard) == 2 and all(r["censored"] and r["steps_to_threshold"] is None for r in hard)
    assert (out / "sweeps.jsonl").exists() and list(out.glob("config-tiny-*.toml"))


def test_a_rerun_skips_finished_runs_and_writes_nothing_new(tiny_sweep):
    config, _, out = tiny_sweep
    before = {name: (out / name).read_bytes() for name in ("results.jsonl", "sweeps.jsonl")}
    start = time.perf_counter()
    summary = run_sweep(config, out, progress=False, log=lambda _: None)
    assert summary.ran == 0 and summary.before == len(config.grid().runs)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert time.perf_counter() - start < 10


def test_a_second_sweep_on_the_same_directory_is_refused(tiny_sweep):
    config, _, out = tiny_sweep
    from agents.bench.results import DirectoryLock

    with DirectoryLock(out), pytest.raises(RuntimeError, match="another sweep is writing"):
        run_sweep(config, out, progress=False, log=lambda _: None)


def test_sb3_agents_run_side_by_side_with_ours(tmp_path):
    text = """
name = "sb3"
budget = 256
[evaluation]
every = 128
samples_per_prompt = 2
[agents.ppo]
n_envs = 4
n_steps = 32
batch_size = 64
n_epochs = 1
extractor = { features_dim = 16, embed_dim = 8 }
[agents.a2c]
n_envs = 4
[agents.dqn]
n_envs = 4
learning_starts = 32
[agents.maskable_ppo]
n_envs = 4
n_steps = 32
batch_size = 64
n_epochs = 1
[[envs]]
id = "SecretString"
kwargs = { length = 2, alphabet = "ab" }
"""
    config = load_config(write(tmp_path, text))
    summary = run_sweep(config, tmp_path / "out", progress=False, log=lambda _: None)
    assert summary.ran == 4 and not summary.failed
    records = {r["config"]["agent_type"]: r for r in results_file(tmp_path / "out").read().records}
    for spec in config.grid().runs:
        check_record(records[spec.agent_type], spec)
        assert records[spec.agent_type]["importance_correction"] is None
    assert records["ppo"]["training"]["entropy"][-1] is not None  # SB3's own logged entropy
    assert records["dqn"]["training"]["entropy"] == [None] * len(records["dqn"]["curve"]["steps"])


def test_a_run_with_a_strategy_passes_its_canonical_spec_and_records_it(tmp_path):
    text = TINY.replace('["none"]', '["none", "temperature:t=2.0"]').replace("seeds = 2", "seeds = [0]")
    config = load_config(write(tmp_path, text))
    grid = config.grid()
    assert any("sl × temperature:t=2.0" in note for note in grid.skipped)
    summary = run_sweep(config, tmp_path / "out", progress=False, log=lambda _: None)
    assert summary.ran == 6 and not summary.failed  # 2 lengths × (reinforce none, reinforce temperature, sl none)
    records = results_file(tmp_path / "out").read().records
    hot = [r for r in records if r["config"]["strategy"] == "temperature:t=2.0"]
    assert len(hot) == 2 and all(r["config"]["strategies"] == [{"name": "temperature", "t": 2.0}] for r in hot)
    assert all(r["config"]["agent_type"] == "reinforce" and r["importance_correction"] == "truncated" for r in hot)
    # the sampled distribution was hotter than π: the training entropy (of what was sampled) is higher
    cold = {r["config"]["env_kwargs"]["length"]: r for r in records if r["config"]["strategy"] == "none"}
    for r in hot:
        same = cold[r["config"]["env_kwargs"]["length"]]
        if same["config"]["agent_type"] == "reinforce":
            assert r["training"]["entropy"][0] > same["training"]["entropy"][0]


KILL_CONFIG = f"""
name = "kill"
seeds = 8
budget = 1_200
[evaluation]
every = 400
samples_per_prompt = 2
[agents.reinforce]
n_envs = 16
group_size = 4
policy_kwargs = {POLICY}
[[envs]]
id = "CombinationLock"
kwargs = {{ length = 5, alphabet = "ab" }}
"""


def test_a_sweep_killed_mid_way_resumes_with_every_run_exactly_once(tmp_path):
    config_path = write(tmp_path, KILL_CONFIG)
    out = tmp_path / "out"
    results = out / "results.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "agents.cli", "bench", str(config_path), "--out", str(out), "--no-progress"]
    sweep = subprocess.Popen([*command, "--no-report"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or results.read_bytes().count(b"\n") < 2):
        assert sweep.poll() is None, sweep.stderr.read().decode()
        time.sleep(0.02)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    before = results.read_bytes()
    done_before = JsonLines(results).read().keys
    grid = load_config(config_path).grid().runs
    assert 2 <= len(done_before) < len(grid), "the sweep was not killed mid-way"
    with open(results, "ab") as f:  # as if the kill had cut a write short
        f.write(b'{"format":1,"key":"cut-sh')
    summary = run_sweep(load_config(config_path), out, progress=False, log=lambda _: None)
    assert summary.before == len(done_before) and summary.ran == len(grid) - len(done_before)
    after = results.read_bytes()
    assert after.startswith(before + b'{"format":1,"key":"cut-sh\n')  # nothing rewritten, the partial line kept
    contents = JsonLines(results).read()
    assert sorted(r["key"] for r in contents.records) == sorted(s.key() for s in grid)  # every run exactly once
    assert len(contents.problems) == 1 and f":{len(done_before) + 1}: not a whole JSON record" in contents.problems[0]


def test_the_partial_line_rule(tmp_path):
    results = JsonLines(tmp_path / "results.jsonl")
    results.append({"key": "a", "x": 1})
    with open(results.path, "ab") as f:
        f.write(b'{"key": "b", "x"')  # a write cut short
    contents = results.read()
    assert [r["key"] for r in contents.records] == ["a"]
    assert len(contents.problems) == 1 and ":2: partial last line" in contents.problems[0]
    results.append({"key": "c"})
    assert results.path.read_bytes() == b'{"key":"a","x":1}\n{"key": "b", "x"\n{"key":"c"}\n'
    contents = results.read()
    assert [r["key"] for r in contents.records] == ["a", "c"]
    assert ":2: not a whole JSON record" in contents.problems[0]
    with open(results.path, "ab") as f:
        f.write(b'{"key": "d"}')  # whole, only its newline missing: it counts
    results.append({"key": "a"})  # a key again: the first counts
    contents = results.read()
    assert [r["key"] for r in contents.records] == ["a", "c", "d"]
    assert any("run a again" in p for p in contents.problems)


# -- the report -------------------------------------------------------------------------------------


def fake_record(length: int, strategy: str, seed: int, auc: float, final: float, steps: int | None) -> dict:
    """A whole record with chosen outcomes (what a run would write)."""
    spec = RunSpec(
        env_id="token_gym/SecretString-v0",
        env_kwargs={"alphabet": "ab", "length": length},
        agent_type="reinforce",
        agent_kwargs={},
        strategies=[] if strategy == "none" else [{"name": strategy}],
        seed=seed,
        budget=10_000,
        evaluation={"every": 1_000, "samples_per_prompt": 4},
        strategy=strategy,
        difficulty={"name": "length", "value": length},
        bench="fake",
    )
    points = list(range(1_000, 10_001, 1_000))
    greedy = [final if steps is not None and p >= steps else 0.0 for p in points]
    return {
        "format": 1, "key": spec.key(), "config": spec.to_dict(), "timestep_unit": "env steps",
        "importance_correction": "truncated", "versions": {"token-gym": "0.1.0", "torch": "2.13.0"},
        "steps_trained": 10_000, "stopped": "budget", "solved": steps is not None, "steps_to_threshold": steps,
        "seconds_to_threshold": None, "censored": steps is None,
        "final": {"greedy_success": final, "sampled_success": final / 2, "pass@1": final / 2, "pass@k": final,
                  "k": 4, "distinct_completions": 2.0, "mean_token_entropy": 0.5},
        "auc": {"greedy": auc, "sampled": auc / 2},
        "training": {"entropy": [0.6] * 10, "zero_advantage_fraction": [0.5] * 10, "success_rate": [0.1] * 10,
                     "mean_reward": [0.1] * 10},
        "curve": {"steps": points, "updates": list(range(10)), "seconds": [0.1] * 10, "greedy": greedy,
                  "sampled": greedy},
        "timing": {"wall": 2.0, "training": 1.5, "evaluation": 0.4, "overhead": 0.1}, "worker": "local",
        "host": "h", "finished_at": "2026-01-01T00:00:00+00:00", "saved": None,
    }  # fmt: skip


def test_the_report_builds_from_a_results_file_alone_and_matches_scipy(tmp_path):
    rng = np.random.default_rng(3)
    aucs = {}
    results = JsonLines(tmp_path / "results.jsonl")
    for length in (2, 4):
        for strategy in ("none", "temperature"):
            aucs[length, strategy] = rng.uniform(0, 1, size=5).round(1)  # ties: P(X > Y) counts them half
            for seed, auc in enumerate(aucs[length, strategy]):
                steps = None if auc < 0.3 else int(10_000 * (1 - auc)) // 1000 * 1000 + 1000
                results.append(fake_record(length, strategy, seed, float(auc), 1.0 if steps else 0.0, steps))
    with open(results.path, "ab") as f:
        f.write(b'{"key": "cut')
    report = build_report(tmp_path)
    markdown = report.markdown.read_text()
    assert "## Per setting" in markdown and "## Scaling" in markdown and "## Solved within budget" in markdown
    assert "Skipped 1 line(s)" in markdown and "random search" in markdown
    for name in ("curves-1.png", "scaling.png"):
        assert (tmp_path / "report" / name).stat().st_size > 10_000
    data = json.loads(report.data.read_text())

    def bootstrap(statistic, samples):
        ci = stats.bootstrap(
            samples, statistic, n_resamples=2000, method="percentile", rng=np.random.default_rng(0)
        ).confidence_interval
        return pytest.approx([ci.low, ci.high])

    def trimmed(*samples, axis=-1):
        return stats.trim_mean(np.concatenate(samples, axis=axis), 0.25, axis=axis)

    setting = next(s for s in data["settings"] if s["env_kwargs"]["length"] == 4)
    row = next(m for m in setting["methods"] if m["method"] == "reinforce · temperature")
    x = aucs[4, "temperature"]
    assert row["auc"]["iqm"]["point"] == pytest.approx(stats.trim_mean(x, 0.25))
    assert [row["auc"]["iqm"]["low"], row["auc"]["iqm"]["high"]] == bootstrap(trimmed, (x,))
    iqm_text = f"{row['auc']['iqm']['point']:.2f} [{row['auc']['iqm']['low']:.2f}, {row['auc']['iqm']['high']:.2f}]"
    assert iqm_text in markdown
    comparison = next(c for c in setting["improvement"] if c["x"] == "reinforce · temperature")
    y = aucs[4, "none"]
    assert len(np.intersect1d(x, y)) > 0  # the data have ties
    u = stats.mannwhitneyu(x, y).statistic / (len(x) * len(y))
    assert comparison["point"] == pytest.approx(u)

    def poi(a, b, axis=-1):
        return stats.mannwhitneyu(a, b, axis=axis).statistic / (a.shape[axis] * b.shape[axis])

    assert [comparison["low"], comparison["high"]] == bootstrap(poi, (x, y))
    # over settings: the stratified bootstrap resamples each setting's seeds on their own
    row = next(m for m in data["aggregate"]["methods"] if m["method"] == "reinforce · temperature")
    both = (aucs[2, "temperature"], aucs[4, "temperature"])
    assert row["auc_iqm"]["point"] == pytest.approx(stats.trim_mean(np.concatenate(both), 0.25))
    assert [row["auc_iqm"]["low"], row["auc_iqm"]["high"]] == bootstrap(trimmed, both)
    assert iqm(*both) == pytest.approx(row["auc_iqm"]["point"])
    assert improvement(x, y) == pytest.approx(u)
    solved = {s["method"]: s for s in data["solved"]}
    n_solved = sum(int((aucs[k] >= 0.3).sum()) for k in aucs if k[1] == "none")
    assert solved["reinforce · none"]["runs_solved"] == n_solved and solved["reinforce · none"]["runs"] == 10
    lines = {line["length"]: line for line in data["random_search"] if "reinforce" in line["family"]}
    assert lines[2]["success_probability"] == pytest.approx(3.0**-3, rel=1e-5)  # (|A| + 1)^-(L + 1)


def test_random_search_exact_matches_the_closed_form(monkeypatch):
    cases = [
        ("token_gym/SecretString-v0", {"length": 3, "alphabet": "ab"}, 3.0**-4, sum((2 / 3) ** t for t in range(4))),
        ("token_gym/CombinationLock-v0", {"length": 4, "alphabet": "ab"}, 3.0**-4, sum(3.0**-t for t in range(4))),
    ]
    for env_id, kwargs, p, length in cases:
        exact = rs.exact(env_id, kwargs)
        assert exact.method == "exact"
        assert exact.success_probability == pytest.approx(p, rel=1e-5) and exact.mean_length == pytest.approx(length)
        monkeypatch.setattr(rs, "EXACT_MAX_LEAVES", 0)
        rs._cached.cache_clear()
        closed = rs.random_search(env_id, kwargs)
        monkeypatch.undo()
        rs._cached.cache_clear()
        assert closed.method == "closed form" and closed.success_probability == pytest.approx(p)
        assert closed.expected_steps == pytest.approx(length / p)


# -- Ray ----------------------------------------------------------------------------------------------


@pytest.mark.ray
def test_a_tiny_grid_on_a_local_ray_with_two_cpus_resumes(tmp_path):
    pytest.importorskip("ray")
    text = TINY.replace("[agents.sl]", "[agents.sl_unused]\ntype = 'sl'").replace("seeds = 2", "seeds = [0]")
    out = tmp_path / "out"
    first = run_sweep(load_config(write(tmp_path, text)), out, progress=False, log=lambda _: None)
    assert first.ran == 4
    before = (out / "results.jsonl").read_bytes()
    config = load_config(write(tmp_path, text.replace("seeds = [0]", "seeds = [0, 1]")))
    summary = run_sweep(config, out, ray_address="local", ray_cpus=2, progress=False, log=lambda _: None)
    assert summary.workers == 2 and summary.before == 4 and summary.ran == 4 and not summary.failed
    assert (out / "results.jsonl").read_bytes().startswith(before)
    records = results_file(out).read().records
    assert sorted(r["key"] for r in records) == sorted(s.key() for s in config.grid().runs)
    ray_runs = [r for r in records if r["worker"].startswith("ray:")]
    assert len(ray_runs) == 4 and {r["config"]["seed"] for r in ray_runs} == {1}
    for record in ray_runs:
        check_record(record, RunSpec.from_dict(record["config"]))
    again = run_sweep(config, out, ray_address="local", ray_cpus=2, progress=False, log=lambda _: None)
    assert again.ran == 0 and again.before == 8


def test_plot_legends_name_strategies_by_what_they_change():
    from agents.bench.report import short_label

    assert short_label("reinforce · entropy:coef=0.01,target=None,delta=0.005,coef_min=0.0,coef_max=1.0") == (
        "reinforce · entropy"
    )
    assert (
        short_label("reinforce · temperature:t=2.0 + epsilon:epsilon=0.1") == "reinforce · temperature:t=2.0 + epsilon"
    )
    assert short_label("reinforce · none") == "reinforce · none" and short_label("ppo") == "ppo"
