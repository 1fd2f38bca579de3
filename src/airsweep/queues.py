"""The Celery queues of a sweep and the workers that consume them.

Shared by the sweep library, the live-worker view (:mod:`airsweep.workers`) and
the launcher (:mod:`airsweep.cluster.components`); it imports nothing, so the
sweep never has to import the launcher to know its queues.
"""

from __future__ import annotations

#: Queue of the sweep's short control tasks (setup, plan_cpu/plan_gpu, finalize).
CONTROL_QUEUE = "default"
#: Kind of the worker that consumes only :data:`CONTROL_QUEUE`; it has no trial slots.
CONTROL_KIND = "control"
#: Kinds of worker that run trials, one pool each (``<kind>_trials``).
TRIAL_KINDS: tuple[str, ...] = ("cpu", "gpu")

#: Queues consumed by each kind of worker. Every kind consumes one queue of its
#: own: a Celery worker cannot keep processes for one of its queues, so control
#: tasks get a worker of their own instead of a process of every cpu worker.
WORKER_QUEUES: dict[str, tuple[str, ...]] = {
    CONTROL_KIND: (CONTROL_QUEUE,),
    "cpu": ("cpu",),
    "gpu": ("gpu",),
}
