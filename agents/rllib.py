"""RLlib glue: token_gym ids for RLlib, and an RLModule that embeds token ids.

RLlib is the engine to move to when one machine is not enough. Its new API
stack (``EnvRunner``) samples from a gymnasium vector env that it builds with
``gym.make_vec``; with ``gym_env_vectorize_mode="vector_entry_point"`` that is
our native ``TokenVectorEnv``, so an env runner steps all its rows in numpy
instead of looping over Python envs. RLlib's runner assumes gymnasium's NextStep
autoreset (the step after a terminal one is a reset), which is our default.

The observation is a Box of int64 token ids. RLlib's default encoder is an MLP
over float inputs: it fails on int64 ("mat1 and mat2 must have the same dtype"),
and ids cast to floats would be meaningless anyway (token 7 is not "more" than
token 3). ``TokenRLModule`` embeds them instead and masks the tokens outside the
env's action mask (pad, sep, letters outside the alphabet).

Import this module only where ray is installed (``pip install token-gym[rllib]``);
nothing else in token_gym or agents imports it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.tune.registry import register_env
from torch import nn

import token_gym
from agents.encoders import TokenEncoder
from agents.policy import MASKED_LOGIT


def _check_next_step(autoreset_mode: Any) -> None:
    if gym.vector.AutoresetMode(autoreset_mode) is not gym.vector.AutoresetMode.NEXT_STEP:
        raise ValueError(
            f"env_config['autoreset_mode'] must be 'NextStep' (RLlib's env runner expects it), got {autoreset_mode!r}"
        )


def make_token_env(env_id: str, config: dict[str, Any]) -> gym.Env | gym.vector.VectorEnv:
    """RLlib env creator: a single env, or our native vector env when RLlib asks for ``num_envs``.

    RLlib calls the creator with its ``EnvContext`` (the ``env_config`` dict) for a
    single env and with ``num_envs`` added under ``gym_env_vectorize_mode="vector_entry_point"``.
    """
    kwargs = dict(config)
    num_envs = kwargs.pop("num_envs", None)
    _check_next_step(kwargs.pop("autoreset_mode", "NextStep"))
    if num_envs is None:
        return gym.make(env_id, **kwargs)
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


class _Creator:
    """A picklable creator bound to one id (Ray ships it to every env runner)."""

    def __init__(self, env_id: str):
        self.env_id = env_id

    def __call__(self, config: dict[str, Any]) -> gym.Env | gym.vector.VectorEnv:
        return make_token_env(self.env_id, config)


def register_rllib_envs() -> list[str]:
    """Register every token_gym id with Ray's env registry (Tune's ``register_env``), under the same name.

    Not needed by ``ppo_config``: RLlib also takes a gymnasium id, and the
    ``token_gym:`` prefix makes every env runner import token_gym. Register when
    a tool wants Ray-registered names (Tune). Ray's registry lives in the running
    cluster: call this after each ``ray.init()``. Returns the registered names.
    """
    for env_id in token_gym.ENV_IDS:
        register_env(env_id, _Creator(env_id))
    return list(token_gym.ENV_IDS)


def rllib_env_id(env_id: str) -> str:
    """``"token_gym/Copy-v0"`` -> ``"token_gym:token_gym/Copy-v0"``: gymnasium imports token_gym first.

    Ray env runners are fresh processes; without the prefix the id is unknown there.
    """
    if env_id.startswith("token_gym:"):
        return env_id
    if env_id not in token_gym.ENV_IDS:
        raise ValueError(f"env_id must be one of {sorted(token_gym.ENV_IDS)}, got {env_id!r}")
    return f"token_gym:{env_id}"


def log_success(*, episode: Any, metrics_logger: Any, **kwargs: Any) -> None:
    """RLlib ``on_episode_end`` callback: the verifier's ``is_success`` as ``env_runners/success``.

    Averaged over the last 100 episodes, like RLlib's ``episode_return_mean``.
    """
    metrics_logger.log_value(
        "success", float(episode.get_infos(-1).get("is_success", False)), reduce="mean", window=100
    )


class TokenRLModule(TorchRLModule, ValueFunctionAPI):
    """Actor-critic over token ids: the token-embedding encoder, then a policy head and a value head.

    The encoder is the one our SB3 policies use (:class:`agents.encoders.TokenEncoder`:
    token + position embeddings, padding zeroed, "flatten" or "attention"), so an RLlib
    and an SB3 run on the same task compare algorithms, not encoders.

    model_config: ``encoder`` ("flatten"), ``embed_dim`` (32), ``features_dim`` (128),
    ``hidden`` (64, each head's hidden layer), ``pad_id`` (0), and ``action_mask`` (list of
    V bools; tokens outside it get a -1e9 logit, so they are never sampled, and PPO's
    ratio, KL and entropy see the same masked distribution at sampling and training).
    """

    def setup(self) -> None:
        vocab_size = int(self.action_space.n)
        features_dim = int(self.model_config.get("features_dim", 128))
        hidden = int(self.model_config.get("hidden", 64))
        self.encoder = TokenEncoder(
            vocab_size,
            int(self.observation_space.shape[0]),
            features_dim=features_dim,
            embed_dim=int(self.model_config.get("embed_dim", 32)),
            encoder=self.model_config.get("encoder", "flatten"),
            pad_id=self.model_config.get("pad_id", 0),
        )
        self.policy_head = nn.Sequential(nn.Linear(features_dim, hidden), nn.Tanh(), nn.Linear(hidden, vocab_size))
        self.value_head = nn.Sequential(nn.Linear(features_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.policy_head[-1].weight)  # uniform over the allowed tokens at the start
        nn.init.zeros_(self.policy_head[-1].bias)
        mask = self.model_config.get("action_mask")
        mask = torch.ones(vocab_size, dtype=torch.bool) if mask is None else torch.as_tensor(mask, dtype=torch.bool)
        if mask.shape != (vocab_size,):
            raise ValueError(f"model_config['action_mask'] must have {vocab_size} entries, got {tuple(mask.shape)}")
        self.register_buffer("logit_bias", torch.where(mask, 0.0, MASKED_LOGIT))

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, torch.Tensor]:
        features = self.encoder(batch[Columns.OBS])  # (B, F)
        return {Columns.ACTION_DIST_INPUTS: self.policy_head(features) + self.logit_bias}  # (B, V)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, torch.Tensor]:
        features = self.encoder(batch[Columns.OBS])  # (B, F)
        return {
            Columns.ACTION_DIST_INPUTS: self.policy_head(features) + self.logit_bias,  # (B, V)
            Columns.EMBEDDINGS: features,  # (B, F): reused by compute_values
        }

    def compute_values(self, batch: dict[str, Any], embeddings: torch.Tensor | None = None) -> torch.Tensor:
        if embeddings is None:
            embeddings = self.encoder(batch[Columns.OBS])  # (B, F)
        return self.value_head(embeddings).squeeze(-1)  # (B,)


def token_module_spec(env_id: str, env_config: dict[str, Any], **model_config: Any) -> RLModuleSpec:
    """An ``RLModuleSpec`` for ``TokenRLModule`` with the env's action mask and pad id filled in."""
    env = gym.make(rllib_env_id(env_id), **env_config)
    try:
        action_mask = np.asarray(env.unwrapped.action_masks(), dtype=bool).tolist()
        pad_id = int(env.unwrapped.encoded_task.vocab.pad_id)
    finally:
        env.close()
    return RLModuleSpec(
        module_class=TokenRLModule,
        model_config={"action_mask": action_mask, "pad_id": pad_id, **model_config},
    )


