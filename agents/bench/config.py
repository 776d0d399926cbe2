"""Benchmark configs: a TOML file (or a preset) → a checked :class:`BenchConfig` → the grid of runs.

::

    name = "mine"
    seeds = 3                        # or a list: [0, 1, 2]
    budget = 50_000                  # env steps per run (SL: demonstrated tokens), the same for every agent
    strategies = ["none", "temperature:t=2.0", { name = "epsilon", epsilon = 0.1 }]   # "all": every strategy
    on_incompatible = "skip"         # SB3 / SL × a strategy: "skip" (said once) or "error"

    [evaluation]                     # all optional
    every = 2_500                    # env steps between learning-curve points
    threshold = 0.9                  # greedy test success that counts as solved
    patience = 1                     # stop once one more point held it (absent: train the whole budget)

    [agents.reinforce]               # a label; type = the label unless given
    n_envs = 64
    policy_kwargs = { n_layer = 1, n_embd = 32, n_head = 2 }

    [agents.ppo]
    n_steps = 64

    [[envs]]
    id = "token_gym/SecretString-v0"
    kwargs = { alphabet = "ab" }
    grid = { length = [2, 4, 6] }    # one difficulty knob: one setting per value (the scaling curve's x)

Errors name the key, its table, and the file and line (:class:`ConfigError`); unknown envs,
agents and strategies list the valid names.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.bench import learners
from agents.bench.run import DEFAULT_EVALUATION, RunSpec, setting_label

TOP_KEYS = ("name", "description", "seeds", "budget", "strategies", "on_incompatible", "evaluation", "agents", "envs")
ENV_KEYS = ("id", "kwargs", "grid", "budget", "label")
HARNESS_ENV_KWARGS = ("split", "render_mode")  # the harness trains on train and scores on test


class ConfigError(ValueError):
    """A config that cannot be run; the message says where (file:line) and what is valid."""


@dataclass
class EnvSetting:
    id: str
    kwargs: dict[str, Any]
    budget: int
    difficulty: dict[str, Any] | None = None  # {"name": knob, "value": v} when from a grid
    label: str = ""


@dataclass
class AgentSetting:
    label: str
    type: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class StrategySetting:
    label: str  # "none", "temperature:t=2.0", "temperature:t=2.0 + epsilon:epsilon=0.1"
    specs: list[dict[str, Any]]  # canonical: {"name": ..., every parameter}; [] for none


@dataclass
class Grid:
    runs: list[RunSpec]
    skipped: list[str]  # what was left out and why, said once


@dataclass
class BenchConfig:
    name: str
    seeds: list[int]
    envs: list[EnvSetting]
    agents: list[AgentSetting]
    strategies: list[StrategySetting]
    evaluation: dict[str, Any]
    on_incompatible: str = "skip"
    description: str = ""
    source: str = "<config>"
    text: str = ""

    def grid(self) -> Grid:
        """Every run, seed-major (all settings of seed 0 first: a sweep cut short has whole seeds), and the
        agent × strategy pairs left out (strategies apply to REINFORCE only)."""
        runs, keys, skipped = [], set(), []
        for seed in self.seeds:
            for env in self.envs:
                for agent in self.agents:
                    for strategy in self.strategies:
                        if strategy.specs and agent.type not in learners.STRATEGY_AGENTS:
                            pair = f"{agent.label} × {strategy.label}"
                            if pair not in skipped:
                                skipped.append(pair)
                            continue
                        spec = RunSpec(
                            env_id=env.id,
                            env_kwargs=env.kwargs,
                            agent_type=agent.type,
                            agent_kwargs=agent.kwargs,
                            strategies=strategy.specs,
                            seed=seed,
                            budget=env.budget,
                            evaluation=self.evaluation,
                            agent=agent.label,
                            strategy=strategy.label,
                            setting=env.label,
                            difficulty=env.difficulty,
                            bench=self.name,
                        )
                        if spec.key() not in keys:
                            keys.add(spec.key())
                            runs.append(spec)
        notes = []
        if skipped:
            notes.append(
                f"skipped (strategies apply to {', '.join(learners.STRATEGY_AGENTS)} only): {'; '.join(skipped)}"
            )
        return Grid(runs, notes)


# -- checks shared with the command line --------------------------------------------------------


def resolve_env_id(name: str) -> str:
    """A registered id from ``"token_gym/Reverse-v0"``, ``"Reverse-v0"`` or ``"reverse"``; else the valid ids."""
    from token_gym.registration import list_envs

    ids = list(list_envs())
    if name in ids:
        return name
    for env_id in ids:
        short = env_id.split("/")[-1]
        if name.lower() in (short.lower(), short.split("-")[0].lower()):
            return env_id
    raise ValueError(f"unknown env {name!r}; valid envs: {', '.join(ids)}")


def check_env_kwargs(env_id: str, kwargs: dict[str, Any]) -> None:
    from token_gym.registration import list_envs

    valid = [k for k in list_envs()[env_id] if k not in HARNESS_ENV_KWARGS]
    for key in kwargs:
        if key not in valid:
            raise _KeyProblem(key, f"unknown kwarg {key!r} of {env_id}; valid kwargs: {', '.join(valid)}")


def build_env(env_id: str, kwargs: dict[str, Any]) -> None:
    """Make the env once, so a bad value fails here and not hours into a sweep."""
    import gymnasium as gym

    gym.make_vec(env_id, num_envs=1, **kwargs).close()


def check_agent(agent_type: str, kwargs: dict[str, Any]) -> None:
    if agent_type not in learners.AGENT_TYPES:
        raise ValueError(f"unknown agent {agent_type!r}; valid agents: {', '.join(learners.AGENT_TYPES)}")
    valid = learners.parameters(agent_type)
    for key in kwargs:
        if key == "strategies":
            raise _KeyProblem(key, "strategies are set at the top level of the config (the grid's strategies)")
        if key not in valid:
            raise _KeyProblem(key, f"unknown parameter {key!r} of agent {agent_type}; valid: {', '.join(valid)}")


def strategy_setting(item: Any) -> StrategySetting:
    """A grid's strategy from ``"none"``, ``"name:k=v,..."``, a table with ``name``, or a list of those
    (composed in order). Its specs are canonical (every parameter, defaults filled in), so
    ``"temperature"`` and ``"temperature:t=1.5"`` are one run when 1.5 is the default."""
    import agents.exploration  # noqa: F401  (registers the strategies)
    from agents.exploration.base import parse_strategy

    if item == "none" or item == []:
        return StrategySetting("none", [])
    parts = [p for p in (item if isinstance(item, list) else [item]) if p != "none"]
    strategies = [parse_strategy(p) for p in parts]
    specs = []
    for strategy in strategies:
        spec = {"name": strategy.name, **strategy.params()}
        try:
            json.dumps(spec)
        except TypeError:
            raise ValueError(f"strategy {strategy.name!r}: its parameters are not plain values: {spec!r}") from None
        specs.append(spec)
    return StrategySetting(" + ".join(repr(s) for s in strategies), specs)


def all_strategies() -> list[str]:
    """Every registered strategy at its defaults (what ``strategies = ["all"]`` expands to)."""
    import agents.exploration  # noqa: F401
    from agents.exploration.base import Strategy

    return sorted(Strategy.registry)


class _KeyProblem(ValueError):
    """A problem with one key of a table (the parser adds where it is)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


