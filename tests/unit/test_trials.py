import pytest
from optuna.trial import TrialState

from airsweep import trials as trials_module
from airsweep.data import prepare_dataset
from airsweep.models.device import GpuUnavailableError, cuda_status
from airsweep.report import fold_scores
from airsweep.trials import BatchContext, BatchFailedError, run_trial_batch


def context(try_number=1, map_index=0, queue="cpu"):
    return BatchContext(
        run_id="run-1",
        map_index=map_index,
        try_number=try_number,
        queue=queue,
        worker="worker-cpu-1",
        n_jobs=1,
    )


def batch(n, model="random_forest", queue="cpu"):
    return {"batch_index": 0, "queue": queue, "trials": {model: n}}


def by_state(study, state):
    return [t for t in study.trials if t.state == state]


@pytest.fixture
def study(new_study, iris_config, iris_manifest):
    return new_study(iris_config, iris_manifest)


def test_batch_completes_every_planned_trial(study, iris_config, iris_manifest, metrics, stats):
    summary = run_trial_batch(batch(3), iris_manifest, iris_config, study, context(), metrics)
    assert {k: summary[k] for k in ("planned", "complete", "pruned", "failed", "skipped_done")} == {
        "planned": 3,
        "complete": 3,
        "pruned": 0,
        "failed": 0,
        "skipped_done": 0,
    }
    assert summary["batch_key"] == "run-1/cpu/0"
    assert (summary["queue"], summary["worker"], summary["device_used"]) == (
        "cpu",
        "worker-cpu-1",
        "cpu",
    )
    assert summary["wall_seconds"] >= summary["fit_seconds"] > 0
    done = by_state(study, TrialState.COMPLETE)
    assert len(done) == 3
    attrs = done[0].user_attrs
    assert attrs["model"] == "random_forest"
    assert attrs["placement"] == {
        "queue": "cpu",
        "map_index": 0,
        "try_number": 1,
        "worker": "worker-cpu-1",
        "hostname": summary["hostname"],
        "device_requested": "cpu",
        "device_used": "cpu",
        "fallback_reason": None,
    }
    assert set(attrs) == {"model", "placement", "fit_seconds"}
    assert attrs["fit_seconds"] > 0
    assert len(fold_scores(done[0])) == 2  # the running mean after each fold
    assert done[0].value == pytest.approx(sum(fold_scores(done[0])) / 2)
    assert done[0].value == done[0].intermediate_values[1]
    assert set(done[0].params) == {
        "random_forest.n_estimators",
        "random_forest.max_depth",
        "random_forest.min_samples_leaf",
        "random_forest.max_features",
    }
    assert stats.names("incr").count("airsweep.trial.started.random_forest.cpu.cpu") == 3
    assert stats.names("incr").count("airsweep.trial.finished.complete.random_forest.cpu.cpu") == 3
    assert stats.names("timing").count("airsweep.trial.duration.random_forest.cpu.cpu") == 3
    assert stats.names("gauge").count("airsweep.trial.score.sweep.random_forest") == 3
    best = [v for kind, name, v in stats.calls if name == "airsweep.sweep.best_score.sweep"]
    assert best[-1] == study.best_value
    assert stats.names("timing")[-1] == "airsweep.batch.duration.cpu"


def test_one_failing_trial_is_recorded_and_the_batch_succeeds(
    study, iris_config, iris_manifest, metrics, stats, monkeypatch
):
    real_suggest = trials_module.suggest
    calls = []

    def flaky(trial, model, space):
        calls.append(trial.number)
        if len(calls) == 1:
            raise ValueError("boom")
        return real_suggest(trial, model, space)

    monkeypatch.setattr(trials_module, "suggest", flaky)
    summary = run_trial_batch(batch(3), iris_manifest, iris_config, study, context(), metrics)
    assert (summary["complete"], summary["failed"]) == (2, 1)
    [failed] = by_state(study, TrialState.FAIL)
    assert failed.user_attrs["error"] == "ValueError: boom"
    assert "airsweep.trial.finished.fail.random_forest.cpu.cpu" in stats.names()


def test_a_batch_whose_trials_all_fail_raises_with_the_first_error(
    study, iris_config, iris_manifest, metrics, monkeypatch
):
    def broken(trial, model, space):
        raise RuntimeError(f"bad trial {trial.number}")

    monkeypatch.setattr(trials_module, "suggest", broken)
    with pytest.raises(
        BatchFailedError, match=r"all 2 trial\(s\) failed; first error: RuntimeError: bad trial 0"
    ):
        run_trial_batch(batch(2), iris_manifest, iris_config, study, context(), metrics)
    assert len(by_state(study, TrialState.FAIL)) == 2


def test_a_trial_over_its_timeout_fails(study, make_config, iris_manifest, metrics, monkeypatch):
    ticks = iter(range(0, 10**6, 1000))
    monkeypatch.setattr(trials_module, "clock", lambda: next(ticks))
    config = make_config(trial_timeout_s=30)
    with pytest.raises(BatchFailedError, match="TrialTimeoutError"):
        run_trial_batch(batch(1), iris_manifest, config, study, context(), metrics)
    [trial] = study.trials
    assert trial.state == TrialState.FAIL
    assert "over trial_timeout_s=30" in trial.user_attrs["error"]
    assert len(fold_scores(trial)) == 1  # stopped after the first fold


