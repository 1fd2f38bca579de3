"""StatsD metrics of airsweep itself (trials, runners, sweeps).

The metric names are a public contract (the Prometheus mapping and the
dashboards depend on them); docs/sweeps.md lists them. Every dynamic segment is
sanitized to ``[A-Za-z0-9_-]``. Sending never raises: metrics must not fail a
trial.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from airsweep.settings import get_settings

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
SWEEP_ID_MAX = 64
TRIAL_STATES = ("complete", "fail", "pruned")
SWEEP_STATES = ("success", "failed")


def segment(value: object) -> str:
    """Sanitize one dotted-name segment: every character outside ``[A-Za-z0-9_-]`` -> ``_``."""
    return _UNSAFE.sub("_", str(value)) or "_"


def sweep_id(study_name: str) -> str:
    """Return the short, sanitized id of a sweep used in metric names.

    Names longer than 64 characters keep their start and get a hash suffix, so
    the id stays short and unique.
    """
    sanitized = segment(study_name)
    if len(sanitized) <= SWEEP_ID_MAX:
        return sanitized
    digest = hashlib.sha1(study_name.encode()).hexdigest()[:8]
    return f"{sanitized[: SWEEP_ID_MAX - 9]}_{digest}"


class Metrics:
    """Emit airsweep's StatsD metrics.

    Args:
        client: A ``statsd.StatsClient``-like object (``incr``, ``timing``,
            ``gauge``). Default: created on first use from
            :func:`airsweep.settings.get_settings` (host and port).
        prefix: First segment of every metric name.
    """

    def __init__(self, client: Any = None, prefix: str = "airsweep") -> None:
        self._client = client
        self.prefix = prefix

    def _get_client(self) -> Any:
        """Return the client, created from the settings on first use; ``None`` if that failed."""
        if self._client is None:
            import statsd

            settings = get_settings()
            try:
                self._client = statsd.StatsClient(settings.statsd_host, settings.statsd_port)
            except (OSError, ValueError) as exc:
                logger.warning("StatsD disabled: cannot create client: %s", exc)
                self._client = False
        return self._client or None

    def _send(self, kind: str, parts: tuple[object, ...], value: float) -> None:
        """Send one metric; log and swallow any client error."""
        name = ".".join([self.prefix, *(segment(part) for part in parts)])
        try:
            client = self._get_client()
            if client is not None:
                getattr(client, kind)(name, value)
        except Exception as exc:  # metrics must never fail the caller
            logger.debug("StatsD %s %s failed: %s", kind, name, exc)

    def trial_started(self, model: str, queue: str, device: str) -> None:
        """Count ``trial.started.<model>.<queue>.<device>``."""
        self._send("incr", ("trial", "started", model, queue, device), 1)

    def trial_finished(self, state: str, model: str, queue: str, device: str) -> None:
        """Count ``trial.finished.<state>.<model>.<queue>.<device>``.

        Args:
            state: ``complete``, ``fail`` or ``pruned``.
            model: Model family name.
            queue: Queue of the runner.
            device: Device the trial actually used.
        """
        if state not in TRIAL_STATES:
            raise ValueError(f"state must be one of {TRIAL_STATES}, got {state!r}")
        self._send("incr", ("trial", "finished", state, model, queue, device), 1)

    def trial_timed_out(self, model: str, queue: str, device: str) -> None:
        """Count ``trial.timed_out.<model>.<queue>.<device>``: a trial killed at its timeout.

        Such a trial also counts in ``trial.finished.fail``.
        """
        self._send("incr", ("trial", "timed_out", model, queue, device), 1)

    def trial_duration(self, model: str, queue: str, device: str, ms: float) -> None:
        """Time ``trial.duration.<model>.<queue>.<device>`` (fit time incl. CV, ms)."""
        self._send("timing", ("trial", "duration", model, queue, device), ms)

    def trial_score(self, sweep: str, model: str, value: float) -> None:
        """Gauge ``trial.score.<sweep>.<model>``: the last trial's CV score."""
        self._send("gauge", ("trial", "score", sweep_id(sweep), model), value)

    def best_score(self, sweep: str, value: float) -> None:
        """Gauge ``sweep.best_score.<sweep>``: best COMPLETE score so far."""
        self._send("gauge", ("sweep", "best_score", sweep_id(sweep)), value)

    def trial_lost(self, queue: str) -> None:
        """Count ``trial.lost.<queue>``: a trial failed as lost with its worker (not counted)."""
        self._send("incr", ("trial", "lost", queue), 1)

    def runner_started(self, queue: str, worker: str) -> None:
        """Count ``runner.started.<queue>.<worker>``.

        Also adds 0 to ``trial.lost.<queue>`` and to the idle count of
        ``runner.finished``: counters exist from the first runner on, so their
        rates read 0, not "no data", until something is lost or idle.
        """
        self._send("incr", ("runner", "started", queue, worker), 1)
        self._send("incr", ("trial", "lost", queue), 0)
        self._send("incr", ("runner", "finished", queue, worker, "idle"), 0)

    def runner_finished(self, queue: str, worker: str, idle: bool, ms: float) -> None:
        """Count ``runner.finished.<queue>.<worker>.<busy|idle>``; time ``runner.duration.<queue>``.

        Args:
            queue: Queue of the runner.
            worker: Worker that ran it.
            idle: Whether it found the budget spent and ran no trial.
            ms: Its wall time.
        """
        self._send("incr", ("runner", "finished", queue, worker, "idle" if idle else "busy"), 1)
        self._send("timing", ("runner", "duration", queue), ms)

    def budget_left(self, sweep: str, left: int) -> None:
        """Gauge ``sweep.budget_left.<sweep>``: trials not yet taken from the budget."""
        self._send("gauge", ("sweep", "budget_left", sweep_id(sweep)), left)

    def pool_slots(self, pool: str, slots: int) -> None:
        """Gauge ``pool.slots.<pool>``: the slots of an Airflow pool after a pool-sync round."""
        self._send("gauge", ("pool", "slots", pool), slots)

    def live_slots(self, kind: str, slots: int) -> None:
        """Gauge ``workers.live_slots.<kind>``: trial slots of the live workers of a kind."""
        self._send("gauge", ("workers", "live_slots", kind), slots)

    def prepare_duration(self, dataset: str, ms: float) -> None:
        """Time ``data.prepare_duration.<dataset>`` (ms)."""
        self._send("timing", ("data", "prepare_duration", dataset), ms)

    def sweep_duration(self, dataset: str, ms: float) -> None:
        """Time ``sweep.duration.<dataset>`` (ms, trigger to summary)."""
        self._send("timing", ("sweep", "duration", dataset), ms)

    def time_to_first_trial(self, dataset: str, ms: float) -> None:
        """Time ``sweep.time_to_first_trial.<dataset>`` (ms, dag-run start to first trial)."""
        self._send("timing", ("sweep", "time_to_first_trial", dataset), ms)

    def sweep_finished(self, state: str) -> None:
        """Count ``sweep.finished.<state>`` (``success`` or ``failed``)."""
        if state not in SWEEP_STATES:
            raise ValueError(f"state must be one of {SWEEP_STATES}, got {state!r}")
        self._send("incr", ("sweep", "finished", state), 1)
