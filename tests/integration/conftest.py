"""A real native cluster (Postgres, Redis, Airflow 3, Celery) for the integration tests.

One cluster is started per test session in a temporary state directory on its
own ports, driven through the ``airsweep`` command and the REST API, and
stopped at the end; stopping must leave no process behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from airsweep.client import AirflowClient
from airsweep.cluster.config import PORT_OFFSETS, ClusterConfig
from airsweep.envfile import read_env_file

ROOT = Path(__file__).resolve().parents[2]
SWEEP = "hpo_sweep"

#: A small sweep over both queues with one model that always fails: random forest and
#: a logistic regression whose only C is invalid on the cpu queue, xgboost on the gpu queue.
E2E_CONF = {
    "dataset": "breast_cancer",
    "models": ["random_forest", "logistic_regression", "xgboost"],
    "device": {"xgboost": "gpu"},
    "n_trials": 9,
    "cv_folds": 2,
    "search_space": {
        "random_forest": {"n_estimators": {"type": "int", "low": 10, "high": 30}},
        "logistic_regression": {"C": {"type": "categorical", "choices": [-1.0]}},
        "xgboost": {"n_estimators": {"type": "int", "low": 10, "high": 40}},
    },
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the fault suite last: it breaks the shared cluster on purpose."""
    items.sort(key=lambda item: item.get_closest_marker("faults") is not None)


def _ports_free(base: int) -> bool:
    for offset, _ in PORT_OFFSETS.values():
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", base + offset)) == 0:
                return False
    return True


def _free_port_base() -> int:
    for base in range(38000, 60000, 1000):
        if _ports_free(base):
            return base
    raise RuntimeError("no free port range for the test cluster")


@dataclass
class Cluster:
    """Handle on the test cluster."""

    cfg: ClusterConfig
    env: dict[str, str]
    client: AirflowClient

    def airsweep(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run the ``airsweep`` command against this cluster."""
        return subprocess.run(
            [sys.executable, "-m", "airsweep", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    @property
    def secrets(self) -> dict[str, str]:
        return read_env_file(self.cfg.path("secrets.env"))

    @property
    def optuna_storage(self) -> str:
        return read_env_file(self.cfg.path("cluster.env"))["AIRSWEEP_OPTUNA_STORAGE"]

    @property
    def artifact_uri(self) -> str:
        return read_env_file(self.cfg.path("cluster.env"))["AIRSWEEP_ARTIFACT_URI"]

    def trigger(self, conf: dict) -> str:
        """Trigger an hpo_sweep run through the REST API; return its run id."""
        self.client.wait_for_dag(SWEEP)
        return self.client.trigger(SWEEP, conf)["dag_run_id"]

    def cluster_processes(self) -> list[psutil.Process]:
        """Every live process whose command line mentions this cluster's state dir."""
        home = str(self.cfg.home)
        found = []
        for proc in psutil.process_iter(["cmdline", "environ"]):
            try:
                cmdline = " ".join(proc.info["cmdline"] or [])
                environ = proc.info["environ"] or {}
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if home in cmdline or environ.get("AIRSWEEP_HOME") == home:
                found.append(proc)
        return found


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("airsweep-home")
    env = {
        **os.environ,
        "AIRSWEEP_HOME": str(home),
        "AIRSWEEP_PORT_BASE": str(_free_port_base()),
        "AIRSWEEP_ROOT": str(ROOT),
    }
    cfg = ClusterConfig.from_env(ROOT, env)
    handle = Cluster(cfg, env, client=None)  # type: ignore[arg-type]
    result = handle.airsweep("up", "--timeout", "400")
    if result.returncode != 0:
        handle.airsweep("down")
        pytest.fail(f"airsweep up failed:\n{result.stdout}\n{result.stderr}")
    handle.client = AirflowClient(cfg.api_url, "admin", handle.secrets["AIRSWEEP_ADMIN_PASSWORD"])
    try:
        yield handle
    finally:
        handle.client.close()
        down = handle.airsweep("down")
        leftovers = handle.cluster_processes()
        for proc in leftovers:
            proc.kill()
        assert down.returncode == 0, down.stderr
        assert not leftovers, f"processes left after down: {[p.cmdline() for p in leftovers]}"


@dataclass
class FinishedSweep:
    """A sweep that ran to the end on the test cluster."""

    run_id: str
    run: dict
    conf: dict


@pytest.fixture(scope="session")
def finished_sweep(cluster: Cluster) -> FinishedSweep:
    """Run :data:`E2E_CONF` once; sweep and monitoring tests inspect it."""
    run_id = cluster.trigger(E2E_CONF)
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=900)
    return FinishedSweep(run_id, run, E2E_CONF)
