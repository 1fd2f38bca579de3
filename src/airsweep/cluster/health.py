"""Health checks of a running cluster, as ``make up`` and ``make status`` report them."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from airsweep.cluster.components import control_processes

#: Components the api-server's health document must report as healthy.
API_HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def api_health_problems(api_url: str) -> list[str]:
    """Return what the api-server's ``/api/v2/monitor/health`` reports as unhealthy.

    An empty list means the api-server answers and the metadatabase, scheduler,
    triggerer and dag-processor are all healthy (heartbeating).
    """
    try:
        response = httpx.get(f"{api_url}/api/v2/monitor/health", timeout=5)
    except httpx.HTTPError as exc:
        return [f"api-server: not answering ({type(exc).__name__})"]
    if response.status_code != 200:
        return [f"api-server: health returned HTTP {response.status_code}"]
    body = response.json()
    problems = []
    for name in API_HEALTH_COMPONENTS:
        status = (body.get(name) or {}).get("status")
        if status != "healthy":
            problems.append(f"{name}: {status or 'unknown'}")
    return problems


def celery_queues(broker_url: str, timeout_s: float = 3.0) -> dict[str, list[str]]:
    """Ask every Celery worker on the broker which queues it consumes.

    Returns:
        Worker node name -> queue names; empty when no worker answered.
    """
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
    finally:
        app.close()
    return {node: sorted(q["name"] for q in queues) for node, queues in replies.items()}


def live_slots(
    broker_url: str, kinds: Mapping[str, tuple[str, ...]], timeout_s: float = 1.0
) -> dict[str, int]:
    """Count the worker slots now consuming each kind of queue.

    A worker counts towards a kind when it consumes that kind's last queue
    (``cpu`` or ``gpu``), with its pool's max concurrency, less the processes
    kept for control tasks (:func:`airsweep.cluster.components.control_processes`),
    as slots.

    Returns:
        Kind -> slots; empty when no worker answered.
    """
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        inspect = app.control.inspect(timeout=timeout_s)
        queues = inspect.active_queues() or {}
        stats = inspect.stats() or {}
    finally:
        app.close()
    slots = {kind: 0 for kind in kinds}
    for node, consumed in queues.items():
        names = {q["name"] for q in consumed}
        concurrency = int(stats.get(node, {}).get("pool", {}).get("max-concurrency", 0))
        for kind, kind_queues in kinds.items():
            if kind_queues[-1] in names:
                slots[kind] += concurrency - control_processes(names)
    return slots if queues else {}


def missing_queues(queues_by_worker: Mapping[str, list[str]], wanted: tuple[str, ...]) -> list[str]:
    """Queues in ``wanted`` that no worker consumes."""
    served = {queue for queues in queues_by_worker.values() for queue in queues}
    return [queue for queue in wanted if queue not in served]
