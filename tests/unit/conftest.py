"""Shared fixtures of the airsweep library unit tests (no cluster, no Airflow)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import pytest

from airsweep.artifacts import ArtifactStore
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
    create_study(storage, name, manifest["direction"], config, manifest)
    return load_study(storage, name, config)


@pytest.fixture
def new_study() -> Callable[..., optuna.Study]:
    """Factory: ``new_study(config, manifest, name="sweep")`` on in-memory storage."""
    return _new_study
