"""The agents' examples run end to end with tiny budgets (smoke tests: they must not crash)."""

import pytest

from examples import sl_then_rl, sl_vs_reinforce

TINY = {"n_layer": 1, "n_embd": 16, "n_head": 2}


@pytest.mark.slow
def test_sl_vs_reinforce_runs_and_saves_a_plot(tmp_path):
    plot = tmp_path / "curve.png"
    results = sl_vs_reinforce.main(
        length=3, sl_timesteps=600, rl_timesteps=3_000, every=2, plot=plot, policy_kwargs=TINY
    )
    assert plot.exists() and plot.stat().st_size > 1000
    assert set(results) == {"SL (demonstrations)", "REINFORCE (own samples)"}
    assert all(0.0 <= r["final_success"] <= 1.0 for r in results.values())


@pytest.mark.slow
def test_sl_then_rl_runs(capsys):
    results = sl_then_rl.main(length=3, sl_timesteps=600, rl_timesteps=3_000, policy_kwargs=TINY)
    assert set(results) == {"demonstrator", "SL", "SL → REINFORCE"}
    assert "SL → REINFORCE" in capsys.readouterr().out
