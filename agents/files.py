"""Files replaced whole: written beside their target, fsynced, and renamed over it.

``os.replace`` is atomic on one file system: whoever reads the target sees the old file or the
new one, never a mixture, and a crash at any point leaves one of the two complete.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def replaced_whole(path: Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """``with replaced_whole(path) as file:`` writes ``file``, which then replaces ``path``.

    The temporary file is a hidden ``.{name}.{pid}.{random}.tmp`` in the same folder (a rename
    never crosses file systems). On success it is flushed, fsynced and renamed over ``path``, and
    the folder is fsynced so that the rename is durable too. On an exception (Ctrl-C included) it
    is removed and ``path`` is untouched; a SIGKILL or power loss can leave it behind, never at ``path``.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, mode.replace("w", "x"), **open_kwargs) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if os.name == "posix":
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
