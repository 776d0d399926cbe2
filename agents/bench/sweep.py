"""A sweep: every run of a config's grid not yet in the results file, run here or as Ray tasks.

Each finished run's record is appended to ``<out>/results.jsonl`` at once (see
:mod:`agents.bench.results`), so a sweep can be stopped at any moment — Ctrl-C, SIGKILL, a
lost machine — and rerun with the same command: it skips every run whose key is in the file
and loses only the runs that were in flight. Runs go seed-major (all of seed 0 first).

Local sweeps run one run at a time in this process (one torch thread). ``ray_address`` runs them
as Ray tasks, one CPU and one torch thread each: ``"local"`` starts a Ray on this machine
(``ray_cpus`` CPUs, default all), anything else is the address of a running cluster (where
token-gym must be installed at the same version). Only the driver writes the results file. (A driver
killed with SIGKILL leaves a local Ray's dashboard and runtime-env agents running: ``ray stop``.)

Each sweep also appends one line to ``<out>/sweeps.jsonl``: wall time, the training and
evaluation time of its runs, the rest (the harness's overhead), and how many runs it ran.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.bench.config import BenchConfig
from agents.bench.results import DirectoryLock, results_file, sweeps_file
from agents.bench.run import RunSpec, execute

Outcome = dict[str, Any] | str  # a record, or the error that ended the run


@dataclass
class SweepSummary:
    out: Path
    total: int = 0  # runs in the grid
    before: int = 0  # already in the results file
    ran: int = 0  # finished by this sweep
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall: float = 0.0
    training: float = 0.0
    evaluation: float = 0.0
    write: float = 0.0
    workers: int = 1
    warmup: float = 0.0  # torch's one-time imports before the first run

    @property
    def overhead_fraction(self) -> float:
        """Share of the sweep's capacity (wall × workers) spent on anything but training and evaluation."""
        capacity = self.wall * self.workers
        return 1.0 - (self.training + self.evaluation) / capacity if capacity > 0 else 0.0


def run_sweep(
    config: BenchConfig,
    out: str | Path,
    *,
    ray_address: str | None = None,
    ray_cpus: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> SweepSummary:
    """Run what is missing of ``config``'s grid into ``out``; see the module docstring."""
    start = time.perf_counter()
    out = Path(out)
    summary = SweepSummary(out)
    with DirectoryLock(out):
        _save_config(config, out)
        results = results_file(out)
        contents = results.read()
        for problem in contents.problems:
            log(problem)
        grid = config.grid()
        summary.notes = grid.skipped
        for note in grid.skipped:
            log(note)
        finished = contents.keys
        pending = [spec for spec in grid.runs if spec.key() not in finished]
        summary.total, summary.before = len(grid.runs), len(grid.runs) - len(pending)
        log(f"{config.name}: {summary.total} runs, {summary.before} already in {results.path}, {len(pending)} to run")
        if pending and ray_address is None:
            warm = time.perf_counter()
            import torch._dynamo  # noqa: F401  (torch's one-time import at a first optimizer, ~2 s: no run's cost)

            summary.warmup = time.perf_counter() - warm
        bar = _bar(summary.total, summary.before, progress)
        try:
            if ray_address is None or not pending:
                outcomes = _local(pending, bar)
            else:
                outcomes = _ray(pending, ray_address, ray_cpus, log)
                summary.workers = next(outcomes)  # the generator says how many CPUs it got first
            for spec, outcome in outcomes:
                if isinstance(outcome, str):
                    summary.failed.append(f"{spec.describe()}: {outcome}")
                    log(f"run failed: {spec.describe()}: {outcome}")
                else:
                    summary.write += results.append(outcome)
                    summary.ran += 1
                    summary.training += outcome["timing"]["training"]
                    summary.evaluation += outcome["timing"]["evaluation"]
                    _show(bar, outcome)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            summary.wall = time.perf_counter() - start
            if summary.ran or summary.failed:  # a sweep with nothing to do leaves no trace
                sweeps_file(out).append(_sweep_line(config, summary, ray_address))
    return summary


# -- where runs run -----------------------------------------------------------------------------


def _local(pending: list[RunSpec], bar: Any) -> Iterator[tuple[RunSpec, Outcome]]:
    import torch

    torch.set_num_threads(1)
    for spec in pending:
        if bar is not None:
            bar.set_postfix_str(spec.describe(), refresh=False)
        try:
            yield spec, execute(spec, progress=_live(bar, spec))
        except Exception as error:  # a run's failure is reported, the sweep goes on
            yield spec, _error(error)


def _ray(
    pending: list[RunSpec], address: str, cpus: int | None, log: Callable[[str], None]
) -> Iterator[int | tuple[RunSpec, Outcome]]:
    """First yields the number of CPUs Ray has, then (spec, outcome) as runs finish."""
    import ray

    import agents

    started_here = not ray.is_initialized()
    if started_here:
        where = {"num_cpus": cpus} if address == "local" else {"address": address}
        ray.init(
            **where,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
            runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}},
        )
    workers = int(ray.cluster_resources().get("CPU", 1))
    log(f"ray: {workers} CPUs ({'local' if address == 'local' else address}), one run per CPU")
    yield workers
    expected = str(Path(agents.__file__).resolve().parent) if address == "local" else None
    task = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
    refs = {task.remote(spec.to_dict(), expected): spec for spec in pending}
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                spec = refs.pop(ref)
                try:
                    yield spec, ray.get(ref)
                except Exception as error:
                    yield spec, _error(getattr(error, "cause", None) or error)
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


