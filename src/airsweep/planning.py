"""Plan a sweep's runners: which device each family trains on, and how many runners per queue.

Runners take trials from the shared budget until it is spent
(:mod:`airsweep.runner`), so the plan fixes no quota: only which queue trains
which families, and how many runners each queue maps. A queue maps
``max_parallel`` runners (``auto``: twice its live slots; at most one per
trial of its families): the pool lets as many run at once as there are live
slots, so workers added mid-sweep start the runners still waiting. A runner
that starts after the budget is spent costs one task start-up.
"""

from __future__ import annotations

from typing import Any

from airsweep.config import SweepConfig
from airsweep.models.base import AUTO, CPU, GPU

QUEUES = (CPU, GPU)
#: ``max_parallel: auto`` maps this many runners per live slot of a queue...
AUTO_RUNNERS_PER_SLOT = 2
#: ... and at least this many (a queue whose workers are not up yet, or a small one).
AUTO_MIN_RUNNERS = 4


def resolve_devices(config: SweepConfig, gpu_usable: bool) -> dict[str, str]:
    """The device of every family: ``auto`` becomes ``gpu`` when a live gpu worker has CUDA.

    Args:
        config: The sweep config (:meth:`~airsweep.config.SweepConfig.device_of`:
            cpu, gpu or auto per family; a custom objective's is ``objective_device``).
        gpu_usable: Whether a live gpu worker announced a usable CUDA device
            (:attr:`airsweep.workers.LiveWorkers.gpu_usable`).
    """
    resolved = {}
    for model in config.families:
        device = config.device_of(model)
        resolved[model] = (GPU if gpu_usable else CPU) if device == AUTO else device
    return resolved


def runner_limit(config: SweepConfig, live_slots: int) -> int:
    """Most runners a queue maps: ``max_parallel``, or under ``auto`` twice its live slots.

    Every mapped runner that finds the budget spent still costs one task start-up
    (about 1.5 slot-seconds here, docs/benchmarks.md), so ``auto`` leaves room
    for the queue's workers to double mid-sweep without a long tail of idle
    runners; a user who plans to scale further sets ``max_parallel``.
    """
    if config.max_parallel != AUTO:
        return int(config.max_parallel)
    return max(AUTO_MIN_RUNNERS, AUTO_RUNNERS_PER_SLOT * live_slots)


def plan_runners(
    config: SweepConfig, devices: dict[str, str], live_slots: dict[str, int] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The runners of each queue.

    Args:
        config: The sweep config.
        devices: Family -> ``cpu`` or ``gpu`` (:func:`resolve_devices`).
        live_slots: Trial slots of the live workers per queue when the sweep
            starts (:attr:`airsweep.workers.LiveWorkers.slots`); used by
            ``max_parallel: auto``. Unknown: counted as 0.

    Returns:
        ``{"cpu": [...], "gpu": [...]}``: each runner is ``{"queue": q,
        "models": [families of q]}``; a queue without families gets none.
        A queue's runner count is ``min(runner_limit, trials it may run)``:
        ``n_trials``, or under ``model_budget: even`` the quotas of its families.
    """
    live_slots = live_slots or {}
    quotas = config.trials_per_model()
    plan: dict[str, list[dict[str, Any]]] = {}
    for queue in QUEUES:
        models = [m for m in config.families if devices[m] == queue]
        if not models:
            plan[queue] = []
            continue
        most = config.n_trials
        if config.model_budget == "even":
            most = sum(quotas[m] for m in models)
        count = min(runner_limit(config, live_slots.get(queue, 0)), most)
        plan[queue] = [{"queue": queue, "models": models} for _ in range(count)]
    return plan
