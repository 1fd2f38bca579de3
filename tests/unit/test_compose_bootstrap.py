"""``airsweep bootstrap``, the compose ``airflow-init`` step (Postgres and airflow faked)."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from airsweep.cli import main
from airsweep.cluster import bootstrap as boot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://u:p@postgres:5432/airflow",
        "AIRSWEEP_OPTUNA_STORAGE": "postgresql+psycopg2://u:p@postgres:5432/optuna",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "auth" / "pw.json"),
        "AIRSWEEP_ADMIN_PASSWORD": "s3cret",
        "AIRSWEEP_CPU_WORKER_CONCURRENCY": "3",
        "AIRSWEEP_GPU_WORKER_CONCURRENCY": "1",
        "AIRSWEEP_CPU_WORKERS": "2",
    }


@pytest.fixture
def calls(monkeypatch) -> list[tuple]:
    """Record database creation and airflow commands instead of running them."""
    recorded: list[tuple] = []

    def ensure_databases(url: str, names: list[str]) -> None:
        recorded.append(("create", url.rpartition("@")[2], names))

    def run(command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        args = command[1:]
        if args[:2] == ["pools", "import"]:
            args = [*args[:2], json.loads(Path(args[2]).read_text())]
        recorded.append(("airflow", *args))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(boot.postgres, "ensure_databases", ensure_databases)
    monkeypatch.setattr(boot.subprocess, "run", run)
    return recorded


def test_pool_sizes_follow_worker_slots(env):
    sizes = boot.pool_sizes(ROOT, {**env, "AIRSWEEP_CPU_WORKERS": "4", "AIRSWEEP_GPU_WORKERS": "2"})
    assert {name: slots for name, (slots, _) in sizes.items()} == {
        "cpu_trials": 12,
        "gpu_trials": 2,
    }


def test_bootstrap_creates_databases_migrates_and_sizes_pools(env, calls, tmp_path):
    slots = boot.bootstrap(ROOT, env, out=lambda line: None)
    assert slots == {"cpu_trials": 6, "gpu_trials": 1}
    assert calls[:3] == [
        ("create", "postgres:5432/airflow", ["airflow"]),
        ("create", "postgres:5432/optuna", ["optuna"]),
        ("airflow", "db", "migrate"),
    ]
    assert calls[3][:3] == ("airflow", "pools", "import")
    assert {name: pool["slots"] for name, pool in calls[3][3].items()} == slots
    password_file = tmp_path / "auth" / "pw.json"
    assert json.loads(password_file.read_text()) == {"admin": "s3cret"}
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600


def test_bootstrap_names_missing_variables(env, calls):
    del env["AIRSWEEP_ADMIN_PASSWORD"]
    with pytest.raises(boot.BootstrapError, match="AIRSWEEP_ADMIN_PASSWORD"):
        boot.bootstrap(ROOT, env)
    assert calls == []


def test_bootstrap_rejects_a_bad_worker_count_before_touching_anything(env, calls):
    env["AIRSWEEP_CPU_WORKERS"] = "zero"
    with pytest.raises(boot.BootstrapError, match="AIRSWEEP_CPU_WORKERS"):
        boot.bootstrap(ROOT, env)
    assert calls == []


def test_bootstrap_stops_when_migration_fails(env, monkeypatch):
    monkeypatch.setattr(boot.postgres, "ensure_databases", lambda url, names: None)
    monkeypatch.setattr(
        boot.subprocess, "run", lambda command, check: subprocess.CompletedProcess(command, 3)
    )
    with pytest.raises(boot.BootstrapError, match="db migrate.*3"):
        boot.bootstrap(ROOT, env)


def test_cli_sizes_pools_from_the_environment(env, calls, monkeypatch):
    for key, value in {**env, "AIRSWEEP_CPU_WORKERS": "5"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRSWEEP_ROOT", str(ROOT))
    assert main(["bootstrap"]) == 0
    assert calls[-1][3]["cpu_trials"]["slots"] == 15
