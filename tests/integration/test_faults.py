"""The fault suite: break one part of the real cluster mid-sweep, then check nothing was lost.

Every scenario starts the same sweep, waits until trials are running, injects
its fault, and asserts at the end that the sweep succeeded, exactly
``n_trials`` trials count, none is left RUNNING, no task instance ran twice
and the model registry is consistent. docs/reliability.md reports the figures
each scenario records (``AIRSWEEP_FAULT_LOG``: one JSON line per scenario).

The scenarios share the session cluster and run after every other integration
test (tests/integration/conftest.py orders them last).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime

import psutil
import pytest
from celery import Celery
from optuna.trial import TrialState

from airsweep.budget import is_lost
from airsweep.cluster.supervisor import Supervisor
from airsweep.envfile import read_env_file
from tests.integration.conftest import SWEEP, Cluster
from tests.integration.sweep_checks import (
    assert_exact_budget,
    counted,
    kill_tree,
    trials_of,
    wait,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

#: About 30 s of one-second random-forest trials on the session cluster's slots.
SWEEP_CONF = {
    "dataset": "breast_cancer",
    "models": ["random_forest"],
    "n_trials": 40,
    "cv_folds": 3,
    "search_space": {
        "random_forest": {
            "n_estimators": {"type": "int", "low": 100, "high": 200},
            "max_depth": {"type": "int", "low": 4, "high": 8},
        }
    },
}


def _record(scenario: str, **figures: object) -> None:
    """Append one scenario's figures to ``$AIRSWEEP_FAULT_LOG`` when it is set."""
    path = os.environ.get("AIRSWEEP_FAULT_LOG")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps({"scenario": scenario, **figures}) + "\n")


def _running(cluster: Cluster, run_id: str) -> bool:
    return any(t.state == TrialState.RUNNING for t in trials_of(cluster, run_id))


def _program_running(cluster: Cluster, name: str) -> bool:
    return Supervisor(cluster.cfg).states()[name]["statename"] == "RUNNING"


def _no_task_ran_twice(cluster: Cluster, run_id: str) -> None:
    """No two trials of one runner try overlap in time (one task instance, one process)."""
    spans: dict[tuple, list[tuple]] = {}
    for trial in trials_of(cluster, run_id):
        where = trial.user_attrs.get("placement")
        if trial.datetime_complete is None or where is None:  # lost before its placement
            continue
        key = (where["queue"], where["map_index"], where["try_number"])
        spans.setdefault(key, []).append((trial.datetime_start, trial.datetime_complete))
    for key, runs in spans.items():
        runs.sort()
        for (_, end), (start, _) in zip(runs, runs[1:], strict=False):
            assert start >= end, f"runner {key} ran two trials at once: it ran twice"


def _assert_registry_consistent(cluster: Cluster, run_id: str) -> None:
    """The sweep's model is registered, and every registry row points at files that exist."""
    from airsweep.artifacts import ArtifactStore
    from airsweep.registry import ModelRegistry

    store = ArtifactStore(cluster.artifact_uri)
    models = ModelRegistry(cluster.optuna_storage, store).list_models()
    assert run_id in {entry["run_key"] for entry in models}
    for entry in models:
        assert store.exists(entry["model_uri"]), entry
        assert store.exists(entry["card_uri"]), entry


