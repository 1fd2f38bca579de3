"""hpo_sweep: one hyperparameter sweep per run.

Trigger with params (UI form, REST `conf` or `airflow dags trigger --conf`);
see docs/sweeps.md for each one. The flow:

`setup` (validate, prepare the data, create the study, plan the runners) →
`plan_cpu`, `plan_gpu` (each queue's runners) → runners mapped on the **cpu**
queue (`cpu_trials`, pool `cpu_trials`) and the **gpu** queue (`gpu_trials`,
pool `gpu_trials`) → `finalize` (pick, refit and store the best model, report).

Runners share one trial budget, `n_trials`: each one takes the next trial from
the sweep's Optuna study (in Postgres) until the budget is spent, so workers
added mid-sweep start the runners still waiting for a slot, and a dead
worker's trials go back to the budget. Bad params or a bad dataset fail the
run once, early, before any trial.

Every task has an `execution_timeout`: a trial is killed at `trial_timeout_s`,
and a task still running after `AIRSWEEP_RUNNER_TIMEOUT_H` hours (runners) or
`AIRSWEEP_CONTROL_TIMEOUT_H` hours (the others; `airflow/airflow.env`) is failed
and retried, so nothing holds a worker slot forever.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from airsweep.config import PARAM_SCHEMAS


def _hours(name: str, default: float) -> timedelta:
    """The environment setting ``name``, a positive number of hours (``default`` if unset)."""
    raw = os.environ.get(name, "").strip()
    try:
        hours = float(raw) if raw else default
    except ValueError:
        hours = math.nan
    if not (math.isfinite(hours) and hours > 0):
        raise ValueError(f"{name}: expected a positive number of hours, got {raw!r}")
    return timedelta(hours=hours)


DEFAULT_ARGS = {
    "retries": 2,
    "retry_delay": timedelta(seconds=5),
    "execution_timeout": _hours("AIRSWEEP_CONTROL_TIMEOUT_H", 6),
}
#: A runner killed with its worker is retried (and its lost trials go back to the budget).
#: A runner runs trials until the budget is spent: its timeout is only a generous backstop.
RUNNER_ARGS = {
    "retries": 3,
    "retry_delay": timedelta(seconds=2),
    "execution_timeout": _hours("AIRSWEEP_RUNNER_TIMEOUT_H", 48),
}
PARAMS = {
    name: Param(spec["default"], **{k: v for k, v in spec.items() if k != "default"})
    for name, spec in PARAM_SCHEMAS.items()
}


@task(multiple_outputs=True)
def setup(params: dict | None = None, run_id: str | None = None) -> dict:
    """Validate the params, prepare the data, create the study, plan the runners."""
    import os

    from airsweep import pipeline
    from airsweep.config import SweepConfigError
    from airsweep.data import DatasetError

    broker = os.environ.get("AIRFLOW__CELERY__BROKER_URL", "")
    try:
        return pipeline.setup(dict(params), "hpo_sweep", run_id, broker)
    except (SweepConfigError, DatasetError) as exc:  # bad input fails once, without retries
        raise AirflowFailException(str(exc)) from exc


@task
def runners(planned: list) -> list:
    """The runners ``setup`` planned for one queue (Airflow maps only a task's return value)."""
    return planned


@task
def run_trials(runner: dict, config: dict, manifest: dict, study_name: str) -> dict:
    """Take trials from the sweep's budget and run them until it is spent."""
    from datetime import UTC, datetime

    from airflow.sdk.exceptions import AirflowRescheduleException

    from airsweep import pipeline
    from airsweep.shutdown import WorkerStopping

    ti = get_current_context()["ti"]
    try:
        return pipeline.run_trials(
            runner,
            config,
            manifest,
            study_name,
            run_id=ti.run_id,
            map_index=ti.map_index,
            try_number=ti.try_number,
            queue=ti.task.queue,
        )
    except WorkerStopping:  # its worker is going down: run again on a live one, no retry used
        raise AirflowRescheduleException(reschedule_date=datetime.now(UTC)) from None


@task(trigger_rule="none_failed_min_one_success")
def finalize(config: dict, manifest: dict, study_name: str) -> dict:
    """Refit the best COMPLETE trial, score it on held-out data, store it; report the sweep."""
    from airsweep import pipeline
    from airsweep.selection import NoCompletedTrialError

    context = get_current_context()
    try:
        return pipeline.finalize(
            config, manifest, study_name, context["run_id"], context["dag_run"].start_date
        )
    except NoCompletedTrialError as exc:  # every trial failed: say why, do not retry
        raise AirflowFailException(str(exc)) from exc


def _on_failure(context) -> None:
    from airsweep import pipeline

    pipeline.record_failure()


@dag(
    dag_id="hpo_sweep",
    schedule=None,
    catchup=False,
    params=PARAMS,
    default_args=DEFAULT_ARGS,
    tags=["airsweep", "sweep"],
    doc_md=__doc__,
    max_active_runs=4,
    on_failure_callback=_on_failure,
)
def hpo_sweep():
    """Set up, run the budget's trials on both queues, pick and store the best."""
    plan = setup()
    common = {
        "config": plan["config"],
        "manifest": plan["manifest"],
        "study_name": plan["study_name"],
    }
    trial_tasks = [
        run_trials.override(
            task_id=f"{queue}_trials", queue=queue, pool=f"{queue}_trials", **RUNNER_ARGS
        )
        .partial(**common)
        .expand(runner=runners.override(task_id=f"plan_{queue}")(plan[queue]))
        for queue in ("cpu", "gpu")
    ]
    trial_tasks >> finalize(**common)


hpo_sweep()