# -- the parser ---------------------------------------------------------------------------------


def load_config(path: str | Path) -> BenchConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config ({error.strerror})") from None
    return parse_config(text, str(path), default_name=path.stem)


def parse_config(text: str, source: str = "<config>", default_name: str = "bench") -> BenchConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"line (\d+)", str(error))
        where = f"{source}:{found.group(1)}" if found else source
        raise ConfigError(f"{where}: TOML syntax error: {error}") from None
    return _Parser(data, text, source, default_name).config()


class _Parser:
    def __init__(self, data: dict[str, Any], text: str, source: str, default_name: str):
        self.data, self.text, self.source, self.default_name = data, text, source, default_name

    def fail(self, path: tuple[Any, ...], message: str) -> ConfigError:
        line = line_of(self.text, path)
        where = f"{self.source}:{line}" if line else self.source
        return ConfigError(f"{where}: {_table(path)}{message}")

    def check_keys(self, table: dict[str, Any], valid: tuple[str, ...] | list[str], path: tuple[Any, ...]) -> None:
        for key in table:
            if key not in valid:
                raise self.fail((*path, key), f"unknown key {key!r}; valid keys: {', '.join(valid)}")

    def want(self, value: Any, kind: Any, path: tuple[Any, ...], what: str) -> Any:
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise self.fail(path, f"{path[-1]!r} must be {what}, got {value!r}")
        return value

    def positive_int(self, value: Any, path: tuple[Any, ...]) -> int:
        self.want(value, int, path, "a positive integer")
        if value < 1:
            raise self.fail(path, f"{path[-1]!r} must be a positive integer, got {value!r}")
        return value

    def config(self) -> BenchConfig:
        data = self.data
        self.check_keys(data, TOP_KEYS, ())
        name = self.want(data.get("name", self.default_name), str, ("name",), "a string")
        description = self.want(data.get("description", ""), str, ("description",), "a string")
        if "budget" in data:
            self.positive_int(data["budget"], ("budget",))
        on_incompatible = data.get("on_incompatible", "skip")
        if on_incompatible not in ("skip", "error"):
            raise self.fail(("on_incompatible",), f"on_incompatible must be 'skip' or 'error', got {on_incompatible!r}")
        config = BenchConfig(
            name=name,
            seeds=self.seeds(data.get("seeds", 1)),
            envs=self.envs(data.get("envs"), data.get("budget")),
            agents=self.agents(data.get("agents", {"reinforce": {}})),
            strategies=self.strategies(data.get("strategies", ["none"])),
            evaluation=self.evaluation(data.get("evaluation", {})),
            on_incompatible=on_incompatible,
            description=description,
            source=self.source,
            text=self.text,
        )
        if on_incompatible == "error":
            for agent in config.agents:
                for strategy in config.strategies:
                    if strategy.specs and agent.type not in learners.STRATEGY_AGENTS:
                        raise self.fail(
                            ("on_incompatible",),
                            f"agent {agent.label!r} ({agent.type}) cannot take strategy {strategy.label!r}: "
                            f"strategies apply to {', '.join(learners.STRATEGY_AGENTS)} only",
                        )
        return config

    def seeds(self, value: Any) -> list[int]:
        if isinstance(value, int) and not isinstance(value, bool):
            return list(range(self.positive_int(value, ("seeds",))))
        self.want(value, list, ("seeds",), "a count or a list of non-negative integers")
        if not value or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in value):
            raise self.fail(("seeds",), f"'seeds' must be a count or a list of non-negative integers, got {value!r}")
        if len(set(value)) != len(value):
            raise self.fail(("seeds",), f"'seeds' lists a seed twice: {value!r}")
        return list(value)

    def envs(self, value: Any, budget: Any) -> list[EnvSetting]:
        if value is None:
            raise self.fail((), "no [[envs]]: a benchmark needs at least one env")
        self.want(value, list, ("envs",), "an array of tables ([[envs]])")
        settings = []
        for i, table in enumerate(value):
            path = ("envs", i)
            self.want(table, dict, path, "a table")
            self.check_keys(table, ENV_KEYS, path)
            if "id" not in table:
                raise self.fail(path, "an env needs an 'id'")
            try:
                env_id = resolve_env_id(self.want(table["id"], str, (*path, "id"), "a string"))
            except ValueError as error:
                raise self.fail((*path, "id"), str(error)) from None
            kwargs = self.want(table.get("kwargs", {}), dict, (*path, "kwargs"), "a table")
            grid = self.want(table.get("grid", {}), dict, (*path, "grid"), "a table of one knob = [values]")
            try:
                check_env_kwargs(env_id, kwargs)
            except _KeyProblem as problem:
                raise self.fail((*path, "kwargs", problem.key), str(problem)) from None
            try:
                check_env_kwargs(env_id, grid)
            except _KeyProblem as problem:
                raise self.fail((*path, "grid", problem.key), str(problem)) from None
            if len(grid) > 1:
                raise self.fail((*path, "grid"), "a grid sweeps one difficulty knob; use one [[envs]] per other value")
            run_budget = table.get("budget", budget)
            if run_budget is None:
                raise self.fail(path, "no budget: set 'budget' at the top or in this env")
            run_budget = self.positive_int(run_budget, (*path, "budget") if "budget" in table else ("budget",))
            points: list[tuple[dict[str, Any], dict[str, Any] | None]] = [(kwargs, None)]
            if grid:
                ((knob, values),) = grid.items()
                if not isinstance(values, list) or not values:
                    raise self.fail((*path, "grid", knob), f"grid {knob!r} must be a non-empty array of values")
                if knob in kwargs:
                    raise self.fail((*path, "grid", knob), f"{knob!r} is both in kwargs and in the grid")
                points = [({**kwargs, knob: v}, {"name": knob, "value": v}) for v in values]
            label = self.want(table.get("label", ""), str, (*path, "label"), "a string")
            for point_kwargs, difficulty in points:
                try:
                    build_env(env_id, point_kwargs)
                except (ValueError, TypeError) as error:
                    at = (*path, "grid", difficulty["name"]) if difficulty else (*path, "kwargs" if kwargs else "id")
                    raise self.fail(at, f"{env_id} with {point_kwargs}: {error}") from None
                point_label = setting_label(env_id, point_kwargs)
                if label:
                    point_label = (
                        label if difficulty is None else f"{label} {difficulty['name']}={difficulty['value']!r}"
                    )
                settings.append(EnvSetting(env_id, point_kwargs, run_budget, difficulty, point_label))
        if not settings:
            raise self.fail(("envs",), "no envs: a benchmark needs at least one [[envs]]")
        return settings

    def agents(self, value: Any) -> list[AgentSetting]:
        self.want(value, dict, ("agents",), "a table of [agents.LABEL] tables")
        if not value:
            raise self.fail(("agents",), "no agents: add an [agents.LABEL] table")
        settings = []
        for label, table in value.items():
            path = ("agents", label)
            self.want(table, dict, path, "a table")
            kwargs = dict(table)
            agent_type = self.want(kwargs.pop("type", label), str, (*path, "type"), "a string")
            try:
                check_agent(agent_type, kwargs)
            except _KeyProblem as problem:
                raise self.fail((*path, problem.key), str(problem)) from None
            except ValueError as error:
                raise self.fail((*path, "type") if "type" in table else path, str(error)) from None
            settings.append(AgentSetting(label, agent_type, kwargs))
        return settings

    def strategies(self, value: Any) -> list[StrategySetting]:
        self.want(value, list, ("strategies",), "an array of strategy specs")
        items = []
        for item in value:
            items.extend(all_strategies() if item == "all" else [item])
        settings, labels = [], set()
        for i, item in enumerate(items):
            try:
                setting = strategy_setting(item)
            except (ValueError, TypeError) as error:
                line = _line_of_text(self.text, item) or line_of(self.text, ("strategies",))
                where = f"{self.source}:{line}" if line else self.source
                raise ConfigError(f"{where}: strategies[{i}]: {error}") from None
            if setting.label not in labels:
                labels.add(setting.label)
                settings.append(setting)
        if not settings:
            raise self.fail(("strategies",), 'no strategies: use ["none"] for plain training')
        return settings

    def evaluation(self, value: Any) -> dict[str, Any]:
        path = ("evaluation",)
        self.want(value, dict, path, "a table")
        self.check_keys(value, list(DEFAULT_EVALUATION), path)
        out = dict(DEFAULT_EVALUATION)
        for key in ("every", "episodes", "samples_per_prompt"):
            if key in value:
                out[key] = self.positive_int(value[key], (*path, key))
        if "patience" in value:
            out["patience"] = self.want(value["patience"], int, (*path, "patience"), "a non-negative integer")
            if out["patience"] < 0:
                raise self.fail((*path, "patience"), "'patience' must be a non-negative integer")
        for key, low in (("threshold", 0.0), ("max_seconds", 0.0)):
            if key in value:
                number = self.want(value[key], int | float, (*path, key), "a number")
                if not number > low or (key == "threshold" and number > 1):
                    raise self.fail((*path, key), f"{key!r} out of range: {number!r}")
                out[key] = float(number)
        if "modes" in value:
            modes = value["modes"]
            if not isinstance(modes, list) or "greedy" not in modes or not set(modes) <= {"greedy", "sampled"}:
                raise self.fail(
                    (*path, "modes"), f"'modes' must list 'greedy' (and optionally 'sampled'), got {modes!r}"
                )
            out["modes"] = list(dict.fromkeys(modes))
        return out


