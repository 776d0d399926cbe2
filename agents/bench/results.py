"""The results file: one JSON line per finished run, appended whole, flushed and fsynced.

Rules (so that a sweep killed at any moment, SIGKILL included, loses only the runs in flight):

* a record is written by one ``os.write`` of the whole line on a file opened for appending,
  then ``fsync``; nothing is ever truncated or rewritten;
* if a crash left a last line without its newline, the next append starts a new line first;
* reading skips (and reports) a line that is not a whole JSON record (a write cut short), and a
  second record of a key already read (the first one counts).

A lock (``flock`` on ``<dir>/.lock``, released by the kernel when the process dies) keeps two
sweeps from writing the same directory at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_NAME = "results.jsonl"
SWEEPS_NAME = "sweeps.jsonl"


@dataclass
class Contents:
    """What a JSONL file holds: the records, and what was skipped and why (``"line 7: ..."``)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def keys(self) -> set[str]:
        return {r["key"] for r in self.records}


class JsonLines:
    """An append-only JSONL file with the rules of the module docstring."""

    def __init__(self, path: str | Path, key: str | None = "key"):
        self.path = Path(path)
        self.key = key  # records are deduplicated on this field (None: not at all)

    def append(self, record: dict[str, Any]) -> float:
        """Append ``record`` as one line; returns the seconds it took (write and fsync)."""
        start = time.perf_counter()
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a crash left a partial last line: leave it, start a new one
            written = os.write(fd, line)
            while written < len(line):  # a regular file takes it whole; this loop is for the odd short write
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)
        return time.perf_counter() - start

    def read(self) -> Contents:
        contents = Contents()
        if not self.path.exists():
            return contents
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        seen: set[str] = set()
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            last = number == len(lines)  # no newline after it
            try:
                record = json.loads(raw)
                if not isinstance(record, dict) or (self.key is not None and not isinstance(record.get(self.key), str)):
                    raise ValueError(f"not a record with a {self.key!r}")
            except ValueError as error:
                why = (
                    "partial last line (a write cut short)"
                    if last
                    else f"not a whole JSON record (a write cut short? {error})"
                )
                contents.problems.append(f"{self.path}:{number}: {why}; skipped")
                continue
            if self.key is not None:
                if record[self.key] in seen:
                    contents.problems.append(f"{self.path}:{number}: run {record[self.key]} again; the first counts")
                    continue
                seen.add(record[self.key])
            contents.records.append(record)
        return contents


def results_file(directory: str | Path) -> JsonLines:
    return JsonLines(Path(directory) / RESULTS_NAME)


def sweeps_file(directory: str | Path) -> JsonLines:
    return JsonLines(Path(directory) / SWEEPS_NAME, key=None)


class DirectoryLocked(RuntimeError):
    """Another sweep holds the results directory."""


class DirectoryLock:
    """``with DirectoryLock(dir):`` — one sweep per results directory at a time."""

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / ".lock"
        self._fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DirectoryLocked(
                f"another sweep is writing to {self.path.parent}; wait for it or choose another --out"
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
