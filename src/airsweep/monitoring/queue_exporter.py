r"""Prometheus exporter for Celery queue depth and consumers on the Redis broker.

Airflow's own metrics say how many tasks the executor has *sent*; only the broker
knows how many still wait in each Celery queue. Kombu's Redis transport keeps a
queue as Redis lists: the queue name itself for priority 0 and
``<queue>\x06\x16<step>`` for the other priority steps (``kombu.transport.redis``
``PRIORITY_STEPS`` and ``Channel.sep``). Each scrape sums ``LLEN`` over those keys::

    python -m airsweep.monitoring.queue_exporter \
        --broker-url redis://:pw@127.0.0.1:6379/0 --queues default,cpu,gpu \
        --web-listen 127.0.0.1:9808

Consumers per queue come from Celery's ``inspect().active_queues()`` broadcast, run
in a background thread so that a slow or unreachable broker never stalls a scrape.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from airsweep.monitoring import parse_listen_address

log = logging.getLogger("airsweep.queue_exporter")

QUEUE_LENGTH = "airsweep_celery_queue_length"
QUEUE_CONSUMERS = "airsweep_celery_queue_consumers"
EXPORTER_UP = "airsweep_celery_queue_exporter_up"
SCRAPE_DURATION = "airsweep_celery_queue_exporter_scrape_duration_seconds"
#: Every metric name this exporter can produce.
METRIC_NAMES = (QUEUE_LENGTH, QUEUE_CONSUMERS, EXPORTER_UP, SCRAPE_DURATION)

ActiveQueuesReply = Mapping[str, Sequence[Mapping[str, Any]]]


def queue_keys(queue: str) -> list[str]:
    """Redis list keys that hold one Celery queue's messages.

    Args:
        queue: Celery queue name, e.g. ``cpu``.

    Returns:
        ``[queue, queue + sep + "3", queue + sep + "6", queue + sep + "9"]`` for kombu's
        default priority steps.
    """
    return [queue if step == 0 else f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS]


def count_consumers(reply: ActiveQueuesReply | None, queues: Sequence[str]) -> dict[str, int]:
    """Count workers consuming each queue from an ``active_queues()`` reply.

    Args:
        reply: ``{worker: [{"name": queue, ...}, ...]}`` as returned by
            ``app.control.inspect().active_queues()``; ``None`` when no worker replied.
        queues: Queues to report.

    Returns:
        Queue -> number of workers consuming it (0 when none).
    """
    counts = dict.fromkeys(queues, 0)
    for worker_queues in (reply or {}).values():
        for name in {entry.get("name") for entry in worker_queues}:
            if name in counts:
                counts[name] += 1
    return counts


def mask_url(url: str) -> str:
    """Hide the password of a broker URL for logs.

    Args:
        url: e.g. ``redis://:secret@127.0.0.1:6379/0``.

    Returns:
        The URL with the password replaced by ``***``.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class ConsumerPoller:
    """Polls Celery for the queues each worker consumes, in a daemon thread."""

    def __init__(
        self,
        active_queues: Callable[[], ActiveQueuesReply | None],
        queues: Sequence[str],
        interval: float,
    ) -> None:
        """Create a poller (call :meth:`start`).

        Args:
            active_queues: Returns an ``active_queues()`` reply; may raise.
            queues: Queues to count consumers for.
            interval: Seconds between polls; results older than three intervals
                are treated as unknown.
        """
        self._active_queues = active_queues
        self._queues = tuple(queues)
        self._interval = interval
        self._lock = threading.Lock()
        self._latest: tuple[float, dict[str, int]] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """Ask Celery once and remember the counts (errors are logged, not raised)."""
        try:
            counts = count_consumers(self._active_queues(), self._queues)
        except Exception as exc:  # broker down, bad reply: keep the exporter alive
            log.warning("celery inspect failed: %s", exc)
            return
        with self._lock:
            self._latest = (time.monotonic(), counts)

    def current(self) -> dict[str, int] | None:
        """Latest counts, or ``None`` if there is no recent successful poll."""
        with self._lock:
            if self._latest is None:
                return None
            taken_at, counts = self._latest
        if time.monotonic() - taken_at > 3 * self._interval:
            return None
        return dict(counts)

    def _run(self) -> None:
        while True:
            self.poll_once()
            if self._stop.wait(self._interval):
                return

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="celery-inspect", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waits briefly for an in-flight poll)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def celery_active_queues(broker_url: str, timeout: float) -> Callable[[], ActiveQueuesReply | None]:
    """Build a callable that broadcasts ``active_queues`` to Celery workers.

    Args:
        broker_url: Celery broker URL (same as the workers').
        timeout: Seconds to wait for worker replies.

    Returns:
        A function returning ``{worker: [queue info, ...]}`` or ``None`` (no replies).
    """
    from celery import Celery  # late import: only when consumer polling is on

    app = Celery("airsweep-queue-exporter", broker=broker_url)

    def active_queues() -> ActiveQueuesReply | None:
        return app.control.inspect(timeout=timeout).active_queues()

    return active_queues


