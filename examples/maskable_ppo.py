"""sb3-contrib MaskablePPO on a token_gym task: only the task's useful tokens are ever sampled.

    python -m examples.maskable_ppo       # about 10 s on one core

Every token_gym env has ``action_masks()`` (the task's alphabet and EOS); MaskablePPO finds it
through ``gym.make`` wrappers and, via ``env_method("action_masks")``, through the adapter. On a
vocabulary of V tokens a random policy picks a useless token most of the time; with the mask the
search space is only the alphabet. Predicting needs the masks too: ``predict(obs,
action_masks=...)``.
"""

import numpy as np
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks

from agents.sb3 import make_sb3_vec_env, token_policy_kwargs

ENV_ID = "token_gym/Reverse-v0"
TASK = dict(length=3, alphabet="abc")  # binary reward: only the exact reversal pays


def main(total_timesteps: int = 30_000, seed: int = 0) -> float:
    torch.set_num_threads(1)
    env = make_sb3_vec_env(ENV_ID, n_envs=8, seed=seed, **TASK)
    model = MaskablePPO(
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

    # One episode on every test prompt, masks passed at prediction time as in training.
    test = make_sb3_vec_env(ENV_ID, n_envs=1, split="test", monitor=False, **TASK)
    prompts = test.vector_env.prompt_indices()
    test = make_sb3_vec_env(ENV_ID, n_envs=len(prompts), split="test", monitor=False, **TASK)
    test.set_options([{"prompt_index": int(i)} for i in prompts])
    obs, done = test.reset(), np.zeros(len(prompts), dtype=bool)
    success, masked_tokens = np.zeros(len(prompts), dtype=bool), 0
    while not done.all():
        masks = get_action_masks(test)
        actions, _ = model.predict(obs, action_masks=masks, deterministic=True)
        masked_tokens += int((~masks[np.arange(len(prompts)), actions] & ~done).sum())
        obs, _, dones, infos = test.step(actions)
        for i in np.flatnonzero(dones & ~done):
            success[i] = infos[i]["is_success"]
            print(f"  {test.vector_env.prompt(prompts[i])!r} -> {infos[i]['completion']!r}")
        done |= dones
    print(f"MaskablePPO, {total_timesteps} steps: {success.mean():.0%} of test prompts, {masked_tokens} masked tokens")
    return float(success.mean())


if __name__ == "__main__":
    main()
