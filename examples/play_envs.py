"""Play every registered env with random and with oracle actions, and print what happens.

    python -m examples.play_envs

A first look at the tasks: a sample prompt per id, what a uniformly random
policy (over the useful tokens) completes and earns, and what the oracle's
demonstration earns — 1.0 everywhere, or the verifier disagrees with the oracle.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import token_gym


def reversed_text(prompt: str, completion: str) -> float:
    return float(completion == prompt[::-1])


TEXT_TASK = {
    "prompts": ["hello", "world", "gym"],
    "demonstrations": ["olleh", "dlrow", "myg"],
    "reward_fn": reversed_text,
}


def env_kwargs(env_id: str) -> dict:
    return TEXT_TASK if env_id == "token_gym/Text-v0" else {}


def play(env: gym.Env, policy, seed: int) -> tuple[str, str, float]:
    _, info = env.reset(seed=seed)
    prompt = env.unwrapped.prompt_text
    tokens = iter(policy(info))
    while True:
        _, reward, terminated, truncated, info = env.step(next(tokens))
        if terminated or truncated:
            return prompt, info["completion"], reward


def main(episodes: int = 200, seed: int = 1) -> list[tuple]:
    rows = []
    for env_id in token_gym.ENV_IDS:
        env = gym.make(env_id, **env_kwargs(env_id))
        rng = np.random.default_rng(seed)
        useful = np.flatnonzero(env.unwrapped.action_masks())

        def random_policy(info, rng=rng, useful=useful):
            while True:
                yield int(rng.choice(useful))

        def oracle_policy(info, env=env):
            return env.unwrapped.demonstration_tokens(info["prompt_index"])

        random_runs = [play(env, random_policy, seed + i) for i in range(episodes)]
        oracle_runs = [play(env, oracle_policy, seed + i) for i in range(episodes)]
        prompt, random_completion, _ = random_runs[0]
        _, oracle_completion, _ = oracle_runs[0]
        rows.append(
            (
                env_id.removeprefix("token_gym/"),
                env.unwrapped.vocab.size,
                prompt,
                random_completion,
                float(np.mean([r for *_, r in random_runs])),
                oracle_completion,
                float(np.mean([r for *_, r in oracle_runs])),
            )
        )
    header = ("env", "vocab", "prompt", "random completion", "random reward", "oracle completion", "oracle reward")
    table = [
        [
            f"{v:.3f}" if isinstance(v, float) else repr(v) if isinstance(v, str) and i else str(v)
            for i, v in enumerate(row)
        ]
        for row in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *table, strict=True)]
    for cells in (header, *table):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    print(f"(mean rewards over {episodes} episodes each; random = uniform over the useful tokens)")
    return rows


if __name__ == "__main__":
    main()
