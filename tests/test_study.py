"""examples/study.py: the study's pieces at tiny sizes (~15 s on one core).

* the gradient identity: the exact RL gradient equals the weighted log-likelihood gradient (w = π(c)·R(c)
  on every completion; w = π(d) on the demonstrations under a binary reward) to float precision, and
  SLAgent's w = 1 does not — the check would fail if the experiment compared the wrong things;
* the whole script at tiny budgets writes study.md (its generated blocks, the prose around them kept), the
  figures and study.json, and study.json holds exactly what ``main`` returned;
* the warm start is wired: REINFORCE's starting policy is SL's, not a fresh one;
* the exploration summary reads a results file and picks the strategy that solved more.
"""

import json
from pathlib import Path

import pytest

from agents.bench.results import JsonLines
from examples import study
from tests.test_bench import fake_record

TINY = study.Sizes(
    seeds=1,
    efficiency_sl_tokens=1_000,
    efficiency_rl_steps=1_500,
    warm_lengths=(2,),
    warm_sl_updates=(30,),
    warm_rl_steps=1_000,
    warm_every=500,
    kl_coefs=(0.0, 0.5),
    kl_sl_tokens=2_000,
    kl_rl_steps=1_000,
    kl_every=500,
)


def fake_results(folder: Path) -> Path:
    """Two lengths × {none, temperature} × 2 seeds: temperature solves length 4, none does not."""
    folder.mkdir()
    results = JsonLines(folder / "results.jsonl")
    for length in (2, 4):
        for strategy in ("none", "temperature"):
            for seed in range(2):
                steps = 2_000 if length == 2 or strategy == "temperature" else None
                results.append(fake_record(length, strategy, seed, 0.5, 1.0 if steps else 0.0, steps))
    return results.path


def test_the_gradient_identity_holds_and_a_wrong_weight_breaks_it():
    row = study.gradient_identity("binary")
    scale = row["gradient_max_abs"]
    assert scale > 1e-4  # a gradient worth comparing
    assert row["rewarded_completions_per_prompt"] == 1  # binary: the demonstration is the only rewarded completion
    assert row["max_diff_weighted_all"] < 1e-5 * scale  # ∇J = Σ_c π(c) R(c) ∇log π(c): the same vector
    assert row["max_diff_sl_pi"] < 1e-5 * scale  # ∇J = mean_prompt π(d) ∇log π(d)
    assert row["max_diff_sl"] > 10 * scale  # SLAgent's w = 1: another vector (much longer: no π(d) ≈ 0.01 factor)
    assert row["J_change_along_gradient"] > 0  # a step along the exact ∇J raises the exact J
    assert len(row["coordinates"]["exact"]) == row["parameters"]


def test_the_study_writes_the_numbers_it_returns(tmp_path):
    out = tmp_path / "docs"
    out.mkdir()
    prose = "Hand-written reading that a rerun must keep."
    blocks = "\n".join(f"{study.begin_marker(n)}\nold\n{study.end_marker(n)}" for n in study.BLOCKS)
    (out / "study.md").write_text(f"# Study\n\n{prose}\n\n{blocks}\n\nMore prose after the blocks.\n")
    results = fake_results(tmp_path / "bench")

    record = study.main(TINY, out, results, quick=True, command="pytest")

    figures = out / "study"
    for name in ("claim1_identity", "claim1_efficiency", "claim2_warm_start", "claim3_kl", "claim4_scaling"):
        assert (figures / f"{name}.png").stat().st_size > 10_000, name
    assert json.loads((figures / "study.json").read_text()) == json.loads(json.dumps(record))
    markdown = (out / "study.md").read_text()
    assert prose in markdown and "More prose after the blocks." in markdown and "\nold\n" not in markdown
    for name in study.BLOCKS:
        assert markdown.count(study.begin_marker(name)) == 1 and markdown.count(study.end_marker(name)) == 1
    identity = record["claim1"]["identity"][0]
    assert f"{identity['max_diff_weighted_all']:.1e}" in markdown
    assert "pytest" in markdown and record["seconds"] > 0

    # the warm start is wired: at length 2 (7 train prompts) 30 SL updates already answer them greedily
    runs = {r["arm"]: r for r in record["claim2"]["runs"]}
    assert runs["SL 30 updates"]["start_greedy"] >= 0.5 > runs["scratch"]["start_greedy"]
    assert runs["SL 30 updates"]["demonstrations"] == 30 * 7
    assert record["claim1"]["efficiency"]["runs"][0]["same_initial_policy"]

    # claim 3: every KL weight ran from the same SL policy, and the closed-form optimum is ordered as it must be
    kl = {row["stage"]: row for row in record["claim3"]["summary"]}
    assert set(kl) == {"SL", "kl_coef=0.0", "kl_coef=0.5"}
    assert kl["kl_coef=0.0"]["optimum_success"] == pytest.approx(1.0)
    assert kl["SL"]["optimum_success"] < kl["kl_coef=0.5"]["optimum_success"] < 1.0
    assert kl["kl_coef=0.5"]["optimum_kl"] < kl["kl_coef=0.0"]["optimum_kl"]

    # claim 4: temperature solved length 4 where none did not, so it is the family's best
    exploration = record["claim4"]
    assert exploration["records"] == 8
    assert [f["best"] for f in exploration["families"]] == ["reinforce · temperature"]
    by_length = {row["value"]: row for row in exploration["rows"]}
    assert by_length[4]["none"]["solved"] == 0 and by_length[4]["best"]["solved"] == 2
    assert by_length[2]["none"]["median_steps"] == 2_000


def test_a_missing_results_file_is_said_not_fatal(tmp_path):
    result = study.exploration_cost(tmp_path / "nothing.jsonl", None)
    assert result["records"] == 0 and "token-gym bench --preset exploration" in study.claim4_block(result)