def _sweep_through(
    cluster: Cluster, scenario: str, fault: Callable[[], float], conf: dict = SWEEP_CONF
) -> dict:
    """Run a sweep, inject ``fault`` once trials are running, check the end state.

    ``fault`` returns its recovery time in seconds (until the broken part serves again).
    """
    started = time.monotonic()
    run_id = cluster.trigger(conf)
    wait(lambda: _running(cluster, run_id), 300, "a running trial")
    recovery_s = fault()
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=900)
    wall_s = time.monotonic() - started
    found = trials_of(cluster, run_id)
    lost = [t for t in found if is_lost(t)]
    failed = [t for t in counted(found) if t.state == TrialState.FAIL]
    tis = cluster.client.task_instances(SWEEP, run_id)
    retried = sorted(f"{ti['task_id']}[{ti['map_index']}]" for ti in tis if ti["try_number"] > 1)
    _record(
        scenario,
        state=run["state"],
        wall_s=round(wall_s, 1),
        recovery_s=round(recovery_s, 1),
        trials=len(counted(found)),
        lost=len(lost),
        failed=len(failed),
        retried_tasks=retried,
    )
    assert run["state"] == "success", (scenario, run)
    assert_exact_budget(found, conf["n_trials"])
    _no_task_ran_twice(cluster, run_id)
    _assert_registry_consistent(cluster, run_id)
    return {"run_id": run_id, "lost": lost, "retried": retried, "failed": failed}


def _wait_healthy(cluster: Cluster, since: float) -> float:
    """Wait until every supervised program runs and the API answers; return seconds since."""
    sup = Supervisor(cluster.cfg)

    def healthy() -> bool:
        if any(info["statename"] != "RUNNING" for info in sup.states().values()):
            return False
        try:
            health = cluster.client.request("GET", "/monitor/health")
        except Exception:  # noqa: BLE001 - not up yet, whatever the error
            return False
        return all(part.get("status") == "healthy" for part in health.values())

    wait(healthy, 300, "the cluster to be healthy again")
    return time.monotonic() - since


@pytest.fixture(scope="module")
def calm(cluster: Cluster) -> float:
    """Wall time of the undisturbed sweep, for comparison."""
    started = time.monotonic()
    run_id = cluster.trigger(SWEEP_CONF)
    assert cluster.client.wait_for_run(SWEEP, run_id, timeout_s=900)["state"] == "success"
    wall = time.monotonic() - started
    _record("undisturbed", state="success", wall_s=round(wall, 1))
    return wall


def _kill_program(cluster: Cluster, name: str) -> float:
    """kill -9 a supervised program's whole process tree; wait for the restart."""
    killed_at = time.monotonic()
    assert kill_tree(Supervisor(cluster.cfg).states()[name]["pid"]) >= 1
    return _wait_healthy(cluster, killed_at)


def test_killing_the_scheduler_loses_nothing(cluster, calm):
    result = _sweep_through(
        cluster, "kill -9 scheduler", lambda: _kill_program(cluster, "scheduler")
    )
    assert not result["retried"], "running tasks are adopted, not failed and retried"
    assert not result["lost"]


def test_killing_the_api_server_fails_no_task(cluster, calm):
    result = _sweep_through(
        cluster, "kill -9 api-server", lambda: _kill_program(cluster, "api-server")
    )
    assert not result["retried"], "workers retry their Execution API calls; no task fails"
    assert not result["lost"]


def _celery(cluster: Cluster) -> Celery:
    """A Celery client of the cluster's broker (a new one after Redis restarts)."""
    broker = read_env_file(cluster.cfg.path("cluster.env"))["AIRFLOW__CELERY__BROKER_URL"]
    return Celery(broker=broker)


def _queued(cluster: Cluster, queue: str) -> int:
    """Messages waiting in a Celery queue (a Redis list), asked on a new connection."""
    with _celery(cluster).connection_for_write() as conn:
        return conn.default_channel.client.llen(queue)


def _consume(cluster: Cluster, worker: str, queue: str) -> None:
    """Make ``worker`` consume ``queue`` again, asking until it says it does."""

    def consuming() -> bool:
        app = _celery(cluster)
        with contextlib.suppress(Exception):  # its broker connection may still be coming back
            app.control.add_consumer(queue, destination=[worker], reply=True, timeout=2)
            queues = app.control.inspect(destination=[worker], timeout=2).active_queues() or {}
            return queue in {q["name"] for q in queues.get(worker, [])}
        return False

    wait(consuming, 120, f"{worker} to consume {queue} again")


