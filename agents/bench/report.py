"""The report: Markdown tables and PNG plots rebuilt from a results directory alone (nothing reruns).

``build_report(results_dir)`` reads ``results.jsonl`` (and ``sweeps.jsonl``) and writes
``report/report.md``, ``report/report.json`` (the tables' numbers) and the plots:

* per setting (env id + kwargs + budget) and method (agent · strategy): final greedy test success
  and the area under its learning curve, each as mean and IQM with a 95% stratified-bootstrap
  interval over seeds; runs solved, env steps to the threshold (median, censored runs counted as
  not reached), pass@k, distinct completions, entropy, zero-advantage fraction;
* the probability that a method improves on each strategy-less method (area under the curve);
* the same aggregated over settings (stratified bootstrap: settings are the strata);
* the fraction of runs and of settings solved within budget, per method;
* learning curves per setting, mean over seeds with the range as a band (``curves-N.png``);
* the scaling curve as bsuite's deep_sea report draws it (``scaling.png``): env steps to solve
  against the difficulty knob of a grid (log scale), one line per method, the random-search line
  beside them (:mod:`agents.bench.random_search`), censored runs hollow at the budget.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.bench import stats
from agents.bench.random_search import random_search
from agents.bench.results import results_file, sweeps_file

REPORT_DIR = "report"
SUBPLOTS_PER_FIGURE = 12


@dataclass
class Setting:
    """One env setting at one budget, and the runs of each method on it."""

    label: str
    env_id: str
    env_kwargs: dict[str, Any]
    budget: int
    threshold: float
    difficulty: dict[str, Any] | None
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))  # method -> records


def method_of(record: dict[str, Any]) -> str:
    return f"{record['config']['agent']} · {record['config']['strategy']}"


def _setting_key(record: dict[str, Any]) -> str:
    c = record["config"]
    return json.dumps([c["env_id"], c["env_kwargs"], c["budget"], c["evaluation"]["threshold"]], sort_keys=True)


def group(records: list[dict[str, Any]]) -> list[Setting]:
    settings: dict[str, Setting] = {}
    for r in records:
        c = r["config"]
        key = _setting_key(r)
        if key not in settings:
            settings[key] = Setting(
                c["setting"], c["env_id"], c["env_kwargs"], c["budget"], c["evaluation"]["threshold"], c["difficulty"]
            )
        settings[key].runs[method_of(r)].append(r)
    out = list(settings.values())
    labels = defaultdict(list)
    for s in out:
        labels[s.label].append(s)
    for same in labels.values():  # one env at several budgets or thresholds: say which
        if len(same) > 1:
            for s in same:
                s.label = f"{s.label} (budget {s.budget:,}, threshold {s.threshold:g})"
    for s in out:
        for runs in s.runs.values():
            runs.sort(key=lambda r: r["config"]["seed"])
    return out


def _steps(run: dict[str, Any]) -> float:
    """Env steps to the threshold; inf when not reached (censored at the budget)."""
    return math.inf if run["steps_to_threshold"] is None else float(run["steps_to_threshold"])


def _final(run: dict[str, Any]) -> float:
    return float(run["final"]["greedy_success"])


def _auc(run: dict[str, Any]) -> float:
    return float(run["auc"]["greedy"])


def _mean_of(runs: list[dict[str, Any]], get) -> float | None:
    values = [v for v in (get(r) for r in runs) if v is not None]
    return float(np.mean(values)) if values else None


def _series_mean(run: dict[str, Any], name: str) -> float | None:
    values = [v for v in run["training"].get(name, []) if v is not None]
    return float(np.mean(values)) if values else None


def _reference_methods(methods: list[str]) -> list[str]:
    return [m for m in methods if m.endswith(" · none")]


# -- numbers --------------------------------------------------------------------------------------


def setting_tables(settings: list[Setting], seed: int = 0) -> list[dict[str, Any]]:
    out = []
    for s in settings:
        rows = []
        for method, runs in s.runs.items():
            finals = np.array([_final(r) for r in runs])
            aucs = np.array([_auc(r) for r in runs])
            steps = np.array([_steps(r) for r in runs])
            rows.append(
                {
                    "method": method,
                    "seeds": [r["config"]["seed"] for r in runs],
                    "final_greedy": {"mean": float(finals.mean()), "iqm": stats.iqm_interval([finals], seed).to_dict()},
                    "auc": {"mean": float(aucs.mean()), "iqm": stats.iqm_interval([aucs], seed).to_dict()},
                    "solved": int(np.isfinite(steps).sum()),
                    "median_steps_to_threshold": None if not np.isfinite(np.median(steps)) else float(np.median(steps)),
                    "final_sampled": _mean_of(runs, lambda r: r["final"]["sampled_success"]),
                    "pass@k": _mean_of(runs, lambda r: r["final"]["pass@k"]),
                    "k": runs[0]["final"]["k"],
                    "distinct_completions": _mean_of(runs, lambda r: r["final"]["distinct_completions"]),
                    "final_entropy": _mean_of(runs, lambda r: r["final"]["mean_token_entropy"]),
                    "training_entropy": _mean_of(runs, lambda r: _series_mean(r, "entropy")),
                    "zero_advantage_fraction": _mean_of(runs, lambda r: _series_mean(r, "zero_advantage_fraction")),
                    "wall_seconds": _mean_of(runs, lambda r: r["timing"]["wall"]),
                    "timestep_unit": runs[0]["timestep_unit"],
                }
            )
        comparisons = []
        methods = list(s.runs)
        for y in _reference_methods(methods):
            for x in methods:
                if x == y:
                    continue
                xs, ys = np.array([_auc(r) for r in s.runs[x]]), np.array([_auc(r) for r in s.runs[y]])
                comparisons.append({"x": x, "y": y, **stats.improvement_interval([xs], [ys], seed).to_dict()})
        out.append(
            {
                "setting": s.label,
                "env_id": s.env_id,
                "env_kwargs": s.env_kwargs,
                "budget": s.budget,
                "threshold": s.threshold,
                "methods": rows,
                "improvement": comparisons,
            }
        )
    return out


def aggregate_table(settings: list[Setting], seed: int = 0) -> dict[str, Any]:
    """Per method over every setting it ran on (settings are the bootstrap's strata)."""
    methods = list(dict.fromkeys(m for s in settings for m in s.runs))
    rows = []
    for m in methods:
        mine = [s for s in settings if m in s.runs]
        aucs = [np.array([_auc(r) for r in s.runs[m]]) for s in mine]
        finals = [np.array([_final(r) for r in s.runs[m]]) for s in mine]
        rows.append(
            {
                "method": m,
                "settings": len(mine),
                "runs": int(sum(len(a) for a in aucs)),
                "auc_iqm": stats.iqm_interval(aucs, seed).to_dict(),
                "final_greedy_iqm": stats.iqm_interval(finals, seed).to_dict(),
            }
        )
    comparisons = []
    for y in _reference_methods(methods):
        for x in methods:
            if x == y:
                continue
            both = [s for s in settings if x in s.runs and y in s.runs]
            if not both:
                continue
            xs = [np.array([_auc(r) for r in s.runs[x]]) for s in both]
            ys = [np.array([_auc(r) for r in s.runs[y]]) for s in both]
            comparisons.append(
                {"x": x, "y": y, "settings": len(both), **stats.improvement_interval(xs, ys, seed).to_dict()}
            )
    return {"methods": rows, "improvement": comparisons}


def solved_table(settings: list[Setting]) -> list[dict[str, Any]]:
    methods = list(dict.fromkeys(m for s in settings for m in s.runs))
    rows = []
    for m in methods:
        runs = [r for s in settings if m in s.runs for r in s.runs[m]]
        per_setting = [sum(r["solved"] for r in s.runs[m]) / len(s.runs[m]) for s in settings if m in s.runs]
        rows.append(
            {
                "method": m,
                "runs_solved": sum(r["solved"] for r in runs),
                "runs": len(runs),
                "settings_solved": sum(f >= 0.5 for f in per_setting),
                "settings": len(per_setting),
            }
        )
    return rows


def harness_table(records: list[dict[str, Any]], sweeps: list[dict[str, Any]]) -> dict[str, Any]:
    walls = np.array([r["timing"]["wall"] for r in records]) if records else np.zeros(0)
    overheads = np.array([r["timing"]["overhead"] for r in records]) if records else np.zeros(0)
    return {
        "sweeps": sweeps,
        "runs": len(records),
        "run_wall_total": float(walls.sum()),
        "run_overhead_total": float(overheads.sum()),
        "run_overhead_fraction": float(overheads.sum() / walls.sum()) if walls.sum() > 0 else None,
    }


# -- plots ------------------------------------------------------------------------------------------


def _figure(n: int, width: float = 4.2, height: float = 3.2):
    from matplotlib.figure import Figure

    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _colors(methods: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    baselines = [m for m in methods if m.endswith(" · none")]
    if len(baselines) == 1:  # the one method without a strategy: the line every other is read against
        colors = {baselines[0]: "black"}
        others = [m for m in methods if m != baselines[0]]
    else:
        colors, others = {}, methods
    cmap, n = (colormaps["tab10"], 10) if len(others) <= 10 else (colormaps["tab20"], 20)
    return {**colors, **{m: cmap(i % n) for i, m in enumerate(others)}}


def short_label(method: str) -> str:
    """A method's label for a plot legend: each strategy by its name and only the parameters it sets
    away from its defaults (``"reinforce · entropy:coef=0.01,target=None,..."`` → ``"reinforce · entropy"``)."""
    agent, sep, strategies = method.partition(" · ")
    if not sep:
        return method
    from agents.exploration import parse_strategy

    parts = []
    for spec in strategies.split(" + "):
        try:
            strategy = parse_strategy(spec)
        except (ValueError, TypeError):
            parts.append(spec)
            continue
        defaults = type(strategy)().params()
        changed = {k: v for k, v in strategy.params().items() if defaults.get(k) != v}
        parts.append(strategy.name + ("" if not changed else ":" + ",".join(f"{k}={v}" for k, v in changed.items())))
    return f"{agent}{sep}{' + '.join(parts)}"


def _legend(fig: Any, axes: Any) -> None:
    """One legend for the figure, below the plots: every line once (the panels share their methods)."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=min(len(seen), 5), fontsize=7)


def _held(run: dict[str, Any], grid: np.ndarray) -> np.ndarray:
    """Greedy success on ``grid``: 0 before the first point, each point held until the next, the last to the end."""
    steps, values = np.array(run["curve"]["steps"], dtype=float), np.array(run["curve"]["greedy"], dtype=float)
    at = np.searchsorted(steps, grid, side="right") - 1
    return np.where(at >= 0, values[np.clip(at, 0, None)], 0.0)


def plot_curves(settings: list[Setting], folder: Path, colors: dict[str, Any]) -> list[Path]:
    paths = []
    for start in range(0, len(settings), SUBPLOTS_PER_FIGURE):
        chunk = settings[start : start + SUBPLOTS_PER_FIGURE]
        fig, axes = _figure(len(chunk))
        for ax, s in zip(axes, chunk, strict=False):
            grid = np.linspace(0, s.budget, 201)
            for method, runs in s.runs.items():
                curves = np.stack([_held(r, grid) for r in runs])  # (seeds, points)
                ax.plot(grid, curves.mean(axis=0), color=colors[method], label=short_label(method))
                ax.fill_between(grid, curves.min(axis=0), curves.max(axis=0), color=colors[method], alpha=0.2)
            ax.axhline(s.threshold, color="gray", lw=0.8, ls=":")
            ax.set_title(s.label, fontsize=8)
            ax.set_ylim(-0.03, 1.03)
            units = sorted({r["timestep_unit"] for runs in s.runs.values() for r in runs})
            ax.set_xlabel(" / ".join(units), fontsize=8)
            ax.set_ylabel("greedy test success", fontsize=8)
            ax.tick_params(labelsize=7)
        _legend(fig, axes)
        path = folder / f"curves-{start // SUBPLOTS_PER_FIGURE + 1}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)
    return paths


@dataclass
class Family:
    """Settings that differ only in their difficulty knob: one scaling panel (per agent)."""

    title: str
    knob: str
    agent: str
    points: list[Setting] = field(default_factory=list)


def families(settings: list[Setting]) -> list[Family]:
    found: dict[str, Family] = {}
    for s in settings:
        if s.difficulty is None:
            continue
        knob = s.difficulty["name"]
        rest = {k: v for k, v in s.env_kwargs.items() if k != knob}
        agents = list(dict.fromkeys(m.split(" · ")[0] for m in s.runs))
        for agent in agents:
            key = json.dumps([s.env_id, knob, rest, agent], sort_keys=True)
            if key not in found:
                name = " ".join([s.env_id.split("/")[-1], *(f"{k}={v!r}" for k, v in rest.items())])
                found[key] = Family(f"{name} · {agent}", knob, agent)
            found[key].points.append(s)
    for f in found.values():
        f.points.sort(key=lambda s: s.difficulty["value"])
    return list(found.values())


def plot_scaling(fams: list[Family], path: Path, colors: dict[str, Any]) -> list[dict[str, Any]]:
    """bsuite's deep_sea scaling plot; returns the random-search points it drew (for the report)."""
    fig, axes = _figure(len(fams), width=4.6, height=3.6)
    lines = []
    for ax, fam in zip(axes, fams, strict=False):
        xs = [s.difficulty["value"] for s in fam.points]
        numeric = all(isinstance(x, int | float) for x in xs)
        position = {x: (x if numeric else i) for i, x in enumerate(xs)}
        methods = list(dict.fromkeys(m for s in fam.points for m in s.runs if m.startswith(fam.agent + " · ")))
        width = (max(position.values()) - min(position.values()) or 1) * 0.015
        for j, method in enumerate(methods):
            offset = (j - (len(methods) - 1) / 2) * width
            line_x, line_y = [], []
            for s in fam.points:
                runs = s.runs.get(method, [])
                if not runs:
                    continue
                x = position[s.difficulty["value"]] + offset
                steps = np.array([_steps(r) for r in runs])
                solved = np.isfinite(steps)
                ax.scatter(np.full(solved.sum(), x), steps[solved], color=colors[method], s=14, zorder=3)
                ax.scatter(
                    np.full((~solved).sum(), x),
                    np.full((~solved).sum(), s.budget),
                    facecolors="none",
                    edgecolors=colors[method],
                    s=22,
                    zorder=3,
                )
                median = float(np.median(steps))
                if np.isfinite(median):
                    line_x.append(x)
                    line_y.append(median)
            baseline = method.endswith(" · none")
            ax.plot(
                line_x,
                line_y,
                color=colors[method],
                lw=2.6 if baseline else 1.4,
                zorder=4 if baseline else 2,
                label=short_label(method).split(" · ", 1)[1],
            )
        rs_x, rs_y = [], []
        for s in fam.points:
            rs = random_search(s.env_id, s.env_kwargs)
            if rs is not None:
                rs_x.append(position[s.difficulty["value"]])
                rs_y.append(rs.expected_steps)
                lines.append(
                    {
                        "family": fam.title,
                        fam.knob: s.difficulty["value"],
                        "expected_steps": rs.expected_steps,
                        "success_probability": rs.success_probability,
                        "mean_length": rs.mean_length,
                        "method": rs.method,
                    }
                )
        if rs_x:
            ax.plot(rs_x, rs_y, color="black", ls="--", lw=1.2, marker="x", ms=4, label="random search E[steps]")
        for i, b in enumerate(sorted({s.budget for s in fam.points})):
            ax.axhline(b, color="gray", ls=":", lw=0.9, label="budget" if i == 0 else None)
        ax.set_yscale("log")
        if not numeric:
            ax.set_xticks(list(position.values()), [str(x) for x in xs])
        ax.set_xlabel(fam.knob, fontsize=8)
        ax.set_ylabel("env steps to solve (hollow: not solved)", fontsize=8)
        ax.set_title(fam.title, fontsize=8)
        ax.tick_params(labelsize=7)
    _legend(fig, axes)
    fig.savefig(path, dpi=110)
    return lines


# -- Markdown --------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def _ci(interval: dict[str, float | None]) -> str:
    point = _num(interval["point"])
    if interval["low"] is None:
        return point
    return f"{point} [{_num(interval['low'])}, {_num(interval['high'])}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _markdown(
    results_dir: Path,
    records: list[dict[str, Any]],
    problems: list[str],
    per_setting: list[dict[str, Any]],
    aggregate: dict[str, Any],
    solved: list[dict[str, Any]],
    harness: dict[str, Any],
    curve_paths: list[Path],
    scaling: tuple[Path, list[dict[str, Any]]] | None,
) -> str:
    benches = sorted({r["config"]["bench"] for r in records})
    thresholds = sorted({r["config"]["evaluation"]["threshold"] for r in records})
    ks = sorted({r["final"]["k"] for r in records})
    corrections = sorted({str(r["importance_correction"]) for r in records if r["config"]["agent_type"] == "reinforce"})
    versions = {json.dumps({k: v for k, v in r["versions"].items() if k != "git"}, sort_keys=True) for r in records}
    out = [
        f"# Benchmark report: {', '.join(benches)}",
        "",
        f"{len(records)} runs from `{results_dir / 'results.jsonl'}`, rebuilt by `token-gym report {results_dir}`.",
    ]
    if problems:
        out += ["", f"Skipped {len(problems)} line(s) of the results file:", *(f"- {p}" for p in problems)]
    out += [
        "",
        f"- **Solved** = greedy test success ≥ the threshold ({', '.join(f'{t:g}' for t in thresholds)}) at a "
        "learning-curve point; *steps to solve* are those of the first such point. A run that never got there is "
        '**censored** at its budget: counted as not reached, never dropped (median steps "not reached" when at '
        "least half the seeds are censored).",
        "- **AUC** = area under the greedy learning curve over the budget, normalised to [0, 1] (0 before the first "
        "point, the last point held to the budget).",
        "- **IQM** = interquartile mean over seeds (`scipy.stats.trim_mean(·, 0.25)`, rliable's definition); "
        "intervals are 95% percentile-bootstrap intervals (`scipy.stats.bootstrap`, 2000 resamples), stratified by "
        "setting when aggregated; none with fewer than two seeds.",
        f"- **pass@k** (k = {', '.join(map(str, ks))}) and distinct completions come from k sampled completions per "
        "test prompt at the end of training; entropy is the policy's mean token entropy (nats), at the end and over "
        "training (SB3: its logged entropy of PPO/A2C updates).",
        "- Budgets count env steps, except for SL (`sl · ...`), whose timesteps are demonstrated tokens.",
    ]
    if corrections:
        out.append(f"- REINFORCE importance correction used: {', '.join(corrections)}.")
    if len(versions) > 1:
        out.append(f"- Runs come from {len(versions)} different sets of package versions (see the records).")
    elif versions:
        v = json.loads(next(iter(versions)))
        out.append("- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".")

    out += ["", "## Per setting", ""]
    for table in per_setting:
        unit = table["methods"][0]["timestep_unit"]
        out += [
            f"### {table['setting']}",
            "",
            f"budget {table['budget']:,} {unit}, threshold {table['threshold']:g}",
            "",
        ]
        rows = []
        for m in table["methods"]:
            steps = m["median_steps_to_threshold"]
            rows.append(
                [
                    m["method"],
                    str(len(m["seeds"])),
                    _num(m["final_greedy"]["mean"]),
                    _ci(m["final_greedy"]["iqm"]),
                    _num(m["auc"]["mean"]),
                    _ci(m["auc"]["iqm"]),
                    f"{m['solved']}/{len(m['seeds'])}",
                    "not reached" if steps is None else f"{steps:,.0f}",
                    _num(m["final_sampled"]),
                    _num(m["pass@k"]),
                    _num(m["distinct_completions"], 1),
                    _num(m["final_entropy"]),
                    _num(m["training_entropy"]),
                    _num(m["zero_advantage_fraction"]),
                    _num(m["wall_seconds"], 1),
                ]
            )
        out += _table(
            [
                "method",
                "seeds",
                "greedy success mean",
                "IQM [95% CI]",
                "AUC mean",
                "AUC IQM [95% CI]",
                "solved",
                "median steps to solve",
                "sampled success",
                "pass@k",
                "distinct",
                "entropy (end)",
                "entropy (training)",
                "zero-adv. fraction",
                "wall s",
            ],
            rows,
        )
        if table["improvement"]:
            out += ["", "Probability of improvement (AUC), P(X > Y) [95% CI]:", ""]
            out += _table(["X", "Y", "P(X > Y)"], [[c["x"], c["y"], _ci(c)] for c in table["improvement"]])
        out.append("")

    out += ["## Over all settings", "", "IQM over every run of a method, stratified bootstrap over settings:", ""]
    out += _table(
        ["method", "settings", "runs", "AUC IQM [95% CI]", "greedy success IQM [95% CI]"],
        [
            [m["method"], str(m["settings"]), str(m["runs"]), _ci(m["auc_iqm"]), _ci(m["final_greedy_iqm"])]
            for m in aggregate["methods"]
        ],
    )
    if aggregate["improvement"]:
        out += ["", "Probability of improvement (AUC) over the settings both ran, averaged over settings:", ""]
        out += _table(
            ["X", "Y", "settings", "P(X > Y) [95% CI]"],
            [[c["x"], c["y"], str(c["settings"]), _ci(c)] for c in aggregate["improvement"]],
        )

    out += ["", "## Solved within budget", ""]
    out += _table(
        ["method", "runs solved", "settings solved (≥ half the seeds)"],
        [
            [
                s["method"],
                f"{s['runs_solved']}/{s['runs']} ({s['runs_solved'] / s['runs']:.0%})",
                f"{s['settings_solved']}/{s['settings']} ({s['settings_solved'] / s['settings']:.0%})",
            ]
            for s in solved
        ],
    )

    if scaling is not None:
        path, lines = scaling
        methods = sorted({line["method"] for line in lines})
        out += [
            "",
            "## Scaling",
            "",
            f"![scaling]({path.name})",
            "",
            "Env steps to solve against the difficulty knob, log scale; dots are seeds (hollow at the budget line: "
            "not solved, censored), lines join the medians where at least half the seeds solved. The dashed line is "
            "**random search**: the expected env steps until a policy uniform over the task's useful tokens (its "
            "action mask: alphabet + EOS, U = |A| + 1 tokens) first emits the answer, E[episode length] / p with "
            "p = U^-(L+1) on SecretString (L letters then EOS) and U^-L on CombinationLock — the |A|^L line of the "
            f"issue, computed {' and '.join(methods) or 'nowhere'} (exact: by enumerating the uniform policy's "
            "completions with `agents.exact`). Random search needs the answer once; a method needs greedy success "
            "at the threshold, so the line is a yardstick, not a bound.",
        ]
    out += ["", "## Learning curves", "", "Mean greedy test success over seeds, the band spans the seeds' range.", ""]
    out += [f"![curves]({p.name})" for p in curve_paths]

    out += ["", "## Harness", ""]
    if harness["sweeps"]:
        out += _table(
            ["finished", "mode", "workers", "runs ran / in grid", "wall s", "training s", "evaluation s", "overhead"],
            [
                [
                    s["finished_at"],
                    s["mode"],
                    str(s["workers"]),
                    f"{s['runs_ran']}/{s['runs_total']}",
                    _num(s["wall"], 1),
                    _num(s["training"], 1),
                    _num(s["evaluation"], 1),
                    f"{s['overhead_fraction']:.1%}",
                ]
                for s in harness["sweeps"]
            ],
        )
        out += [
            "",
            "Overhead = 1 − (training + evaluation) / (wall × workers): set-up, the harness's own work, writing "
            "records, and (with Ray) starting Ray and idle workers at the end.",
        ]
    if harness["run_overhead_fraction"] is not None:
        out += [
            "",
            f"Inside runs: {harness['run_overhead_total']:.1f} s of {harness['run_wall_total']:.1f} s "
            f"({harness['run_overhead_fraction']:.1%}) went to anything but training and evaluation "
            "(building the agent and envs, the first run's one-time warm-up, the record).",
        ]
    return "\n".join(out) + "\n"


@dataclass
class Report:
    markdown: Path
    data: Path
    plots: list[Path]
    problems: list[str]


def sources_digest(results_dir: str | Path) -> str:
    """A hash of what a report is built from (the results and sweeps files)."""
    digest = hashlib.sha256()
    for file in (results_file(results_dir).path, sweeps_file(results_dir).path):
        digest.update(file.read_bytes() if file.exists() else b"-")
    return digest.hexdigest()


def up_to_date(results_dir: str | Path, out: str | Path | None = None) -> Path | None:
    """The report's Markdown if it was built from the files as they are now (nothing to rebuild), else None."""
    folder = Path(out) if out is not None else Path(results_dir) / REPORT_DIR
    try:
        built = json.loads((folder / "report.json").read_text(encoding="utf-8")).get("sources")
    except (OSError, ValueError):
        return None
    markdown = folder / "report.md"
    return markdown if built == sources_digest(results_dir) and markdown.exists() else None


def build_report(results_dir: str | Path, out: str | Path | None = None, seed: int = 0) -> Report:
    """Tables and plots from ``results_dir/results.jsonl``; written to ``out`` (default ``results_dir/report``)."""
    results_dir = Path(results_dir)
    sources = sources_digest(results_dir)
    contents = results_file(results_dir).read()
    if not contents.records:
        where = results_dir / "results.jsonl"
        raise ValueError(
            f"no finished runs in {where}" + (f" ({len(contents.problems)} bad lines)" if contents.problems else "")
        )
    sweeps = sweeps_file(results_dir).read().records
    folder = Path(out) if out is not None else results_dir / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    settings = group(contents.records)
    colors = _colors(list(dict.fromkeys(m for s in settings for m in s.runs)))
    per_setting = setting_tables(settings, seed)
    aggregate = aggregate_table(settings, seed)
    solved = solved_table(settings)
    harness = harness_table(contents.records, sweeps)
    plots = plot_curves(settings, folder, colors)
    fams = families(settings)
    scaling = None
    if fams:
        path = folder / "scaling.png"
        scaling = (path, plot_scaling(fams, path, colors))
        plots.append(path)
    markdown = folder / "report.md"
    markdown.write_text(
        _markdown(
            results_dir,
            contents.records,
            contents.problems,
            per_setting,
            aggregate,
            solved,
            harness,
            [p for p in plots if p.name.startswith("curves")],
            scaling,
        ),
        encoding="utf-8",
    )
    data = folder / "report.json"
    data.write_text(
        json.dumps(
            {
                "settings": per_setting,
                "aggregate": aggregate,
                "solved": solved,
                "harness": harness,
                "random_search": scaling[1] if scaling else [],
                "problems": contents.problems,
                "sources": sources,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    return Report(markdown, data, plots, contents.problems)