def _table(path: tuple[Any, ...]) -> str:
    """``"[agents.ppo] "``, ``"[[envs]] #2 "`` or ``""`` for the top level."""
    if not path:
        return ""
    if path[0] == "envs" and len(path) > 1 and isinstance(path[1], int):
        return f"[[envs]] #{path[1] + 1}: "
    if path[0] == "agents" and len(path) > 1:
        return f"[agents.{path[1]}]: "
    if path[0] == "evaluation" and len(path) > 1:
        return "[evaluation]: "
    return ""


_HEADER = re.compile(r"^\s*\[")


def line_of(text: str, path: tuple[Any, ...]) -> int | None:
    """The 1-based line of the key at ``path`` (e.g. ``("envs", 1, "kwargs", "length")``) in TOML ``text``:
    find the table's header, then each key after it. A best effort: None when it cannot tell."""
    lines = text.splitlines()
    start, end, rest = 0, len(lines), list(path)
    header = None
    if len(path) >= 2 and path[0] == "envs" and isinstance(path[1], int):
        hits = [i for i, line in enumerate(lines) if re.match(r"^\s*\[\[\s*envs\s*\]\]", line)]
        if len(hits) > path[1]:
            header, rest = hits[path[1]], rest[2:]
    elif len(path) >= 2 and path[0] == "agents":
        name = re.escape(str(path[1]))
        pattern = re.compile(rf"^\s*\[\s*agents\s*\.\s*(\"{name}\"|'{name}'|{name})\s*\]")
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        if hits:
            header, rest = hits[0], rest[2:]
    elif path and path[0] == "evaluation":
        hits = [i for i, line in enumerate(lines) if re.match(r"^\s*\[\s*evaluation\s*\]", line)]
        if hits:
            header, rest = hits[0], rest[1:]
    if header is not None:
        start = header + 1
        end = next((i for i in range(start, len(lines)) if _HEADER.match(lines[i])), len(lines))
    elif path and path[0] not in ("envs", "agents", "evaluation"):
        end = next((i for i, line in enumerate(lines) if _HEADER.match(line)), len(lines))  # top-level keys
    found = header
    position = start
    for key in rest:
        if not isinstance(key, str):
            continue
        k = re.escape(key)
        pattern = re.compile(rf"(^|[\s{{,])(\"{k}\"|'{k}'|{k})\s*=")
        hit = next((i for i in range(position, end) if pattern.search(_uncomment(lines[i]))), None)
        if hit is None:
            break
        found = position = hit
    return None if found is None else found + 1


def _line_of_text(text: str, item: Any) -> int | None:
    """The line where a strategy spec string appears, if it is a string."""
    if not isinstance(item, str):
        return None
    for i, line in enumerate(text.splitlines()):
        if f'"{item}"' in line or f"'{item}'" in line:
            return i + 1
    return None


def _uncomment(line: str) -> str:
    return line.split("#", 1)[0] if '"' not in line and "'" not in line else line
