"""The ``airsweep`` command: the native cluster, sweeps, models and workers.

One module per command group (:mod:`.cluster`, :mod:`.sweep`, :mod:`.models`,
:mod:`.workers`), each with an ``add_commands`` that adds its subcommands and
sets ``func`` to the handler; :mod:`.output` holds the exit codes and the
one-line errors, :mod:`.context` how a command finds the cluster. Exit codes
and every command: docs/cli.md.
"""

from __future__ import annotations

import argparse

from airsweep.cli import cluster, models, sweep, workers
from airsweep.cli.output import error_exit


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``airsweep`` command."""
    parser = argparse.ArgumentParser(
        prog="airsweep",
        description="Run the native cluster, start and watch sweeps, list models and workers.",
        epilog="Exit codes and examples: docs/cli.md",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (cluster, sweep, models, workers):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``airsweep`` command; return its exit code.

    Errors the user can act on (an unreachable cluster, an unknown run, a
    refused conf) are one line ``airsweep: ...`` on stderr and an exit code
    (:class:`airsweep.cli.output.ExitCode`); argparse's usage errors exit 2.
    """
    parser = build_parser()  # fills sweep.SUBCOMMANDS
    args = parser.parse_args(sweep.start_by_default(argv))
    try:
        return int(args.func(args))
    except (Exception, KeyboardInterrupt) as exc:
        return error_exit(exc)
