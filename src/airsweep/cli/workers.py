"""``airsweep workers``: the Celery workers online per queue, their slots, what runs, what waits.

Reads the live workers (:func:`airsweep.workers.current_workers`: the
pool-sync snapshot, else Celery ``inspect``), what each runs now
(:func:`airsweep.workers.busy_slots`), the messages waiting in each queue
(Redis ``LLEN``, :class:`airsweep.monitoring.queue_exporter.QueueCollector`)
and the trial pools (REST API). It needs the broker: a remote cluster needs
``AIRFLOW__CELERY__BROKER_URL``. Exit code 1 when a queue has no live worker.
"""

from __future__ import annotations

import argparse
from typing import Any

from airsweep.cli.context import add_client_options, connect
from airsweep.cli.output import ExitCode, print_json
from airsweep.console import table
from airsweep.queues import TRIAL_KINDS, WORKER_QUEUES


def queue_rows(
    workers: list[dict[str, Any]], depths: dict[str, int], pools: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per queue: its workers, slots, busy slots, waiting messages, GPU and pool.

    Args:
        workers: :func:`worker_rows`' rows.
        depths: Queue -> messages waiting on the broker.
        pools: Pool name -> the REST API's pool (``slots``, ``running_slots``, ...).

    Returns:
        Rows with ``queue``, ``kind``, ``workers`` (names), ``slots``, ``busy``,
        ``waiting``, ``gpu`` (a live worker announced a usable CUDA device) and
        ``pool`` (``{"name", "slots", "running", "queued"}`` of a trial kind's pool,
        else ``None``).
    """
    rows = []
    for kind, queues in WORKER_QUEUES.items():
        mine = [w for w in workers if w["kind"] == kind]
        pool = pools.get(f"{kind}_trials") if kind in TRIAL_KINDS else None
        rows.append(
            {
                "queue": queues[-1],
                "kind": kind,
                "workers": [w["name"] for w in mine],
                "slots": sum(w["slots"] for w in mine),
                "busy": sum(w["busy"] or 0 for w in mine),
                "waiting": depths.get(queues[-1]),
                "gpu": any(w["cuda"] is True for w in mine),
                "pool": None
                if pool is None
                else {
                    "name": pool["name"],
                    "slots": pool["slots"],
                    "running": pool["running_slots"],
                    "queued": pool["queued_slots"],
                },
            }
        )
    return rows


def worker_rows(live: Any, busy: dict[str, int]) -> list[dict[str, Any]]:
    """One row per live worker (:class:`airsweep.workers.LiveWorkers`), with its busy slots."""
    return [
        {
            "name": w.name,
            "kind": w.kind,
            "queue": WORKER_QUEUES[w.kind][-1],
            "slots": w.slots,
            "busy": busy.get(w.name),
            "cuda": w.cuda,
            "cuda_reason": w.cuda_reason,
        }
        for w in live.workers
    ]


def workers_text(queues: list[dict[str, Any]], workers: list[dict[str, Any]]) -> str:
    """The two tables of ``airsweep workers``: per queue, then per worker."""
    per_queue = table(
        ("queue", "workers", "slots", "busy", "waiting", "gpu", "pool"),
        (
            (
                q["queue"],
                len(q["workers"]),
                q["slots"] if q["kind"] in TRIAL_KINDS else f"{q['slots']} (control)",
                q["busy"],
                q["waiting"],
                "yes" if q["gpu"] else "no",
                f"{q['pool']['name']} {q['pool']['running']}/{q['pool']['slots']}"
                if q["pool"]
                else None,
            )
            for q in queues
        ),
    )
    per_worker = table(
        ("worker", "queue", "slots", "busy", "cuda"),
        (
            (
                w["name"],
                w["queue"],
                w["slots"],
                w["busy"],
                {True: "usable", False: "no", None: "-"}[w["cuda"]],
            )
            for w in workers
        ),
    )
    return per_queue + "\n\n" + (per_worker if workers else "no live worker")


def _cmd_workers(args: argparse.Namespace) -> int:
    import redis

    from airsweep.monitoring.queue_exporter import QueueCollector
    from airsweep.workers import busy_slots, current_workers

    conn = connect(args)
    broker = conn.require_broker("workers")
    live = current_workers(broker)
    workers = worker_rows(live, busy_slots(broker, [w.name for w in live.workers]))
    queues = [queue for queues in WORKER_QUEUES.values() for queue in queues]
    client = redis.Redis.from_url(broker, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        depths = QueueCollector(client, queues).queue_lengths()
    finally:
        client.close()
    pools = {p["name"]: p for p in conn.client().request("GET", "/pools")["pools"]}
    rows = queue_rows(workers, depths, pools)
    if args.json:
        print_json({"queues": rows, "workers": workers})
    else:
        print(workers_text(rows, workers))
    return ExitCode.OK if all(row["workers"] for row in rows) else ExitCode.FAILED


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``workers`` to the ``airsweep`` parser's subcommands."""
    workers = sub.add_parser(
        "workers",
        help="workers online per queue: slots, busy, waiting tasks, GPU (exit 1: a queue has none)",
    )
    add_client_options(workers)
    workers.set_defaults(func=_cmd_workers)
