"""The SB3 examples run as written, on a tiny budget."""

import torch

from examples import maskable_ppo, sb3_ppo

torch.set_num_threads(1)


def test_sb3_ppo_example_trains_evaluates_and_shows_completions(capsys):
    metrics = sb3_ppo.main(total_timesteps=512)
    assert 0.0 <= metrics["success_rate"] <= 1.0 and metrics["n_prompts"] > 0
    out = capsys.readouterr().out
    assert "of test prompts reversed exactly" in out and out.count(" -> ") == 4


def test_maskable_ppo_example_never_predicts_a_masked_token(capsys):
    rate = maskable_ppo.main(total_timesteps=512)
    assert 0.0 <= rate <= 1.0
    out = capsys.readouterr().out
    assert "0 masked tokens" in out and out.count(" -> ") == 5
