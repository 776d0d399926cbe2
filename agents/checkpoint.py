"""Checkpoints: one zip file that says what its weights mean, written so that a crash never destroys the last one.

Members (``FORMAT_VERSION`` 2):

* ``config.json`` — ``format_version``; ``algorithm`` (which agent class loads it); ``config`` (the
  agent's config dataclass, ``dataclasses.asdict``); ``task`` (``env_id``, ``env_kwargs`` and
  ``env_kwargs_not_saved``, the names of kwargs JSON cannot hold); ``vocabulary`` (``tokens``: every
  id's token in id order, its text or the special token's name, and ``pad_id``, ``sep_id``,
  ``eos_id``); ``state`` (``num_timesteps``, ``num_updates`` and the agent's own scalars:
  REINFORCE's ``baseline_value``, the moving average's running state).
* ``policy.pt`` — the policy's ``state_dict``; ``optimizer.pt`` — the optimizer's (Adam's moments
  and step counts); ``random.pt`` — generator states as tensors: ``generator`` (the agent's torch
  generator: sampling), ``numpy`` (its numpy generator: shuffles), and the agent's own (REINFORCE:
  ``env_random`` and ``env_counter``, where the env's prompt draws stand; SL: ``order``, the rest
  of the shuffled epoch); ``reference.pt`` — a REINFORCE agent's KL reference policy, when it has one;
  ``strategies.pt`` — what its exploration strategies gathered (count tables, a Go-Explore archive,
  an adaptive coefficient, a curriculum's length and its envs' draws), keyed ``"{position}:{name}"``,
  when one has state. It is put back only onto the same task and strategies (others start afresh).

The vocabulary is what the weights mean (a policy trained on ``abcd`` is nonsense on ``wxyz``,
though the sizes agree), so loading onto another vocabulary is refused; the task is what the
policy was trained for, so loading onto another one must be asked for; the optimizer and generator
states make ``learn`` after ``load`` go on as if nothing had happened.

Every ``.pt`` member is read with ``torch.load(weights_only=True)``: tensors and plain containers,
nothing is unpickled. :func:`write` writes a temporary file beside the target, fsyncs it and
renames it over the target (``os.replace``), so a crash, SIGKILL or Ctrl-C during a save leaves
the previous checkpoint whole.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.files import replaced_whole
from token_gym.tokenizer import Vocabulary

FORMAT_VERSION = 2
KEYS = ("format_version", "algorithm", "config", "task", "vocabulary", "state")
"""The top-level keys of config.json."""
MEMBERS = ("config.json", "policy.pt", "optimizer.pt", "random.pt")
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


# -- generator states as tensors ------------------------------------------------------------------

_LIMBS = 4  # a PCG64 state and increment are 128-bit integers: four 32-bit limbs each, in an int64 tensor


def numpy_state(rng: np.random.Generator) -> torch.Tensor | None:
    """A numpy generator's state as an int64 tensor (None when its bit generator is not PCG64)."""
    state = rng.bit_generator.state
    if state.get("bit_generator") != "PCG64":
        return None
    values = (state["state"]["state"], state["state"]["inc"])
    limbs = [(value >> (32 * i)) & 0xFFFFFFFF for value in values for i in range(_LIMBS)]
    return torch.tensor([*limbs, state["has_uint32"], state["uinteger"]], dtype=torch.int64)


def set_numpy_state(rng: np.random.Generator, tensor: torch.Tensor) -> None:
    """Put back what :func:`numpy_state` returned."""
    values = [int(v) for v in torch.as_tensor(tensor).reshape(-1).tolist()]
    if len(values) != 2 * _LIMBS + 2 or rng.bit_generator.state.get("bit_generator") != "PCG64":
        raise ValueError(f"a PCG64 generator state is {2 * _LIMBS + 2} numbers, got {len(values)}")

    def join(limbs: list[int]) -> int:
        return sum(limb << (32 * i) for i, limb in enumerate(limbs))

    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": join(values[:_LIMBS]), "inc": join(values[_LIMBS : 2 * _LIMBS])},
        "has_uint32": values[-2],
        "uinteger": values[-1],
    }


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


def _load_member(path: Path, name: str, data: bytes) -> Any:
    """``torch.load(weights_only=True)`` of one member; what it refuses is refused here, naming the file.

    torch's own message would advise retrying with ``weights_only=False``: for a file from
    elsewhere, that is the advice to run its code. It is not repeated.
    """
    try:
        return torch.load(io.BytesIO(data), weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        named = re.search(r"GLOBAL ([\w.]+)", text)
        reason = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
        if named:
            why = f"it names the Python object {named.group(1)}, which loading would import and call"
        else:
            why = f"torch's reader without unpickling refuses it: {reason.group(1).strip() if reason else 'unreadable'}"
        raise ValueError(
            f"{path}: member {name} is not plain tensors ({why}); refused, nothing was unpickled"
        ) from None
    except (RuntimeError, EOFError) as error:
        raise ValueError(f"{path}: member {name} is not a readable tensor file ({error})") from None


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
            for key in ("config", "task", "vocabulary", "state"):
                if not isinstance(config[key], dict):
                    raise ValueError(f"{path}: config.json's {key} must be a JSON object, got {config[key]!r}")
            task_keys = {"env_id", "env_kwargs", "env_kwargs_not_saved"}
            if set(config["task"]) != task_keys:
                raise ValueError(f"{path}: config.json's task must have the keys {sorted(task_keys)}")
            members = {
                name[: -len(".pt")]: _load_member(path, name, archive.read(name))
                for name in sorted(names)
                if name.endswith(".pt")
            }
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path}: not an agent checkpoint (not a zip file: {error})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: config.json is not valid JSON ({error})") from None
    if not isinstance(members["random"], dict):
        raise ValueError(f"{path}: random.pt must hold a dict of generator states")
    return path, config, members
