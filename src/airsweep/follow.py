"""Trigger a sweep through the REST API and follow it to the end, as ``airsweep sweep`` does."""

from __future__ import annotations

import time
from typing import Any

import httpx
import optuna

from airsweep.client import AirflowAPIError, AirflowClient
from airsweep.console import Printer
from airsweep.report import format_leaderboard, progress
from airsweep.study import study_name_for

DAG_ID = "hpo_sweep"


def trigger_sweep(client: AirflowClient, conf: dict[str, Any]) -> str:
    """Trigger ``hpo_sweep`` with ``conf``; return the run id.

    Raises:
        AirflowAPIError: The API refused the conf (HTTP 400 names the param).
    """
    client.wait_for_dag(DAG_ID)
    return client.trigger(DAG_ID, conf)["dag_run_id"]


def progress_line(elapsed_s: float, state: str, prog: dict[str, Any] | None) -> str:
    """One line of progress: elapsed time, run state, trials by state, runners, best so far.

    Trials lost with their worker show as ``lost`` (they do not count); ``left``
    is the budget not yet taken; ``running on`` names each ``queue/worker``
    with its running trials.
    """
    if prog is None:
        return f"[{elapsed_s:5.0f}s] {state:<8} preparing (validate, data, study)"
    states = ", ".join(f"{k} {v}" for k, v in prog["by_state"].items()) or "none yet"
    best = "-" if prog["best_value"] is None else f"{prog['best_value']:.4f} ({prog['best_model']})"
    runners = ", ".join(f"{k} {v}" for k, v in prog["running_by_worker"].items()) or "-"
    return (
        f"[{elapsed_s:5.0f}s] {state:<8} trials {prog['done']}/{prog['total']} "
        f"({states}; left {prog['budget_left']})  running on {runners}  best {best}"
    )


def _study_progress(storage: str, run_id: str, n_trials: int) -> dict[str, Any] | None:
    try:
        study = optuna.load_study(study_name=study_name_for(DAG_ID, run_id), storage=storage)
    except KeyError:  # the study is created after validation and data preparation
        return None
    return progress(study, n_trials)


def failure_report(client: AirflowClient, run_id: str) -> str:
    """Name the failed tasks of a run and the error each one logged."""
    rows = []
    for ti in client.task_instances(DAG_ID, run_id):
        if ti["state"] != "failed":
            continue
        label = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
        rows.append(f"  {label}: {task_error(client, run_id, ti)}")
    return "\n".join(rows) or "  (no failed task instance; see the scheduler log)"


def task_error(client: AirflowClient, run_id: str, ti: dict[str, Any]) -> str:
    """The exception a failed task instance logged (its last ``error_detail``)."""
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
    try:
        body = client.request(
            "GET", path, params={"map_index": ti["map_index"], "full_content": True}
        )
    except AirflowAPIError as exc:
        return f"log unavailable ({exc})"
    for event in reversed(body.get("content") or []):
        details = event.get("error_detail") if isinstance(event, dict) else None
        if details:
            last = details[-1]
            return f"{last.get('exc_type')}: {last.get('exc_value')}"
    return "no exception in the log"


def follow_sweep(
    client: AirflowClient,
    run_id: str,
    storage: str,
    n_trials: int,
    out: Printer = print,
    poll_s: float = 5.0,
    timeout_s: float = 3600,
) -> dict[str, Any]:
    """Print a progress line whenever the sweep moves, until the run ends.

    Returns:
        The finished DAG run.

    Raises:
        TimeoutError: The run did not end within ``timeout_s``.
    """
    started = time.monotonic()
    last = ""
    while True:
        try:
            run = client.dag_run(DAG_ID, run_id)
        except httpx.TransportError:  # a busy api-server: ask again on the next poll
            time.sleep(poll_s)
            continue
        prog = _study_progress(storage, run_id, n_trials)
        line = progress_line(time.monotonic() - started, run["state"], prog)
        if line.split("] ", 1)[1] != last:
            out(line)
            last = line.split("] ", 1)[1]
        if run["state"] in ("success", "failed"):
            return run
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"sweep {run_id} still {run['state']} after {timeout_s:.0f}s")
        time.sleep(poll_s)


def final_report(client: AirflowClient, run_id: str) -> str:
    """The leaderboard, best model, its test score and where it is stored."""
    summary = client.xcom(DAG_ID, run_id, "finalize")
    lines = [
        "",
        "Leaderboard (top trials by CV score):",
        format_leaderboard(summary["leaderboard"]),
        "",
        f"Best model : {summary['model']}  CV {summary['metric']} {summary['cv_score']:.4f}",
        f"Test score : {summary['metric']} {summary['test_score']:.4f} on the held-out split",
        f"Trials     : {summary['trials']}",
        *warm_start_line(summary),
        f"Stopped    : {summary.get('stop_reason') or 'not recorded'}",
        f"Data       : {data_changes(summary)}",
        f"Model      : {summary['model_uri']}",
        f"Model card : {summary['card_uri']}",
        "Champion   : "
        + ("yes (registry updated)" if summary["promoted"] else "no (kept the old one)"),
    ]
    return "\n".join(lines)


def warm_start_line(summary: dict[str, Any]) -> list[str]:
    """The ``Warm start :`` line of a warm-started sweep; none for the others.

    Args:
        summary: The ``finalize`` summary (its ``warm_start`` record).
    """
    record = summary.get("warm_start")
    if not record:
        return []
    return [
        f"Warm start : {record['copied']} trial(s) from {record['from']} "
        f"({record['skipped']} skipped; they do not count against n_trials)"
    ]


def data_changes(summary: dict[str, Any]) -> str:
    """What the sweep dropped from its dataset or treated, in one line.

    Args:
        summary: The ``finalize`` summary; the keys it lacks (older runs) count as nothing.
    """
    rows = {why: n for why, n in summary.get("dropped_rows", {}).items() if n}
    columns = [
        f"{name} ({why})"
        for why, names in summary.get("dropped_columns", {}).items()
        for name in names
    ]
    infinite = summary.get("infinite_values", {})
    parts = []
    if rows:
        reasons = ", ".join(f"{n} {why}" for why, n in rows.items())
        parts.append(f"dropped {sum(rows.values())} row(s) before the split ({reasons})")
    if columns:
        parts.append(f"dropped {len(columns)} column(s): {', '.join(columns)}")
    if infinite:
        counts = ", ".join(f"{column} {n}" for column, n in infinite.items())
        parts.append(f"{sum(infinite.values())} infinite value(s) treated as missing ({counts})")
    return "; ".join(parts) or "nothing dropped or treated"
