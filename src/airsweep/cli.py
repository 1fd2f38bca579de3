"""The ``airsweep`` command: run the native cluster and its components."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airsweep.cluster.config import ClusterConfig, ClusterConfigError


def find_root(start: Path | None = None) -> Path:
    """Locate the airsweep checkout: ``AIRSWEEP_ROOT`` or the nearest parent with ``dags/``.

    Raises:
        SystemExit: No checkout was found.
    """
    if os.environ.get("AIRSWEEP_ROOT"):
        return Path(os.environ["AIRSWEEP_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in [here, *here.parents]:
        if (candidate / "airflow" / "airflow.env").is_file() and (candidate / "dags").is_dir():
            return candidate
    raise SystemExit("airsweep: run this inside the airsweep checkout or set AIRSWEEP_ROOT to it")


def _cmd_component(args: argparse.Namespace) -> int:
    from airsweep.cluster.components import component
    from airsweep.envfile import read_env_file

    env = dict(os.environ)
    if args.env_file:
        env.update(read_env_file(Path(args.env_file)))
    comp = component(args.name, env)
    if comp.worker_kind:
        return _run_worker(comp.argv, env, comp.worker_kind)
    executable = Path(sys.executable).parent / comp.argv[0]
    program = str(executable) if executable.exists() else shutil.which(comp.argv[0], path=None)
    if program is None:
        raise SystemExit(f"airsweep: {comp.argv[0]!r} is not installed")
    os.execve(program, [program, *comp.argv[1:]], env)


def _run_worker(argv: tuple[str, ...], env: dict[str, str], kind: str) -> int:
    """Run a Celery worker in this process, with the trial code imported first.

    Celery's prefork pool forks its children from this process, and each
    Airflow task process is forked from a child, so every task (a trial runner,
    or on the control worker setup, plan and finalize) starts with
    scikit-learn, pandas, Optuna and airsweep imported and Optuna's storage
    code initialized (about 12 s per task on a small host otherwise;
    docs/benchmarks.md). The worker also announces whether it has a usable
    CUDA device (:func:`announce_cuda`), and tells its runners when it begins
    to shut down (:mod:`airsweep.shutdown`).
    """
    from airsweep.shutdown import prepare_stop_file

    os.environ.update(env)
    announce_cuda(kind)
    prepare_stop_file()  # runners hand their budget back when the worker shuts down
    importlib.import_module("airsweep.pipeline").warm_up()  # for the forked task processes
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *argv[1:]]
    airflow_main()
    return 0


def announce_cuda(kind: str) -> Callable[..., None]:
    """Make the Celery worker about to start announce its CUDA device in its settings.

    A gpu worker probes CUDA once, in a child process
    (:func:`airsweep.workers.cuda_announcement`); a cpu or control worker
    announces ``False`` without probing. A ``celeryd_init`` handler then adds
    ``airsweep_cuda`` and ``airsweep_cuda_reason`` to the worker's settings,
    which ``inspect().conf()`` returns (:func:`airsweep.workers.inspect_workers`).

    Args:
        kind: ``control``, ``cpu`` or ``gpu``.

    Returns:
        The connected handler (``celeryd_init.disconnect`` it to undo).
    """
    from celery import signals

    from airsweep.workers import CUDA_KEY, CUDA_REASON_KEY, cuda_announcement

    announced = cuda_announcement(kind)
    if kind == "gpu":
        state = "usable" if announced[CUDA_KEY] else f"not usable: {announced[CUDA_REASON_KEY]}"
        print(f"airsweep: CUDA {state}", file=sys.stderr, flush=True)

    def _announce(conf: Any = None, **kwargs: Any) -> None:
        conf.update(announced)

    signals.celeryd_init.connect(_announce, weak=False)
    return _announce


def _cmd_up(args: argparse.Namespace, cfg: ClusterConfig) -> int:
    from airsweep.cluster.lifecycle import ClusterError, up

    try:
        up(cfg, timeout_s=args.timeout)
    except ClusterError as exc:
        print(f"airsweep up: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_scale(args: argparse.Namespace, cfg: ClusterConfig) -> int:
    from airsweep.cluster.lifecycle import ClusterError, scale

    if os.environ.get("AIRSWEEP_CPU_WORKERS"):
        print("airsweep scale: unset AIRSWEEP_CPU_WORKERS; it overrides the scale", file=sys.stderr)
        return 2
    try:
        scale(cfg, args.cpu_workers, timeout_s=args.timeout)
    except ClusterError as exc:
        print(f"airsweep scale: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_down(args: argparse.Namespace, cfg: ClusterConfig) -> int:
    from airsweep.cluster.lifecycle import down

    down(cfg)
    return 0


def _cmd_status(args: argparse.Namespace, cfg: ClusterConfig) -> int:
    from airsweep.cluster.lifecycle import status

    healthy, table = status(cfg)
    print(table)
    return 0 if healthy else 1


def _cmd_clean(args: argparse.Namespace, cfg: ClusterConfig) -> int:
    from airsweep.cluster.lifecycle import clean

    if not args.yes:
        if not sys.stdin.isatty():
            print(f"airsweep clean: refusing to delete {cfg.home} without --yes", file=sys.stderr)
            return 2
        answer = input(f"Delete {cfg.home} (database, models, logs)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    clean(cfg)
    return 0


def _cmd_init_compose(args: argparse.Namespace, cfg: ClusterConfig) -> int:
    from airsweep.compose import ComposeEnvExistsError, init_compose

    try:
        path = init_compose(cfg.root, force=args.force)
    except ComposeEnvExistsError as exc:
        print(f"airsweep init-compose: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} (mode 0600); next: docker compose up -d")
    return 0


def _cmd_bootstrap(args: argparse.Namespace, cfg: ClusterConfig) -> int:
    from airsweep.cluster.bootstrap import BootstrapError, bootstrap

    try:
        bootstrap(cfg.root, os.environ)
    except BootstrapError as exc:
        print(f"airsweep bootstrap: {exc}", file=sys.stderr)
        return 1
    return 0


def _sweep_conf(args: argparse.Namespace) -> dict:
    try:
        conf = json.loads(args.conf) if args.conf else {}
    except json.JSONDecodeError as exc:
        raise SystemExit(f"airsweep sweep: --conf is not valid JSON: {exc}") from None
    if not isinstance(conf, dict):
        raise SystemExit("airsweep sweep: --conf must be a JSON object")
    flags = {"dataset": args.dataset, "target": args.target, "metric": args.metric}
    flags["n_trials"] = args.n_trials
    flags["models"] = args.models.split(",") if args.models else None
    conf.update({key: value for key, value in flags.items() if value is not None})
    return conf


def _cmd_sweep(args: argparse.Namespace, cfg: ClusterConfig) -> int:
    from airsweep.client import AirflowAPIError
    from airsweep.cluster.lifecycle import admin_client, env_file
    from airsweep.config import PARAM_SCHEMAS
    from airsweep.envfile import read_env_file
    from airsweep.follow import failure_report, final_report, follow_sweep, trigger_sweep

    conf = _sweep_conf(args)
    client = admin_client(cfg)
    try:
        run_id = trigger_sweep(client, conf)
    except AirflowAPIError as exc:
        print(f"airsweep sweep: rejected: {exc.message.splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"triggered hpo_sweep run {run_id}")
    print(f"  watch it: {cfg.api_url}/dags/hpo_sweep/runs/{run_id}")
    if args.no_wait:
        return 0
    storage = read_env_file(env_file(cfg))["AIRSWEEP_OPTUNA_STORAGE"]
    n_trials = conf.get("n_trials", PARAM_SCHEMAS["n_trials"]["default"])
    run = follow_sweep(client, run_id, storage, n_trials, timeout_s=args.timeout)
    if run["state"] != "success":
        print(f"sweep {run_id} failed:\n{failure_report(client, run_id)}", file=sys.stderr)
        return 1
    print(final_report(client, run_id))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``airsweep`` command."""
    parser = argparse.ArgumentParser(prog="airsweep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the native cluster and wait until it is healthy")
    p_up.add_argument("--timeout", type=float, default=300, help="seconds to wait for health")
    sub.add_parser("down", help="stop every component; keep data")
    p_scale = sub.add_parser("scale", help="set the number of cpu workers; pools follow")
    p_scale.add_argument("--cpu-workers", type=int, required=True, help="workers on the cpu queue")
    p_scale.add_argument("--timeout", type=float, default=300, help="seconds to wait for health")
    sub.add_parser("status", help="show each component's state (exit 1 unless all healthy)")
    p_clean = sub.add_parser("clean", help="stop the cluster and delete its state directory")
    p_clean.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p_comp = sub.add_parser("component", help="run one component in the foreground")
    p_comp.add_argument("name", help="api-server, scheduler, worker-cpu, ...")
    p_comp.add_argument("--env-file", help="load this env file first")
    p_init = sub.add_parser("init-compose", help="write .env with fresh secrets for compose")
    p_init.add_argument("--force", action="store_true", help="add missing values to .env")
    sub.add_parser("bootstrap", help="create databases, schema and pools (compose airflow-init)")
    p_sweep = sub.add_parser("sweep", help="trigger an hpo_sweep run and follow it to the end")
    p_sweep.add_argument("--dataset", help="builtin name, 'synthetic', or a CSV/Parquet path/URI")
    p_sweep.add_argument("--target", help="target column of a file dataset")
    p_sweep.add_argument("--models", help="comma-separated model families")
    p_sweep.add_argument("--n-trials", type=int, help="number of trials")
    p_sweep.add_argument("--metric", help="metric to optimize (default: auto)")
    p_sweep.add_argument("--conf", help="JSON object of any other params (docs/sweeps.md)")
    p_sweep.add_argument("--no-wait", action="store_true", help="trigger and return")
    p_sweep.add_argument("--timeout", type=float, default=3600, help="seconds to follow")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``airsweep`` command; return its exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "component":
        return _cmd_component(args)
    try:
        cfg = ClusterConfig.from_env(find_root())
    except ClusterConfigError as exc:
        print(f"airsweep: {exc}", file=sys.stderr)
        return 2
    handlers = {
        "up": _cmd_up,
        "down": _cmd_down,
        "scale": _cmd_scale,
        "status": _cmd_status,
        "clean": _cmd_clean,
        "init-compose": _cmd_init_compose,
        "bootstrap": _cmd_bootstrap,
        "sweep": _cmd_sweep,
    }
    return handlers[args.command](args, cfg)
