"""Checkpoints: one zip file, written so that a crash never destroys the last one.

Members: ``config.json`` (``format_version``, ``algorithm``, the agent's ``config`` as
``dataclasses.asdict``, ``env_id``, ``env_kwargs``, ``env_kwargs_not_saved``, ``num_timesteps``)
and one ``{name}.pt`` per state dict (``policy.pt``; a REINFORCE agent's ``reference.pt``).

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

FORMAT_VERSION = 2


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


def read(path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """(config, {member name: state_dict}) of a checkpoint, with errors that name the file.

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
