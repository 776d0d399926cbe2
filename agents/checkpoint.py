"""Checkpoints: one zip file that says what its weights mean, written so that a crash never destroys the last one.

Members (``FORMAT_VERSION`` 2):

* ``config.json`` — ``format_version``; ``algorithm`` (which agent class loads it); ``config`` (the
  agent's config dataclass, ``dataclasses.asdict``); ``task`` (``env_id``, ``env_kwargs`` and
  ``env_kwargs_not_saved``, the names of kwargs JSON cannot hold); ``vocabulary`` (``tokens``: every
  id's token in id order, its text or the special token's name, and ``pad_id``, ``sep_id``,
  ``eos_id``); ``state`` (``num_timesteps``).
* one ``{name}.pt`` per state dict: ``policy.pt``; a REINFORCE agent's ``reference.pt``.

The vocabulary is what the weights mean (a policy trained on ``abcd`` is nonsense on ``wxyz``,
though the sizes agree), so loading onto another vocabulary is refused; the task is what the
policy was trained for, so loading onto another one must be asked for.

Every ``.pt`` member is read with ``torch.load(weights_only=True)``: tensors and plain containers,
nothing is unpickled. :func:`write` writes a temporary file beside the target, fsyncs it and
renames it over the target (``os.replace``), so a crash, SIGKILL or Ctrl-C during a save leaves
the previous checkpoint whole.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from agents.files import replaced_whole
from token_gym.tokenizer import Vocabulary

FORMAT_VERSION = 2
KEYS = ("format_version", "algorithm", "config", "task", "vocabulary", "state")
"""The top-level keys of config.json."""
MEMBERS = ("config.json", "policy.pt")
"""Members every checkpoint has; agents may add more ``.pt`` members (``reference.pt``)."""


# -- what the weights mean ------------------------------------------------------------------


def vocabulary_record(vocab: Vocabulary) -> dict[str, Any]:
    """The vocabulary as config.json holds it: every id's token in id order and the special ids."""
    specials = {vocab.pad_id, vocab.sep_id, vocab.eos_id}
    tokens = [vocab.tokenizer.id_to_token(i) if i in specials else text for i, text in enumerate(vocab.token_text)]
    return {"tokens": tokens, "pad_id": vocab.pad_id, "sep_id": vocab.sep_id, "eos_id": vocab.eos_id}


def vocabulary_difference(saved: dict[str, Any], current: dict[str, Any]) -> str:
    """What differs between two :func:`vocabulary_record` s, both sides named (empty when they agree)."""
    if saved == current:
        return ""

    def shown(tokens: list[str]) -> str:
        return repr(tokens) if len(tokens) <= 24 else f"{repr(tokens[:24])[:-1]}, ... ({len(tokens)} tokens)]"

    saved_tokens, tokens = list(saved.get("tokens", [])), current["tokens"]
    parts = []
    if len(saved_tokens) != len(tokens):
        parts.append(f"{len(saved_tokens)} tokens in the checkpoint, {len(tokens)} in the env")
    differ = [i for i, (a, b) in enumerate(zip(saved_tokens, tokens, strict=False)) if a != b]
    if differ:
        listed = ", ".join(f"id {i} is {saved_tokens[i]!r} vs {tokens[i]!r}" for i in differ[:5])
        parts.append(f"{len(differ)} ids mean other tokens ({listed}{', ...' if len(differ) > 5 else ''})")
    for role in ("pad_id", "sep_id", "eos_id"):
        if saved.get(role) != current[role]:
            parts.append(f"{role} is {saved.get(role)!r} vs {current[role]!r}")
    return (
        f"the checkpoint's vocabulary differs from the env's (checkpoint vs env): {'; '.join(parts)}. "
        f"Checkpoint tokens: {shown(saved_tokens)}; env tokens: {shown(tokens)}"
    )


def task_record(env_id: str | None, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The task as config.json holds it: env id, the kwargs JSON can hold, and the names of the others."""
    saved, not_saved = {}, []
    for key, value in env_kwargs.items():
        try:
            saved[key] = json.loads(json.dumps(value))  # as it reads back (a tuple becomes a list)
        except (TypeError, ValueError):
            not_saved.append(key)
    return {"env_id": env_id, "env_kwargs": saved, "env_kwargs_not_saved": sorted(not_saved)}


def describe_task(task: dict[str, Any]) -> str:
    kwargs = ", ".join(f"{k}={v!r}" for k, v in sorted(task["env_kwargs"].items()))
    not_saved = f" (and {task['env_kwargs_not_saved']}, not saved)" if task["env_kwargs_not_saved"] else ""
    return f"{task['env_id'] or 'an env without id'}({kwargs}){not_saved}"


# -- the file -------------------------------------------------------------------------------


def write(path: Path, config: dict[str, Any], members: dict[str, Any]) -> None:
    """Write the checkpoint at ``path``: config.json and ``{name}.pt`` of each member.

    Through :func:`agents.files.replaced_whole`: until the final rename ``path`` is the previous
    checkpoint, after it the new one; a crash in between leaves a hidden ``.{name}.*.tmp`` file
    beside it, never a broken checkpoint at ``path``.
    """
    with replaced_whole(path, "wb") as file, zipfile.ZipFile(file, "w") as archive:
        archive.writestr("config.json", json.dumps(config, indent=2))
        for name, state in members.items():
            buffer = io.BytesIO()
            torch.save(state, buffer)
            archive.writestr(f"{name}.pt", buffer.getvalue())


def read(path: str | Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(path, config.json, {member name without ".pt": its tensors}) of a checkpoint, with errors that name the file.

    ``path`` without a suffix finds ``path.zip`` (what :meth:`Agent.save` writes for it).
    """
    path = Path(path)
    if not path.exists() and path.suffix == "" and path.with_suffix(".zip").exists():
        path = path.with_suffix(".zip")
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = sorted(set(MEMBERS) - names)
            if missing:
                raise ValueError(f"{path}: not an agent checkpoint (missing {missing})")
            other = sorted(name for name in names - set(MEMBERS) if not name.endswith(".pt"))
            if other:
                raise ValueError(f"{path}: unknown member(s) {other}")
            config = json.loads(archive.read("config.json"))
            if not isinstance(config, dict):
                raise ValueError(f"{path}: config.json must hold a JSON object, got {type(config).__name__}")
            if config.get("format_version") != FORMAT_VERSION:
                raise ValueError(
                    f"{path}: checkpoint format {config.get('format_version')!r}; this version reads {FORMAT_VERSION}"
                )
            unknown = sorted(set(config) - set(KEYS))
            if unknown:
                raise ValueError(f"{path}: config.json has unknown key(s) {unknown}; it holds {list(KEYS)}")
            absent = [key for key in KEYS if key not in config]
            if absent:
                raise ValueError(f"{path}: config.json lacks {absent}")
            members = {
                name[: -len(".pt")]: torch.load(io.BytesIO(archive.read(name)), weights_only=True)
                for name in sorted(names)
                if name.endswith(".pt")
            }
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path}: not an agent checkpoint (not a zip file: {error})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: config.json is not valid JSON ({error})") from None
    return path, config, members
