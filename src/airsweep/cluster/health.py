"""Health checks of a running cluster, as ``make up`` and ``make status`` report them."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

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


def live_workers_line(broker_url: str) -> str:
    """One line naming the live workers, their slots and announced CUDA, for ``status``."""
    from airsweep.workers import current_workers

    try:
        return "live workers: " + current_workers(broker_url).describe()
    except Exception as exc:  # broker down: status still reports the rest
        return f"live workers: unknown ({type(exc).__name__})"


def missing_queues(queues_by_worker: Mapping[str, list[str]], wanted: tuple[str, ...]) -> list[str]:
    """Queues in ``wanted`` that no worker consumes."""
    served = {queue for queues in queues_by_worker.values() for queue in queues}
    return [queue for queue in wanted if queue not in served]