class QueueCollector:
    """prometheus_client collector reading queue lengths from Redis at scrape time."""

    def __init__(
        self,
        client: redis.Redis,
        queues: Sequence[str],
        consumers: ConsumerPoller | None = None,
    ) -> None:
        """Create the collector.

        Args:
            client: Redis client of the Celery broker database.
            queues: Celery queue names.
            consumers: Source of consumer counts; ``None`` to not export them.
        """
        self._client = client
        self._queues = tuple(queues)
        self._consumers = consumers

    def queue_lengths(self) -> dict[str, int]:
        """Messages waiting in each queue, all priorities together.

        Returns:
            Queue -> number of messages.

        Raises:
            redis.RedisError: If the broker cannot be read.
        """
        with self._client.pipeline(transaction=False) as pipe:
            for queue in self._queues:
                for key in queue_keys(queue):
                    pipe.llen(key)
            sizes = pipe.execute()
        per_queue = len(PRIORITY_STEPS)
        return {
            queue: sum(sizes[i * per_queue : (i + 1) * per_queue])
            for i, queue in enumerate(self._queues)
        }

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families for one scrape."""
        started = time.perf_counter()
        up = GaugeMetricFamily(EXPORTER_UP, "1 if the last read of the Celery broker succeeded.")
        try:
            lengths = self.queue_lengths()
        except redis.RedisError as exc:
            log.warning("cannot read queue lengths: %s", exc)
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            family = GaugeMetricFamily(
                QUEUE_LENGTH, "Messages waiting in a Celery queue on the broker.", labels=["queue"]
            )
            for queue, length in lengths.items():
                family.add_metric([queue], length)
            yield family
        counts = self._consumers.current() if self._consumers is not None else None
        if counts is not None:
            family = GaugeMetricFamily(
                QUEUE_CONSUMERS, "Celery workers consuming a queue.", labels=["queue"]
            )
            for queue, count in counts.items():
                family.add_metric([queue], count)
            yield family
        yield up
        yield GaugeMetricFamily(
            SCRAPE_DURATION,
            "Time to read the queue lengths from the broker.",
            value=time.perf_counter() - started,
        )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airsweep.monitoring.queue_exporter",
        description="Export Celery queue lengths and consumers (Redis broker) for Prometheus.",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("AIRFLOW__CELERY__BROKER_URL", ""),
        help="redis:// broker URL (default: $AIRFLOW__CELERY__BROKER_URL)",
    )
    parser.add_argument(
        "--queues", default="default,cpu,gpu", help="comma-separated queues (default: %(default)s)"
    )
    parser.add_argument(
        "--web-listen",
        default="127.0.0.1:9808",
        help="HTTP HOST:PORT serving /metrics (default: %(default)s)",
    )
    parser.add_argument(
        "--inspect-interval",
        type=float,
        default=15.0,
        help="seconds between Celery consumer polls; 0 disables them (default: %(default)s)",
    )
    parser.add_argument(
        "--inspect-timeout",
        type=float,
        default=1.0,
        help="seconds to wait for worker replies (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the exporter until SIGTERM/SIGINT.

    Args:
        argv: Command-line arguments without the program name (default: ``sys.argv``).

    Returns:
        0 on a clean stop, 1 if the address cannot be bound, 2 on invalid arguments.
    """
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    try:
        if not args.broker_url:
            raise ValueError("no broker URL: pass --broker-url or set AIRFLOW__CELERY__BROKER_URL")
        if not queues:
            raise ValueError("--queues is empty")
        host, port = parse_listen_address(args.web_listen)
        client = redis.Redis.from_url(
            args.broker_url, socket_timeout=2.0, socket_connect_timeout=2.0
        )
    except ValueError as exc:
        print(f"queue_exporter: {exc}", file=sys.stderr)
        return 2
    poller = None
    if args.inspect_interval > 0:
        poller = ConsumerPoller(
            celery_active_queues(args.broker_url, args.inspect_timeout),
            queues,
            args.inspect_interval,
        )
    registry = CollectorRegistry()
    registry.register(QueueCollector(client, queues, poller))
    try:
        server, thread = start_http_server(port, addr=host or "0.0.0.0", registry=registry)
    except OSError as exc:
        print(f"queue_exporter: cannot listen on {args.web_listen}: {exc}", file=sys.stderr)
        return 1
    if poller is not None:
        poller.start()
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    log.info(
        "ready: broker %s, queues %s, metrics http://%s:%d/metrics",
        mask_url(args.broker_url),
        ",".join(queues),
        *server.server_address[:2],
    )
    try:
        while not stop.wait(timeout=1.0):
            continue
    finally:
        if poller is not None:
            poller.stop()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
