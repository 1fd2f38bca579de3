"""Cancelling a sweep: no more trials, the DAG run failed, its running trials failed as lost.

In order:

1. the study records why the sweep stopped (:data:`CANCEL_REASON` in
   ``stop_reason``, under the study lock, unless a rule fired first): runners
   take no new trial from then on;
2. the DAG run is set to ``failed`` through the REST API, with a note: Airflow
   fails its running task instances and kills their processes (runner and
   trial process alike), skips the tasks not yet run (``finalize`` too), and
   retries nothing;
3. the trials those runners were running stop heartbeating; once their
   heartbeat is :data:`airsweep.liveness.GRACE_PERIOD_S` old they are failed as
   ``worker lost`` (:func:`airsweep.liveness.fail_lost_trials`), so no trial is
   left RUNNING. That takes about 20-30 s.
"""

from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.trial import TrialState

from airsweep.client import AirflowClient
from airsweep.console import Printer
from airsweep.follow import DAG_ID
from airsweep.liveness import GRACE_PERIOD_S, fail_lost_trials, heartbeat_storage
from airsweep.stopping import STOP_REASON
from airsweep.study import study_name_for
from airsweep.study_lock import study_lock

#: The study's ``stop_reason`` and the start of the DAG run's note after a cancel.
CANCEL_REASON = "cancelled (airsweep sweep cancel)"
#: Seconds between two looks for running trials whose runner is gone.
POLL_S = 2.0


def stop_taking_trials(storage_url: str, run_id: str) -> None:
    """Record :data:`CANCEL_REASON` as the study's ``stop_reason`` unless one is recorded.

    A sweep cancelled before ``setup`` created its study has none: nothing to do.
    """
    name = study_name_for(DAG_ID, run_id)
    try:
        study = optuna.load_study(study_name=name, storage=storage_url)
    except KeyError:
        return
    lock = study_lock(storage_url, name)
    try:
        with lock:
            if STOP_REASON not in study.user_attrs:
                study.set_user_attr(STOP_REASON, CANCEL_REASON)
    finally:
        lock.close()


def end_run(client: AirflowClient, run_id: str) -> dict[str, Any]:
    """Set the DAG run to ``failed`` with the note :data:`CANCEL_REASON`; return the run."""
    body = {"state": "failed", "note": CANCEL_REASON}
    return client.request("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}", json=body)


def fail_running_trials(
    storage_url: str, run_id: str, timeout_s: float, out: Printer = print
) -> tuple[list[int], list[int]]:
    """Fail the sweep's running trials as lost once their runners are gone.

    Args:
        storage_url: The study database.
        run_id: The sweep.
        timeout_s: Give up after this long.
        out: Receives progress lines.

    Returns:
        ``(failed as lost, still running)``: trial numbers (none without a study).
    """
    name = study_name_for(DAG_ID, run_id)
    storage = heartbeat_storage(storage_url)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return [], []
    deadline = time.monotonic() + timeout_s
    lost: list[int] = []
    running = _running(study)
    if running:
        out(
            f"waiting for {len(running)} running trial(s) to stop heartbeating "
            f"(about {GRACE_PERIOD_S}s) ..."
        )
    while running and time.monotonic() < deadline:
        lost += [trial.number for trial in fail_lost_trials(study, storage)]
        running = _running(study)
        if running:
            time.sleep(POLL_S)
    storage.remove_session()
    return sorted(lost), running


def _running(study: optuna.Study) -> list[int]:
    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
