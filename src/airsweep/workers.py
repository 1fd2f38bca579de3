"""The Celery workers that are live now: their kind, trial slots and CUDA device.

Workers are asked over the broker (Celery's ``inspect`` broadcast): which
queues each consumes (its kind), its pool's concurrency (its slots) and the
``airsweep_cuda`` setting it announced at start (``airsweep component
worker-gpu`` probes CUDA once; cpu and control workers announce ``False``).

Asking takes about a second, so the pool-sync component asks every few
seconds and keeps the answer in Redis (the broker) under
:data:`SNAPSHOT_KEY` for :data:`SNAPSHOT_TTL_S`; :func:`current_workers`
reads that snapshot and asks the workers itself only when it is missing.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airsweep.queues import CONTROL_KIND, TRIAL_KINDS, WORKER_QUEUES

log = logging.getLogger(__name__)

#: Celery setting in which a worker announces whether it has a usable CUDA device.
CUDA_KEY = "airsweep_cuda"
#: Celery setting with the reason CUDA is not usable (``None`` when it is).
CUDA_REASON_KEY = "airsweep_cuda_reason"
#: Redis key of the live-workers snapshot.
SNAPSHOT_KEY = "airsweep:live-workers"
#: Seconds a snapshot stays valid: several pool-sync rounds.
SNAPSHOT_TTL_S = 30
#: Kinds in the order a worker's queues are matched: a trial kind wins over the control
#: kind, so a worker that consumes ``default`` besides ``cpu`` still counts as cpu.
_MATCH_ORDER = (*TRIAL_KINDS, *(k for k in WORKER_QUEUES if k not in TRIAL_KINDS))

_PROBE = (
    "import json; from airsweep.models.device import cuda_status; print(json.dumps(cuda_status()))"
)


@dataclass(frozen=True)
class LiveWorker:
    """One Celery worker that answered.

    Attributes:
        name: Celery node name, e.g. ``worker-cpu@host``.
        kind: ``cpu``, ``gpu`` or ``control``: the kind in
            :data:`airsweep.queues.WORKER_QUEUES` whose last queue it consumes.
        slots: Its pool's max concurrency. For a cpu or gpu worker these are
            its trial slots (each Celery process runs one trial runner); a
            control worker's processes run control tasks, not trials.
        cuda: Whether it announced a usable CUDA device; ``None`` if it did not
            announce (a worker started without ``airsweep component``).
        cuda_reason: Why CUDA is not usable, as announced; ``None`` otherwise.
    """

    name: str
    kind: str
    slots: int
    cuda: bool | None
    cuda_reason: str | None = None


@dataclass(frozen=True)
class LiveWorkers:
    """The workers that answered one inspection.

    Attributes:
        workers: The workers, sorted by name.
    """

    workers: tuple[LiveWorker, ...] = ()

    @property
    def slots(self) -> dict[str, int]:
        """Trial slots per trial kind: ``{"cpu": n, "gpu": m}`` (0 when none).

        Control workers have no trial slots and are not counted.
        """
        slots = dict.fromkeys(TRIAL_KINDS, 0)
        for worker in self.workers:
            if worker.kind in slots:
                slots[worker.kind] += worker.slots
        return slots

    @property
    def gpu_usable(self) -> bool:
        """Whether a live gpu worker announced a usable CUDA device."""
        return any(w.kind == "gpu" and w.cuda is True for w in self.workers)

    def of_kind(self, kind: str) -> tuple[LiveWorker, ...]:
        """The workers of ``kind``."""
        return tuple(w for w in self.workers if w.kind == kind)

    def describe(self, kind: str | None = None) -> str:
        """One line naming the workers (of ``kind`` if given) and their slots, for logs."""
        workers = self.workers if kind is None else self.of_kind(kind)
        if not workers:
            return "none"
        parts = []
        for w in workers:
            cuda = {True: ", cuda", False: ", no cuda", None: ""}[w.cuda] if w.kind == "gpu" else ""
            unit = ("process", "processes") if w.kind == CONTROL_KIND else ("slot", "slots")
            parts.append(f"{w.name} ({w.kind}, {w.slots} {unit[w.slots != 1]}{cuda})")
        return ", ".join(parts)

    def to_json(self) -> str:
        """Serialize as ``{"workers": [{name, kind, slots, cuda, cuda_reason}, ...]}``."""
        return json.dumps({"workers": [asdict(w) for w in self.workers]}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> LiveWorkers:
        """Parse :meth:`to_json` output.

        Raises:
            ValueError: ``text`` is not such a document.
        """
        try:
            items = json.loads(text)["workers"]
            workers = tuple(
                LiveWorker(
                    name=str(item["name"]),
                    kind=str(item["kind"]),
                    slots=int(item["slots"]),
                    cuda=item["cuda"] if isinstance(item["cuda"], bool) else None,
                    cuda_reason=item.get("cuda_reason"),
                )
                for item in items
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a live-workers document: {exc!r}") from exc
        return cls(workers)

    @classmethod
    def from_replies(
        cls,
        active_queues: Mapping[str, Any] | None,
        stats: Mapping[str, Any] | None,
        conf: Mapping[str, Any] | None,
    ) -> LiveWorkers:
        """Build the view from Celery ``inspect`` replies.

        Args:
            active_queues: ``{node: [{"name": queue, ...}, ...]}`` from ``active_queues()``.
            stats: ``{node: {"pool": {"max-concurrency": n, ...}, ...}}`` from ``stats()``.
            conf: ``{node: {setting: value, ...}}`` from ``conf()``.

        Returns:
            One worker per node that consumes the last queue of a kind (a trial
            kind before the control kind); nodes consuming none of them are left
            out. A node missing from ``stats`` has 0 slots, one missing from
            ``conf`` ``cuda=None``.
        """
        stats, conf = stats or {}, conf or {}
        workers = []
        for node, consumed in sorted((active_queues or {}).items()):
            if not isinstance(consumed, list):  # an error reply
                continue
            names = frozenset(q.get("name") for q in consumed if isinstance(q, Mapping))
            kind = next((k for k in _MATCH_ORDER if WORKER_QUEUES[k][-1] in names), None)
            if kind is None:
                continue
            pool = (stats.get(node) or {}).get("pool") or {}
            concurrency = int(pool.get("max-concurrency") or 0)
            announced = conf.get(node) or {}
            cuda = announced.get(CUDA_KEY)
            reason = announced.get(CUDA_REASON_KEY)
            workers.append(
                LiveWorker(
                    name=node,
                    kind=kind,
                    slots=concurrency,
                    cuda=cuda if isinstance(cuda, bool) else None,
                    cuda_reason=reason if isinstance(reason, str) else None,
                )
            )
        return cls(tuple(workers))


def inspect_workers(broker_url: str, timeout_s: float = 1.0) -> LiveWorkers:
    """Ask every Celery worker on the broker for its queues, pool and announced CUDA.

    ``active_queues`` waits the whole ``timeout_s`` (the number of workers is
    unknown); ``stats`` and ``conf`` go only to the workers that answered and
    return as soon as they all did.

    Args:
        broker_url: The Celery broker URL (``AIRFLOW__CELERY__BROKER_URL``).
        timeout_s: Seconds to wait for replies to each broadcast.

    Returns:
        The workers that answered; empty when none did.
    """
    from celery import Celery

    app = Celery("airsweep-workers", broker=broker_url)
    try:
        queues = app.control.inspect(timeout=timeout_s).active_queues() or {}
        if not queues:
            return LiveWorkers()
        nodes = sorted(queues)
        known = app.control.inspect(destination=nodes, timeout=timeout_s, limit=len(nodes))
        stats = known.stats() or {}
        conf = known.conf() or {}
    finally:
        app.close()
    return LiveWorkers.from_replies(queues, stats, conf)


def busy_slots(broker_url: str, nodes: list[str], timeout_s: float = 1.0) -> dict[str, int]:
    """Ask the workers ``nodes`` how many tasks each runs now (Celery ``inspect().active()``).

    Returns:
        Node -> tasks running; a node that did not answer is missing.
    """
    from celery import Celery

    if not nodes:
        return {}
    app = Celery("airsweep-workers", broker=broker_url)
    try:
        inspect = app.control.inspect(destination=nodes, timeout=timeout_s, limit=len(nodes))
        replies = inspect.active() or {}
    finally:
        app.close()
    return {node: len(tasks) for node, tasks in replies.items() if isinstance(tasks, list)}


def _redis(broker_url: str) -> Any:
    import redis

    return redis.Redis.from_url(broker_url, socket_timeout=2.0, socket_connect_timeout=2.0)


def publish(broker_url: str, live: LiveWorkers, ttl_s: int = SNAPSHOT_TTL_S) -> None:
    """Store ``live`` as the snapshot in the broker's Redis for ``ttl_s`` seconds.

    Raises:
        redis.RedisError: The broker cannot be written.
    """
    client = _redis(broker_url)
    try:
        client.set(SNAPSHOT_KEY, live.to_json(), ex=ttl_s)
    finally:
        client.close()


def read_snapshot(broker_url: str) -> LiveWorkers | None:
    """Return the snapshot in the broker's Redis; ``None`` if missing, expired or unreadable."""
    import redis

    try:
        client = _redis(broker_url)
        try:
            raw = client.get(SNAPSHOT_KEY)
        finally:
            client.close()
        return None if raw is None else LiveWorkers.from_json(raw)
    except (redis.RedisError, ValueError, OSError) as exc:
        log.debug("no live-workers snapshot: %s", exc)
        return None


