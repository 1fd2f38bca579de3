import os
import signal
import threading
import time
from collections import Counter

import optuna
import psutil
import pytest
from optuna.trial import TrialState

from airsweep import crossval as crossval_module
from airsweep import runner as runner_module
from airsweep import trials as trials_module
from airsweep.budget import WORKER_LOST, Choice
from airsweep.data import prepare_dataset
from airsweep.models.device import GpuUnavailableError, cuda_status
from airsweep.report import fold_scores
from airsweep.runner import Runner, RunnerContext, family_param
from airsweep.shutdown import STOP_FILE_ENV, WorkerStopping
from airsweep.study_lock import ThreadStudyLock


def context(try_number=1, map_index=0, queue="cpu", worker="worker-cpu-1"):
    return RunnerContext(
        run_id="run-1",
        queue=queue,
        map_index=map_index,
        try_number=try_number,
        worker=worker,
        n_jobs=1,
    )


def run(config, manifest, study, metrics, queue="cpu", models=None, **ctx):
    plan = {"queue": queue, "models": models or list(config.models)}
    lock = ThreadStudyLock(study.study_name)
    return Runner(
        plan, manifest, config, study, context(queue=queue, **ctx), lock, None, metrics
    ).run()


def by_state(study, state):
    return [t for t in study.trials if t.state == state]


@pytest.fixture
def study(new_study, iris_config, iris_manifest):
    return new_study(iris_config, iris_manifest)


def test_a_runner_takes_trials_until_the_budget_is_spent(
    study, iris_config, iris_manifest, metrics, stats
):
    summary = run(iris_config, iris_manifest, study, metrics)
    assert iris_config.n_trials == 4
    assert {k: summary[k] for k in ("trials", "complete", "pruned", "failed", "lost")} == {
        "trials": 4,
        "complete": 4,
        "pruned": 0,
        "failed": 0,
        "lost": 0,
    }
    assert (summary["runner"], summary["stop_reason"]) == ("cpu/0", "budget spent (n_trials=4)")
    assert summary["wall_seconds"] >= summary["fit_seconds"] > 0
    done = by_state(study, TrialState.COMPLETE)
    assert len(done) == 4
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
    assert len(fold_scores(done[0])) == 2  # the running mean after each fold
    assert done[0].value == pytest.approx(sum(fold_scores(done[0])) / 2)
    # One family: no family param, only the family's own.
    assert set(done[0].params) == {
        "random_forest.n_estimators",
        "random_forest.max_depth",
        "random_forest.min_samples_leaf",
        "random_forest.max_features",
    }
    names = stats.names()
    assert names.count("airsweep.trial.started.random_forest.cpu.cpu") == 4
    assert names.count("airsweep.trial.finished.complete.random_forest.cpu.cpu") == 4
    assert names.count("airsweep.runner.started.cpu.worker-cpu-1") == 1
    assert names.count("airsweep.runner.finished.cpu.worker-cpu-1.busy") == 1
    assert ("incr", "airsweep.runner.finished.cpu.worker-cpu-1.idle", 0) in stats.calls
    left = [v for _, name, v in stats.calls if name == "airsweep.sweep.budget_left.sweep"]
    assert left == [4, 3, 2, 1, 0]
    best = [v for _, name, v in stats.calls if name == "airsweep.sweep.best_score.sweep"]
    assert best[-1] == study.best_value


