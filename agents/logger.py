"""Scalars per update: a CSV file always, TensorBoard too when it is installed."""

from __future__ import annotations

import csv
from pathlib import Path

from agents.files import replaced_whole

try:  # optional: tensorboard is not a dependency
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # pragma: no cover - depends on the environment
    SummaryWriter = None


class ScalarLogger:
    """Writes ``record(step, {name: value})`` rows to ``<log_dir>/progress.csv`` (and TensorBoard).

    One wide CSV, a column per scalar, as stable-baselines3 writes it: what pandas and spreadsheets
    read without reshaping. Rows are appended, and each is flushed as it is written. When a scalar
    appears that has no column yet (rare: the first updates, or a strategy that starts reporting),
    the file is written again with the wider header, in full, to a temporary file beside it,
    fsynced and renamed over it (:func:`agents.files.replaced_whole`): never rewritten in place. So
    at every moment ``progress.csv`` is a complete file, and a run killed at any point leaves every
    row it had written readable (the row being appended at that instant may be cut short). The
    alternatives were worse for a reader: a long format (step, name, value) never rewrites
    anything but has to be pivoted by everyone who reads it, and a fixed column set would refuse
    the scalars a strategy adds.

    A folder that already holds a ``progress.csv`` is continued, never emptied: its header is read
    back and rows are appended after the old ones (a run resumed from a checkpoint writes on; a new
    run in an old folder adds rows whose timesteps start again from its own). ``rows`` keeps this
    logger's rows in memory (one per update: small).
    """

    def __init__(self, log_dir: str | Path | None):
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.rows: list[dict[str, float]] = []
        self._columns: list[str] = []
        self._writer = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._columns = self._continue()
            if SummaryWriter is not None:
                self._writer = SummaryWriter(str(self.log_dir))

    @property
    def csv_path(self) -> Path | None:
        return None if self.log_dir is None else self.log_dir / "progress.csv"

    def _continue(self) -> list[str]:
        """The columns of an existing progress.csv; a last row cut short by a crash gets its line ended."""
        path = self.csv_path
        if not path.exists() or path.stat().st_size == 0:
            return []
        with open(path, "rb") as f:
            f.seek(-1, 2)
            ended = f.read(1) == b"\n"
        if not ended:
            with open(path, "a", newline="") as f:
                f.write("\r\n")
        with open(path, newline="") as f:
            return next(csv.reader(f), [])

    def record(self, step: int, scalars: dict[str, float]) -> None:
        row = {"timesteps": step, **{k: float(v) for k, v in scalars.items()}}
        self.rows.append(row)
        if self.log_dir is None:
            return
        new = [k for k in row if k not in self._columns]
        if new:
            self._widen([*self._columns, *new], row)
        else:
            with open(self.csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._columns, restval="").writerow(row)
        if self._writer is not None:
            for name, value in scalars.items():
                self._writer.add_scalar(name, value, step)

    def _widen(self, columns: list[str], row: dict[str, float]) -> None:
        """progress.csv with ``columns``: its rows so far (read back from the file, as written) and ``row``."""
        rows = []
        if self.csv_path.exists():
            with open(self.csv_path, newline="") as f:
                rows = list(csv.DictReader(f))
        with replaced_whole(self.csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="", extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            writer.writerow(row)
        self._columns = columns

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
