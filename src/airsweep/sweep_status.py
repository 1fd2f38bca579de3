"""A sweep as the ``airsweep sweep`` commands show it: its DAG run and its study, as JSON.

One document per sweep (:func:`sweep_status`) serves ``show``, ``watch``,
``compare`` and, without the slow parts, ``list``: the DAG run from the REST
API (state, conf, dates, a cancel note), the study's progress (trials by state,
best so far and its params, runners by queue and worker, ETA), and for a
finished run the ``finalize`` summary (leaderboard, test score, model) or the
errors of its failed tasks. Every key is always there (``None`` when unknown),
so scripts reading ``--json`` need no special cases.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import optuna

from airsweep.cancel import CANCEL_REASON
from airsweep.client import AirflowAPIError, AirflowClient
from airsweep.config import PARAM_SCHEMAS
from airsweep.follow import DAG_ID, failed_tasks
from airsweep.report import progress, sweep_timing
from airsweep.stopping import STARTED_AT, STOP_REASON
from airsweep.study import Storage, study_name_for

#: DAG run states of a sweep that ended.
FINISHED_STATES = ("success", "failed")


def load_study(storage: Storage, run_id: str) -> optuna.Study | None:
    """The sweep's study; ``None`` before ``setup`` created it."""
    try:
        return optuna.load_study(study_name=study_name_for(DAG_ID, run_id), storage=storage)
    except KeyError:
        return None


def n_trials_of(run: dict[str, Any], study: optuna.Study | None) -> int:
    """The sweep's trial budget: the study's config, else the run's conf, else the default."""
    config = (study.user_attrs.get("config") if study is not None else None) or {}
    conf = run.get("conf") or {}
    return int(config.get("n_trials") or conf.get("n_trials") or _default("n_trials"))


def eta_seconds(done: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left at the rate so far: ``elapsed / done * (total - done)``.

    Args:
        done: Finished trials that count.
        total: The budget.
        elapsed_s: Seconds since the sweep started taking trials.

    Returns:
        ``0.0`` once the budget is done; ``None`` before the first trial finished.
    """
    if done >= total:
        return 0.0
    if done <= 0 or elapsed_s <= 0:
        return None
    return elapsed_s / done * (total - done)


def is_cancelled(run: dict[str, Any]) -> bool:
    """Whether ``airsweep sweep cancel`` ended this DAG run."""
    return run.get("state") == "failed" and run.get("note") == CANCEL_REASON


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """The DAG-run part of a sweep's document (no study, no XCom)."""
    conf = run.get("conf") or {}
    return {
        "run_id": run["dag_run_id"],
        "state": run["state"],
        "cancelled": is_cancelled(run),
        "note": run.get("note"),
        "start_date": run.get("start_date"),
        "end_date": run.get("end_date"),
        "duration_s": _duration(run.get("start_date"), run.get("end_date")),
        "dataset": conf.get("dataset", _default("dataset")),
        "models": conf.get("models", _default("models")),
        "conf": conf,
    }


def sweep_status(client: AirflowClient, storage: Storage, run_id: str) -> dict[str, Any]:
    """Everything ``airsweep sweep show`` says about one sweep.

    Args:
        client: The REST client.
        storage: The study database (URL or storage).
        run_id: The sweep's run id.

    Returns:
        :func:`run_row`'s keys plus ``n_trials``, ``metric``, ``progress``
        (:func:`airsweep.report.progress`, ``None`` before the study exists),
        ``best_params``, ``eta_s`` (running sweeps), ``stop_reason``,
        ``timing`` (:func:`airsweep.report.sweep_timing`), ``summary`` (the
        ``finalize`` summary of a successful sweep) and ``failed_tasks``
        (``[{"task", "error"}]`` of a failed one).

    Raises:
        AirflowAPIError: No such run (HTTP 404), or the API failed.
    """
    run = client.dag_run(DAG_ID, run_id)
    status = run_row(run)
    study = load_study(storage, run_id)
    n_trials = n_trials_of(run, study)
    prog = progress(study, n_trials) if study is not None else None
    attrs = study.user_attrs if study is not None else {}
    summary = _summary(client, run_id) if run["state"] == "success" else None
    status.update(
        n_trials=n_trials,
        metric=(attrs.get("manifest") or {}).get("metric")
        or (run.get("conf") or {}).get("metric", _default("metric")),
        progress=prog,
        best_params=_best_params(study),
        eta_s=None,
        stop_reason=(summary or {}).get("stop_reason") or attrs.get(STOP_REASON),
        timing=sweep_timing(study) if study is not None else None,
        summary=summary,
        failed_tasks=failed_tasks(client, run_id) if run["state"] == "failed" else [],
    )
    if prog is not None and run["state"] not in FINISHED_STATES:
        started = attrs.get(STARTED_AT)
        elapsed = time.time() - started if started else 0.0
        status["eta_s"] = eta_seconds(prog["done"], prog["total"], elapsed)
    return status


def list_sweeps(
    client: AirflowClient, limit: int = 20, state: str | None = None
) -> list[dict[str, Any]]:
    """The latest sweeps, newest first, as :func:`run_row` rows.

    Args:
        client: The REST client.
        limit: At most this many.
        state: Only runs in this DAG run state (``queued``, ``running``, ``success``, ``failed``).
    """
    params: dict[str, Any] = {"order_by": "-run_after", "limit": limit}
    if state:
        params["state"] = [state]
    body = client.request("GET", f"/dags/{DAG_ID}/dagRuns", params=params)
    return [run_row(run) for run in body["dag_runs"]]


def study_counts(storage: str) -> dict[str, dict[str, Any]]:
    """Trials and best value of every sweep's study, by run id, in one query.

    Returns:
        ``run_id -> {"trials": n, "best_value": v or None}``.
    """
    prefix = f"{DAG_ID}__"
    counts = {}
    for study in optuna.get_all_study_summaries(storage, include_best_trial=True):
        if study.study_name.startswith(prefix):
            best = study.best_trial.value if study.best_trial is not None else None
            counts[study.study_name.removeprefix(prefix)] = {
                "trials": study.n_trials,
                "best_value": best,
            }
    return counts


def _summary(client: AirflowClient, run_id: str) -> dict[str, Any] | None:
    """The ``finalize`` summary; ``None`` when it has none (it did not run)."""
    try:
        return client.xcom(DAG_ID, run_id, "finalize")
    except AirflowAPIError as exc:
        if exc.status != 404:
            raise
        return None


def _best_params(study: optuna.Study | None) -> dict[str, Any] | None:
    if study is None or len(study.directions) != 1:
        return None
    try:
        return study.best_trial.params
    except ValueError:  # no COMPLETE trial yet
        return None


def _default(param: str) -> Any:
    return PARAM_SCHEMAS[param]["default"]


def _duration(start: str | None, end: str | None) -> float | None:
    if not start:
        return None
    begun = datetime.fromisoformat(start)
    ended = datetime.fromisoformat(end) if end else datetime.now(begun.tzinfo)
    return round((ended - begun).total_seconds(), 1)
