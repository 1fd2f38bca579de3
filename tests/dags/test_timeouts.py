"""Every hpo_sweep task has an execution_timeout, set from airflow/airflow.env at parse time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airsweep.envfile import read_env_file
from tests.dags.conftest import DAGS, ROOT

RUNNERS = {"cpu_trials", "gpu_trials"}


def parse(monkeypatch, **env):
    from airflow.dag_processing.dagbag import DagBag

    for name in ("AIRSWEEP_RUNNER_TIMEOUT_H", "AIRSWEEP_CONTROL_TIMEOUT_H"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return DagBag(dag_folder=str(DAGS / "hpo_sweep.py"), safe_mode=False)


def timeouts(dagbag) -> dict[str, timedelta]:
    return {task.task_id: task.execution_timeout for task in dagbag.dags["hpo_sweep"].tasks}


def test_every_task_has_a_timeout_and_runners_a_generous_one(monkeypatch):
    found = timeouts(parse(monkeypatch))
    assert {task for task, timeout in found.items() if timeout is None} == set()
    assert {found[task] for task in RUNNERS} == {timedelta(hours=48)}
    assert {t for task, t in found.items() if task not in RUNNERS} == {timedelta(hours=6)}


def test_the_shipped_settings_are_what_the_dag_reads(monkeypatch):
    shared = read_env_file(ROOT / "airflow" / "airflow.env")
    found = timeouts(
        parse(
            monkeypatch,
            AIRSWEEP_RUNNER_TIMEOUT_H=shared["AIRSWEEP_RUNNER_TIMEOUT_H"],
            AIRSWEEP_CONTROL_TIMEOUT_H=shared["AIRSWEEP_CONTROL_TIMEOUT_H"],
        )
    )
    assert found["cpu_trials"] == timedelta(hours=float(shared["AIRSWEEP_RUNNER_TIMEOUT_H"]))
    assert found["setup"] == timedelta(hours=float(shared["AIRSWEEP_CONTROL_TIMEOUT_H"]))


def test_the_settings_change_the_timeouts(monkeypatch):
    found = timeouts(
        parse(monkeypatch, AIRSWEEP_RUNNER_TIMEOUT_H="0.5", AIRSWEEP_CONTROL_TIMEOUT_H="1")
    )
    assert found["gpu_trials"] == timedelta(minutes=30)
    assert found["finalize"] == timedelta(hours=1)


@pytest.mark.parametrize("value", ["soon", "0", "-2", "nan", "inf"])
def test_a_bad_setting_is_an_import_error_naming_it(monkeypatch, value):
    dagbag = parse(monkeypatch, AIRSWEEP_RUNNER_TIMEOUT_H=value)
    [error] = dagbag.import_errors.values()
    assert (
        f"ValueError: AIRSWEEP_RUNNER_TIMEOUT_H: expected a positive number of hours, "
        f"got {value!r}" in error
    )
