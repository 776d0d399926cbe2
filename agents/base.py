"""The surface every agent of ours shares, shaped like stable-baselines3.

``Agent(env, policy=None, seed=0, **hyperparameters)``, ``learn(total_timesteps,
callback=None, progress_bar=False)``, ``predict(obs, deterministic=False) ->
(action, state)``, ``save(path)`` and ``Agent.load(path, env=None)``.
Subclasses supply one method, ``_update()``: one optimizer step and its scalars.

Checkpoints are one zip file with two members: ``config.json`` (agent class,
hyperparameters, env id and kwargs, policy shape) and ``policy.pt`` (the
policy's ``state_dict``, read back with ``torch.load(weights_only=True)``:
nothing is unpickled).
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from agents.envs import encoded_task_of, env_source, make_vec
from agents.logger import ScalarLogger
from agents.policy import Policy, PolicyConfig, make_policy
from agents.rollout import sample_tokens
from token_gym import EncodedTask, TokenVectorEnv

FORMAT_VERSION = 1
Callback = Callable[["Agent", dict[str, float]], Any]
"""``callback(agent, scalars)`` after every update; returning False stops ``learn``."""


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def _json_safe(kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The kwargs JSON can hold, and the names of those it cannot (e.g. a Tokenizer object)."""
    safe, dropped = {}, []
    for key, value in kwargs.items():
        try:
            json.dumps(value)
            safe[key] = value
        except TypeError:
            dropped.append(key)
    return safe, dropped


