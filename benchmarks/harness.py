"""The benchmark harness's own cost: the quick preset's wall time, its rerun, the overhead, and the
per-run times that size the exploration preset.

    python -m benchmarks.harness [--skip-quick] [--skip-exploration] [--out harness.json]

1. ``token-gym bench --preset quick`` in a fresh directory, as a subprocess (imports, the sweep, the
   report: what a user waits for), then the same command again with every run finished; with
   ``--ray`` the same on a local Ray with 2 CPUs.
2. Harness overhead, from the quick sweep's own bookkeeping (``sweeps.jsonl``, the records'
   ``timing``): 1 − (training + evaluation) / wall, for the sweep and inside runs; and the cost of
   one record write (append + fsync) over 200 writes.
3. Exploration sizing: the exploration preset's grid at seed 0 without strategies (one run per
   setting), timed; the estimate is Σ over settings of that run's wall time × methods × seeds,
   divided by the Ray CPUs. It assumes a strategy's run costs what the plain run costs on the same
   setting (a run that solves stops early, one that does not trains the whole budget).

One torch thread per process. The machine may be shared: the load average is printed beside.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # failed runs: exit 1
    return time.perf_counter() - start


def quick(folder: Path, ray: bool = False) -> dict:
    """The quick preset as a user runs it (``token-gym bench --preset quick``), local or on Ray."""
    name = "quick" + ("-ray" if ray else "")
    out = folder / name
    command = [sys.executable, "-m", "agents.cli", "bench", "--preset", "quick", "--out", str(out), "--no-progress"]
    command += ["--ray", "--ray-cpus", "2"] if ray else []
    print(f"{name} (load {load()}) ...", flush=True)
    first = timed(command)
    rerun = timed(command)
    sweep = json.loads((out / "sweeps.jsonl").read_text().splitlines()[0])
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    run_wall = sum(r["timing"]["wall"] for r in records)
    run_overhead = sum(r["timing"]["overhead"] for r in records)
    return {
        "wall": first,
        "rerun": rerun,
        "runs": len(records),
        "sweep_wall": sweep["wall"],
        "sweep_training": sweep["training"],
        "sweep_evaluation": sweep["evaluation"],
        "sweep_overhead_fraction": sweep["overhead_fraction"],
        "sweep_warmup": sweep.get("warmup"),
        "sweep_write": sweep["write"],
        "run_overhead_fraction": run_overhead / run_wall,
        "run_overhead_median": statistics.median(r["timing"]["overhead"] for r in records),
        "load_after": load(),
    }


def write_cost(folder: Path, n: int = 200) -> dict:
    from agents.bench.results import JsonLines

    record = json.loads((folder / "quick" / "results.jsonl").read_text().splitlines()[0])
    results = JsonLines(folder / "writes.jsonl")
    seconds = [results.append({**record, "key": str(i)}) for i in range(n)]
    return {"record_bytes": len(json.dumps(record)), "median": statistics.median(seconds), "max": max(seconds)}


def exploration(folder: Path) -> dict:
    import torch

    from agents.bench import load_preset, run_sweep
    from agents.bench.config import strategy_setting

    torch.set_num_threads(1)
    config = load_preset("exploration")
    full_methods = len(config.strategies) * len(config.agents)  # strategies registered in this checkout
    seeds = len(config.seeds)
    config.seeds = [0]
    config.strategies = [strategy_setting("none")]
    print(f"exploration sample: {len(config.grid().runs)} runs (load {load()}) ...", flush=True)
    out = folder / "exploration"
    summary = run_sweep(config, out, progress=False, log=lambda _: None)
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    per_setting = {r["config"]["setting"]: r["timing"]["wall"] for r in records}
    solved = {r["config"]["setting"]: r["solved"] for r in records}
    one_method = sum(per_setting.values()) * seeds  # seconds of one core for one method, every seed
    return {
        "per_run": per_setting,
        "solved": solved,
        "sample_wall": summary.wall,
        "methods_today": full_methods,
        "seeds": seeds,
        "seconds_per_method": one_method,
        "estimate_today_sequential": one_method * full_methods,
        "load_after": load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-quick", action="store_true")
    parser.add_argument("--skip-exploration", action="store_true")
    parser.add_argument("--ray", action="store_true", help="also the quick preset with --ray on 2 CPUs")
    parser.add_argument("--out", default="harness.json")
    args = parser.parse_args()
    figures: dict = {"load_before": load()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_quick:
            figures["quick"] = q = quick(folder)
            figures["write"] = w = write_cost(folder)
            print(f"quick preset: {q['wall']:.1f} s ({q['runs']} runs), rerun {q['rerun']:.1f} s")
            print(
                f"  sweep {q['sweep_wall']:.1f} s: training {q['sweep_training']:.1f} s, evaluation "
                f"{q['sweep_evaluation']:.1f} s, overhead {q['sweep_overhead_fraction']:.1%} (torch warm-up "
                f"{q['sweep_warmup']:.1f} s, record writes {q['sweep_write'] * 1e3:.0f} ms)"
            )
            print(f"  inside runs: overhead {q['run_overhead_fraction']:.1%} (median {q['run_overhead_median']:.3f} s)")
            print(f"  one record ({w['record_bytes']:,} B): append + fsync {w['median'] * 1e3:.2f} ms median")
        if args.ray:
            for ray in (True,):
                figures[f"quick_ray={ray}"] = r = quick(folder, ray=ray)
                print(
                    f"quick preset ({r['runs']} runs), {'--ray on 2 CPUs' if ray else 'local'}: "
                    f"{r['wall']:.1f} s, rerun {r['rerun']:.1f} s; sweep {r['sweep_wall']:.1f} s, training + "
                    f"evaluation {r['sweep_training'] + r['sweep_evaluation']:.1f} s, capacity not spent on them "
                    f"{r['sweep_overhead_fraction']:.1%}"
                )
        if not args.skip_exploration:
            figures["exploration"] = e = exploration(folder)
            print("exploration preset, one run per setting (seed 0, no strategy):")
            for setting, wall in e["per_run"].items():
                print(f"  {setting:<55} {wall:6.1f} s  {'solved' if e['solved'][setting] else 'not solved'}")
            per_method = e["seconds_per_method"]
            print(
                f"  one method × {e['seeds']} seeds: {per_method / 60:.1f} min of one core; "
                f"{e['methods_today']} methods today: {e['estimate_today_sequential'] / 60:.0f} min sequential, "
                f"{e['estimate_today_sequential'] / 120:.0f} min with --ray on 2 CPUs"
            )
    figures["load_after"] = load()
    Path(args.out).write_text(json.dumps(figures, indent=1))
    print(f"load average before {figures['load_before']}, after {figures['load_after']}; figures in {args.out}")


if __name__ == "__main__":
    main()
