"""Tell a worker's runners that their worker is shutting down.

A Celery warm shutdown (``make down``, ``airsweep scale`` down, a container
stop) waits for the running tasks. A runner is a long task: it takes trials
until the sweep's budget is spent, so waiting for it would hold ``make down``
for the rest of the sweep. Airflow runs each task in its own process group, so
the stop signal never reaches it either. Instead the worker's main process
creates a *stop file* when the shutdown begins (Celery's
``worker_shutting_down`` signal), and every runner forked from that worker looks
for it before taking its next trial: it then hands the rest of the budget back
(:class:`WorkerStopping`), and the DAG reschedules the runner, which a live
worker picks up later.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: Environment variable naming the stop file of the worker a task runs under.
STOP_FILE_ENV = "AIRSWEEP_WORKER_STOP_FILE"


class WorkerStopping(RuntimeError):
    """The runner's worker is shutting down; the runner should be rescheduled."""


def prepare_stop_file() -> Path:
    """Name this worker's stop file in the environment and create it when Celery shuts down.

    Call in the worker's main process before Celery starts: its pool and task
    processes inherit the variable. The file is per process id, so a restarted
    worker starts without one.

    Returns:
        The stop file's path (absent until the shutdown begins).
    """
    from celery import signals

    path = Path(tempfile.gettempdir()) / f"airsweep-worker-{os.getpid()}.stopping"
    path.unlink(missing_ok=True)
    os.environ[STOP_FILE_ENV] = str(path)

    def _shutting_down(**kwargs: object) -> None:
        path.touch()

    def _shut_down(**kwargs: object) -> None:
        path.unlink(missing_ok=True)

    signals.worker_shutting_down.connect(_shutting_down, weak=False)
    signals.worker_shutdown.connect(_shut_down, weak=False)
    return path


def worker_stopping() -> bool:
    """Whether the worker this process runs under has begun to shut down."""
    path = os.environ.get(STOP_FILE_ENV)
    return bool(path) and Path(path).exists()
