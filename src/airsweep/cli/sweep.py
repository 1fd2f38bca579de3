"""``airsweep sweep ...``: start sweeps and look at them.

``airsweep sweep [options]`` without a subcommand is ``airsweep sweep start
[options]`` (the command before subcommands existed; the Makefile, README and
tests use it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from airsweep.cli.context import Connection, add_client_options, connect
from airsweep.cli.output import CLIError, ExitCode, duration, first_line, print_json
from airsweep.client import AirflowAPIError
from airsweep.console import cell, table

#: The ``sweep`` subcommands, filled by :func:`add_commands`; another first word after
#: ``sweep`` means ``start``.
SUBCOMMANDS: list[str] = []


def start_by_default(argv: list[str] | None) -> list[str]:
    """Insert ``start`` after ``sweep`` when no subcommand follows it.

    ``airsweep sweep --dataset wine`` becomes ``airsweep sweep start --dataset
    wine``; ``airsweep sweep -h`` still shows the group's help.

    Args:
        argv: The arguments (default ``sys.argv[1:]``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sweep"] and (
        len(args) == 1 or (args[1] not in SUBCOMMANDS and args[1] not in ("-h", "--help"))
    ):
        args.insert(1, "start")
    return args


def sweep_conf(args: argparse.Namespace) -> dict:
    """The sweep's params: ``--conf`` updated by the flags that were given.

    Raises:
        CLIError: ``--conf`` is not a JSON object (exit code 2).
    """
    try:
        conf = json.loads(args.conf) if args.conf else {}
    except json.JSONDecodeError as exc:
        raise CLIError(f"--conf is not valid JSON: {exc}", ExitCode.USAGE) from None
    if not isinstance(conf, dict):
        raise CLIError("--conf must be a JSON object", ExitCode.USAGE)
    flags = {"dataset": args.dataset, "target": args.target, "metric": args.metric}
    flags["n_trials"] = args.n_trials
    flags["models"] = args.models.split(",") if args.models else None
    conf.update({key: value for key, value in flags.items() if value is not None})
    return conf


def _storage(conn: Connection, command: str) -> Any:
    """One storage for the whole command (each ``load_study`` on a URL opens a new engine)."""
    import optuna

    return optuna.storages.RDBStorage(conn.require_storage(command))


def _status(conn: Connection, run_id: str, command: str) -> dict[str, Any]:
    """The sweep's document (an unknown run id is HTTP 404: exit code 4)."""
    from airsweep.sweep_status import sweep_status

    return sweep_status(conn.client(), _storage(conn, command), run_id)


def _watch(conn: Connection, run_id: str, args: argparse.Namespace) -> int:
    from airsweep.cli.watch import make_view, report_end, watch_sweep

    status = watch_sweep(
        conn.client(),
        _storage(conn, "sweep watch"),
        run_id,
        make_view(args.json),
        timeout_s=args.timeout,
    )
    return report_end(status, args.json)


def _cmd_start(args: argparse.Namespace) -> int:
    from airsweep.follow import trigger_sweep

    conf = sweep_conf(args)
    conn = connect(args)
    if not args.no_wait:  # before triggering: watching needs the study
        conn.require_storage("sweep start")
    try:
        run_id = trigger_sweep(conn.client(), conf)
    except AirflowAPIError as exc:
        if exc.status != 400:
            raise
        raise CLIError(f"rejected: {first_line(exc.message)}", ExitCode.USAGE) from exc
    url = f"{conn.api_url}/dags/hpo_sweep/runs/{run_id}"
    if args.json:
        print_json({"event": "triggered", "run_id": run_id, "url": url})
    else:
        print(f"triggered hpo_sweep run {run_id}")
        print(f"  watch it: {url}")
    if args.no_wait:
        return ExitCode.OK
    return _watch(conn, run_id, args)


def _cmd_watch(args: argparse.Namespace) -> int:
    return _watch(connect(args), args.run_id, args)


def _cmd_list(args: argparse.Namespace) -> int:
    from airsweep.sweep_status import list_sweeps, study_counts

    conn = connect(args)
    rows = list_sweeps(conn.client(), limit=args.limit, state=args.state)
    counts = study_counts(conn.storage) if conn.storage else {}
    for row in rows:
        row.update(counts.get(row["run_id"], {"trials": None, "best_value": None}))
    if args.json:
        print_json({"sweeps": rows})
        return ExitCode.OK
    if not rows:
        print("no sweeps yet: start one with `airsweep sweep start --dataset iris`")
        return ExitCode.OK
    print(
        table(
            ("run id", "state", "started", "took", "dataset", "models", "trials", "best"),
            (
                (
                    row["run_id"],
                    "cancelled" if row["cancelled"] else row["state"],
                    (row["start_date"] or "-")[:19].replace("T", " "),
                    duration(row["duration_s"]),
                    row["dataset"],
                    ",".join(row["models"]),
                    row["trials"],
                    row["best_value"],
                )
                for row in rows
            ),
        )
    )
    return ExitCode.OK