def test_a_runner_started_after_the_budget_is_spent_ends_at_once_without_loading_data(
    study, iris_config, iris_manifest, metrics, stats, monkeypatch
):
    run(iris_config, iris_manifest, study, metrics)

    def no_data(*args, **kwargs):
        raise AssertionError("an idle runner must not load the dataset")

    monkeypatch.setattr(trials_module, "load_split", no_data)
    # Set by the runner that found it spent:
    assert study.user_attrs["stop_reason"] == "budget spent (n_trials=4)"

    def no_trials(*args, **kwargs):
        raise AssertionError("a runner started after the budget was spent must not read trials")

    monkeypatch.setattr(optuna.Study, "get_trials", no_trials)
    started = time.perf_counter()
    summary = run(iris_config, iris_manifest, study, metrics, map_index=1)
    assert time.perf_counter() - started < 1.0
    assert (summary["trials"], summary["stop_reason"]) == (0, "budget spent (n_trials=4)")
    monkeypatch.undo()
    assert ("incr", "airsweep.runner.finished.cpu.worker-cpu-1.idle", 1) in stats.calls
    assert len(study.trials) == 4


def test_failing_trials_are_recorded_and_count_but_never_fail_the_runner(
    study, iris_config, iris_manifest, metrics, stats, monkeypatch
):
    def broken(trial, model, space):
        raise RuntimeError(f"bad trial {trial.number}")

    monkeypatch.setattr(trials_module, "suggest", broken)
    summary = run(iris_config, iris_manifest, study, metrics)
    assert (summary["failed"], summary["complete"]) == (4, 0)
    failed = by_state(study, TrialState.FAIL)
    assert [t.user_attrs["error"] for t in failed] == [
        f"RuntimeError: bad trial {n}" for n in range(4)
    ]
    assert "airsweep.trial.finished.fail.random_forest.cpu.cpu" in stats.names()


#: A random forest far too big to fit in any trial timeout here (hours on iris).
ENDLESS_FOREST = {"n_estimators": {"type": "int", "low": 300_000, "high": 300_000}}


def live_children():
    """Pids of this process's live children (other tests' servers included)."""
    return {p.pid for p in psutil.Process().children() if p.status() != psutil.STATUS_ZOMBIE}


def test_a_trial_over_its_timeout_is_killed_mid_fit_and_the_runner_goes_on(
    new_study, make_config, iris_manifest, metrics, stats
):
    config = make_config(
        models=["random_forest", "logistic_regression"],
        search_space={"random_forest": ENDLESS_FOREST},
        model_budget="even",
        n_trials=4,
        trial_timeout_s=1,
    )
    study = new_study(config, iris_manifest)
    before = live_children()
    started = time.perf_counter()
    summary = run(config, iris_manifest, study, metrics)
    wall = time.perf_counter() - started
    assert (summary["trials"], summary["failed"], summary["complete"]) == (4, 2, 2)
    assert all(t.state.is_finished() for t in study.trials) and len(study.trials) == 4
    slow = [t for t in study.trials if t.user_attrs["model"] == "random_forest"]
    for trial in slow:
        assert trial.state == TrialState.FAIL
        error = trial.user_attrs["error"]
        assert error.startswith("timeout: trial passed trial_timeout_s=1 and was killed after ")
        assert error.endswith("(0/2 folds done)")
        assert 1 <= trial.user_attrs["fit_seconds"] < 1 + 1.5  # killed inside its first fit
    fast = [t for t in study.trials if t.user_attrs["model"] == "logistic_regression"]
    assert [t.state for t in fast] == [TrialState.COMPLETE] * 2
    assert wall < 2 * 2.5 + 10  # two killed trials, two fast ones, the runner's own work
    assert live_children() <= before  # the trial process is gone with the runner
    assert stats.names().count("airsweep.trial.finished.fail.random_forest.cpu.cpu") == 2
    assert stats.names().count("airsweep.trial.timed_out.random_forest.cpu.cpu") == 2


def test_a_runner_interrupted_mid_fit_kills_its_trial_process_and_loses_the_trial(
    study, make_config, iris_manifest, metrics
):
    class TaskTimeout(BaseException):  # as AirflowTaskTimeout, raised from SIGALRM
        pass

    def alarm(signum, frame):
        raise TaskTimeout()

    config = make_config(search_space={"random_forest": ENDLESS_FOREST}, trial_timeout_s=600)
    before = live_children()
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    started = time.perf_counter()
    try:
        with pytest.raises(TaskTimeout):
            run(config, iris_manifest, study, metrics)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.perf_counter() - started < 5
    [trial] = study.trials
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error"] == f"{WORKER_LOST}: interrupted TaskTimeout()"
    assert live_children() <= before


