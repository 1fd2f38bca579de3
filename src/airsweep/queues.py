"""The Celery queues of a sweep and the workers that consume them.

Shared by the sweep library, the live-worker view (:mod:`airsweep.workers`) and
the launcher (:mod:`airsweep.cluster.components`); it imports nothing, so the
sweep never has to import the launcher to know its queues.
"""

from __future__ import annotations

#: Queues consumed by each kind of worker; a worker's kind is that of its last queue.
WORKER_QUEUES: dict[str, tuple[str, ...]] = {"cpu": ("default", "cpu"), "gpu": ("gpu",)}
#: Queue of the sweep's short control tasks (validate, prepare, plan, refit, report).
CONTROL_QUEUE = "default"


def control_processes(queues: tuple[str, ...] | set[str] | frozenset[str]) -> int:
    """Celery processes a worker consuming ``queues`` keeps beside its trial slots.

    A worker that also consumes :data:`CONTROL_QUEUE` runs one more process than
    it has trial slots, so control tasks never hold a process a trial batch is
    waiting for; the ``*_trials`` pools still cap the trial batches at the slots.

    Args:
        queues: Names of the queues the worker consumes.

    Returns:
        1 when ``queues`` holds the control queue, else 0.
    """
    return 1 if CONTROL_QUEUE in queues else 0
