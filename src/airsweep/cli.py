"""The ``airsweep`` command: run the native cluster and its components."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

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
    executable = Path(sys.executable).parent / comp.argv[0]
    program = str(executable) if executable.exists() else shutil.which(comp.argv[0], path=None)
    if program is None:
        raise SystemExit(f"airsweep: {comp.argv[0]!r} is not installed")
    os.execve(program, [program, *comp.argv[1:]], env)


def _cmd_up(args: argparse.Namespace, cfg: ClusterConfig) -> int:
    from airsweep.cluster.lifecycle import ClusterError, up

    try:
        up(cfg, timeout_s=args.timeout)
    except ClusterError as exc:
        print(f"airsweep up: {exc}", file=sys.stderr)
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``airsweep`` command."""
    parser = argparse.ArgumentParser(prog="airsweep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the native cluster and wait until it is healthy")
    p_up.add_argument("--timeout", type=float, default=300, help="seconds to wait for health")
    sub.add_parser("down", help="stop every component; keep data")
    sub.add_parser("status", help="show each component's state (exit 1 unless all healthy)")
    p_clean = sub.add_parser("clean", help="stop the cluster and delete its state directory")
    p_clean.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p_comp = sub.add_parser("component", help="run one component in the foreground")
    p_comp.add_argument("name", help="api-server, scheduler, worker-cpu, ...")
    p_comp.add_argument("--env-file", help="load this env file first")
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
    handlers = {"up": _cmd_up, "down": _cmd_down, "status": _cmd_status, "clean": _cmd_clean}
    return handlers[args.command](args, cfg)
