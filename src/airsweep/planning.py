"""Plan trial batches: how many mapped tasks per queue and which trials each runs.

Each Airflow mapped task costs slot time beyond its trials (about 2 s for a
trial batch on the native cluster; see docs/benchmarks.md), so one task per
trial wastes half of a machine on 1-second trials. The planner packs trials
into as few batches as keep every slot of a queue busy.
"""

from __future__ import annotations

import math
from typing import Any

from airsweep.config import AUTO, SweepConfig
from airsweep.models.base import CPU, GPU

QUEUES = (CPU, GPU)


def plan_batches(config: SweepConfig, cpu_slots: int, gpu_slots: int) -> dict[str, list[dict]]:
    """Split the sweep's trials into batches for the ``cpu`` and ``gpu`` queues.

    ``n_trials`` is split evenly among the models (earlier models get the
    remainder); models whose device is ``gpu`` go to the gpu side. On each side
    with ``n`` trials:

    * ``batch_size="auto"``: ``batches = min(slots, max_parallel, n)``, the
      fewest batches that still give every slot of the queue work;
    * ``batch_size=k``: ``batches = ceil(n / k)``.

    ``slots`` below 1 counts as 1 (a side with trials always gets a batch).
    Trials are dealt round-robin, model after model, so batch sizes differ by
    at most one and every batch gets an even share of each model.

    Args:
        config: The sweep config.
        cpu_slots: Worker slots consuming the cpu queue (pool size).
        gpu_slots: Worker slots consuming the gpu queue.

    Returns:
        ``{"cpu": [...], "gpu": [...]}``; each batch is
        ``{"batch_index": i, "queue": q, "trials": {"<model>": count}}``, and
        a side without models is an empty list.
    """
    slots = {CPU: cpu_slots, GPU: gpu_slots}
    per_model = config.trials_per_model()
    plan: dict[str, list[dict[str, Any]]] = {}
    for queue in QUEUES:
        models = {m: n for m, n in per_model.items() if config.device[m] == queue}
        total = sum(models.values())
        if not total:
            plan[queue] = []
            continue
        if config.batch_size == AUTO:
            n_batches = min(max(1, slots[queue]), config.max_parallel, total)
        else:
            n_batches = math.ceil(total / int(config.batch_size))
        plan[queue] = _deal(queue, models, n_batches)
    return plan


def _deal(queue: str, models: dict[str, int], n_batches: int) -> list[dict[str, Any]]:
    """Deal the trials of ``models`` round-robin into ``n_batches`` batches."""
    counts: list[dict[str, int]] = [{} for _ in range(n_batches)]
    position = 0
    for model, n_trials in models.items():
        for _ in range(n_trials):
            batch = counts[position % n_batches]
            batch[model] = batch.get(model, 0) + 1
            position += 1
    return [
        {"batch_index": index, "queue": queue, "trials": trials}
        for index, trials in enumerate(counts)
    ]