def ppo_config(
    env_id: str,
    env_config: dict[str, Any] | None = None,
    *,
    num_env_runners: int = 1,
    num_envs_per_env_runner: int = 16,
    train_batch_size: int = 1024,
    seed: int | None = 0,
    **model_config: Any,
) -> PPOConfig:
    """A PPO config on a token_gym id with our native vector env and ``TokenRLModule``.

    Small, CPU-friendly defaults: one env runner (a Ray actor, one CPU, so one torch
    thread), the learner in the driver. Results report ``env_runners/success`` beside
    ``episode_return_mean``. Change anything further with ``config.training(...)`` etc.
    """
    env_config = dict(env_config or {})
    _check_next_step(env_config.get("autoreset_mode", "NextStep"))
    return (
        PPOConfig()
        .environment(rllib_env_id(env_id), env_config=env_config)
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point",
            num_cpus_per_env_runner=1,
        )
        .learners(num_learners=0)
        .callbacks(on_episode_end=log_success)
        .rl_module(rl_module_spec=token_module_spec(env_id, env_config, **model_config))
        .training(
            train_batch_size_per_learner=train_batch_size,
            minibatch_size=min(256, train_batch_size),
            num_epochs=4,
            lr=1e-3,
            entropy_coeff=0.01,
        )
        .debugging(seed=seed)
    )
