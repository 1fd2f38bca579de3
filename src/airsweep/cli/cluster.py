"""``airsweep up|down|scale|status|clean|component|init-compose|bootstrap``: the native cluster."""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airsweep.cli.output import CLIError, ExitCode
from airsweep.cluster.config import ClusterConfig, find_root


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
        raise CLIError(f"{comp.argv[0]!r} is not installed")
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


def cluster_config() -> ClusterConfig:
    """The native cluster's settings: the checkout (:func:`find_root`) and the environment."""
    return ClusterConfig.from_env(find_root())


def _cmd_up(args: argparse.Namespace) -> int:
    from airsweep.cluster.lifecycle import ClusterError, up

    try:
        up(cluster_config(), timeout_s=args.timeout)
    except ClusterError as exc:
        raise CLIError(f"up: {exc}") from exc
    return ExitCode.OK


def _cmd_scale(args: argparse.Namespace) -> int:
    from airsweep.cluster.lifecycle import ClusterError, scale

    if os.environ.get("AIRSWEEP_CPU_WORKERS"):
        raise CLIError("scale: unset AIRSWEEP_CPU_WORKERS; it overrides the scale", ExitCode.USAGE)
    try:
        scale(cluster_config(), args.cpu_workers, timeout_s=args.timeout)
    except ClusterError as exc:
        raise CLIError(f"scale: {exc}") from exc
    return ExitCode.OK


def _cmd_down(args: argparse.Namespace) -> int:
    from airsweep.cluster.lifecycle import down

    down(cluster_config())
    return ExitCode.OK


def _cmd_status(args: argparse.Namespace) -> int:
    from airsweep.cluster.lifecycle import status

    healthy, report = status(cluster_config())
    print(report)
    return ExitCode.OK if healthy else ExitCode.FAILED


def _cmd_clean(args: argparse.Namespace) -> int:
    from airsweep.cluster.lifecycle import clean

    cfg = cluster_config()
    if not args.yes:
        if not sys.stdin.isatty():
            raise CLIError(f"clean: refusing to delete {cfg.home} without --yes", ExitCode.USAGE)
        answer = input(f"Delete {cfg.home} (database, models, logs)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return ExitCode.FAILED
    clean(cfg)
    return ExitCode.OK


def _cmd_init_compose(args: argparse.Namespace) -> int:
    from airsweep.compose import ComposeEnvExistsError, init_compose

    try:
        path = init_compose(cluster_config().root, force=args.force)
    except ComposeEnvExistsError as exc:
        raise CLIError(f"init-compose: {exc}") from exc
    print(f"wrote {path} (mode 0600); next: docker compose up -d")
    return ExitCode.OK


def _cmd_bootstrap(args: argparse.Namespace) -> int:
    from airsweep.cluster.bootstrap import BootstrapError, bootstrap

    try:
        bootstrap(cluster_config().root, os.environ)
    except BootstrapError as exc:
        raise CLIError(f"bootstrap: {exc}") from exc
    return ExitCode.OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the cluster commands to the ``airsweep`` parser's subcommands."""
    p_up = sub.add_parser("up", help="start the native cluster and wait until it is healthy")
    p_up.add_argument("--timeout", type=float, default=300, help="seconds to wait for health")
    p_up.set_defaults(func=_cmd_up)
    sub.add_parser("down", help="stop every component; keep data").set_defaults(func=_cmd_down)
    p_scale = sub.add_parser("scale", help="set the number of cpu workers; pools follow")
    p_scale.add_argument("--cpu-workers", type=int, required=True, help="workers on the cpu queue")
    p_scale.add_argument("--timeout", type=float, default=300, help="seconds to wait for health")
    p_scale.set_defaults(func=_cmd_scale)
    sub.add_parser(
        "status", help="show each component's state (exit 1 unless all healthy)"
    ).set_defaults(func=_cmd_status)
    p_clean = sub.add_parser("clean", help="stop the cluster and delete its state directory")
    p_clean.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p_clean.set_defaults(func=_cmd_clean)
    p_comp = sub.add_parser("component", help="run one component in the foreground")
    p_comp.add_argument("name", help="api-server, scheduler, worker-cpu, ...")
    p_comp.add_argument("--env-file", help="load this env file first")
    p_comp.set_defaults(func=_cmd_component)
    p_init = sub.add_parser("init-compose", help="write .env with fresh secrets for compose")
    p_init.add_argument("--force", action="store_true", help="add missing values to .env")
    p_init.set_defaults(func=_cmd_init_compose)
    sub.add_parser(
        "bootstrap", help="create databases, schema and pools (compose airflow-init)"
    ).set_defaults(func=_cmd_bootstrap)