def current_workers(broker_url: str, timeout_s: float = 1.0) -> LiveWorkers:
    """The live workers: the snapshot when it lists any, else asked now (``timeout_s``).

    Fast (one Redis read) while the pool-sync component runs.
    """
    snapshot = read_snapshot(broker_url)
    if snapshot is not None and snapshot.workers:
        return snapshot
    return inspect_workers(broker_url, timeout_s)


def probe_cuda(timeout_s: float = 300) -> tuple[bool, str | None]:
    """Run :func:`airsweep.models.device.cuda_status` in a fresh interpreter.

    A CUDA context does not survive ``fork``: the Celery worker must not
    create one before forking its pool, so the probe runs in a child process.

    Returns:
        ``(usable, reason)``; ``reason`` says why CUDA is not usable, else ``None``.
    """
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=dict(os.environ),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"CUDA probe did not run: {type(exc).__name__}: {exc}"
    lines = result.stdout.strip().splitlines()
    try:
        usable, reason = json.loads(lines[-1])
    except (IndexError, ValueError, TypeError):
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"CUDA probe failed (exit {result.returncode}): {tail}"
    return bool(usable), reason if isinstance(reason, str) else None


def cuda_announcement(kind: str) -> dict[str, bool | str | None]:
    """The Celery settings a worker of ``kind`` announces about CUDA.

    A gpu worker probes once (:func:`probe_cuda`); any other kind (cpu,
    control) announces ``False`` without probing (no xgboost import).

    Returns:
        ``{CUDA_KEY: usable, CUDA_REASON_KEY: reason}``.
    """
    if kind != "gpu":
        return {CUDA_KEY: False, CUDA_REASON_KEY: f"{kind} worker: CUDA not probed"}
    usable, reason = probe_cuda()
    return {CUDA_KEY: usable, CUDA_REASON_KEY: reason}
