"""The agents' examples run end to end on small budgets, learn, and print the numbers they return."""

import pytest

from examples import sl_then_rl, sl_vs_reinforce

TINY = {"n_layer": 1, "n_embd": 16, "n_head": 2}


def table_row(out: str, name: str) -> str:
    rows = [line for line in out.splitlines() if line.startswith(name)]
    assert len(rows) == 1, (name, out)
    return rows[0]


@pytest.mark.slow
def test_sl_vs_reinforce_learns_prints_its_table_and_saves_a_plot(tmp_path, capsys):
    """Measured (Reverse-3 partial, tiny policy): SL reaches the 95% target after 5,376 demonstrations
    (95.1% test success); REINFORCE, with 3,000 env steps, does not (0%). About 4 s."""
    plot = tmp_path / "curve.png"
    results = sl_vs_reinforce.main(
        length=3, sl_timesteps=30_000, rl_timesteps=3_000, every=2, plot=plot, policy_kwargs=TINY
    )
    assert plot.exists() and plot.stat().st_size > 1000
    sl, rl = results["SL (demonstrations)"], results["REINFORCE (own samples)"]
    assert sl["final_success"] >= 0.9 and sl["sequences_to_target"] is not None
    out = capsys.readouterr().out
    for name, result in results.items():
        row = table_row(out, name)
        assert row.rstrip().endswith(f"{result['final_success']:.1%}")
        reached = result["sequences_to_target"]
        assert (f"{reached:,}" in row) if reached is not None else ("not reached" in row)
    assert rl["sequences_to_target"] is None or rl["final_success"] >= 0.95


@pytest.mark.slow
def test_sl_then_rl_learns_and_prints_its_table(capsys):
    """Measured (Reverse-3 binary, demonstrator wrong on 30%): SL 36% sampled / 100% greedy test
    success; after 20k REINFORCE steps 45% sampled / 100% greedy. About 3 s."""
    results = sl_then_rl.main(length=3, sl_timesteps=30_000, rl_timesteps=20_000, policy_kwargs=TINY)
    assert set(results) == {"demonstrator", "SL", "SL → REINFORCE"}
    assert results["SL"]["greedy_success"] >= 0.8  # greedy decoding undoes the 30% of wrong demonstrations
    assert results["SL → REINFORCE"]["greedy_success"] >= 0.8 and results["SL → REINFORCE"]["success_rate"] >= 0.3
    out = capsys.readouterr().out
    for stage in ("SL", "SL → REINFORCE"):
        metrics = results[stage]
        cells = table_row(out, stage + " " * (18 - len(stage))).split()
        expected = [f"{metrics[k]:.1%}" for k in ("success_rate", "greedy_success")]
        assert cells[-3:] == [*expected, f"{metrics['mean_token_entropy']:.3f}"], (stage, cells)
    assert table_row(out, "demonstrator").split()[1:] == ["70.0%", "-", "-"]