def test_a_trial_whose_process_dies_fails_alone_and_the_next_trial_gets_a_new_process(
    study, make_config, iris_manifest, metrics, monkeypatch, tmp_path
):
    real_build = crossval_module.build_pipeline
    fits = tmp_path / "fits"  # fits run in trial processes: they write down where

    def killed_once(*args, **kwargs):  # the OOM killer, say, in the first trial
        first = not fits.exists()
        with fits.open("a") as out:
            out.write(f"{os.getpid()}\n")
        if first:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(crossval_module, "build_pipeline", killed_once)
    summary = run(make_config(n_trials=2), iris_manifest, study, metrics)
    assert (summary["failed"], summary["complete"]) == (1, 1)
    first, second = study.trials
    assert first.user_attrs["error"] == "trial process died: killed by SIGKILL"
    assert second.state == TrialState.COMPLETE
    pids = {int(pid) for pid in fits.read_text().split()}
    assert len(pids) == 2 and os.getpid() not in pids


def test_lost_trials_give_their_place_back_and_a_retry_takes_only_new_trials(
    study, iris_config, iris_manifest, metrics
):
    lost = study.ask()  # a runner died with this trial
    lost.set_user_attr("error", f"{WORKER_LOST}: no heartbeat for 20s")
    study.tell(lost, state=TrialState.FAIL)
    done = study.ask()
    done.set_user_attr("model", "random_forest")
    study.tell(done, 0.5)
    summary = run(iris_config, iris_manifest, study, metrics, try_number=2)
    assert summary["trials"] == 3  # 4 counted: the finished one and 3 new
    counted = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(counted) == 4 and len(study.trials) == 5


def test_a_runner_waits_for_running_trials_and_takes_the_place_of_a_lost_one(
    study, make_config, iris_manifest, metrics, monkeypatch
):
    monkeypatch.setattr(runner_module, "WAIT_POLL_S", 0.05)
    done = study.ask()
    done.set_user_attr("model", "random_forest")
    study.tell(done, 0.5)
    elsewhere = study.ask()  # running on another worker: the budget (2) is fully used
    elsewhere.set_user_attr("model", "random_forest")
    summaries = []
    waiting = threading.Thread(
        target=lambda: summaries.append(run(make_config(n_trials=2), iris_manifest, study, metrics))
    )
    waiting.start()
    time.sleep(0.5)
    assert waiting.is_alive(), "the runner ended while a running trial held the last place"
    elsewhere.set_user_attr("error", f"{WORKER_LOST}: no heartbeat for 20s")  # its worker died
    study.tell(elsewhere, state=TrialState.FAIL)
    waiting.join(timeout=60)
    assert summaries[0]["trials"] == 1
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.COMPLETE,
    ]


def test_a_runner_whose_worker_shuts_down_stops_before_its_next_trial(
    study, make_config, iris_manifest, metrics, monkeypatch, tmp_path
):
    stop_file = tmp_path / "worker.stopping"
    monkeypatch.setenv(STOP_FILE_ENV, str(stop_file))
    real_suggest = trials_module.suggest

    def shutdown_during_the_first_trial(trial, model, space):
        stop_file.touch()
        return real_suggest(trial, model, space)

    monkeypatch.setattr(trials_module, "suggest", shutdown_during_the_first_trial)
    with pytest.raises(WorkerStopping, match="shutting down"):
        run(make_config(n_trials=5), iris_manifest, study, metrics)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]  # finished, then stopped


