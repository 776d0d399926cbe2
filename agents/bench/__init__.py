"""The benchmark harness: a grid of envs × agents × strategies × seeds under an equal step budget.

One module per job::

    config.py        TOML → BenchConfig (checked: errors name the key, file and line) → the grid of RunSpecs
    presets.py       configs shipped in presets/*.toml (quick, exploration)
    learners.py      the agent types (ours and SB3's) behind one learn loop and one learning curve
    run.py           RunSpec → one run → one JSON record (its key: a hash of what changes the outcome)
    results.py       the append-only results file (one fsynced line per run; partial lines skipped)
    sweep.py         the runs not yet in the results file, here or as Ray tasks; resumable at any point
    stats.py         IQM, stratified-bootstrap intervals, probability of improvement (scipy)
    random_search.py the random-search line: expected env steps of a uniform policy to find the answer
    report.py        Markdown tables and PNG plots from a results directory alone

The ``token-gym`` command (:mod:`agents.cli`) drives it: ``token-gym bench --preset quick``.
"""

from agents.bench.config import BenchConfig, ConfigError, load_config, parse_config
from agents.bench.presets import load_preset, preset_names
from agents.bench.report import build_report
from agents.bench.results import JsonLines, results_file
from agents.bench.run import RunSpec, execute
from agents.bench.sweep import SweepSummary, run_sweep

__all__ = [
    "BenchConfig",
    "ConfigError",
    "JsonLines",
    "RunSpec",
    "SweepSummary",
    "build_report",
    "execute",
    "load_config",
    "load_preset",
    "parse_config",
    "preset_names",
    "results_file",
    "run_sweep",
]
