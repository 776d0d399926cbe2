"""Learning curves: one record of test success for our agents and SB3's, with steps to target and area."""

import pytest

import token_gym  # noqa: F401
from agents import SLAgent
from agents.curve import LearningCurve

ENV, KW = "token_gym/Reverse-v0", {"length": 3, "alphabet": "abcd"}


def test_area_and_first_reaching_from_hand_written_points():
    curve = LearningCurve(ENV, KW)
    curve.steps, curve.greedy, curve.sampled = [100, 200, 400], [0.0, 0.5, 1.0], [0.0, 0.25, 1.0]
    # trapezoids over [0, 100, 200, 400, 800]: 0 + 25 + 150 + 400 = 575 of 800
    assert curve.area("greedy", budget=800) == pytest.approx(575 / 800)
    assert curve.area("sampled", budget=400) == pytest.approx((12.5 + 125) / 400)
    assert curve.first_reaching(0.5) == 1 and curve.first_reaching(0.5, "sampled") == 2
    assert curve.first_reaching(1.1) is None  # censored, never dropped
    assert curve.reached(0.5) and not curve.reached(0.5, patience=1) and not curve.reached(None)


def test_callback_scores_on_its_step_grid_and_stops_at_the_target():
    curve = LearningCurve(ENV, KW)
    agent = SLAgent(ENV, env_kwargs=KW, batch_size=16, learning_rate=3e-3, policy_kwargs={"n_layer": 1, "n_embd": 32})
    agent.learn(40_000, callback=curve.callback(every_steps=640, target=0.8))
    assert curve.steps == sorted(curve.steps) and all(
        b - a >= 640 for a, b in zip(curve.steps, curve.steps[1:], strict=False)
    )
    assert min(curve.greedy[-1], curve.sampled[-1]) >= 0.8 and agent.num_timesteps < 40_000  # stopped early
    assert all(min(g, s) < 0.8 for g, s in zip(curve.greedy[:-1], curve.sampled[:-1], strict=True))
    assert curve.seconds == sorted(curve.seconds) and curve.evaluation_seconds > 0
    assert curve.summary(0.8)["greedy"]["steps_to_target"] <= curve.steps[-1]
