"""Presets: benchmark configs shipped with the package (``agents/bench/presets/NAME.toml``)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from agents.bench.config import BenchConfig, ConfigError, load_config


def _folder() -> Path:
    return Path(str(resources.files("agents.bench") / "presets"))


def preset_names() -> list[str]:
    return sorted(p.stem for p in _folder().glob("*.toml"))


def preset_path(name: str) -> Path:
    path = _folder() / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
    return path


def load_preset(name: str) -> BenchConfig:
    return load_config(preset_path(name))


def describe_presets() -> dict[str, str]:
    """Each preset's name and the description it gives itself."""
    out = {}
    for name in preset_names():
        data = tomllib.loads(preset_path(name).read_text(encoding="utf-8"))
        out[name] = str(data.get("description", ""))
    return out
