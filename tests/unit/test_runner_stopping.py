"""Runners on threads against one study stop on its stopping rules (airsweep.stopping)."""

from __future__ import annotations

import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from airsweep import runner as runner_module
from airsweep.budget import Choice
from airsweep.runner import Runner, RunnerContext
from airsweep.stopping import STOP_REASON
from airsweep.study_lock import ThreadStudyLock


def runner(config, manifest, study, metrics, index=0):
    """A cpu runner with its own handle on ``study`` (as on another worker)."""
    own = optuna.load_study(study_name=study.study_name, storage=study._storage)
    context = RunnerContext("run-1", "cpu", index, 1, f"worker-{index}", 1)
    plan = {"queue": "cpu", "models": list(config.models)}
    lock = ThreadStudyLock(study.study_name)
    return Runner(plan, manifest, config, own, context, lock, None, metrics)


def run_on_threads(config, manifest, study, metrics, n=3):
    summaries = []

    def one(index):
        summaries.append(runner(config, manifest, study, metrics, index).run())

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a runner did not stop"
    return summaries


@pytest.fixture
def stop_writes(monkeypatch):
    """Every ``stop_reason`` written to a study, in order."""
    writes = []
    real = optuna.Study.set_user_attr

    def spy(self, key, value):
        if key == STOP_REASON:
            writes.append(value)
        real(self, key, value)

    monkeypatch.setattr(optuna.Study, "set_user_attr", spy)
    return writes


def test_runners_stop_at_the_timeout_record_why_once_and_finish_their_trials(
    new_study, make_config, iris_manifest, metrics, stop_writes
):
    config = make_config(n_trials=10_000, timeout_s=1)
    study = new_study(config, iris_manifest, name="timeout")
    started = time.time()
    summaries = run_on_threads(config, iris_manifest, study, metrics)
    assert time.time() - started < 30
    reason = study.user_attrs[STOP_REASON]
    assert reason.startswith("timeout_s=1 reached after 1 s, ")
    assert reason.endswith(" of 10000 trials")
    assert stop_writes == [reason]  # the first runner to see it records it; the others read it
    assert [s["stop_reason"] for s in summaries] == [reason] * 3
    assert 0 < len(study.trials) < 10_000
    # Running trials finished (COMPLETE or PRUNED: the median pruner is on).
    assert all(t.state.is_finished() for t in study.trials)
    assert sum(s["trials"] for s in summaries) == len(study.trials)


def test_runners_stop_once_a_trial_reaches_the_target_score(
    new_study, make_config, iris_manifest, metrics, stop_writes
):
    config = make_config(n_trials=10_000, metric="accuracy", target_score=0.0)
    study = new_study(config, iris_manifest, name="target")
    summaries = run_on_threads(config, iris_manifest, study, metrics)
    first = min(study.trials, key=lambda t: t.datetime_complete)
    assert stop_writes == [f"target_score=0 reached by trial {first.number} ({first.value:.6g})"]
    assert len(study.trials) <= 3  # at most one trial per runner was taken before it
    assert {s["stop_reason"] for s in summaries} == set(stop_writes)


def test_runners_stop_when_patience_runs_out(
    new_study, make_config, iris_manifest, metrics, stop_writes
):
    config = make_config(n_trials=10_000, patience=3)
    study = new_study(config, iris_manifest, name="patience")
    run_on_threads(config, iris_manifest, study, metrics)
    assert stop_writes == [study.user_attrs[STOP_REASON]]
    assert stop_writes[0].startswith("patience=3: no improvement in the last ")
    values = [t.value for t in sorted(study.trials, key=lambda t: t.datetime_complete)]
    # The first time 3 finished trials in a row did not improve on the best before them:
    fired = next(k for k in range(4, len(values) + 1) if max(values[: k - 3]) >= max(values[:k]))
    assert len(values) <= fired + 2  # then only the other 2 runners' running trials finished


def test_a_stopped_sweep_ends_its_runners_without_waiting_for_running_trials(
    new_study, make_config, iris_manifest, metrics, stop_writes, monkeypatch
):
    monkeypatch.setattr(runner_module, "WAIT_POLL_S", 0.05)
    config = make_config(n_trials=2, timeout_s=60)
    study = new_study(config, iris_manifest, name="no-wait")
    for _ in range(2):  # running on other workers: they hold the whole budget
        study.ask().set_user_attr("model", "random_forest")
    one = runner(config, iris_manifest, study, metrics)
    assert one.take() == Choice(False, reason="budget spent (n_trials=2)", wait=True)  # not stopped
    monkeypatch.setattr(runner_module, "wall_clock", lambda: time.time() + 61)
    stopped = one.take()
    assert stopped.reason.startswith("timeout_s=60 reached after 61 s, 2 of 2")
    assert (stopped.take, stopped.wait) == (False, False)
    summaries = run_on_threads(config, iris_manifest, study, metrics, n=1)
    assert summaries[0]["stop_reason"] == stopped.reason
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 2  # they finish on their own


def test_after_a_stop_runners_end_on_the_recorded_reason_without_reading_trials(
    new_study, make_config, iris_manifest, metrics, stop_writes, monkeypatch
):
    config = make_config(n_trials=100, patience=1, target_score=0.0)
    study = new_study(config, iris_manifest, name="recorded")
    busy = runner(config, iris_manifest, study, metrics, index=1)
    assert busy.run()["stop_reason"].startswith("target_score=0 reached by trial 0")

    def no_trials(*args, **kwargs):
        raise AssertionError("a runner of a stopped sweep must not read the trials")

    monkeypatch.setattr(optuna.Study, "get_trials", no_trials)
    # Mid-loop (another runner recorded it) and at the start: one read of the attrs.
    assert busy.take() == Choice(False, reason=stop_writes[0])
    started = time.perf_counter()
    late = runner(config, iris_manifest, study, metrics, index=2).run()
    assert time.perf_counter() - started < 1.0
    assert (late["trials"], late["stop_reason"]) == (0, stop_writes[0])
    assert len(stop_writes) == 1  # patience would fire now too: the first reason is kept
