"""The surface every agent of ours shares, shaped like stable-baselines3.

``Agent(env, policy=None, seed=0, **hyperparameters)``, ``learn(total_timesteps,
callback=None, progress_bar=False)``, ``predict(obs, deterministic=False) ->
(action, state)``, ``save(path)`` and ``Agent.load(path, env=None)``.
Subclasses supply one method, ``_update()``: one optimizer step and its scalars.

The keyword arguments become one config dataclass per agent (:class:`AgentConfig`,
extended by ``ReinforceConfig`` and ``SLConfig``): the field docstrings document
them, ``__post_init__`` checks them, the agent reads ``self.config``.

Checkpoints: :mod:`agents.checkpoint`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from agents import checkpoint
from agents.envs import encoded_task_of, training_env
from agents.logger import ScalarLogger
from agents.policy import Policy, PolicyConfig, make_policy, policy_shape
from agents.rollout import sample_tokens
from token_gym import EncodedTask, checks

Callback = Callable[["Agent", dict[str, float]], Any]
"""``callback(agent, scalars)`` after every update; returning False stops ``learn``."""


def _normalise(config: object, **values: Any) -> None:
    """Store checked values on a frozen config (in ``__post_init__``: the dataclass is frozen afterwards)."""
    for name, value in values.items():
        object.__setattr__(config, name, value)


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """The hyperparameters every agent shares; :class:`~agents.reinforce.ReinforceConfig` and
    :class:`~agents.sl.SLConfig` add their own.

    An agent builds its config from its keyword arguments (``Agent(env, seed=1, learning_rate=3e-3)``)
    and reads ``agent.config.x``; every value is checked here, once, and an error names its
    parameter. Frozen: it is what the agent was built with (a new value needs a new agent, or
    ``Agent.load(path, name=value)``). A checkpoint's config.json holds it as is
    (``dataclasses.asdict``), and loading builds it back from there.
    """

    seed: int = 0
    """Seeds the policy's initialisation, the agent's sampling and shuffles, and the env's prompt draws."""
    n_envs: int = 1
    """Rows of the training vector env; a ``gym.make_vec`` env passed as ``env`` sets it (its ``num_envs``)."""
    learning_rate: float = 1e-3
    """Adam's step size (> 0)."""
    max_grad_norm: float | None = 1.0
    """Clip the gradient's global norm to this (> 0); None disables clipping."""
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    """Shape of a new policy: any of the :data:`~agents.policy.SHAPE_FIELDS` of
    :class:`~agents.policy.PolicyConfig` (the others take its defaults, ``max_len`` the env's observation
    width). Completed on construction with every key, as the policy built (or passed in) has it."""
    mask_actions: bool = True
    """Restrict a new policy to the task's useful tokens (alphabet and EOS)."""
    log_dir: str | None = None
    """Where ``progress.csv`` (and TensorBoard events, if installed) go; None keeps scalars in memory."""

    def __post_init__(self) -> None:
        if self.log_dir is not None and not isinstance(self.log_dir, str | os.PathLike):
            raise ValueError(f"log_dir must be a path or None, got {self.log_dir!r}")
        _normalise(
            self,
            seed=checks.non_negative_int("seed", self.seed),
            n_envs=checks.positive_int("n_envs", self.n_envs),
            learning_rate=checks.positive("learning_rate", self.learning_rate),
            max_grad_norm=None if self.max_grad_norm is None else checks.positive("max_grad_norm", self.max_grad_norm),
            policy_kwargs=policy_shape(self.policy_kwargs),
            mask_actions=checks.boolean("mask_actions", self.mask_actions),
            log_dir=None if self.log_dir is None else os.fspath(self.log_dir),
        )


