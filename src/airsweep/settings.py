"""Runtime settings shared by the DAG tasks, the trial code and the CLI.

Everything is read from environment variables once, into a frozen dataclass.
Importing this module has no side effects; call :func:`get_settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Process-wide settings of airsweep.

    Attributes:
        home: State directory of the native cluster (``AIRSWEEP_HOME``).
        artifact_uri: Root URI of the artifact store (``AIRSWEEP_ARTIFACT_URI``);
            ``file://`` by default, any fsspec URI works.
        optuna_storage: SQLAlchemy URL of the Optuna study database
            (``AIRSWEEP_OPTUNA_STORAGE``); empty when unset.
        statsd_host: StatsD host for airsweep's own metrics.
        statsd_port: StatsD UDP port.
        statsd_prefix: Prefix of airsweep's metric names.
        worker_name: Name of the Celery worker running this process, if any.
        worker_queues: Queues that worker consumes, if any.
        threads_per_slot: CPU threads one trial may use (one worker slot):
            ``AIRSWEEP_THREADS_PER_SLOT``, or on a gpu worker
            ``AIRSWEEP_GPU_THREADS_PER_SLOT`` when set.
        prometheus_url: Prometheus' base URL (``AIRSWEEP_PROMETHEUS_URL``), for the
            dashboard panels of sweep reports; empty when unset.
    """

    home: Path
    artifact_uri: str
    optuna_storage: str
    statsd_host: str
    statsd_port: int
    statsd_prefix: str
    worker_name: str
    worker_queues: tuple[str, ...]
    threads_per_slot: int
    prometheus_url: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``os.environ``)."""
        env = dict(os.environ if environ is None else environ)

        def get(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        home = Path(get("AIRSWEEP_HOME", ".airsweep")).expanduser().resolve()
        airflow_statsd_host = get("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
        airflow_statsd_port = get("AIRFLOW__METRICS__STATSD_PORT", "8125")
        queues = tuple(q for q in get("AIRSWEEP_WORKER_QUEUES", "").split(",") if q)
        threads = get("AIRSWEEP_THREADS_PER_SLOT", "1")
        if "gpu" in queues:  # GPU trials are host-bound on one thread: docs/gpu.md
            threads = get("AIRSWEEP_GPU_THREADS_PER_SLOT", threads)
        return cls(
            home=home,
            artifact_uri=get("AIRSWEEP_ARTIFACT_URI", (home / "artifacts").as_uri()),
            optuna_storage=get("AIRSWEEP_OPTUNA_STORAGE", ""),
            statsd_host=get("AIRSWEEP_STATSD_HOST", airflow_statsd_host),
            statsd_port=int(get("AIRSWEEP_STATSD_PORT", airflow_statsd_port)),
            statsd_prefix=get("AIRSWEEP_STATSD_PREFIX", "airsweep"),
            worker_name=get("AIRSWEEP_WORKER_NAME", ""),
            worker_queues=queues,
            threads_per_slot=max(1, int(threads)),
            prometheus_url=get("AIRSWEEP_PROMETHEUS_URL", ""),
        )


def get_settings() -> Settings:
    """Return the settings of the current process environment."""
    return Settings.from_env()