def test_restarting_redis_with_tasks_queued_loses_none(cluster, calm):
    # The cpu worker stops taking runners, so the cpu side's runners wait in Redis
    # while the gpu side's runner runs trials; then Redis restarts under both.
    cpu_worker = f"worker-cpu@{socket.gethostname()}"
    conf = {
        **SWEEP_CONF,
        "models": ["random_forest", "xgboost"],
        "device": {"xgboost": "gpu"},
        "search_space": {
            **SWEEP_CONF["search_space"],
            "xgboost": {"n_estimators": {"type": "int", "low": 20, "high": 60}},
        },
    }
    reply = _celery(cluster).control.cancel_consumer("cpu", destination=[cpu_worker], reply=True)
    assert reply, "the cpu worker did not answer cancel_consumer"

    def restart_redis() -> float:
        wait(lambda: _queued(cluster, "cpu") > 0, 120, "a cpu runner queued in Redis")
        queued = _queued(cluster, "cpu")
        sup = Supervisor(cluster.cfg)
        restarted_at = time.monotonic()
        sup.stop(["redis"])
        sup.rpc.startProcess("redis", True)
        wait(lambda: _answers(lambda: _queued(cluster, "cpu")), 60, "Redis to answer")
        assert _queued(cluster, "cpu") == queued, "runners queued in Redis were lost"
        _consume(cluster, cpu_worker, "cpu")
        return _wait_healthy(cluster, restarted_at)

    try:
        result = _sweep_through(cluster, "restart Redis, runners queued", restart_redis, conf)
    finally:
        _consume(cluster, cpu_worker, "cpu")
    assert not result["lost"]


def _answers(ask: Callable[[], object]) -> bool:
    """Whether ``ask()`` returns without raising."""
    try:
        ask()
    except Exception:  # noqa: BLE001 - any error means not yet
        return False
    return True


def test_postgres_away_for_15_seconds_keeps_the_study_consistent(cluster, calm):
    def stop_postgres() -> float:
        sup = Supervisor(cluster.cfg)
        stopped_at = time.monotonic()
        sup.stop(["postgres"])
        time.sleep(15)
        sup.rpc.startProcess("postgres", True)
        return _wait_healthy(cluster, stopped_at)

    _sweep_through(cluster, "stop Postgres 15 s", stop_postgres)


def test_down_and_up_mid_sweep_completes_the_sweep(cluster, calm):
    def down_up() -> float:
        down_at = time.monotonic()
        result = cluster.airsweep("down")
        assert result.returncode == 0, result.stdout + result.stderr
        result = cluster.airsweep("up", "--timeout", "400")
        assert result.returncode == 0, result.stdout + result.stderr
        return _wait_healthy(cluster, down_at)

    _sweep_through(cluster, "make down / make up", down_up)


def test_two_sweeps_finishing_together_register_both_and_crown_one(cluster, calm):
    from airsweep.artifacts import ArtifactStore
    from airsweep.registry import ModelRegistry

    conf = {"dataset": "iris", "models": ["logistic_regression"], "n_trials": 6, "cv_folds": 2}
    run_ids = [cluster.trigger(conf) for _ in range(2)]
    runs = [cluster.client.wait_for_run(SWEEP, run_id, timeout_s=900) for run_id in run_ids]
    assert [run["state"] for run in runs] == ["success", "success"]
    ends = []
    for run_id in run_ids:
        [ti] = [
            t for t in cluster.client.task_instances(SWEEP, run_id) if t["task_id"] == "finalize"
        ]
        ends.append(datetime.fromisoformat(ti["end_date"]))
    registry = ModelRegistry(cluster.optuna_storage, ArtifactStore(cluster.artifact_uri))
    entries = {entry["run_key"]: entry for entry in registry.list_models()}
    assert set(run_ids) <= set(entries), "both sweeps' models are registered"
    mine = entries[run_ids[0]]
    task = (mine["fingerprint"], mine["metric"])
    assert entries[run_ids[1]]["fingerprint"] == mine["fingerprint"]
    # Replaying every registration of this dataset and metric in order, with the
    # strictly-better rule, must give the champion the registry holds.
    expected = None
    for entry in sorted(entries.values(), key=lambda e: e["registered_at"]):
        if (entry["fingerprint"], entry["metric"]) != task:
            continue
        sign = 1 if entry["direction"] == "maximize" else -1
        if expected is None or sign * entry["test_score"] > sign * expected["test_score"]:
            expected = entry
    assert registry.champion(*task)["run_key"] == expected["run_key"]
    _record(
        "two sweeps finishing together",
        state="success",
        finalize_gap_s=round(abs((ends[0] - ends[1]).total_seconds()), 1),
        registered=2,
        champions=1,
    )
    for run_id in run_ids:
        assert_exact_budget(trials_of(cluster, run_id), conf["n_trials"])
        _no_task_ran_twice(cluster, run_id)
        _assert_registry_consistent(cluster, run_id)


