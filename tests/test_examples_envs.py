"""The environment demo runs, the oracle earns full reward on every id, and the table shows the rows."""

import token_gym
from examples import play_envs


def test_play_envs_oracle_earns_everything_and_random_does_not(capsys):
    rows = play_envs.main(episodes=5)
    assert [f"token_gym/{row[0]}" for row in rows] == list(token_gym.ENV_IDS)
    assert all(row[-1] == 1.0 for row in rows)
    assert sum(row[4] for row in rows) < 0.5 * len(rows)  # uniform tokens rarely solve anything
    out = capsys.readouterr().out.splitlines()
    for row in rows:  # every row printed with its numbers
        line = next(line for line in out if line.startswith(row[0] + " "))
        assert line.split()[1] == str(row[1]) and f"{row[4]:.3f}" in line and line.rstrip().endswith(f"{row[-1]:.3f}")
