"""``airsweep models ...``: the model registry (every sweep's model, a champion per dataset).

The registry is in the study database (:mod:`airsweep.registry`): a remote
cluster needs ``AIRSWEEP_OPTUNA_STORAGE``. A new subcommand is one more
``commands.add_parser`` in :func:`add_commands`.
"""

from __future__ import annotations

import argparse
from typing import Any

from airsweep.cli.context import Connection, add_client_options, connect
from airsweep.cli.output import CLIError, ExitCode, print_json
from airsweep.console import table


def open_registry(conn: Connection, command: str) -> Any:
    """The cluster's model registry (:class:`airsweep.registry.ModelRegistry`)."""
    from airsweep.artifacts import ArtifactStore
    from airsweep.registry import ModelRegistry
    from airsweep.settings import get_settings

    store = ArtifactStore(conn.artifact_uri or get_settings().artifact_uri)
    return ModelRegistry(conn.require_storage(command), store)


def _cmd_list(args: argparse.Namespace) -> int:
    registry = open_registry(connect(args), "models list")
    champions = {c["run_key"]: c for c in registry.champions()}
    models = list(champions.values()) if args.champions else registry.list_models()[::-1]
    for model in models:
        model["champion"] = model["run_key"] in champions
    if args.json:
        print_json({"models": models})
        return ExitCode.OK
    if not models:
        print("no models registered yet: every successful sweep registers its best model")
        return ExitCode.OK
    print(
        table(
            ("run key", "model", "dataset", "metric", "test", "cv", "champion", "registered"),
            (
                (
                    m["run_key"],
                    m["model"],
                    m["dataset_name"],
                    m["metric"],
                    m["test_score"],
                    m["cv_score"],
                    "yes" if m["champion"] else "",
                    m["registered_at"][:19].replace("T", " "),
                )
                for m in models
            ),
        )
    )
    return ExitCode.OK


def _cmd_show(args: argparse.Namespace) -> int:
    registry = open_registry(connect(args), "models show")
    try:
        entry = registry.get(args.run_key)
    except KeyError:
        raise CLIError(
            f"no registered model for run {args.run_key!r} (see `airsweep models list`)",
            ExitCode.NOT_FOUND,
        ) from None
    champion = registry.champion(entry["fingerprint"], entry["metric"])
    entry["champion"] = champion is not None and champion["run_key"] == entry["run_key"]
    entry["champion_run_key"] = champion["run_key"] if champion else None
    if args.json:
        print_json(entry)
        return ExitCode.OK
    width = max(len(key) for key in entry)
    for key, value in entry.items():
        print(f"{key:<{width}} : {value}")
    return ExitCode.OK


def _cmd_families(args: argparse.Namespace) -> int:
    from airsweep.models.listing import family_rows, format_families
    from airsweep.models.registry import loaded_families

    rows, errors = family_rows(), [str(error) for error in loaded_families().errors]
    if args.json:
        print_json({"families": rows, "plugin_errors": errors})
    else:
        print(format_families(rows, errors))
    return ExitCode.OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``models`` and its subcommands to the ``airsweep`` parser's subcommands."""
    group = sub.add_parser("models", help="the model registry: every sweep's model, champions")
    commands = group.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")
    listing = commands.add_parser("list", help="registered models, newest first")
    listing.add_argument(
        "--champions", action="store_true", help="only the champion of each dataset and metric"
    )
    add_client_options(listing)
    listing.set_defaults(func=_cmd_list)
    show = commands.add_parser("show", help="one registered model (by its sweep's run id)")
    show.add_argument("run_key", metavar="RUN_ID", help="the run id of the sweep that made it")
    add_client_options(show)
    show.set_defaults(func=_cmd_show)
    families = commands.add_parser(
        "families", help="model families a sweep can use (built-in and plugins), with their spaces"
    )
    families.add_argument("--json", action="store_true", help="print JSON for scripts")
    families.set_defaults(func=_cmd_families)
