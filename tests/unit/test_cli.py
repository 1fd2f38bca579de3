"""The ``airsweep`` command without a cluster: parsing, exit codes, finding the cluster, views."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest

from airsweep.cli import build_parser, main, watch
from airsweep.cli.context import Connection
from airsweep.cli.output import CLIError, ExitCode, classify, duration, error_exit
from airsweep.cli.sweep import compare_text, show_text, start_by_default, sweep_conf
from airsweep.cli.watch import (
    JsonView,
    PlainView,
    TerminalView,
    bar,
    live_lines,
    params_text,
    report_end,
    watch_sweep,
)
from airsweep.cli.workers import queue_rows, worker_rows, workers_text
from airsweep.client import AirflowAPIError
from airsweep.cluster.config import ClusterConfigError, find_root
from airsweep.console import table
from airsweep.sweep_status import eta_seconds, is_cancelled, run_row
from airsweep.workers import LiveWorker, LiveWorkers

ROOT = Path(__file__).resolve().parents[2]


def status(**changes):
    """A sweep document as :func:`airsweep.sweep_status.sweep_status` returns it."""
    doc = {
        "run_id": "manual__1",
        "state": "running",
        "cancelled": False,
        "note": None,
        "start_date": "2026-11-30T10:00:00+00:00",
        "end_date": None,
        "duration_s": 42.0,
        "dataset": "iris",
        "models": ["logistic_regression", "xgboost"],
        "conf": {"dataset": "iris"},
        "n_trials": 8,
        "metric": "accuracy",
        "progress": {
            "total": 8,
            "done": 4,
            "by_state": {"complete": 3, "pruned": 1, "running": 2},
            "percent": 50.0,
            "budget_left": 2,
            "running_by_worker": {"cpu/worker-cpu": 2},
            "best_value": 0.9667,
            "best_trial": 2,
            "best_model": "xgboost",
        },
        "best_params": {"xgboost.max_depth": 3, "xgboost.learning_rate": 0.081234},
        "eta_s": 42.0,
        "stop_reason": None,
        "timing": {"wall_seconds": 30.0},
        "summary": None,
        "failed_tasks": [],
    }
    doc.update(changes)
    return doc


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["sweep", "--dataset", "iris"], ["sweep", "start", "--dataset", "iris"]),
        (["sweep"], ["sweep", "start"]),
        (["sweep", "list"], ["sweep", "list"]),
        (["sweep", "watch", "r1"], ["sweep", "watch", "r1"]),
        (["sweep", "--help"], ["sweep", "--help"]),
        (["up"], ["up"]),
    ],
)
def test_sweep_without_a_subcommand_is_start(argv, expected):
    build_parser()  # registers the sweep subcommands
    assert start_by_default(argv) == expected


def test_todays_sweep_command_parses_as_start_with_its_flags():
    parser = build_parser()
    args = parser.parse_args(
        start_by_default(["sweep", "--dataset", "wine", "--n-trials", "5", "--no-wait"])
    )
    assert (args.command, args.sweep_command) == ("sweep", "start")
    assert (args.dataset, args.n_trials, args.no_wait, args.json) == ("wine", 5, True, False)
    assert sweep_conf(args) == {"dataset": "wine", "n_trials": 5}


def test_every_command_that_talks_to_the_cluster_has_json_and_a_remote_url():
    parser = build_parser()
    for argv in (
        ["sweep", "start"],
        ["sweep", "watch", "r"],
        ["sweep", "list"],
        ["sweep", "show", "r"],
        ["sweep", "compare", "a", "b"],
        ["sweep", "cancel", "r"],
        ["models", "list"],
        ["models", "show", "r"],
        ["workers"],
    ):
        args = parser.parse_args([*argv, "--json", "--api-url", "http://h:1"])
        assert args.json and args.api_url == "http://h:1" and callable(args.func), argv


def test_the_conf_flag_must_be_a_json_object():
    parser = build_parser()
    for conf, message in (("[1]", "JSON object"), ("{", "not valid JSON")):
        args = parser.parse_args(["sweep", "start", "--conf", conf, "--models", "ridge"])
        with pytest.raises(CLIError, match=message) as info:
            sweep_conf(args)
        assert info.value.code == ExitCode.USAGE
    args = parser.parse_args(["sweep", "start", "--conf", '{"seed": 1}', "--models", "a,b"])
    assert sweep_conf(args) == {"seed": 1, "models": ["a", "b"]}


# --- errors and exit codes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (CLIError("no sweep", ExitCode.NOT_FOUND), ExitCode.NOT_FOUND, "no sweep"),
        (AirflowAPIError(404, "DagRun x was not found\nmore"), ExitCode.NOT_FOUND, "not found"),
        (AirflowAPIError(401, "bad"), ExitCode.UNREACHABLE, "refused the login"),
        (AirflowAPIError(500, "boom"), ExitCode.FAILED, "HTTP 500: boom"),
        (httpx.ConnectError("refused"), ExitCode.UNREACHABLE, "cannot reach the api-server"),
        (ClusterConfigError("AIRSWEEP_PORT_BASE: bad"), ExitCode.USAGE, "AIRSWEEP_PORT_BASE"),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "interrupted"),
    ],
)
def test_known_errors_map_to_documented_exit_codes_and_one_line(exc, code, words):
    found = classify(exc)
    assert found is not None and found[0] == code and words in found[1]
    stderr = io.StringIO()
    assert error_exit(exc, stderr) == code
    assert stderr.getvalue().count("\n") == 1 and stderr.getvalue().startswith("airsweep: ")


def test_unreachable_databases_and_brokers_exit_3():
    import redis
    import sqlalchemy.exc

    database = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("refused"))
    assert classify(database)[0] == ExitCode.UNREACHABLE
    assert classify(redis.ConnectionError("refused"))[0] == ExitCode.UNREACHABLE


def test_a_bug_keeps_its_traceback():
    assert classify(ZeroDivisionError()) is None
    with pytest.raises(ZeroDivisionError):
        error_exit(ZeroDivisionError())


def test_no_cluster_is_one_line_and_exit_3(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIRSWEEP_HOME", str(tmp_path))
    monkeypatch.delenv("AIRSWEEP_API_URL", raising=False)
    assert main(["sweep", "list"]) == ExitCode.UNREACHABLE
    err = capsys.readouterr().err
    assert err.startswith(f"airsweep: no cluster in {tmp_path}") and err.count("\n") == 1


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["sweep", "compare"])
    assert info.value.code == ExitCode.USAGE


# --- finding the cluster ----------------------------------------------------------------------


def test_a_local_cluster_is_read_from_its_state_dir(tmp_path):
    (tmp_path / "cluster.env").write_text(
        "AIRSWEEP_API_URL=http://127.0.0.1:38080\nAIRSWEEP_OPTUNA_STORAGE=postgresql://s\n"
        "AIRFLOW__CELERY__BROKER_URL=redis://b\nAIRSWEEP_ARTIFACT_URI=file:///a\n"
    )
    (tmp_path / "secrets.env").write_text("AIRSWEEP_ADMIN_PASSWORD=pw\n")
    conn = Connection.resolve(None, None, {"AIRSWEEP_HOME": str(tmp_path)})
    assert (conn.api_url, conn.username, conn.password) == ("http://127.0.0.1:38080", "admin", "pw")
    assert (conn.storage, conn.broker_url, conn.artifact_uri) == (
        "postgresql://s",
        "redis://b",
        "file:///a",
    )
    assert conn.require_storage("x") == "postgresql://s"


def test_without_airsweep_home_the_state_dir_is_the_checkouts(tmp_path):
    env = {"AIRSWEEP_ROOT": str(tmp_path)}
    with pytest.raises(CLIError, match=f"no cluster in {tmp_path / '.airsweep'}") as info:
        Connection.resolve(None, None, env)
    assert info.value.code == ExitCode.UNREACHABLE


def test_a_remote_cluster_comes_from_the_url_and_the_environment():
    env = {
        "AIRSWEEP_API_URL": "https://airflow.example/",
        "AIRSWEEP_USERNAME": "ana",
        "AIRSWEEP_PASSWORD": "pw",
    }
    conn = Connection.resolve(None, None, env)
    assert (conn.api_url, conn.username, conn.password) == ("https://airflow.example", "ana", "pw")
    assert Connection.resolve("http://other:8080", "bob", env).username == "bob"
    with pytest.raises(CLIError, match="AIRSWEEP_OPTUNA_STORAGE") as info:
        conn.require_storage("sweep show")
    assert info.value.code == ExitCode.USAGE
    with pytest.raises(CLIError, match="AIRFLOW__CELERY__BROKER_URL"):
        conn.require_broker("workers")
    with pytest.raises(CLIError, match="AIRSWEEP_PASSWORD"):
        Connection.resolve("http://h:1", None, {})


def test_the_checkout_is_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRSWEEP_ROOT", raising=False)
    assert find_root(tmp_path) == ROOT  # the checkout the package is installed from
    assert find_root(ROOT / "docs") == ROOT
    assert find_root(environ={"AIRSWEEP_ROOT": str(tmp_path)}) == tmp_path.resolve()


# --- sweep documents and views ---------------------------------------------------------------


def test_eta_is_the_rate_so_far():
    assert eta_seconds(4, 8, 40.0) == 40.0
    assert eta_seconds(0, 8, 40.0) is None
    assert eta_seconds(8, 8, 40.0) == 0.0


def test_a_cancelled_run_is_told_apart_by_its_note():
    run = {
        "dag_run_id": "r",
        "state": "failed",
        "note": "cancelled (airsweep sweep cancel)",
        "conf": {"models": ["ridge"]},
        "start_date": "2026-11-30T10:00:00+00:00",
        "end_date": "2026-11-30T10:01:05+00:00",
    }
    row = run_row(run)
    assert row["cancelled"] and row["duration_s"] == 65.0
    assert (row["dataset"], row["models"]) == ("breast_cancer", ["ridge"])  # the param default
    assert not is_cancelled({**run, "note": None})


def test_formatting_helpers():
    assert bar(3, 6, width=10) == "[#####.....]"
    assert bar(0, 0, width=4) == "[####]"
    assert duration(None) == "-" and duration(42.4) == "42s" and duration(60) == "1m00s"
    assert duration(185) == "3m05s"
    assert duration(7620) == "2h07m"
    assert params_text({"xgboost.max_depth": 3, "xgboost.eta": 0.081234}) == (
        "eta=0.08123, max_depth=3"
    )
    assert table(("a", "bb"), [(1.0, None)]) == "a       bb\n1.0000  -"


def test_the_terminal_view_shows_bar_eta_trials_best_params_and_runners():
    lines = live_lines(status())
    assert lines[0] == "manual__1  running  elapsed 42s"
    assert lines[1].startswith("[###############...............] 4/8 (50%)  eta 42s")
    assert "complete 3, pruned 1, running 2; left 2" in lines[2]
    assert "0.9667 (xgboost, trial 2)  learning_rate=0.08123, max_depth=3" in lines[3]
    assert lines[4] == "runners : cpu/worker-cpu 2"
    assert live_lines(status(progress=None))[1].startswith("preparing")


def test_the_terminal_view_redraws_its_lines_in_place():
    out = io.StringIO()
    view = TerminalView(out)
    view.update(status())
    first = out.getvalue()
    assert first.startswith("\x1b[J") and first.count("\n") == 5
    view.update(status(duration_s=50.0))
    assert out.getvalue()[len(first) :].startswith("\x1b[5F\x1b[J")  # up 5 lines, clear


def test_piped_output_is_plain_lines_printed_when_the_sweep_moves():
    out = io.StringIO()
    view = PlainView(out)
    view.update(status(progress=None, state="queued"))
    view.update(status())
    view.update(status(duration_s=50.0, eta_s=30.0))  # only the clock moved: nothing printed
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\x1b" not in out.getvalue()
    assert "preparing" in lines[0]
    assert lines[1].startswith("[   42s] running  trials 4/8") and lines[1].endswith("eta 42s")
    assert lines[2].strip() == "best trial 2 (xgboost): learning_rate=0.08123, max_depth=3"


def test_json_output_is_one_document_per_change():
    out = io.StringIO()
    view = JsonView(out)
    view.update(status())
    view.update(status(duration_s=60.0))
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(docs) == 1 and docs[0]["event"] == "progress" and docs[0]["run_id"] == "manual__1"


def test_watch_exits_with_the_sweeps_state(capsys):
    summary = {
        "leaderboard": [],
        "model": "xgboost",
        "metric": "accuracy",
        "cv_score": 0.97,
        "test_score": 0.96,
        "trials": {"complete": 8},
        "model_uri": "file:///m",
        "card_uri": "file:///c",
        "promoted": True,
    }
    assert report_end(status(state="success", summary=summary), False) == ExitCode.OK
    assert "Best model : xgboost" in capsys.readouterr().out
    failed = status(state="failed", failed_tasks=[{"task": "setup", "error": "E: bad"}])
    assert report_end(failed, False) == ExitCode.FAILED
    assert "setup: E: bad" in capsys.readouterr().err
    assert report_end(failed, True) == ExitCode.FAILED
    assert json.loads(capsys.readouterr().out)["event"] == "finished"


def test_show_says_progress_for_a_running_sweep_and_errors_for_a_failed_one():
    text = show_text(status())
    assert "State      : running" in text and "trials 4/8" in text and "eta 42s" in text
    failed = show_text(
        status(state="failed", failed_tasks=[{"task": "cpu_trials[0]", "error": "E: x"}])
    )
    assert "Failed tasks:\n  cpu_trials[0]: E: x" in failed
    cancelled = show_text(status(state="failed", cancelled=True, stop_reason="cancelled (x)"))
    assert "State      : cancelled" in cancelled and "Stopped    : cancelled (x)" in cancelled


def test_compare_puts_sweeps_side_by_side():
    text = compare_text([status(), status(run_id="manual__2", n_trials=16, progress=None)])
    header, *rows = text.splitlines()
    assert "[1] manual__1" in header and "[2] manual__2" in header
    assert any(row.split()[:3] == ["n_trials", "8", "16"] for row in rows)
    assert any(row.startswith("CV score") and "0.9667" in row for row in rows)


# --- workers ---------------------------------------------------------------------------------


def test_workers_per_queue_add_slots_busy_waiting_gpu_and_pool():
    live = LiveWorkers(
        (
            LiveWorker("worker-control@h", "control", 3, False),
            LiveWorker("worker-cpu@h", "cpu", 2, False),
            LiveWorker("worker-cpu-2@h", "cpu", 2, False),
        )
    )
    workers = worker_rows(live, {"worker-cpu@h": 2, "worker-control@h": 1})
    assert workers[2] == {
        "name": "worker-cpu-2@h",
        "kind": "cpu",
        "queue": "cpu",
        "slots": 2,
        "busy": None,  # did not answer
        "cuda": False,
        "cuda_reason": None,
    }
    pool = {"name": "cpu_trials", "slots": 4, "running_slots": 2, "queued_slots": 1}
    rows = queue_rows(workers, {"default": 0, "cpu": 5, "gpu": 2}, {"cpu_trials": pool})
    by_queue = {row["queue"]: row for row in rows}
    assert by_queue["cpu"] == {
        "queue": "cpu",
        "kind": "cpu",
        "workers": ["worker-cpu@h", "worker-cpu-2@h"],
        "slots": 4,
        "busy": 2,
        "waiting": 5,
        "gpu": False,
        "pool": {"name": "cpu_trials", "slots": 4, "running": 2, "queued": 1},
    }
    assert by_queue["gpu"]["workers"] == [] and by_queue["default"]["pool"] is None
    text = workers_text(rows, workers)
    assert "cpu_trials 2/4" in text and "3 (control)" in text


class _Statuses:
    """Stands in for :func:`airsweep.sweep_status.sweep_status`: returns, or raises, in turn."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)

    def __call__(self, client, storage, run_id):
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def test_watch_asks_again_when_the_api_server_is_busy_and_returns_the_end(monkeypatch):
    done = status(state="success")
    fake = _Statuses(httpx.ConnectError("x"), AirflowAPIError(503, "busy"), status(), done)
    monkeypatch.setattr(watch, "sweep_status", fake)
    out = io.StringIO()
    assert watch_sweep(None, None, "manual__1", PlainView(out), poll_s=0) is done
    assert "trials 4/8" in out.getvalue()


def test_ctrl_c_stops_watching_not_the_sweep_and_a_timeout_exits_5(monkeypatch):
    monkeypatch.setattr(watch, "sweep_status", _Statuses(KeyboardInterrupt()))
    with pytest.raises(CLIError, match="the sweep goes on") as info:
        watch_sweep(None, None, "manual__1", PlainView(io.StringIO()), poll_s=0)
    assert info.value.code == ExitCode.INTERRUPTED
    monkeypatch.setattr(watch, "sweep_status", _Statuses(status()))
    with pytest.raises(CLIError, match="still running after 0s") as info:
        watch_sweep(None, None, "manual__1", PlainView(io.StringIO()), poll_s=0, timeout_s=0)
    assert info.value.code == ExitCode.TIMEOUT
    monkeypatch.setattr(watch, "sweep_status", _Statuses(AirflowAPIError(404, "no run")))
    with pytest.raises(AirflowAPIError):
        watch_sweep(None, None, "nope", PlainView(io.StringIO()), poll_s=0)
