"""Shared fixtures of the airsweep library unit tests (no cluster, no Airflow).

Tests of code that needs Postgres (the model registry) get a throwaway embedded
PostgreSQL, started once per session as the cluster starts it (about 1.2 s on an idle
machine: initdb 0.6 s, start 0.6 s).
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from airsweep.artifacts import ArtifactStore
from airsweep.cluster import postgres
from airsweep.cluster.config import ClusterConfig, ClusterConfigError
from airsweep.cluster.environment import DB_USER, OPTUNA_DB
from airsweep.config import SweepConfig
from airsweep.data import prepare_dataset
from airsweep.metrics import Metrics
from airsweep.study import create_study, load_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: Small, fast search spaces for tests that really train.
FAST_SPACE = {
    "random_forest": {
        "n_estimators": {"type": "int", "low": 5, "high": 10},
        "max_depth": {"type": "int", "low": 2, "high": 4},
    },
    "xgboost": {
        "n_estimators": {"type": "int", "low": 3, "high": 6},
        "max_depth": {"type": "int", "low": 2, "high": 3},
    },
}


class FakeStatsClient:
    """Records ``(kind, name, value)`` of every call, like ``statsd.StatsClient``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def incr(self, name: str, value: float = 1) -> None:
        self.calls.append(("incr", name, value))

    def timing(self, name: str, value: float) -> None:
        self.calls.append(("timing", name, value))

    def gauge(self, name: str, value: float) -> None:
        self.calls.append(("gauge", name, value))

    def names(self, kind: str | None = None) -> list[str]:
        return [name for k, name, _ in self.calls if kind in (None, k)]


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    return ArtifactStore((tmp_path / "artifacts").as_uri())


@pytest.fixture
def stats() -> FakeStatsClient:
    return FakeStatsClient()


@pytest.fixture
def metrics(stats: FakeStatsClient) -> Metrics:
    return Metrics(client=stats)


def _make_config(**params: Any) -> SweepConfig:
    """A config of the fast test defaults, overridden by ``params``."""
    defaults = {
        "dataset": "iris",
        "models": ["random_forest"],
        "search_space": {"random_forest": FAST_SPACE["random_forest"]},
        "device": {},
        "n_trials": 4,
        "cv_folds": 2,
    }
    return SweepConfig.from_params({**defaults, **params})


@pytest.fixture
def make_config() -> Callable[..., SweepConfig]:
    """Factory: ``make_config(**params)`` -> SweepConfig of fast test defaults + params."""
    return _make_config


@pytest.fixture
def fast_space() -> dict[str, Any]:
    return FAST_SPACE


@pytest.fixture
def iris_config() -> SweepConfig:
    return _make_config()


@pytest.fixture
def iris_manifest(iris_config: SweepConfig, store: ArtifactStore) -> dict[str, Any]:
    return prepare_dataset(iris_config, store, "run-1")


def _new_study(config: SweepConfig, manifest: dict[str, Any], name: str = "sweep") -> optuna.Study:
    """Create and load a study on fresh in-memory storage."""
    storage = optuna.storages.InMemoryStorage()
    create_study(storage, name, manifest["objectives"], config, manifest)
    return load_study(storage, name, config)


@pytest.fixture
def new_study() -> Callable[..., optuna.Study]:
    """Factory: ``new_study(config, manifest, name="sweep")`` on in-memory storage."""
    return _new_study


def _free_port() -> int:
    """A free loopback port below the ephemeral range, which outgoing connections take from."""
    for port in random.sample(range(20000, 28000), 100):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no free port in 20000-28000")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway embedded PostgreSQL, initialised and run as the cluster does.

    Yields the SQLAlchemy URL of its ``optuna`` database. When it cannot start
    the test is skipped, or fails under ``CI=true``. Its directory is not under
    pytest's temporary root: under root, Postgres runs as another user, who must
    traverse it, and every pytest session that starts makes that root 0700 again.
    """
    port = _free_port()
    home = Path(tempfile.mkdtemp(prefix="airsweep-test-postgres-"))
    env = {"AIRSWEEP_HOME": str(home), "AIRSWEEP_POSTGRES_PORT": str(port)}
    cfg = ClusterConfig.from_env(Path(__file__).resolve().parents[2], env)
    password = secrets.token_urlsafe(16)
    url = f"postgresql+psycopg2://{DB_USER}:{password}@127.0.0.1:{port}/{OPTUNA_DB}"
    log = home / "postgres.log"
    started = time.perf_counter()
    proc = None
    try:
        postgres.ensure_initialized(cfg, password)
        with open(log, "wb") as output:
            proc = subprocess.Popen(
                postgres.server_argv(cfg),
                user=postgres.run_as_user(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        postgres.ensure_databases(url, [OPTUNA_DB], timeout_s=30)
    except (OSError, subprocess.SubprocessError, ClusterConfigError, postgres.PostgresError) as exc:
        if proc is not None:
            proc.kill()
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(home, ignore_errors=True)
        message = f"embedded Postgres did not start: {exc}\n{tail}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    print(f"embedded Postgres started in {time.perf_counter() - started:.2f}s")
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGQUIT)  # immediate shutdown: the data is thrown away
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


_databases = itertools.count()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """The SQLAlchemy URL of a new, empty database on the session's Postgres."""
    url = f"{postgres_server.rpartition('/')[0]}/test_{next(_databases)}"
    postgres.ensure_databases(url, [url.rpartition("/")[2]])
    return url