#: Seconds a trial may run in the hung-fit scenario.
HUNG_TIMEOUT_S = 5
#: Random forests of hundreds of thousands of trees (about 10 minutes per fold on one
#: thread here) next to logistic regressions of a fraction of a second; 3 of each.
HUNG_CONF = {
    "dataset": "breast_cancer",
    "models": ["random_forest", "logistic_regression"],
    "model_budget": "even",
    "n_trials": 6,
    "cv_folds": 2,
    "trial_timeout_s": HUNG_TIMEOUT_S,
    "search_space": {
        "random_forest": {"n_estimators": {"type": "int", "low": 300_000, "high": 400_000}}
    },
}


def test_a_hung_fit_is_killed_at_the_trial_timeout_and_the_sweep_goes_on(cluster, calm):
    started = time.monotonic()
    run_id = cluster.trigger(HUNG_CONF)
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=400)
    wall_s = time.monotonic() - started
    found = trials_of(cluster, run_id)
    slow = [t for t in found if t.user_attrs.get("model") == "random_forest"]
    fast = [t for t in found if t.user_attrs.get("model") == "logistic_regression"]
    _record(
        f"hung fit, trial_timeout_s={HUNG_TIMEOUT_S}",
        state=run["state"],
        wall_s=round(wall_s, 1),
        trials=len(counted(found)),
        timed_out=sum(str(t.user_attrs.get("error", "")).startswith("timeout:") for t in slow),
    )
    assert run["state"] == "success"
    assert_exact_budget(found, HUNG_CONF["n_trials"])
    assert len(found) == HUNG_CONF["n_trials"]  # none lost: no runner died or was retried
    assert (len(slow), len(fast)) == (3, 3)
    for trial in slow:
        assert trial.state == TrialState.FAIL
        error = trial.user_attrs["error"]
        assert error.startswith(
            f"timeout: trial passed trial_timeout_s={HUNG_TIMEOUT_S} and was killed after "
        ), error
        assert error.endswith("(0/2 folds done)"), error
        assert HUNG_TIMEOUT_S <= trial.user_attrs["fit_seconds"] < HUNG_TIMEOUT_S + 5
    assert [t.state for t in fast] == [TrialState.COMPLETE] * 3
    # 3 killed trials of 5 s and 3 quick ones on 2 slots, plus the sweep's own tasks.
    assert wall_s < calm + 120, (wall_s, calm)
    tis = cluster.client.task_instances(SWEEP, run_id)
    runners = [ti for ti in tis if ti["task_id"] == "cpu_trials"]
    assert runners and all((ti["state"], ti["try_number"]) == ("success", 1) for ti in runners)
    # No fit outlives its sweep: a task's processes (its trial process included, forked
    # from it) carry the task instance's id in their title ("airflow worker -- <id>").
    ids = {ti["id"] for ti in tis}
    left = []
    for proc in cluster.cluster_processes():
        try:
            title = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if any(ti_id in title for ti_id in ids):
            left.append(title)
    assert left == []
    _no_task_ran_twice(cluster, run_id)
    _assert_registry_consistent(cluster, run_id)
