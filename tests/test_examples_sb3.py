"""The SB3 examples run as written, learn their task on a small budget, and print what they return."""

import re

import pytest
import torch

from examples import maskable_ppo, sb3_ppo

torch.set_num_threads(1)

SHOWN = re.compile(r"^  '(\w*)' -> '(\w*)'(?: \((ok|wrong)\))?$", re.MULTILINE)


@pytest.mark.slow
def test_sb3_ppo_example_learns_and_prints_what_it_returns(capsys):
    """Measured at 10k steps: 100% of the 5 test prompts reversed exactly (about 4 s)."""
    metrics = sb3_ppo.main(total_timesteps=10_000)
    assert metrics["success_rate"] >= 0.8 and metrics["n_prompts"] == 5
    out = capsys.readouterr().out
    assert f"PPO, 10000 steps: {metrics['success_rate']:.0%} of test prompts reversed exactly" in out
    shown = SHOWN.findall(out)
    assert len(shown) == 4
    for prompt, completion, mark in shown:  # each mark says whether the completion is the reversal
        assert mark == ("ok" if completion == prompt[::-1] else "wrong"), (prompt, completion, mark)


@pytest.mark.slow
def test_maskable_ppo_example_learns_and_never_predicts_a_masked_token(capsys):
    """Measured: 60% of the 5 test prompts at 10k steps, 100% at 20k (about 6 s)."""
    rate = maskable_ppo.main(total_timesteps=20_000)
    assert rate >= 0.8
    out = capsys.readouterr().out
    assert f"MaskablePPO, 20000 steps: {rate:.0%} of test prompts, 0 masked tokens" in out
    shown = SHOWN.findall(out)
    assert len(shown) == 5
    assert sum(completion == prompt[::-1] for prompt, completion, _ in shown) / 5 == pytest.approx(rate)
