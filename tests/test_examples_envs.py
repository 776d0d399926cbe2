"""The environment demo runs, and the oracle earns full reward on every id."""

import token_gym
from examples import play_envs


def test_play_envs_oracle_earns_everything(capsys):
    rows = play_envs.main(episodes=5)
    assert [f"token_gym/{row[0]}" for row in rows] == list(token_gym.ENV_IDS)
    assert all(row[-1] == 1.0 for row in rows)
    assert "oracle reward" in capsys.readouterr().out