def test_runners_on_threads_never_take_more_or_fewer_than_the_budget(
    new_study, make_config, iris_manifest, metrics, monkeypatch
):
    config = make_config(n_trials=40)
    study = new_study(config, iris_manifest, name="race")
    real = optuna.Study.get_trials

    def slow_get_trials(self, *args, **kwargs):  # widen the window between count and ask
        trials = real(self, *args, **kwargs)
        time.sleep(0.002)
        return trials

    monkeypatch.setattr(optuna.Study, "get_trials", slow_get_trials)
    taken = Counter()

    def one(index):
        own = optuna.load_study(study_name="race", storage=study._storage)
        plan = {"queue": "cpu", "models": ["random_forest"]}
        lock = ThreadStudyLock("race")
        runner = Runner(
            plan, iris_manifest, config, own, context(map_index=index), lock, None, metrics
        )
        while not isinstance(claim := runner.take(), Choice):
            trial, _ = claim
            time.sleep(0.001 * (index % 3))  # runners of different speeds
            own.tell(trial, 0.5)
            taken[index] += 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(taken.values()) == 40
    assert len(study.trials) == 40
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_a_whole_runner_loop_on_threads_runs_exactly_the_budget(
    new_study, make_config, iris_manifest, metrics
):
    config = make_config(n_trials=8)
    study = new_study(config, iris_manifest, name="loop")
    summaries = []

    def one(index):
        own = optuna.load_study(study_name="loop", storage=study._storage)
        summaries.append(run(config, iris_manifest, own, metrics, map_index=index))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(s["trials"] for s in summaries) == 8
    assert len([t for t in study.trials if t.state.is_finished()]) == len(study.trials) == 8


def test_several_families_are_a_sampled_choice_modelled_jointly(
    new_study, make_config, iris_manifest, metrics, fast_space
):
    config = make_config(
        models=["random_forest", "logistic_regression"],
        search_space={"random_forest": fast_space["random_forest"]},
        n_trials=8,
    )
    study = new_study(config, iris_manifest, name="families")
    run(config, iris_manifest, study, metrics)
    param = family_param("cpu")
    assert all(t.params[param] == t.user_attrs["model"] for t in study.trials)
    # Each family got its minimum before the sampler could choose.
    models = [t.user_attrs["model"] for t in study.trials]
    assert min(models.count(m) for m in config.models) >= config.min_trials_per_model()
    # group=True: TPE models each family's params jointly (the check).
    space = study.sampler.infer_relative_search_space(study, study.trials[-1])
    assert space, "TPE found no parameter group to model"


def test_even_model_budget_gives_each_family_its_share(
    new_study, make_config, iris_manifest, metrics
):
    config = make_config(
        models=["random_forest", "logistic_regression"], n_trials=7, model_budget="even"
    )
    study = new_study(config, iris_manifest, name="even")
    run(config, iris_manifest, study, metrics)
    models = [t.user_attrs["model"] for t in study.trials]
    assert (models.count("random_forest"), models.count("logistic_regression")) == (4, 3)


@pytest.mark.parametrize(("family", "pruned"), [("random_forest", 1), ("xgboost", 0)])
def test_a_trial_below_the_median_of_its_family_is_pruned(
    family, pruned, study, make_config, iris_manifest, metrics, stats
):
    for _ in range(5):  # 5 excellent finished trials: the pruner's startup
        trial = study.ask()
        trial.set_user_attr("model", family)
        trial.report(1.0, 0)
        trial.report(1.0, 1)
        study.tell(trial, 1.0)
    config = make_config(
        n_trials=6,
        search_space={
            "random_forest": {
                "max_depth": {"type": "int", "low": 1, "high": 1},
                "n_estimators": {"type": "int", "low": 1, "high": 1},
            }
        },
    )
    summary = run(config, iris_manifest, study, metrics)
    assert summary["pruned"] == pruned
    if not pruned:  # other families' trials are no yardstick: its own family has none
        assert study.trials[-1].state == TrialState.COMPLETE
        return
    trial = study.trials[-1]
    assert trial.state == TrialState.PRUNED
    assert len(fold_scores(trial)) == 1
    assert "airsweep.trial.finished.pruned.random_forest.cpu.cpu" in stats.names()


