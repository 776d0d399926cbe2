"""stable-baselines3 PPO on a token_gym task: the fast adapter, token embeddings, then held-out prompts.

    python -m examples.sb3_ppo            # about 10 s on one core

Two lines make SB3 fit token generation: ``make_sb3_vec_env`` gives PPO the natively batched env
(a drop-in for SB3's ``make_vec_env``), and ``token_policy_kwargs`` embeds token ids instead of
reading them as numbers. ``evaluate`` then scores the model on the task's test prompts, the same
way it scores our own agents.
"""

import torch
from stable_baselines3 import PPO

from agents.evaluate import evaluate
from agents.sb3 import make_sb3_vec_env, token_policy_kwargs

ENV_ID = "token_gym/Reverse-v0"
TASK = dict(length=3, alphabet="abc", reward="partial")  # partial credit: a reward per right position


def main(total_timesteps: int = 40_000, seed: int = 0) -> dict[str, float]:
    torch.set_num_threads(1)
    env = make_sb3_vec_env(ENV_ID, n_envs=8, seed=seed, **TASK)
    model = PPO(
        "MlpPolicy",
        env,
        policy_kwargs=token_policy_kwargs(env),
        n_steps=64,
        batch_size=128,
        n_epochs=4,
        learning_rate=1e-3,
        ent_coef=0.01,
        seed=seed,
        device="cpu",
    )
    model.learn(total_timesteps)
    metrics = evaluate(model, ENV_ID, split="test", deterministic=True, env_kwargs=TASK)
    print(f"PPO, {total_timesteps} steps: {metrics['success_rate']:.0%} of test prompts reversed exactly")
    show_completions(model, seed)
    return metrics


def show_completions(model: PPO, seed: int, n_envs: int = 4) -> None:
    """One episode per env on test prompts, read back from SB3's infos: prompt -> completion."""
    env = make_sb3_vec_env(ENV_ID, n_envs=n_envs, seed=seed, split="test", monitor=False, **TASK)
    prompts = env.encoded_task.task.prompts
    obs, finished = env.reset(), set()
    while len(finished) < n_envs:
        actions, _ = model.predict(obs, deterministic=True)
        obs, _, dones, infos = env.step(actions)
        for i in set(dones.nonzero()[0]) - finished:
            finished.add(i)
            mark = "ok" if infos[i]["is_success"] else "wrong"
            print(f"  {prompts[infos[i]['prompt_index']]!r} -> {infos[i]['completion']!r} ({mark})")


if __name__ == "__main__":
    main()
