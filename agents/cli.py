"""``token-gym``: list what there is, train one agent, run a benchmark grid, rebuild its report.

::

    token-gym list [envs | strategies | agents | presets]
    token-gym train ENV [--env-kwargs k=v ...] [--agent reinforce|sl|ppo|a2c|dqn|maskable_ppo]
                    [--agent-kwargs k=v ...] [--strategy NAME:k=v ...] [--steps N] [--seed S] [--out DIR]
    token-gym bench CONFIG.toml | --preset NAME [--out DIR] [--ray [ADDRESS]]
    token-gym report RESULTS_DIR

Values of ``k=v`` are read as Python literals (``3``, ``0.5``, ``True``, ``{'n_layer': 1}``) or kept
as strings (``alphabet=abc``).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """A command line that cannot be carried out; printed without a traceback."""


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _pairs(items: list[str] | None, what: str) -> dict[str, Any]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} are key=value pairs, got {item!r}")
        out[key.strip()] = _literal(value.strip())
    return out


# -- list -----------------------------------------------------------------------------------------


def _signature_defaults(params: dict[str, Any]) -> str:
    return " ".join(k if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in params.items())


def cmd_list(args: argparse.Namespace) -> int:
    what = args.what
    if what == "envs":
        from token_gym.registration import list_envs

        envs = list_envs()
        common = set.intersection(*(set(kw) for kw in envs.values()))
        width = max(map(len, envs))
        for env_id, kwargs in envs.items():
            print(f"{env_id:<{width}}  " + " ".join(f"{k}={v!r}" for k, v in kwargs.items() if k not in common))
        first = next(iter(envs.values()))
        print("every id also takes: " + " ".join(f"{k}={first[k]!r}" for k in first if k in common))
    elif what == "strategies":
        import agents.exploration  # noqa: F401
        from agents.exploration.base import Strategy

        width = max(map(len, Strategy.registry), default=0)
        for name, cls in sorted(Strategy.registry.items()):
            params = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}
            doc = (inspect.getdoc(cls) or "").splitlines()[0] if inspect.getdoc(cls) else ""
            print(f"{name:<{width}}  {_signature_defaults(params) or '-'}  — {doc}")
        print('"none" trains without a strategy; specs compose: --strategy temperature:t=2 --strategy epsilon')
    elif what == "agents":
        from agents.bench import learners

        width = max(map(len, learners.AGENT_TYPES))
        for name, where in learners.AGENT_TYPES.items():
            try:
                params = _signature_defaults(learners.parameters(name))
            except ImportError as error:
                params = f"(not installed: {error})"
            unit = learners.timestep_unit(name)
            strategies = "strategies" if name in learners.STRATEGY_AGENTS else "no strategies"
            print(f"{name:<{width}}  {where} ({unit}; {strategies})  {params}")
    elif what == "presets":
        from agents.bench.presets import describe_presets

        for name, description in describe_presets().items():
            print(f"{name:<12}  {description}")
    return 0


# -- train ----------------------------------------------------------------------------------------


TRAIN_FILES = ("agent.zip", "progress.csv", "record.json")


def _train_dir(out: str | None, env_id: str, agent: str, seed: int) -> Path:
    if out is not None:
        path = Path(out)
        taken = [name for name in TRAIN_FILES if (path / name).exists()]
        if taken:
            raise UsageError(f"{path} already holds {', '.join(taken)}; nothing is overwritten: choose another --out")
        return path
    base = Path("runs") / f"{env_id.split('/')[-1]}-{agent}-seed{seed}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def cmd_train(args: argparse.Namespace) -> int:
    import json

    import torch

    from agents.bench import config as cfg
    from agents.bench import learners
    from agents.bench.run import RunSpec, execute

    torch.set_num_threads(args.threads)
    try:
        env_id = cfg.resolve_env_id(args.env)
        env_kwargs = _pairs(args.env_kwargs, "--env-kwargs")
        cfg.check_env_kwargs(env_id, env_kwargs)
        cfg.build_env(env_id, env_kwargs)
        agent_kwargs = _pairs(args.agent_kwargs, "--agent-kwargs")
        cfg.check_agent(args.agent, agent_kwargs)
        strategy = cfg.strategy_setting(list(args.strategy or []))
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    if strategy.specs and args.agent not in learners.STRATEGY_AGENTS:
        raise UsageError(f"strategies apply to {', '.join(learners.STRATEGY_AGENTS)} only, not {args.agent}")
    evaluation = {"threshold": args.threshold, "samples_per_prompt": args.samples_per_prompt}
    if args.eval_every:
        evaluation["every"] = args.eval_every
    spec = RunSpec(
        env_id=env_id,
        env_kwargs=env_kwargs,
        agent_type=args.agent,
        agent_kwargs=agent_kwargs,
        strategies=strategy.specs,
        seed=args.seed,
        budget=args.steps,
        evaluation=evaluation,
        strategy=strategy.label,
        bench="train",
    )
    out = _train_dir(args.out, env_id, args.agent, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=args.steps, desc=f"{spec.agent} on {spec.setting}", unit="step", file=sys.stderr)
    done = [0]

    def progress(steps: int, scalars: dict[str, float]) -> None:
        if bar is not None:
            bar.update(max(0, min(steps, args.steps) - done[0]))
            done[0] = min(steps, args.steps)
            bar.set_postfix(
                {k: f"{v:.3g}" for k, v in scalars.items() if k in learners.TRAINING_SCALARS}, refresh=False
            )

    try:
        record = execute(spec, log_dir=out, save_path=out / "agent.zip", progress=progress)
    finally:
        if bar is not None:
            bar.close()
    (out / "record.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    final = record["final"]
    solved = (
        f"solved at {record['steps_to_threshold']:,} {record['timestep_unit']}" if record["solved"] else "not solved"
    )
    print(
        f"{spec.describe()}: {record['steps_trained']:,} {record['timestep_unit']}, test success greedy "
        f"{final['greedy_success']:.3f}, sampled {final['sampled_success']:.3f}, pass@{final['k']} "
        f"{final['pass@k']:.3f} ({solved}; threshold {args.threshold:g})"
    )
    print(f"agent:    {record['saved']}")
    print(f"progress: {out / 'progress.csv'}")
    print(f"record:   {out / 'record.json'}")
    return 0


# -- bench and report -------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from agents.bench.config import load_config
    from agents.bench.presets import load_preset
    from agents.bench.report import build_report, up_to_date
    from agents.bench.sweep import run_sweep

    if (args.config is None) == (args.preset is None):
        raise UsageError("give a CONFIG.toml or --preset NAME (one of them)")
    config = load_preset(args.preset) if args.preset else load_config(args.config)
    out = Path(args.out) if args.out else Path("bench-results") / config.name
    summary = run_sweep(config, out, ray_address=args.ray, ray_cpus=args.ray_cpus, progress=not args.no_progress)
    if summary.ran or summary.failed:
        print(
            f"{summary.ran} runs finished now, {summary.before} before, {len(summary.failed)} failed, of "
            f"{summary.total}; {summary.wall:.1f} s (harness overhead {summary.overhead_fraction:.1%}); results: "
            f"{out / 'results.jsonl'}"
        )
    else:
        print(f"nothing to run: all {summary.total} runs are in {out / 'results.jsonl'}")
    for failure in summary.failed:
        print(f"  failed: {failure}", file=sys.stderr)
    if not args.no_report and (summary.ran or summary.before):
        current = up_to_date(out)
        if current is not None:
            print(f"report: {current} (up to date: nothing new to add)")
        else:
            print(f"report: {build_report(out).markdown}")
    return 1 if summary.failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    from agents.bench.report import build_report

    path = Path(args.results_dir)
    if not (path / "results.jsonl").is_file():
        raise UsageError(f"{path} has no results.jsonl (a directory written by token-gym bench)")
    try:
        report = build_report(path, args.out)
    except ValueError as error:
        raise UsageError(str(error)) from None
    for problem in report.problems:
        print(problem, file=sys.stderr)
    print(f"report: {report.markdown}")
    for plot in report.plots:
        print(f"plot:   {plot}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="token-gym", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("list", help="envs with their kwargs, strategies, agents or presets")
    p.add_argument("what", nargs="?", default="envs", choices=["envs", "strategies", "agents", "presets"])
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("train", help="train one agent, score it on the test split, save it")
    p.add_argument("env", help="an env id (token_gym/Reverse-v0) or its short name (Reverse)")
    p.add_argument("--env-kwargs", nargs="+", metavar="K=V", help="the env's kwargs (token-gym list)")
    p.add_argument("--agent", default="reinforce", help="reinforce, sl, ppo, a2c, dqn or maskable_ppo")
    p.add_argument("--agent-kwargs", nargs="+", metavar="K=V", help="the agent's parameters (token-gym list agents)")
    p.add_argument(
        "--strategy", action="append", metavar="NAME:K=V", help="an exploration strategy (repeat to compose)"
    )
    p.add_argument("--steps", type=int, default=50_000, help="budget: env steps (SL: demonstrated tokens)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="directory for agent.zip, progress.csv, record.json (default: runs/ENV-AGENT-seedS)")
    p.add_argument("--eval-every", type=int, help="steps between learning-curve points (default: a twentieth)")
    p.add_argument("--threshold", type=float, default=0.9, help="greedy test success that counts as solved")
    p.add_argument("--samples-per-prompt", type=int, default=8, help="k of the final pass@k")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("bench", help="run a benchmark grid (resumes: finished runs are skipped)")
    p.add_argument("config", nargs="?", help="a benchmark config (TOML)")
    p.add_argument("--preset", help="a shipped config: token-gym list presets")
    p.add_argument("--out", help="results directory (default: bench-results/NAME)")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run as Ray tasks: a local Ray, or a cluster's address",
    )
    p.add_argument("--ray-cpus", type=int, help="CPUs of a local Ray (default: all)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-report", action="store_true", help="do not build the report at the end")
    p.set_defaults(func=cmd_bench)

    p = commands.add_parser("report", help="rebuild tables and plots from a results directory")
    p.add_argument("results_dir")
    p.add_argument("--out", help="where to write (default: RESULTS_DIR/report)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as error:
        print(f"token-gym: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        from agents.bench.config import ConfigError
        from agents.bench.results import DirectoryLocked

        if isinstance(error, ConfigError | DirectoryLocked):
            print(f"token-gym: error: {error}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
