"""``airsweep component pool-sync``: the trial pools follow the live Celery worker slots.

Every ``AIRSWEEP_POOL_SYNC_INTERVAL_S`` seconds (default 5) it asks the workers
on the broker for their queues, slots and announced CUDA device
(:func:`airsweep.workers.inspect_workers`), stores the answer in Redis for the
sweep (:func:`airsweep.workers.publish`), and sets the slots of each pool of
``airflow/pools.json`` (``slots_per``: a worker kind) to the live slots of that
kind through the Airflow REST API, as user ``admin`` (``AIRSWEEP_ADMIN_PASSWORD``).
Only the trial kinds, ``cpu`` and ``gpu``, have pools and slots; the control
worker (queue ``default``) is listed in the snapshot but sizes nothing.

A pool is never shrunk to 0: no live slot of a kind means its workers are
restarting (or not started yet), and the pool keeps its size until they answer.
A failure (broker or api-server down) is logged and retried next round; SIGTERM
or SIGINT stops the loop after the round in progress.

Environment: ``AIRFLOW__CELERY__BROKER_URL``, ``AIRSWEEP_ADMIN_PASSWORD``,
``AIRSWEEP_API_URL`` (else ``AIRFLOW__CORE__EXECUTION_API_SERVER_URL`` less
``/execution/``), ``AIRSWEEP_ROOT`` (finds ``airflow/pools.json``), and
optionally ``AIRSWEEP_POOL_SYNC_INTERVAL_S`` and ``AIRSWEEP_POOL_SYNC_HEARTBEAT``
(a file touched every round, for a container healthcheck).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from airsweep.client import AirflowAPIError, AirflowClient
from airsweep.metrics import Metrics
from airsweep.workers import LiveWorkers, inspect_workers, publish

log = logging.getLogger("airsweep.pool_sync")

INTERVAL_VARIABLE = "AIRSWEEP_POOL_SYNC_INTERVAL_S"
HEARTBEAT_VARIABLE = "AIRSWEEP_POOL_SYNC_HEARTBEAT"
DEFAULT_INTERVAL_S = 5.0


@dataclass(frozen=True)
class PoolChange:
    """A pool whose slots should change.

    Attributes:
        pool: Airflow pool name.
        kind: Worker kind the pool follows.
        old: Its slots now.
        new: The live slots of its kind.
    """

    pool: str
    kind: str
    old: int
    new: int


def _slots(count: int) -> str:
    return f"{count} slot" if count == 1 else f"{count} slots"


def pool_kinds(root: Path) -> dict[str, str]:
    """Pool name -> worker kind (``slots_per``) from ``<root>/airflow/pools.json``."""
    spec = json.loads((root / "airflow" / "pools.json").read_text())
    return {name: pool["slots_per"] for name, pool in spec.items()}


def pool_changes(
    current: Mapping[str, int], kinds: Mapping[str, str], live: Mapping[str, int]
) -> list[PoolChange]:
    """Decide which pools to resize.

    Args:
        current: Pool name -> slots now; a pool missing here is left alone.
        kinds: Pool name -> the worker kind it follows.
        live: Worker kind -> live trial slots (:attr:`airsweep.workers.LiveWorkers.slots`).

    Returns:
        One change per pool whose slots differ from the live slots of its
        kind, except that no pool goes to 0 (its workers are restarting).
    """
    changes = []
    for pool, kind in kinds.items():
        new = live.get(kind, 0)
        old = current.get(pool)
        if old is not None and new > 0 and new != old:
            changes.append(PoolChange(pool, kind, old, new))
    return changes


def api_url(env: Mapping[str, str]) -> str:
    """The api-server URL: ``AIRSWEEP_API_URL``, else the Execution API URL less ``/execution/``.

    Raises:
        ValueError: Neither variable is set.
    """
    explicit = env.get("AIRSWEEP_API_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    execution = env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "").strip().rstrip("/")
    if execution.endswith("/execution"):
        return execution.removesuffix("/execution")
    raise ValueError("set AIRSWEEP_API_URL (or AIRFLOW__CORE__EXECUTION_API_SERVER_URL)")


class PoolSync:
    """One pool-sync loop: inspect, publish, resize.

    Args:
        broker_url: The Celery broker (and snapshot) URL.
        client: A client of the Airflow REST API allowed to edit pools.
        kinds: Pool name -> worker kind (:func:`pool_kinds`).
        metrics: Receives the gauges.
        inspect: Returns the live workers (default :func:`inspect_workers`).
        store: Stores the snapshot (default :func:`airsweep.workers.publish`).
    """

    def __init__(
        self,
        broker_url: str,
        client: AirflowClient,
        kinds: Mapping[str, str],
        metrics: Metrics | None = None,
        inspect: Callable[[str], LiveWorkers] = inspect_workers,
        store: Callable[[str, LiveWorkers], None] = publish,
    ) -> None:
        self.broker_url = broker_url
        self.client = client
        self.kinds = dict(kinds)
        self.metrics = metrics or Metrics()
        self._inspect = inspect
        self._store = store
        self._held: set[str] = set()
        self._missing: set[str] = set()

    def current_pools(self) -> dict[str, dict]:
        """Each pool of the spec as the API returns it; missing pools are left out."""
        pools = {}
        for name in self.kinds:
            try:
                pools[name] = self.client.request("GET", f"/pools/{name}")
            except AirflowAPIError as exc:
                if exc.status != 404:
                    raise
                if name not in self._missing:
                    log.warning("pool %s does not exist: `airsweep bootstrap` creates it", name)
                self._missing.add(name)
            else:
                self._missing.discard(name)
        return pools

    def run_once(self) -> list[PoolChange]:
        """One round: inspect the workers, publish the snapshot, resize the pools.

        Returns:
            The changes made.

        Raises:
            Exception: Whatever the broker or the API raised; nothing is retried here.
        """
        live = self._inspect(self.broker_url)
        self._store(self.broker_url, live)
        slots = live.slots
        for kind, count in slots.items():
            self.metrics.live_slots(kind, count)
        pools = self.current_pools()
        current = {name: int(pool["slots"]) for name, pool in pools.items()}
        changes = pool_changes(current, self.kinds, slots)
        for change in changes:
            body = {
                "name": change.pool,
                "slots": change.new,
                "include_deferred": pools[change.pool].get("include_deferred", False),
            }
            # Airflow 3.3 validates name and include_deferred too; the mask updates slots only.
            self.client.request(
                "PATCH", f"/pools/{change.pool}", params={"update_mask": "slots"}, json=body
            )
            current[change.pool] = change.new
            log.info(
                "pool %s: %d -> %s (live workers: %s)",
                change.pool,
                change.old,
                _slots(change.new),
                live.describe(change.kind),
            )
        self._log_held(current, slots)
        for name, count in current.items():
            self.metrics.pool_slots(name, count)
        return changes

    def _log_held(self, current: Mapping[str, int], slots: Mapping[str, int]) -> None:
        """Log once when a pool starts or stops being held at its size for lack of workers."""
        for pool, kind in self.kinds.items():
            held = pool in current and slots.get(kind, 0) == 0
            if held and pool not in self._held:
                log.info(
                    "pool %s: kept at %s: no live %s worker", pool, _slots(current[pool]), kind
                )
                self._held.add(pool)
            elif not held:
                self._held.discard(pool)

    def run(self, stop: threading.Event, interval_s: float, heartbeat: Path | None = None) -> None:
        """Run rounds every ``interval_s`` seconds (start to start) until ``stop`` is set."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.run_once()
            except Exception as exc:  # broker or api-server down: try again next round
                log.warning("pool sync failed: %s: %s", type(exc).__name__, exc)
            if heartbeat is not None:
                heartbeat.touch()
            stop.wait(max(0.0, interval_s - (time.monotonic() - started)))