def test_queue_mismatch_is_refused(study, iris_config, iris_manifest, metrics):
    with pytest.raises(ValueError, match="planned for queue 'gpu' but runs on 'cpu'"):
        Runner(
            {"queue": "gpu", "models": ["random_forest"]},
            iris_manifest,
            iris_config,
            study,
            context(),
            ThreadStudyLock("x"),
        )


def test_an_interrupted_trial_is_lost_before_the_interrupt_propagates(
    study, iris_config, iris_manifest, metrics, monkeypatch
):
    def interrupted(trial, model, space):
        raise KeyboardInterrupt("task timeout")

    monkeypatch.setattr(trials_module, "suggest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(iris_config, iris_manifest, study, metrics)
    [trial] = study.trials
    assert trial.state == TrialState.FAIL
    assert (
        trial.user_attrs["error"] == f"{WORKER_LOST}: interrupted KeyboardInterrupt('task timeout')"
    )


@pytest.fixture
def gpu_sweep(make_config, store, new_study, fast_space):
    def make(fallback):
        config = make_config(
            models=["xgboost"],
            search_space={"xgboost": fast_space["xgboost"]},
            device={"xgboost": "gpu"},
            gpu_fallback=fallback,
            n_trials=2,
        )
        manifest = prepare_dataset(config, store, "gpu-run")
        return config, manifest, new_study(config, manifest)

    return make


@pytest.mark.skipif(cuda_status()[0], reason="this machine has a usable CUDA device")
def test_gpu_runner_without_cuda_falls_back_to_cpu_and_records_why(gpu_sweep, metrics, stats):
    config, manifest, study = gpu_sweep("cpu")
    summary = run(config, manifest, study, metrics, queue="gpu")
    assert (summary["device_used"], summary["complete"]) == ("cpu", 2)
    attrs = study.trials[0].user_attrs["placement"]
    assert (attrs["device_requested"], attrs["device_used"]) == ("gpu", "cpu")
    assert attrs["fallback_reason"] == cuda_status()[1] and attrs["fallback_reason"]
    assert "airsweep.trial.started.xgboost.gpu.cpu" in stats.names()


@pytest.mark.skipif(cuda_status()[0], reason="this machine has a usable CUDA device")
def test_gpu_runner_without_cuda_fails_when_fallback_is_fail(gpu_sweep, metrics):
    config, manifest, study = gpu_sweep("fail")
    with pytest.raises(GpuUnavailableError, match="^device: gpu requested but CUDA is not usable"):
        run(config, manifest, study, metrics, queue="gpu")
    assert study.trials == []


def test_a_trial_declared_lost_while_it_runs_is_not_told_and_is_replaced(
    study, make_config, iris_manifest, metrics, monkeypatch
):
    real_suggest = trials_module.suggest
    calls = []

    def frozen_then_lost(trial, model, space):
        params = real_suggest(trial, model, space)
        calls.append(trial.number)
        if len(calls) == 1:  # another runner fails it: its heartbeat lapsed meanwhile
            trial.set_user_attr("error", f"{WORKER_LOST}: no heartbeat for 20s")
            study.tell(trial.number, state=TrialState.FAIL)
        return params

    monkeypatch.setattr(trials_module, "suggest", frozen_then_lost)
    config = make_config(n_trials=2)
    summary = run(config, iris_manifest, study, metrics)
    assert (summary["lost"], summary["complete"], summary["trials"]) == (1, 2, 3)
    first = study.trials[0]
    assert first.state == TrialState.FAIL and "fit_seconds" not in first.user_attrs
    assert [t.state for t in study.trials[1:]] == [TrialState.COMPLETE] * 2