class Agent:
    """A learner of π(token | prefix) on a token_gym task.

    Args:
        env: a token_gym id string (with ``env_kwargs``), a ``gym.make`` env, or a
            ``gym.make_vec`` env (used as is for rollouts).
        policy: None (a new :class:`~agents.policy.TransformerPolicy` from
            ``policy_kwargs``), a policy module, or another agent (its policy is
            shared, not copied: SL → RL fine-tunes it in place).
        seed: seeds the policy's initialisation, sampling, and the env.
        learning_rate: Adam's step size.
        policy_kwargs: ``n_layer``, ``n_head``, ``n_embd``, ``dropout``, ``kind`` ("transformer" or "gru").
        mask_actions: restrict the policy to the task's useful tokens (alphabet and EOS).
        log_dir: where ``progress.csv`` (and TensorBoard events, if installed) go; None keeps scalars in memory.
    """

    algorithm: ClassVar[str] = "agent"
    registry: ClassVar[dict[str, type[Agent]]] = {}

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        Agent.registry[cls.algorithm] = cls

    def __init__(
        self,
        env: object,
        policy: nn.Module | Agent | None = None,
        seed: int = 0,
        *,
        env_kwargs: dict[str, Any] | None = None,
        n_envs: int = 1,
        learning_rate: float = 1e-3,
        policy_kwargs: dict[str, Any] | None = None,
        mask_actions: bool = True,
        log_dir: str | Path | None = None,
        hyperparameters: dict[str, Any] | None = None,
    ):
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not (isinstance(learning_rate, int | float) and learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
        self.seed = int(seed)
        self.env_id, self.env_kwargs = env_source(env, env_kwargs)
        self.n_envs = _check_positive_int("n_envs", n_envs)
        if isinstance(getattr(env, "unwrapped", None), TokenVectorEnv):
            self.train_env = env  # the user's vector env: its num_envs is the batch
            self.n_envs = env.num_envs
        else:
            self.train_env = make_vec(self.env_id, self.env_kwargs, self.n_envs, "train")
        self.encoded_task: EncodedTask = encoded_task_of(self.train_env)
        self.learning_rate = float(learning_rate)
        self.mask_actions = bool(mask_actions)
        self.policy_kwargs = dict(policy_kwargs or {})
        self.hyperparameters = dict(hyperparameters or {})
        self.log_dir = None if log_dir is None else str(log_dir)

        torch.manual_seed(self.seed)
        self.policy = self._make_policy(policy)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.rng = np.random.default_rng(self.seed)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.learning_rate)
        self.logger = ScalarLogger(self.log_dir)
        self.num_timesteps = 0
        self.num_updates = 0

    # -- the policy ---------------------------------------------------------

    def _make_policy(self, policy: nn.Module | Agent | None) -> Policy:
        vocab = self.encoded_task.vocab
        if isinstance(policy, Agent):
            policy = policy.policy
        if policy is None:
            unknown = set(self.policy_kwargs) - {"n_layer", "n_head", "n_embd", "dropout", "kind"}
            if unknown:
                raise ValueError(
                    f"unknown policy_kwargs {sorted(unknown)}; valid: dropout, kind, n_embd, n_head, n_layer"
                )
            config = PolicyConfig(
                vocab_size=vocab.size,
                pad_id=vocab.pad_id,
                max_len=self.encoded_task.observation_width,
                **self.policy_kwargs,
            )
            mask = torch.from_numpy(self.encoded_task.action_mask.copy()) if self.mask_actions else None
            return make_policy(config, mask)
        config = getattr(policy, "config", None)
        if not isinstance(config, PolicyConfig):
            raise TypeError(f"policy must be a TransformerPolicy/GRUPolicy or an agent, got {type(policy).__name__}")
        if config.vocab_size != vocab.size or config.pad_id != vocab.pad_id:
            raise ValueError(
                f"policy vocabulary (size {config.vocab_size}, pad {config.pad_id}) does not match the env's "
                f"(size {vocab.size}, pad {vocab.pad_id})"
            )
        if config.max_len < self.encoded_task.observation_width:
            raise ValueError(
                f"policy max_len={config.max_len} is shorter than the env's observations ({self.encoded_task.observation_width})"
            )
        self.policy_kwargs = {k: getattr(config, k) for k in ("n_layer", "n_head", "n_embd", "dropout", "kind")}
        policy.requires_grad_(True)  # this agent trains it (a frozen copy passed in is thawed)
        return policy

    def frozen_copy(self) -> Policy:
        """A copy of the current policy that no optimizer touches (a KL reference)."""
        reference = copy.deepcopy(self.policy).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
        return reference

    # -- learning -----------------------------------------------------------

    def _update(self) -> dict[str, float]:
        """One optimizer step; returns scalars, ``timesteps`` among them (env steps or tokens consumed)."""
        raise NotImplementedError

    def learn(self, total_timesteps: int, callback: Callback | None = None, progress_bar: bool = False) -> Agent:
        """Update until ``total_timesteps`` more tokens have been learned from (or ``callback`` returns False)."""
        total = _check_positive_int("total_timesteps", total_timesteps)
        bar = None
        if progress_bar:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=type(self).__name__, unit="tok")
        done = 0
        try:
            while done < total:
                self.policy.train()
                scalars = self._update()
                steps = int(scalars["timesteps"])
                done += steps
                self.num_timesteps += steps
                self.num_updates += 1
                record = {k: v for k, v in scalars.items() if k != "timesteps"}
                self.logger.record(self.num_timesteps, record)
                if bar is not None:
                    bar.update(steps)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(record.items())[:3]})
                if callback is not None and callback(self, record) is False:
                    break
        finally:
            if bar is not None:
                bar.close()
        return self

    def _step(self, loss: torch.Tensor, max_grad_norm: float | None) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), max_grad_norm or float("inf"))
        self.optimizer.step()
        return float(norm)

    # -- acting -------------------------------------------------------------

    @torch.no_grad()
    def predict(
        self,
        observation: np.ndarray,
        state: object = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray | int, None]:
        """Next token for one observation (W,) or a batch (N, W), read as the env shows it (SB3's signature)."""
        obs = np.asarray(observation)
        single = obs.ndim == 1
        if obs.ndim not in (1, 2) or obs.shape[-1] != self.encoded_task.observation_width:
            raise ValueError(
                f"observation must have shape ({self.encoded_task.observation_width},) or (N, "
                f"{self.encoded_task.observation_width}), got {obs.shape}"
            )
        self.policy.eval()
        tokens = torch.as_tensor(obs.reshape(-1, obs.shape[-1]), dtype=torch.long)
        action, _ = sample_tokens(self.policy(tokens)[:, -1], self.generator, deterministic)  # (N,)
        action = action.numpy()
        return (int(action[0]) if single else action), None

    # -- checkpoints --------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        env_kwargs, dropped = _json_safe(self.env_kwargs)
        return {
            "format_version": FORMAT_VERSION,
            "algorithm": self.algorithm,
            "env_id": self.env_id,
            "env_kwargs": env_kwargs,
            "env_kwargs_not_saved": dropped,
            "seed": self.seed,
            "n_envs": self.n_envs,
            "learning_rate": self.learning_rate,
            "mask_actions": self.mask_actions,
            "policy": self.policy.config.to_dict(),
            "hyperparameters": self.hyperparameters,
            "num_timesteps": self.num_timesteps,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (".zip" added when it has no suffix): config.json + policy.pt."""
        path = Path(path)
        if path.suffix == "":
            path = path.with_suffix(".zip")
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", json.dumps(self._config(), indent=2))
            for name, state in {"policy": self.policy.state_dict(), **self._extra_state()}.items():
                weights = io.BytesIO()
                torch.save(state, weights)
                archive.writestr(f"{name}.pt", weights.getvalue())
        return path

    def _extra_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """More state dicts to save beside the policy (e.g. a KL reference), by member name."""
        return {}

    def _load_extra_state(self, states: dict[str, dict[str, torch.Tensor]], path: Path) -> None:
        """Restore what :meth:`_extra_state` saved."""

    @classmethod
    def load(cls, path: str | Path, env: object = None, **overrides: Any) -> Agent:
        """An agent from ``save``'s file; ``env`` defaults to the saved env id and kwargs."""
        config, states = read_checkpoint(path)
        state = states.pop("policy")
        algorithm = config.get("algorithm")
        agent_class = Agent.registry.get(algorithm)
        if agent_class is None or not issubclass(agent_class, cls):
            raise ValueError(f"{path}: holds a {algorithm!r} agent, which {cls.__name__}.load cannot load")
        if env is None:
            if config.get("env_id") is None:
                raise ValueError(f"{path}: the env was not a registered id; pass env= to load")
            if config.get("env_kwargs_not_saved"):
                raise ValueError(
                    f"{path}: env kwargs {config['env_kwargs_not_saved']} were not saved; pass env= to load"
                )
            env_kwargs = config["env_kwargs"]
            env = config["env_id"]
        else:
            env_kwargs = None
        policy_config = PolicyConfig(**config["policy"])
        kwargs = {
            "seed": config["seed"],
            "learning_rate": config["learning_rate"],
            "mask_actions": config["mask_actions"],
            "policy_kwargs": {
                k: v for k, v in config["policy"].items() if k in ("n_layer", "n_head", "n_embd", "dropout", "kind")
            },
            **config["hyperparameters"],
            **overrides,
        }
        if not isinstance(getattr(env, "unwrapped", None), TokenVectorEnv):
            kwargs["n_envs"] = config["n_envs"]
        if env_kwargs is not None:
            kwargs["env_kwargs"] = env_kwargs
        agent = agent_class(env, **kwargs)
        if agent.policy.config != policy_config:
            raise ValueError(f"{path}: the saved policy {policy_config} does not fit this env ({agent.policy.config})")
        try:
            agent.policy.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"{path}: policy weights do not match the policy: {error}") from None
        agent._load_extra_state(states, Path(path))
        agent.num_timesteps = int(config.get("num_timesteps", 0))
        return agent


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """(config, {member name: state_dict}) of a checkpoint, with errors that name the file."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and path.with_suffix(".zip").exists():
        path = path.with_suffix(".zip")
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {"config.json", "policy.pt"} - names
            if missing:
                raise ValueError(f"{path}: not an agent checkpoint (missing {sorted(missing)})")
            config = json.loads(archive.read("config.json"))
            states = {
                name[:-3]: torch.load(io.BytesIO(archive.read(name)), weights_only=True)
                for name in sorted(names)
                if name.endswith(".pt")
            }
    except zipfile.BadZipFile:
        raise ValueError(f"{path}: not an agent checkpoint (not a zip file)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: config.json is not valid JSON ({error})") from None
    if config.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {config.get('format_version')!r}, expected {FORMAT_VERSION}")
    return config, states
