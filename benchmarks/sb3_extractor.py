"""Token embeddings vs SB3's default one-hot encoding on a large vocabulary, side by side.

    python -m benchmarks.sb3_extractor [--repeats 3] [--steps 16384]

Task: Reverse of 8 (or 12) letters with a BPE tokenizer trained to 600 (or 1000) tokens, partial
reward. Contenders, all PPO (same hyperparameters, 16 envs through the adapter):

* ``one-hot``: the observation declared ``MultiDiscrete([V] * W)``, which SB3 one-hot encodes
  (``W × V`` inputs) before its default flatten + MLP: what a user gets without an extractor that
  understands tokens;
* ``embed-flatten`` / ``embed-attention``: :class:`~agents.sb3.TokenEmbeddingExtractor`.

Each run is its own process (clean peak RSS), the contenders interleaved per repeat. Reports
policy parameters, peak RSS, PPO learn env-steps/s and the mean episode reward of the last 100
episodes (partial credit: a learning signal, not a solved task, at this budget). Medians.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from gymnasium import spaces

CONFIGS = {
    "bpe600": dict(length=8, tokenizer="bpe", bpe_vocab_size=600, reward="partial"),
    "bpe1000": dict(length=12, tokenizer="bpe", bpe_vocab_size=1000, reward="partial"),
}
ENCODERS = ("one-hot", "embed-flatten", "embed-attention")
ENV_ID = "token_gym/Reverse-v0"


def worker(config: str, encoder: str, steps: int, seed: int) -> dict:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecEnvWrapper

    from agents.sb3 import make_sb3_vec_env, token_policy_kwargs

    class OneHotView(VecEnvWrapper):
        """The same ids, declared MultiDiscrete: SB3 one-hot encodes each position."""

        def __init__(self, venv):
            width, vocab = venv.observation_space.shape[0], int(venv.observation_space.high.max()) + 1
            super().__init__(venv, observation_space=spaces.MultiDiscrete(np.full(width, vocab)))

        def reset(self):
            return self.venv.reset()

        def step_wait(self):
            return self.venv.step_wait()

    torch.set_num_threads(1)
    env = make_sb3_vec_env(ENV_ID, 16, seed=seed, **CONFIGS[config])
    vocab_size, width = env.unwrapped.encoded_task.vocab.size, env.observation_space.shape[0]
    if encoder == "one-hot":
        env, policy_kwargs = OneHotView(env), {}
    else:
        policy_kwargs = token_policy_kwargs(env, encoder=encoder.removeprefix("embed-"))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = PPO(
        "MlpPolicy", env, policy_kwargs=policy_kwargs, n_steps=64, batch_size=256, n_epochs=4,
        learning_rate=1e-3, ent_coef=0.01, seed=seed, device="cpu",
    )  # fmt: skip
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    return {
        "vocab_size": vocab_size,
        "width": width,
        "parameters": sum(p.numel() for p in model.policy.parameters()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "model_rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024,
        "steps_per_second": model.num_timesteps / seconds,
        "ep_rew_mean": float(np.mean([e["r"] for e in model.ep_info_buffer])),
    }


def run(config: str, encoder: str, steps: int, seed: int) -> dict:
    command = [sys.executable, "-m", "benchmarks.sb3_extractor", "--worker", config, encoder, str(steps), str(seed)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16_384, help="PPO env steps per run")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        config, encoder, steps, seed = args.worker
        print(json.dumps(worker(config, encoder, int(steps), int(seed))))
        return
    print(f"PPO on {ENV_ID}, 16 envs (adapter), {args.steps} steps, medians of {args.repeats}, 1 torch thread")
    for config in args.configs:
        results = {e: [] for e in ENCODERS}
        for seed in range(args.repeats):
            for encoder in ENCODERS:
                results[encoder].append(run(config, encoder, args.steps, seed))
        first = results[ENCODERS[0]][0]
        print(f"\n{config} {CONFIGS[config]}: vocabulary {first['vocab_size']}, observation width {first['width']}")
        print(f"{'':18}{'parameters':>12}{'peak RSS MB':>13}{'model RSS MB':>14}{'env-steps/s':>13}{'ep_rew_mean':>13}")
        base = statistics.median(r["steps_per_second"] for r in results["one-hot"])
        for encoder in ENCODERS:
            med = {k: statistics.median(r[k] for r in results[encoder]) for k in results[encoder][0]}
            print(
                f"{encoder:18}{med['parameters']:>12,.0f}{med['peak_rss_mb']:>13.0f}{med['model_rss_mb']:>14.0f}"
                f"{med['steps_per_second']:>13,.0f}{med['ep_rew_mean']:>13.3f}   ({med['steps_per_second'] / base:.1f}x)"
            )


if __name__ == "__main__":
    main()