def show_text(status: dict[str, Any]) -> str:
    """The text of ``airsweep sweep show``: the run, then its result, progress or failure."""
    from airsweep.follow import format_failures, format_summary, progress_line

    prog, timing = status["progress"], status["timing"] or {}
    state = "cancelled" if status["cancelled"] else status["state"]
    lines = [
        f"Sweep      : {status['run_id']}",
        f"State      : {state}",
        f"Dataset    : {status['dataset']}  models {', '.join(status['models'])}  "
        f"metric {status['metric']}  n_trials {status['n_trials']}",
        f"Started    : {status['start_date'] or '-'}",
        f"Took       : {duration(status['duration_s'])} (DAG run); trials "
        f"{duration(timing.get('wall_seconds'))} from the first start to the last end",
    ]
    if status["summary"]:
        from airsweep.cli.watch import params_text

        lines.append(f"Best params: {params_text(status['best_params']) or '-'}")
        return "\n".join(lines) + "\n" + format_summary(status["summary"])
    if prog is not None:
        eta = duration(status["eta_s"]) if status["eta_s"] is not None else None
        lines.append("Progress   : " + progress_line(0, state, prog, eta).split("] ", 1)[1])
    if status["stop_reason"]:
        lines.append(f"Stopped    : {status['stop_reason']}")
    if status["state"] == "failed" and not status["cancelled"]:
        lines += ["Failed tasks:", format_failures(status["failed_tasks"])]
    return "\n".join(lines)


def _cmd_show(args: argparse.Namespace) -> int:
    status = _status(connect(args), args.run_id, "sweep show")
    if args.json:
        print_json(status)
    else:
        print(show_text(status))
    return ExitCode.OK


#: Rows of ``airsweep sweep compare``: label -> how to read it from a sweep's document.
COMPARE_ROWS: dict[str, Any] = {
    "state": lambda s: "cancelled" if s["cancelled"] else s["state"],
    "dataset": lambda s: s["dataset"],
    "models": lambda s: ",".join(s["models"]),
    "metric": lambda s: s["metric"],
    "n_trials": lambda s: s["n_trials"],
    "trials": lambda s: _trials_text(s["progress"]),
    "best model": lambda s: (
        (s["summary"] or {}).get("model") or (s["progress"] or {}).get("best_model")
    ),
    "CV score": lambda s: (
        (s["summary"] or {}).get("cv_score") or (s["progress"] or {}).get("best_value")
    ),
    "test score": lambda s: (s["summary"] or {}).get("test_score"),
    "champion": lambda s: (s["summary"] or {}).get("promoted"),
    "took": lambda s: duration(s["duration_s"]),
    "stopped": lambda s: s["stop_reason"],
    "best params": lambda s: _params(s["best_params"]),
}


def _trials_text(prog: dict[str, Any] | None) -> str | None:
    if prog is None:
        return None
    return ", ".join(f"{k} {v}" for k, v in prog["by_state"].items()) or "none"


def _params(params: dict[str, Any] | None) -> str | None:
    from airsweep.cli.watch import params_text

    return params_text(params) or None


def compare_text(statuses: list[dict[str, Any]]) -> str:
    """``airsweep sweep compare``'s table: one row per field, one column per sweep."""
    header = ("", *(f"[{i + 1}] {s['run_id']}" for i, s in enumerate(statuses)))
    rows = [(label, *(cell(read(s)) for s in statuses)) for label, read in COMPARE_ROWS.items()]
    return table(header, rows)


def _cmd_compare(args: argparse.Namespace) -> int:
    conn = connect(args)
    statuses = [_status(conn, run_id, "sweep compare") for run_id in args.run_ids]
    if args.json:
        print_json({"sweeps": statuses})
    else:
        print(compare_text(statuses))
    return ExitCode.OK


def _cmd_cancel(args: argparse.Namespace) -> int:
    from airsweep.cancel import end_run, fail_running_trials, stop_taking_trials

    conn = connect(args)
    storage = conn.require_storage("sweep cancel")
    client = conn.client()
    state = client.dag_run("hpo_sweep", args.run_id)["state"]
    if state == "success":
        raise CLIError(f"sweep {args.run_id} already succeeded; nothing to cancel")
    say = (lambda line: None) if args.json else print
    if state != "failed":  # a failed one may only have trials left RUNNING
        stop_taking_trials(storage, args.run_id)
        end_run(client, args.run_id)
        say(f"sweep {args.run_id}: run set to failed; Airflow kills its runners")
    lost, running = fail_running_trials(storage, args.run_id, args.timeout, say)
    if state == "failed" and not lost and not running:
        raise CLIError(f"sweep {args.run_id} already failed; nothing to cancel")
    document = {"run_id": args.run_id, "was": state, "failed_as_lost": lost, "running": running}
    if args.json:
        print_json(document)
    else:
        print(f"  trials failed as lost: {len(lost)}; still running: {len(running)}")
    if running:
        raise CLIError(
            f"trials {running} still running after {args.timeout:.0f}s; "
            f"cancel again to fail them once their runners are gone"
        )
    return ExitCode.OK