class Agent:
    """A learner of π(token | prefix) on a token_gym task.

    Args:
        env: a token_gym id string (with ``env_kwargs``), a ``gym.make`` env, or a
            ``gym.make_vec`` env (used as is for rollouts).
        policy: None (a new :class:`~agents.policy.TransformerPolicy` or GRU from
            ``policy_kwargs``), a policy module, or another agent (its policy is
            shared, not copied: SL → RL fine-tunes it in place).
        seed: seeds the policy's initialisation, sampling, and the env.
        env_kwargs: the task's kwargs, when ``env`` is an id.
        **hyperparameters: the fields of the agent's config class (:attr:`config_class`:
            :class:`AgentConfig` and its subclasses document each one); ``self.config`` holds them.
    """

    algorithm: ClassVar[str] = "agent"
    config_class: ClassVar[type[AgentConfig]] = AgentConfig
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
        **hyperparameters: Any,
    ):
        self.config = self._make_config(seed=seed, **hyperparameters)
        self.train_env, self.env_id, self.env_kwargs = training_env(env, env_kwargs, self.config.n_envs)
        if self.train_env.num_envs != self.config.n_envs:  # the user's vector env: its num_envs is the batch
            if "n_envs" in hyperparameters:
                raise ValueError(
                    f"n_envs={self.config.n_envs}, but the vector env given has num_envs={self.train_env.num_envs}: "
                    "a vector env's num_envs is the batch; leave n_envs out, or give the env or its id"
                )
            self.config = replace(self.config, n_envs=self.train_env.num_envs)
        self.encoded_task: EncodedTask = encoded_task_of(self.train_env)

        torch.manual_seed(self.config.seed)
        self.policy = self._make_policy(policy, hyperparameters.get("policy_kwargs"))
        self.config = replace(self.config, policy_kwargs=self.policy.config.shape)  # the shape as built
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.rng = np.random.default_rng(self.config.seed)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.learning_rate)
        self.logger = ScalarLogger(self.config.log_dir)
        self.num_timesteps = 0
        self.num_updates = 0

    @classmethod
    def _make_config(cls, **hyperparameters: Any) -> AgentConfig:
        names = sorted(f.name for f in fields(cls.config_class))
        unknown = sorted(set(hyperparameters) - set(names))
        if unknown:
            raise TypeError(
                f"{cls.__name__}() got an unexpected keyword argument {unknown[0]!r}; "
                f"its hyperparameters (the fields of {cls.config_class.__name__}): {', '.join(names)}"
            )
        return cls.config_class(**hyperparameters)

    # -- the policy ---------------------------------------------------------

    def _make_policy(self, policy: nn.Module | Agent | None, policy_kwargs: dict[str, Any] | None) -> Policy:
        vocab, width = self.encoded_task.vocab, self.encoded_task.observation_width
        if isinstance(policy, Agent):
            policy = policy.policy
        if policy is None:
            shape = self.config.policy_kwargs
            config = PolicyConfig(
                vocab_size=vocab.size, pad_id=vocab.pad_id, **{**shape, "max_len": shape["max_len"] or width}
            )
        else:
            config = getattr(policy, "config", None)
            if not isinstance(config, PolicyConfig):
                raise TypeError(
                    f"policy must be a TransformerPolicy/GRUPolicy or an agent, got {type(policy).__name__}"
                )
            if config.vocab_size != vocab.size or config.pad_id != vocab.pad_id:
                raise ValueError(
                    f"policy vocabulary (size {config.vocab_size}, pad {config.pad_id}) does not match the env's "
                    f"(size {vocab.size}, pad {vocab.pad_id})"
                )
            asked = {k: v for k, v in (policy_kwargs or {}).items() if config.shape.get(k, v) != v}
            if asked:
                raise ValueError(f"policy_kwargs {asked} shape a new policy; the policy passed in has {config.shape}")
        if config.max_len < width:
            raise ValueError(f"policy max_len={config.max_len} is shorter than the env's observations ({width})")
        if policy is None:
            mask = torch.from_numpy(self.encoded_task.action_mask.copy()) if self.config.mask_actions else None
            return make_policy(config, mask)
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
        total = checks.positive_int("total_timesteps", total_timesteps)
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
        """Backward and one optimizer step, the gradient clipped to ``max_grad_norm`` (None: not clipped)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(
            self.policy.parameters(), float("inf") if max_grad_norm is None else max_grad_norm
        )
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
        """Next token for one observation (W,) or a batch (N, W) of token ids, read as the env shows it
        (SB3's signature); ids of another dtype or outside the vocabulary are refused."""
        obs = np.asarray(observation)
        single = obs.ndim == 1
        width, size = self.encoded_task.observation_width, self.encoded_task.vocab.size
        if obs.ndim not in (1, 2) or obs.shape[-1] != width:
            raise ValueError(f"observation must have shape ({width},) or (N, {width}), got {obs.shape}")
        if not np.issubdtype(obs.dtype, np.integer):
            raise TypeError(f"observation must hold integer token ids, got dtype {obs.dtype}")
        outside = (obs < 0) | (obs >= size)
        if outside.any():
            raise ValueError(
                f"observation holds token id {obs[outside][0]}, outside the vocabulary (ids 0 to {size - 1})"
            )
        self.policy.eval()
        tokens = torch.as_tensor(obs.reshape(-1, obs.shape[-1]), dtype=torch.long)
        action, _ = sample_tokens(self.policy(tokens)[:, -1], self.generator, deterministic)  # (N,)
        action = action.numpy()
        return (int(action[0]) if single else action), None

    # -- checkpoints --------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (".zip" added when it has no suffix), atomically: see :mod:`agents.checkpoint`."""
        path = Path(path)
        if path.suffix == "":
            path = path.with_suffix(".zip")
        path.parent.mkdir(parents=True, exist_ok=True)
        scalars, members = self._state()
        config = {
            "format_version": checkpoint.FORMAT_VERSION,
            "algorithm": self.algorithm,
            "config": asdict(self.config),
            "task": checkpoint.task_record(self.env_id, self.env_kwargs),
            "vocabulary": checkpoint.vocabulary_record(self.encoded_task.vocab),
            "state": scalars,
        }
        checkpoint.write(path, config, members)
        return path

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """What a checkpoint holds beside the config: (config.json's ``state`` scalars, {member: tensors}).

        Everything ``learn`` reads: with it, ``learn`` after ``load`` goes on as if never interrupted.
        Subclasses add theirs (and to the ``random`` member).
        """
        scalars = {"num_timesteps": self.num_timesteps, "num_updates": self.num_updates}
        random = {"generator": self.generator.get_state(), "numpy": checkpoint.numpy_state(self.rng)}
        members = {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(), "random": random}
        return scalars, members

    def _load_state(
        self, scalars: dict[str, Any], members: dict[str, Any], path: Path, saved: AgentConfig, same_task: bool
    ) -> None:
        """Put back what :meth:`_state` saved, popping what is read (what is left over is unknown).

        ``saved`` is the checkpoint's config (this agent's may differ by overrides); ``same_task``
        says whether the agent runs on the task it was saved on, where positions in the task's
        prompts and data still mean something.
        """
        try:
            self.policy.load_state_dict(members.pop("policy"))
        except RuntimeError as error:
            raise ValueError(f"{path}: policy weights do not match the policy: {error}") from None
        try:
            self.optimizer.load_state_dict(members.pop("optimizer"))
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{path}: the optimizer state does not fit the policy: {error}") from None
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.learning_rate  # the config's (an override's) step size, not the saved one
        random = members["random"]
        self.generator.set_state(random.pop("generator"))
        checkpoint.set_numpy_state(self.rng, random.pop("numpy"))
        self.num_timesteps = checks.non_negative_int(f"{path}: num_timesteps", scalars.pop("num_timesteps"))
        self.num_updates = checks.non_negative_int(f"{path}: num_updates", scalars.pop("num_updates"))

    @classmethod
    def load(cls, path: str | Path, env: object = None, *, allow_other_task: bool = False, **overrides: Any) -> Agent:
        """An agent from ``save``'s file.

        ``env`` defaults to the saved task (env id and kwargs). Another env must have the same
        vocabulary (the tokens, in id order, that the weights mean); another task (env id or
        kwargs) is refused unless ``allow_other_task=True`` (SL on one task, then RL on another).
        ``overrides`` replace config fields (``learning_rate=...``) or give what a config does not
        hold (``env_kwargs`` for an id, a REINFORCE agent's ``reference``).
        """
        path, saved, states = checkpoint.read(path)
        algorithm = saved["algorithm"]
        agent_class = Agent.registry.get(algorithm)
        if agent_class is None or not issubclass(agent_class, cls):
            raise ValueError(f"{path}: holds a {algorithm!r} agent, which {cls.__name__}.load cannot load")
        saved_config = _config_from(agent_class.config_class, saved["config"], path)
        names = {f.name for f in fields(saved_config)}
        config = replace(saved_config, **{k: v for k, v in overrides.items() if k in names})
        others = {k: v for k, v in overrides.items() if k not in names}
        env_kwargs, task = others.pop("env_kwargs", None), saved["task"]
        if env is None:
            if task["env_id"] is None:
                raise ValueError(f"{path}: the env was not a registered id; pass env= to load")
            if task["env_kwargs_not_saved"] and env_kwargs is None:
                raise ValueError(f"{path}: env kwargs {task['env_kwargs_not_saved']} were not saved; pass env= to load")
            env, env_kwargs = task["env_id"], task["env_kwargs"] if env_kwargs is None else env_kwargs
        train_env, env_id, env_kwargs = training_env(env, env_kwargs, config.n_envs)
        if "n_envs" not in overrides:  # a vector env given to load is the batch, as for the constructor
            config = replace(config, n_envs=train_env.num_envs)
        vocabulary = checkpoint.vocabulary_record(encoded_task_of(train_env).vocab)
        difference = checkpoint.vocabulary_difference(saved["vocabulary"], vocabulary)
        if difference:
            raise ValueError(f"{path}: {difference}")
        here = checkpoint.task_record(env_id, env_kwargs)
        if here != task and not allow_other_task:
            raise ValueError(
                f"{path}: trained on {checkpoint.describe_task(task)}, and this env is "
                f"{checkpoint.describe_task(here)}; pass allow_other_task=True to load it onto another task"
            )
        try:
            agent = agent_class(train_env, **asdict(config), **others)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        for name in others:  # an object given to load (a reference policy) wins over the saved one
            states.pop(name, None)
        scalars = dict(saved["state"])
        try:
            agent._load_state(scalars, states, path, saved_config, same_task=here == task)
        except KeyError as error:
            raise ValueError(f"{path}: the checkpoint lacks {error}") from None
        unknown = (
            sorted(scalars) + sorted(f"random.pt:{k}" for k in states.pop("random")) + sorted(f"{k}.pt" for k in states)
        )
        if unknown:
            raise ValueError(f"{path}: unknown state {unknown}, which {agent_class.__name__} does not have")
        return agent


def _config_from(config_class: type[AgentConfig], values: object, path: str | Path) -> AgentConfig:
    """The config dataclass from a checkpoint's config.json, with errors that name the file and the key."""
    if not isinstance(values, dict):
        raise ValueError(f"{path}: config.json has no 'config' object")
    unknown = sorted(set(values) - {f.name for f in fields(config_class)})
    if unknown:
        raise ValueError(
            f"{path}: config.json's config has unknown key(s) {unknown}, which {config_class.__name__} does not have"
        )
    try:
        return config_class(**values)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: config.json's config: {error}") from None
