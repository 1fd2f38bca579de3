"""Smoke test of the cluster: mapped tasks on the ``cpu`` and ``gpu`` queues.

Each mapped task reports the Celery worker and queue it ran on, which shows
that the queues, pools and workers are wired as intended.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

DEFAULT_ARGS = {"retries": 1, "retry_delay": timedelta(seconds=10)}


@task
def where_am_i(index: int) -> dict:
    """Return the worker, its queues and the queue this task was sent to."""
    from airsweep.placement import current_placement

    return {"index": index, **current_placement()}


@dag(
    dag_id="smoke_fanout",
    schedule=None,
    catchup=False,
    tags=["airsweep", "smoke"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    max_active_runs=4,
)
def smoke_fanout():
    """Fan out four tasks per queue and report where each one ran."""
    where_am_i.override(task_id="on_cpu", queue="cpu", pool="cpu_trials").expand(index=[0, 1, 2, 3])
    where_am_i.override(task_id="on_gpu", queue="gpu", pool="gpu_trials").expand(index=[0, 1, 2, 3])


smoke_fanout()