def test_retry_runs_only_the_remainder_and_fails_abandoned_trials(
    study, iris_config, iris_manifest, metrics
):
    first = run_trial_batch(
        batch(1), iris_manifest, iris_config, study, context(try_number=1), metrics
    )
    assert first["complete"] == 1
    leftover = study.ask()  # try 1 was killed while running this trial
    for key, value in {
        "model": "random_forest",
        "placement": {"queue": "cpu", "map_index": 0, "try_number": 1},
    }.items():
        leftover.set_user_attr(key, value)

    second = run_trial_batch(
        batch(3), iris_manifest, iris_config, study, context(try_number=2), metrics
    )
    assert (second["skipped_done"], second["complete"], second["planned"]) == (1, 2, 3)
    abandoned = study.trials[leftover.number]
    assert abandoned.state == TrialState.FAIL
    assert abandoned.user_attrs["error"] == "abandoned by try 1"
    complete = by_state(study, TrialState.COMPLETE)
    assert [t.user_attrs["placement"]["try_number"] for t in complete] == [1, 2, 2]

    third = run_trial_batch(
        batch(3), iris_manifest, iris_config, study, context(try_number=3), metrics
    )
    assert (third["skipped_done"], third["complete"], third["failed"]) == (3, 0, 0)
    assert len(by_state(study, TrialState.COMPLETE)) == 3


def test_batches_draw_different_candidates(study, iris_config, iris_manifest, metrics):
    run_trial_batch(batch(1), iris_manifest, iris_config, study, context(map_index=0), metrics)
    run_trial_batch(batch(1), iris_manifest, iris_config, study, context(map_index=1), metrics)
    first, second = study.trials
    assert first.params != second.params
    assert second.user_attrs["placement"]["map_index"] == 1


def test_a_trial_below_the_median_is_pruned(study, iris_config, iris_manifest, metrics, stats):
    for _ in range(5):  # 5 excellent finished trials: the pruner's startup
        trial = study.ask()
        trial.report(1.0, 0)
        trial.report(1.0, 1)
        study.tell(trial, 1.0)
    iris_config = iris_config.from_params(
        {
            **iris_config.to_dict(),
            "search_space": {
                "random_forest": {
                    "max_depth": {"type": "int", "low": 1, "high": 1},
                    "n_estimators": {"type": "int", "low": 1, "high": 1},
                }
            },
        }
    )
    summary = run_trial_batch(batch(1), iris_manifest, iris_config, study, context(), metrics)
    assert summary["pruned"] == 1
    pruned = study.trials[-1]
    assert pruned.state == TrialState.PRUNED
    assert len(fold_scores(pruned)) == 1
    assert pruned.value == pruned.intermediate_values[0] < 1.0
    assert "airsweep.trial.finished.pruned.random_forest.cpu.cpu" in stats.names()


def test_queue_mismatch_is_refused(study, iris_config, iris_manifest, metrics):
    with pytest.raises(ValueError, match="planned for queue 'gpu' but runs on 'cpu'"):
        run_trial_batch(
            batch(1, queue="gpu"), iris_manifest, iris_config, study, context(), metrics
        )


@pytest.fixture
def gpu_sweep(make_config, store, new_study, fast_space):
    def make(fallback):
        config = make_config(
            models=["xgboost"],
            search_space={"xgboost": fast_space["xgboost"]},
            gpu_fallback=fallback,
        )
        manifest = prepare_dataset(config, store, "gpu-run")
        return config, manifest, new_study(config, manifest)

    return make


@pytest.mark.skipif(cuda_status()[0], reason="this machine has a usable CUDA device")
def test_gpu_batch_without_cuda_falls_back_to_cpu_and_records_why(gpu_sweep, metrics, stats):
    config, manifest, study = gpu_sweep("cpu")
    assert config.device == {"xgboost": "gpu"}
    summary = run_trial_batch(
        batch(2, "xgboost", "gpu"), manifest, config, study, context(queue="gpu"), metrics
    )
    assert (summary["device_used"], summary["complete"]) == ("cpu", 2)
    attrs = study.trials[0].user_attrs["placement"]
    assert (attrs["device_requested"], attrs["device_used"]) == ("gpu", "cpu")
    assert attrs["fallback_reason"] == cuda_status()[1] and attrs["fallback_reason"]
    assert "airsweep.trial.started.xgboost.gpu.cpu" in stats.names()


@pytest.mark.skipif(cuda_status()[0], reason="this machine has a usable CUDA device")
def test_gpu_batch_without_cuda_fails_when_fallback_is_fail(gpu_sweep, metrics):
    config, manifest, study = gpu_sweep("fail")
    with pytest.raises(GpuUnavailableError, match="^device: gpu requested but CUDA is not usable"):
        run_trial_batch(
            batch(2, "xgboost", "gpu"), manifest, config, study, context(queue="gpu"), metrics
        )
    assert study.trials == []


def test_an_interrupted_trial_is_failed_before_the_interrupt_propagates(
    study, iris_config, iris_manifest, metrics, monkeypatch
):
    def interrupted(trial, model, space):
        raise KeyboardInterrupt("task timeout")

    monkeypatch.setattr(trials_module, "suggest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_trial_batch(batch(2), iris_manifest, iris_config, study, context(), metrics)
    [trial] = study.trials
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error"] == "interrupted: KeyboardInterrupt('task timeout')"