def _ray_task(spec: dict[str, Any], expected_agents: str | None) -> dict[str, Any]:
    """One run in a Ray worker: one torch thread, and the same code as the driver (checked on a local Ray)."""
    import socket

    import torch

    import agents

    here = str(Path(agents.__file__).resolve().parent)
    if expected_agents is not None and here != expected_agents:
        raise RuntimeError(f"this Ray worker imports agents from {here}, the driver from {expected_agents}")
    torch.set_num_threads(1)
    return execute(RunSpec.from_dict(spec), worker=f"ray:{socket.gethostname()}:{os.getpid()}")


def _error(error: BaseException) -> str:
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    return last


# -- progress -----------------------------------------------------------------------------------


def _bar(total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="sweep", unit="run", file=sys.stderr, dynamic_ncols=True)


def _live(bar: Any, spec: RunSpec) -> Callable[[int, dict[str, float]], None] | None:
    """The current run's figures beside the sweep's bar, at most twice a second."""
    if bar is None:
        return None
    last = [0.0]

    def show(steps: int, scalars: dict[str, float]) -> None:
        now = time.perf_counter()
        if now - last[0] < 0.5:
            return
        last[0] = now
        figures = f"{steps / spec.budget:.0%} of {spec.budget:,}"
        if "success_rate" in scalars:
            figures += f", train success {scalars['success_rate']:.2f}"
        bar.set_postfix_str(f"{spec.describe()} | {figures}")

    return show


def _show(bar: Any, record: dict[str, Any]) -> None:
    if bar is None:
        return
    config, final = record["config"], record["final"]
    solved = f"solved at {record['steps_to_threshold']:,}" if record["solved"] else "not solved"
    bar.set_postfix_str(
        f"last: {config['setting']} | {config['agent']} | {config['strategy']} | seed {config['seed']}: "
        f"greedy {final['greedy_success']:.2f}, {solved}, {record['timing']['wall']:.1f} s",
        refresh=False,
    )


# -- bookkeeping --------------------------------------------------------------------------------


def _save_config(config: BenchConfig, out: Path) -> None:
    """A copy of the config text beside the results, named by its hash (never overwritten)."""
    if not config.text:
        return
    digest = hashlib.sha256(config.text.encode()).hexdigest()[:10]
    path = out / f"config-{config.name}-{digest}.toml"
    if not path.exists():
        path.write_text(config.text, encoding="utf-8")


def _sweep_line(config: BenchConfig, s: SweepSummary, ray_address: str | None) -> dict[str, Any]:
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "bench": config.name,
        "config": config.source,
        "mode": "local" if ray_address is None else f"ray:{ray_address}",
        "workers": s.workers,
        "runs_total": s.total,
        "runs_before": s.before,
        "runs_ran": s.ran,
        "runs_failed": len(s.failed),
        "wall": s.wall,
        "training": s.training,
        "evaluation": s.evaluation,
        "write": s.write,
        "warmup": s.warmup,
        "overhead_fraction": s.overhead_fraction,
    }
