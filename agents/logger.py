"""Scalars per update: a CSV file always, TensorBoard too when it is installed."""

from __future__ import annotations

import csv
from pathlib import Path

try:  # optional: tensorboard is not a dependency
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # pragma: no cover - depends on the environment
    SummaryWriter = None


class ScalarLogger:
    """Writes ``record(step, {name: value})`` rows to ``<log_dir>/progress.csv`` (and TensorBoard).

    The CSV is rewritten with a wider header if a new scalar appears, so every
    column stays aligned; rows are kept in memory (one per update: small).
    """

    def __init__(self, log_dir: str | Path | None):
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.rows: list[dict[str, float]] = []
        self._columns: list[str] = []
        self._writer = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            if SummaryWriter is not None:
                self._writer = SummaryWriter(str(self.log_dir))

    @property
    def csv_path(self) -> Path | None:
        return None if self.log_dir is None else self.log_dir / "progress.csv"

    def record(self, step: int, scalars: dict[str, float]) -> None:
        row = {"timesteps": step, **{k: float(v) for k, v in scalars.items()}}
        self.rows.append(row)
        if self.log_dir is None:
            return
        new = [k for k in row if k not in self._columns]
        if new:
            self._columns += new
            self._write(self.rows, "w", header=True)
        else:
            self._write([row], "a", header=False)
        if self._writer is not None:
            for name, value in scalars.items():
                self._writer.add_scalar(name, value, step)

    def _write(self, rows: list[dict[str, float]], mode: str, header: bool) -> None:
        with open(self.csv_path, mode, newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._columns, restval="")
            if header:
                writer.writeheader()
            writer.writerows(rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
