"""The ``airsweep`` command against the real cluster: sweeps, models and workers, in JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from optuna.trial import TrialState

from tests.integration.conftest import SWEEP, Cluster
from tests.integration.sweep_checks import trials_of, wait

pytestmark = pytest.mark.integration

#: A small, fast sweep: 4 logistic regressions on iris.
SMALL = ("--dataset", "iris", "--models", "logistic_regression", "--n-trials", "4")
#: A sweep slow enough to cancel mid-trial: random forests of many trees, many trials.
SLOW_CONF = {
    "dataset": "breast_cancer",
    "models": ["random_forest"],
    "n_trials": 60,
    "cv_folds": 3,
    "search_space": {"random_forest": {"n_estimators": {"type": "int", "low": 300, "high": 400}}},
}


def run_json(cluster: Cluster, *args: str, code: int = 0) -> dict:
    """Run ``airsweep ARGS --json``, check its exit code and parse its last line."""
    result = cluster.airsweep(*args, "--json")
    assert result.returncode == code, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def small_sweep(cluster: Cluster) -> str:
    """Start :data:`SMALL` with ``--json --no-wait``; return its run id."""
    triggered = run_json(cluster, "sweep", "start", *SMALL, "--no-wait")
    assert triggered["event"] == "triggered" and triggered["url"].endswith(triggered["run_id"])
    return triggered["run_id"]


def test_watch_follows_a_sweep_to_its_end_in_plain_lines(cluster, small_sweep):
    result = cluster.airsweep("sweep", "watch", small_sweep, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b" not in result.stdout  # piped: no terminal control codes
    progress = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert progress and "trials 4/4" in progress[-1]
    assert "Best model : logistic_regression" in result.stdout
    finished = run_json(cluster, "sweep", "watch", small_sweep)  # already over: one look
    assert (finished["event"], finished["state"]) == ("finished", "success")


def test_show_has_the_leaderboard_best_model_test_score_and_timings(cluster, small_sweep):
    shown = run_json(cluster, "sweep", "show", small_sweep)
    assert (shown["state"], shown["n_trials"], shown["cancelled"]) == ("success", 4, False)
    summary = shown["summary"]
    assert summary["model"] == "logistic_regression" and 0 <= summary["test_score"] <= 1
    assert summary["leaderboard"][0]["rank"] == 1
    assert shown["best_params"] and shown["progress"]["done"] == 4
    assert shown["stop_reason"] == "budget spent (n_trials=4)"
    assert shown["timing"]["wall_seconds"] > 0 and shown["duration_s"] > 0
    text = cluster.airsweep("sweep", "show", small_sweep)
    assert text.returncode == 0 and "Test score : accuracy" in text.stdout
    assert "Report     : " in text.stdout  # the HTML report's URI, or why there is none


def test_list_has_the_sweep_with_its_study_counts(cluster, small_sweep):
    listed = run_json(cluster, "sweep", "list", "--limit", "50")
    row = next(r for r in listed["sweeps"] if r["run_id"] == small_sweep)
    assert (row["state"], row["trials"], row["dataset"]) == ("success", 4, "iris")
    assert row["best_value"] > 0
    only_failed = run_json(cluster, "sweep", "list", "--state", "failed")["sweeps"]
    assert all(r["state"] == "failed" for r in only_failed)
    assert small_sweep in cluster.airsweep("sweep", "list").stdout


def test_cancel_ends_a_running_sweep_with_no_trial_left_running(cluster, small_sweep):
    run_id = cluster.trigger(SLOW_CONF)
    wait(
        lambda: any(t.state == TrialState.RUNNING for t in trials_of(cluster, run_id)),
        300,
        "a running trial",
    )
    running = run_json(cluster, "sweep", "show", run_id)
    assert running["state"] == "running" and running["progress"]["total"] == 60
    assert running["summary"] is None and not running["cancelled"]
    cancelled = run_json(cluster, "sweep", "cancel", run_id)
    assert cancelled["was"] == "running" and cancelled["running"] == []
    assert cluster.client.dag_run(SWEEP, run_id)["state"] == "failed"
    trials = trials_of(cluster, run_id)
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    assert len(trials) < SLOW_CONF["n_trials"]
    shown = run_json(cluster, "sweep", "show", run_id)
    assert shown["cancelled"] and shown["stop_reason"].startswith("cancelled")
    assert cluster.airsweep("sweep", "watch", run_id).returncode == 1  # the sweep's state
    again = cluster.airsweep("sweep", "cancel", run_id)
    assert again.returncode == 1 and "nothing to cancel" in again.stderr

    compared = run_json(cluster, "sweep", "compare", small_sweep, run_id)
    assert [s["run_id"] for s in compared["sweeps"]] == [small_sweep, run_id]
    assert [s["cancelled"] for s in compared["sweeps"]] == [False, True]
    text = cluster.airsweep("sweep", "compare", small_sweep, run_id).stdout
    assert "cancelled" in text and "test score" in text


def test_models_list_and_show_read_the_registry(cluster, small_sweep):
    models = run_json(cluster, "models", "list")["models"]
    mine = next(m for m in models if m["run_key"] == small_sweep)
    assert mine["model"] == "logistic_regression" and mine["dataset_name"] == "iris"
    champions = run_json(cluster, "models", "list", "--champions")["models"]
    assert champions and all(m["champion"] for m in champions)
    assert len({(m["fingerprint"], m["metric"]) for m in champions}) == len(champions)
    shown = run_json(cluster, "models", "show", small_sweep)
    assert shown["card_uri"] == mine["card_uri"]
    assert shown["champion"] == (shown["champion_run_key"] == small_sweep)


def test_workers_lists_every_queue_with_its_slots(cluster):
    found = run_json(cluster, "workers")
    queues = {q["queue"]: q for q in found["queues"]}
    assert set(queues) == {"default", "cpu", "gpu"}
    assert all(q["workers"] for q in queues.values())
    assert queues["cpu"]["slots"] >= 2 and queues["cpu"]["pool"]["name"] == "cpu_trials"
    assert all(q["waiting"] is not None for q in queues.values())
    assert {w["kind"] for w in found["workers"]} == {"control", "cpu", "gpu"}
    assert "worker-cpu" in cluster.airsweep("workers").stdout


def test_unknown_runs_and_models_exit_4_with_one_line(cluster):
    for args in (("sweep", "show", "nope"), ("models", "show", "nope")):
        result = cluster.airsweep(*args)
        assert result.returncode == 4, result.stderr
        assert result.stderr.startswith("airsweep: ") and result.stderr.count("\n") == 1


def test_the_command_works_outside_the_checkout_given_airsweep_home(cluster, small_sweep, tmp_path):
    env = {k: v for k, v in cluster.env.items() if k not in ("AIRSWEEP_ROOT", "AIRSWEEP_PORT_BASE")}
    result = subprocess.run(
        [sys.executable, "-m", "airsweep", "sweep", "list", "--json"],
        cwd=tmp_path,
        env={**env, "AIRSWEEP_HOME": str(cluster.cfg.home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert small_sweep in {row["run_id"] for row in json.loads(result.stdout)["sweeps"]}


def test_params_the_api_refuses_exit_2_with_one_line(cluster):
    result = cluster.airsweep("sweep", "start", "--n-trials", "0", "--no-wait")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == (
        "airsweep: rejected: Invalid input for param n_trials: 0 is less than the minimum of 1\n"
    )