def main() -> int:
    """Run the pool sync until SIGTERM/SIGINT; configured by the environment (module doc).

    Returns:
        0 on a clean stop, 2 when the environment is incomplete.
    """
    from airsweep.cluster.config import find_root

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    env = os.environ
    try:
        broker_url = env.get("AIRFLOW__CELERY__BROKER_URL", "").strip()
        password = env.get("AIRSWEEP_ADMIN_PASSWORD", "").strip()
        if not broker_url or not password:
            raise ValueError("set AIRFLOW__CELERY__BROKER_URL and AIRSWEEP_ADMIN_PASSWORD")
        url = api_url(env)
        interval_s = float(env.get(INTERVAL_VARIABLE, "").strip() or DEFAULT_INTERVAL_S)
        if interval_s <= 0:
            raise ValueError(f"{INTERVAL_VARIABLE}: expected a positive number of seconds")
        kinds = pool_kinds(find_root())
    except (ValueError, OSError) as exc:
        print(f"pool-sync: {exc}", file=sys.stderr)
        return 2
    heartbeat = Path(env[HEARTBEAT_VARIABLE]) if env.get(HEARTBEAT_VARIABLE) else None
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    client = AirflowClient(url, "admin", password, timeout_s=10)
    log.info("pools %s follow the live worker slots; api %s, every %gs", kinds, url, interval_s)
    try:
        PoolSync(broker_url, client, kinds).run(stop, interval_s, heartbeat)
    finally:
        client.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
