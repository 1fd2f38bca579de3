"""Trigger a sweep through the REST API and say how it goes, in text, as ``airsweep sweep`` does.

The live view of a running sweep is :mod:`airsweep.cli.watch`; the document it
and ``airsweep sweep show`` read is :mod:`airsweep.sweep_status`.
"""

from __future__ import annotations

from typing import Any

from airsweep.client import AirflowAPIError, AirflowClient
from airsweep.report import format_leaderboard

DAG_ID = "hpo_sweep"


def trigger_sweep(client: AirflowClient, conf: dict[str, Any]) -> str:
    """Trigger ``hpo_sweep`` with ``conf``; return the run id.

    Raises:
        AirflowAPIError: The API refused the conf (HTTP 400 names the param).
    """
    client.wait_for_dag(DAG_ID)
    return client.trigger(DAG_ID, conf)["dag_run_id"]


def progress_line(
    elapsed_s: float, state: str, prog: dict[str, Any] | None, eta: str | None = None
) -> str:
    """One line of progress: elapsed time, run state, trials by state, runners, best so far.

    Trials lost with their worker show as ``lost`` (they do not count); ``left``
    is the budget not yet taken; ``running on`` names each ``queue/worker``
    with its running trials; ``eta``, when given, ends the line.
    """
    if prog is None:
        return f"[{elapsed_s:5.0f}s] {state:<8} preparing (validate, data, study)"
    states = ", ".join(f"{k} {v}" for k, v in prog["by_state"].items()) or "none yet"
    best = "-" if prog["best_value"] is None else f"{prog['best_value']:.4f} ({prog['best_model']})"
    runners = ", ".join(f"{k} {v}" for k, v in prog["running_by_worker"].items()) or "-"
    return (
        f"[{elapsed_s:5.0f}s] {state:<8} trials {prog['done']}/{prog['total']} "
        f"({states}; left {prog['budget_left']})  running on {runners}  best {best}"
        + (f"  eta {eta}" if eta else "")
    )


def failed_tasks(client: AirflowClient, run_id: str) -> list[dict[str, str]]:
    """The failed task instances of a run and the error each one logged.

    Returns:
        ``[{"task": "setup" or "cpu_trials[2]", "error": "ExcType: message"}, ...]``.
    """
    return [
        {
            "task": ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""),
            "error": task_error(client, run_id, ti),
        }
        for ti in client.task_instances(DAG_ID, run_id)
        if ti["state"] == "failed"
    ]


def failure_report(client: AirflowClient, run_id: str) -> str:
    """Name the failed tasks of a run and the error each one logged."""
    return format_failures(failed_tasks(client, run_id))


def format_failures(failed: list[dict[str, str]]) -> str:
    """The lines of :func:`failure_report` from :func:`failed_tasks`' rows."""
    rows = [f"  {row['task']}: {row['error']}" for row in failed]
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


def final_report(client: AirflowClient, run_id: str) -> str:
    """The leaderboard, best model, its test score and where it is stored."""
    return format_summary(client.xcom(DAG_ID, run_id, "finalize"))


def format_summary(summary: dict[str, Any]) -> str:
    """The text of :func:`final_report` from a ``finalize`` summary."""
    multi = len(summary.get("objectives") or ()) > 1
    lines = [
        "",
        "Leaderboard (Pareto front first):" if multi else "Leaderboard (top trials by CV score):",
        format_leaderboard(summary["leaderboard"]),
        "",
        f"Best model : {summary['model']}  CV {summary['metric']} {summary['cv_score']:.4f}",
        *objectives_lines(summary),
        f"Test score : {test_score_text(summary)}",
        f"Trials     : {summary['trials']}",
        *warm_start_line(summary),
        f"Stopped    : {summary.get('stop_reason') or 'not recorded'}",
        f"Data       : {data_changes(summary)}",
        f"Model      : {summary['model_uri']}",
        f"Model card : {summary['card_uri']}",
        *report_line(summary),
        "Champion   : "
        + ("yes (registry updated)" if summary["promoted"] else "no (kept the old one)"),
    ]
    return "\n".join(lines)


def test_score_text(summary: dict[str, Any]) -> str:
    """The test score in words; a custom objective's model may have none."""
    if summary["test_score"] is None:
        return "none (the refitted model has no predict: not scored, not registered)"
    return f"{summary['metric']} {summary['test_score']:.4f} on the held-out split"


def report_line(summary: dict[str, Any]) -> list[str]:
    """The ``Report :`` line: the sweep's HTML report, or why it was not written.

    Args:
        summary: The ``finalize`` summary (``report_uri`` or ``report_error``; older
            runs have neither, and no line).
    """
    if summary.get("report_uri"):
        return [f"Report     : {summary['report_uri']}"]
    if summary.get("report_error"):
        return [f"Report     : not written ({summary['report_error']})"]
    return []


def objectives_lines(summary: dict[str, Any]) -> list[str]:
    """The ``Objectives :`` and ``Chosen by :`` lines of a multi-objective sweep; none otherwise.

    Args:
        summary: The ``finalize`` summary (its ``objectives`` and ``selection``).
    """
    objectives = summary.get("objectives") or []
    if len(objectives) < 2:
        return []
    selection = summary["selection"]
    values = ", ".join(f"{o['name']} {o['value']:.4g} ({o['direction']})" for o in objectives)
    front = selection["pareto_front"] or []
    chosen = f"{selection['rule']}, of a Pareto front of {len(front)} trial(s)"
    return [
        f"Objectives : {values}",
        f"Chosen by  : {chosen}" + (f"; {selection['note']}" if selection["note"] else ""),
    ]


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