def _cmd_report(args: argparse.Namespace) -> int:
    from airsweep.artifacts import ArtifactStore
    from airsweep.settings import Settings
    from airsweep.sweep_report import write_run_report

    conn = connect(args)
    if not conn.artifact_uri:
        raise CLIError(
            "sweep report writes to the artifact store: set AIRSWEEP_ARTIFACT_URI", ExitCode.USAGE
        )
    settings = Settings.from_env(
        {
            "AIRSWEEP_OPTUNA_STORAGE": conn.require_storage("sweep report"),
            "AIRSWEEP_ARTIFACT_URI": conn.artifact_uri,
            "AIRSWEEP_PROMETHEUS_URL": conn.prometheus_url,
        }
    )
    try:
        uri = write_run_report(args.run_id, settings)
    except KeyError:
        raise CLIError(
            f"no sweep {args.run_id!r} with a study (unknown run id, or its setup has not run)",
            ExitCode.NOT_FOUND,
        ) from None
    path = ArtifactStore(settings.artifact_uri).local_path(uri)
    if args.json:
        print_json({"run_id": args.run_id, "report_uri": uri, "path": path})
    else:
        print(path or uri)
    return ExitCode.OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``sweep`` and its subcommands to the ``airsweep`` parser's subcommands.

    Each subcommand sets ``func``; a new one is one more ``commands.add_parser`` here.
    """
    group = sub.add_parser(
        "sweep",
        help="start, watch, list, show, compare, cancel and report sweeps",
        description="Sweeps are runs of the hpo_sweep DAG. `airsweep sweep [options]` "
        "without a subcommand is `airsweep sweep start [options]`.",
    )
    commands = group.add_subparsers(dest="sweep_command", required=True, metavar="SUBCOMMAND")

    start = commands.add_parser("start", help="trigger an hpo_sweep run and watch it to the end")
    start.add_argument("--dataset", help="builtin name, 'synthetic', or a CSV/Parquet path/URI")
    start.add_argument("--target", help="target column of a file dataset")
    start.add_argument("--models", help="comma-separated model families")
    start.add_argument("--n-trials", type=int, help="number of trials")
    start.add_argument("--metric", help="metric to optimize (default: auto)")
    start.add_argument("--conf", help="JSON object of any other params (docs/sweeps.md)")
    start.add_argument("--no-wait", action="store_true", help="trigger and return (no watching)")
    _watch_options(start)
    start.set_defaults(func=_cmd_start)

    watch = commands.add_parser("watch", help="live progress until the sweep ends (exit: state)")
    watch.add_argument("run_id", help="the sweep's run id")
    _watch_options(watch)
    watch.set_defaults(func=_cmd_watch)

    listing = commands.add_parser("list", help="the latest sweeps, newest first")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (20)")
    listing.add_argument(
        "--state", choices=("queued", "running", "success", "failed"), help="only this state"
    )
    add_client_options(listing)
    listing.set_defaults(func=_cmd_list)

    show = commands.add_parser("show", help="one sweep: leaderboard, best model, timings, why")
    show.add_argument("run_id", help="the sweep's run id")
    add_client_options(show)
    show.set_defaults(func=_cmd_show)

    compare = commands.add_parser("compare", help="sweeps side by side")
    compare.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="two or more run ids")
    add_client_options(compare)
    compare.set_defaults(func=_cmd_compare)

    cancel = commands.add_parser(
        "cancel", help="stop a sweep: no new trials, runners killed, running trials failed as lost"
    )
    cancel.add_argument("run_id", help="the sweep's run id")
    cancel.add_argument(
        "--timeout", type=float, default=120, help="seconds to wait for running trials (120)"
    )
    add_client_options(cancel)
    cancel.set_defaults(func=_cmd_cancel)

    report = commands.add_parser(
        "report", help="write the sweep's HTML report now (running or not); print its path"
    )
    report.add_argument("run_id", help="the sweep's run id")
    add_client_options(report)
    report.set_defaults(func=_cmd_report)
    SUBCOMMANDS[:] = list(commands.choices)


def _watch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds to watch (3600; exit 5 after)"
    )
    add_client_options(parser)
