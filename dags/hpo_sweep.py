"""hpo_sweep: one hyperparameter sweep per run.

Trigger with params (UI form, REST `conf` or `airflow dags trigger --conf`);
see docs/sweeps.md for each one. The flow:

`validate` → `prepare_data` → `create_study` → `plan_*` → trial batches mapped on
the **cpu** queue (pool `cpu_trials`) and the **gpu** queue (pool `gpu_trials`)
→ `select_refit_store` → `report`.

Each batch asks the shared Optuna study (in Postgres) for parameters, fits with
k-fold CV and tells the score back. Bad params or a bad dataset fail the run
once, early, before any trial.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from airsweep.config import PARAM_SCHEMAS

DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(seconds=15)}
PARAMS = {
    name: Param(spec["default"], **{k: v for k, v in spec.items() if k != "default"})
    for name, spec in PARAM_SCHEMAS.items()
}


def _fail_fast(step, *args, **kwargs):
    """Run a validation step; bad input fails the task once, without retries."""
    from airsweep.config import SweepConfigError
    from airsweep.data import DatasetError

    try:
        return step(*args, **kwargs)
    except (SweepConfigError, DatasetError) as exc:
        raise AirflowFailException(str(exc)) from exc


@task
def validate(params: dict | None = None) -> dict:
    """Validate every param (beyond the JSON schema) and normalize the config."""
    from airsweep import pipeline

    return _fail_fast(pipeline.validate, dict(params))


@task
def prepare_data(config: dict, run_id: str | None = None) -> dict:
    """Load, check, split and store the dataset once; return its manifest."""
    from airsweep import pipeline

    return _fail_fast(pipeline.prepare, config, run_id)


@task
def create_study(config: dict, manifest: dict, run_id: str | None = None) -> str:
    """Create the sweep's Optuna study in Postgres."""
    from airsweep import pipeline

    return pipeline.open_study(config, manifest, "hpo_sweep", run_id)


@task
def plan(config: dict, queue: str) -> list:
    """The trial batches of one queue (the planner splits trials across both)."""
    import os

    from airsweep import pipeline

    return pipeline.plan(config, os.environ.get("AIRFLOW__CELERY__BROKER_URL", ""))[queue]


@task
def trial_batch(batch: dict, config: dict, manifest: dict, study_name: str) -> dict:
    """Run one batch of trials on this worker."""
    from airsweep import pipeline

    ti = get_current_context()["ti"]
    return pipeline.run_batch(
        batch,
        config,
        manifest,
        study_name,
        run_id=ti.run_id,
        map_index=ti.map_index,
        try_number=ti.try_number,
        queue=ti.task.queue,
    )


@task(trigger_rule="none_failed_min_one_success")
def select_refit_store(config: dict, manifest: dict, study_name: str) -> dict:
    """Refit the best COMPLETE trial, score it on held-out data, store model + card."""
    from airsweep import pipeline

    return pipeline.finalize(config, manifest, study_name, get_current_context()["run_id"])


@task
def report(config: dict, card: dict, study_name: str) -> dict:
    """Emit the sweep's metrics and return its summary and leaderboard."""
    from airsweep import pipeline

    started = get_current_context()["dag_run"].start_date
    return pipeline.summarize(config, card, study_name, started)


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
    """Validate, prepare, fan out trial batches over both queues, pick and store the best."""
    config = validate()
    manifest = prepare_data(config)
    study_name = create_study(config, manifest)
    common = {"config": config, "manifest": manifest, "study_name": study_name}
    done = []
    for queue in ("cpu", "gpu"):
        batches = plan.override(task_id=f"plan_{queue}")(config, queue)
        study_name >> batches
        trials = trial_batch.override(
            task_id=f"{queue}_trials", queue=queue, pool=f"{queue}_trials"
        )
        done.append(trials.partial(**common).expand(batch=batches))
    card = select_refit_store(config, manifest, study_name)
    done >> card
    report(config, card, study_name)


hpo_sweep()
