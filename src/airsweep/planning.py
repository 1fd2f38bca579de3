"""Plan a sweep's runners: which device each family trains on, and how many runners per queue.

Runners take trials from the shared budget until it is spent
(:mod:`airsweep.runner`), so the plan fixes no quota: only which queue trains
which families, and how many runners each queue maps. A queue maps
``max_parallel`` runners (at most one per trial of its families), however
many slots its workers have now: the pool lets as many run at once as there
are live slots, so workers added mid-sweep start the runners still waiting.
A runner that starts after the budget is spent costs one task start-up.
"""

from __future__ import annotations

from typing import Any

from airsweep.config import SweepConfig
from airsweep.models.base import AUTO, CPU, GPU

QUEUES = (CPU, GPU)


def resolve_devices(config: SweepConfig, gpu_usable: bool) -> dict[str, str]:
    """The device of every family: ``auto`` becomes ``gpu`` when a live gpu worker has CUDA.

    Args:
        config: The sweep config (``device`` maps every model to cpu, gpu or auto).
        gpu_usable: Whether a live gpu worker announced a usable CUDA device
            (:attr:`airsweep.workers.LiveWorkers.gpu_usable`).
    """
    resolved = {}
    for model, device in config.device.items():
        resolved[model] = (GPU if gpu_usable else CPU) if device == AUTO else device
    return resolved


def plan_runners(config: SweepConfig, devices: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """The runners of each queue.

    Args:
        config: The sweep config.
        devices: Family -> ``cpu`` or ``gpu`` (:func:`resolve_devices`).

    Returns:
        ``{"cpu": [...], "gpu": [...]}``: each runner is ``{"queue": q,
        "models": [families of q]}``; a queue without families gets none.
        A queue's runner count is ``min(max_parallel, trials it may run)``:
        ``n_trials``, or under ``model_budget: even`` the quotas of its families.
    """
    quotas = config.trials_per_model()
    plan: dict[str, list[dict[str, Any]]] = {}
    for queue in QUEUES:
        models = [m for m in config.models if devices[m] == queue]
        if not models:
            plan[queue] = []
            continue
        most = config.n_trials
        if config.model_budget == "even":
            most = sum(quotas[m] for m in models)
        count = min(config.max_parallel, most)
        plan[queue] = [{"queue": queue, "models": models} for _ in range(count)]
    return plan
