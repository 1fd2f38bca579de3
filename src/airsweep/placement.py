"""Where the current task runs: worker, its queues, the task's queue and host."""

from __future__ import annotations

import socket

from airsweep.settings import get_settings


def current_placement() -> dict[str, object]:
    """Describe the worker running this process, for XCom and trial attributes.

    Returns:
        ``worker`` and ``worker_queues`` (set by the launcher for each worker),
        ``queue`` (the queue the running Airflow task was sent to, when called
        inside a task) and ``hostname``.
    """
    settings = get_settings()
    queue = ""
    try:
        from airflow.sdk import get_current_context

        queue = get_current_context()["ti"].task.queue
    except (ImportError, RuntimeError, KeyError):  # outside a task there is no context
        queue = ""
    return {
        "worker": settings.worker_name,
        "worker_queues": list(settings.worker_queues),
        "queue": queue,
        "hostname": socket.gethostname(),
    }
