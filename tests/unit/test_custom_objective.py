"""Custom objectives (issue 12, point 2): the handle through the trial process, failures,
the ``objective`` param's checks, and the refit's stored model."""

from __future__ import annotations

import dataclasses
import math
import textwrap
import uuid
from pathlib import Path

import joblib
import optuna
import pytest
from optuna.trial import TrialState

from airsweep import pipeline
from airsweep.config import SweepConfig, SweepConfigError
from airsweep.custom.loading import load_objective
from airsweep.data import load_split, prepare_dataset
from airsweep.planning import plan_runners, resolve_devices
from airsweep.runner import Runner, RunnerContext
from airsweep.selection import finalize_best
from airsweep.settings import Settings
from airsweep.study_lock import ThreadStudyLock

#: A plugin module of objectives the tests call by name.
OBJECTIVES = '''
import math
import os

from airsweep.objective import TrialPruned


def scripted(trial, data):
    """Samples three params, reports x, 2x, 3x and stops when pruned; refit: a model."""
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_int("n", 1, 3)
    trial.suggest_categorical("c", ["a", "b"])
    if data.refit:
        return {"x": x, "rows": len(data.X), "folds": len(data.folds)}
    assert len(data.folds) == 2 and data.metric == "accuracy" and data.n_jobs == 1
    for step in range(3):
        trial.report(x * (step + 1), step)
        if trial.should_prune():
            raise TrialPruned()
    return x


def flaky(trial, data):
    """Fails one way or another by the sampled kind."""
    kind = trial.suggest_categorical("kind", ["ok", "nan", "raise", "bad_range", "text"])
    if kind == "nan":
        return math.nan
    if kind == "raise":
        raise RuntimeError("the user's code broke")
    if kind == "bad_range":
        trial.suggest_float("lr", 1.0, 0.1)
    if kind == "text":
        return "0.9"
    return 0.5


def two(trial, data):
    """A multi-objective function: its scores in the order of data.objectives."""
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.report(x, 0)
    assert trial.should_prune() is False
    return [x, 1.0 - x]


def sleepy(trial, data):
    """Reports once, then hangs past trial_timeout_s."""
    trial.report(0.5, 0)
    import time

    time.sleep(60)


def writes_files(trial, data):
    """Saves its model itself in a refit."""
    x = trial.suggest_float("x", 0.0, 1.0)
    if data.refit:
        (data.model_dir / "weights").mkdir()
        (data.model_dir / "weights" / "w.txt").write_text(str(x))
        return None
    return x
'''


@pytest.fixture
def objectives(tmp_path, monkeypatch):
    """The module of :data:`OBJECTIVES` in a plugins folder; returns its module name."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    name = f"objectives_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(textwrap.dedent(OBJECTIVES))
    monkeypatch.setenv("AIRSWEEP_PLUGINS", str(folder))
    return name


@pytest.fixture
def objective_config(make_config, objectives):
    """``objective_config(function, **params)``: a config of that objective (no models)."""

    def build(function, **params):
        defaults = make_config().to_dict()
        del defaults["search_space"], defaults["device"], defaults["models"]
        del defaults["pruner"], defaults["pruner_options"]  # resolved: leave them to params
        return SweepConfig.from_params(
            {**defaults, "search_space": {}, "objective": f"{objectives}:{function}", **params}
        )

    return build


def run_sweep(config, manifest, study, metrics):
    plan = {"queue": "cpu", "models": list(config.families)}
    context = RunnerContext("run-1", "cpu", 0, 1, "worker-cpu-1", n_jobs=1)
    lock = ThreadStudyLock(study.study_name)
    return Runner(plan, manifest, config, study, context, lock, None, metrics).run()


def test_the_handle_samples_reports_and_is_pruned_through_the_trial_process(
    objective_config, store, new_study, metrics, stats
):
    config = objective_config(
        "scripted",
        n_trials=12,
        sampler="random",
        pruner="median",
        pruner_options={"n_startup_trials": 3},
    )
    manifest = prepare_dataset(config, store, "run-1")
    study = new_study(config, manifest)
    summary = run_sweep(config, manifest, study, metrics)
    assert summary["trials"] == 12 and summary["failed"] == 0
    assert summary["pruned"] > 0 and summary["complete"] >= 3
    for trial in study.trials:
        assert trial.user_attrs["model"] == "scripted"
        assert set(trial.params) == {"scripted.x", "scripted.n", "scripted.c"}
        x = trial.params["scripted.x"]
        steps = trial.intermediate_values
        assert steps == {s: pytest.approx(x * (s + 1)) for s in steps}
        if trial.state == TrialState.COMPLETE:
            assert trial.value == pytest.approx(x) and len(steps) == 3
        else:  # pruned after the step it was told so at
            assert trial.state == TrialState.PRUNED and 1 <= len(steps) <= 3
    assert "airsweep.trial.finished.pruned.scripted.cpu.cpu" in stats.names()


def test_nan_a_raise_a_bad_range_or_a_text_fails_only_its_trial(
    objective_config, store, new_study, metrics
):
    config = objective_config("flaky", n_trials=14, sampler="random")
    manifest = prepare_dataset(config, store, "run-1")
    study = new_study(config, manifest)
    summary = run_sweep(config, manifest, study, metrics)
    assert summary["trials"] == 14 and summary["failed"] + summary["complete"] == 14
    errors = {
        t.params["flaky.kind"]: t.user_attrs.get("error")
        for t in study.trials
        if t.state == TrialState.FAIL
    }
    expected = {
        "nan": "ValueError: the objective returned nan for accuracy",
        "raise": "RuntimeError: the user's code broke",
        "text": "TypeError: the objective returned str; expected a number (accuracy)",
    }
    for kind, error in errors.items():
        if kind == "bad_range":
            assert error.startswith("ValueError: ") and "low" in error
        else:
            assert error == expected[kind]
    assert {t.params["flaky.kind"] for t in study.trials if t.state == TrialState.COMPLETE} == {
        "ok"
    }


def test_an_objective_past_trial_timeout_s_is_killed_and_fails_its_trial(
    objective_config, store, new_study, metrics
):
    config = objective_config("sleepy", n_trials=1, trial_timeout_s=1)
    manifest = prepare_dataset(config, store, "run-1")
    study = new_study(config, manifest)
    assert run_sweep(config, manifest, study, metrics)["failed"] == 1
    error = study.trials[0].user_attrs["error"]
    assert error.startswith(
        "timeout: trial passed trial_timeout_s=1"
    ) and "(1 values reported)" in (error)


def test_a_plugin_family_that_raises_or_scores_nan_fails_only_its_trial(
    make_config, store, new_study, metrics, monkeypatch, tmp_path
):
    from airsweep.models import registry
    from airsweep.models.plugins import load_families

    folder = tmp_path / "families"
    folder.mkdir()
    module = f"families_{uuid.uuid4().hex[:8]}"
    (folder / f"{module}.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from sklearn.dummy import DummyRegressor
            from airsweep.models import ModelFamily


            class NanRegressor(DummyRegressor):
                def predict(self, X):
                    return np.full(len(X), np.nan)


            class Broken(ModelFamily):
                name = "broken"
                task_types = ("regression",)

                def default_space(self, task_type):
                    return {"how": {"type": "categorical", "choices": ["raise", "nan"]}}

                def build(self, params, task_type, n_jobs, device, seed=0):
                    if params["how"] == "raise":
                        raise RuntimeError("the plugin broke")
                    return NanRegressor()


            FAMILIES = [Broken()]
            """
        )
    )
    loaded = load_families(folder)
    monkeypatch.setattr(registry, "loaded_families", lambda: loaded)
    config = make_config(dataset="diabetes", models=["ridge"], search_space={}, n_trials=6)
    manifest = prepare_dataset(config, store, "run-1")
    study = new_study(config, manifest)
    plan = {"queue": "cpu", "models": ["broken"]}
    context = RunnerContext("run-1", "cpu", 0, 1, "worker-cpu-1", n_jobs=1)
    runner = Runner(plan, manifest, config, study, context, ThreadStudyLock("s"), None, metrics)
    summary = runner.run()
    assert summary["failed"] == 6 and summary["trials"] == 6
    errors = {t.params["broken.how"]: t.user_attrs["error"] for t in study.trials}
    assert errors["raise"] == "RuntimeError: the plugin broke"
    assert (
        errors["nan"].startswith("ValueError: Input contains NaN")
        or "scored nan" in (errors["nan"])
    )


def test_a_multi_objective_function_returns_its_scores_in_order_and_is_never_pruned(
    objective_config, store, new_study, metrics
):
    config = objective_config("two", n_trials=3, objectives=["accuracy", "f1_macro"], pruner="auto")
    manifest = prepare_dataset(config, store, "run-1")
    study = new_study(config, manifest)
    assert run_sweep(config, manifest, study, metrics)["complete"] == 3
    for trial in study.trials:
        x = trial.params["two.x"]
        assert trial.values == pytest.approx([x, 1 - x]) and trial.intermediate_values == {}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"objective": "no_colon"}, r"^objective: 'no_colon' is not valid"),
        ({"objective": "pkg.mod:xgboost"}, r"^objective: its family name xgboost"),
        ({"models": ["ridge"]}, r"^models: a sweep with objective tunes that function only"),
        (
            {"search_space": {"ridge": {"alpha": {"type": "float", "low": 1, "high": 2}}}},
            r"^search_space: the objective samples its own params",
        ),
        ({"device": {"xgboost": "gpu"}}, r"^device: a custom objective's queue is objective_dev"),
        ({"warm_start_from": "run-0"}, r"^warm_start_from: "),
        ({"sampler": "grid"}, r"^sampler: grid needs the search space"),
        ({"pruner": "hyperband"}, r"^pruner: hyperband needs the most steps"),
    ],
)
def test_params_that_do_not_go_with_an_objective_are_refused_naming_the_field(params, message):
    with pytest.raises(SweepConfigError, match=message):
        SweepConfig.from_params({"objective": "pkg.mod:train", **params})


def test_objective_device_places_the_objective_on_its_queue():
    gpu = SweepConfig.from_params({"objective": "pkg.mod:train", "objective_device": "gpu"})
    assert resolve_devices(gpu, gpu_usable=False) == {"train": "gpu"}  # gpu_fallback decides
    plan = plan_runners(gpu, resolve_devices(gpu, gpu_usable=False), {"cpu": 2, "gpu": 1})
    assert (len(plan["cpu"]), plan["gpu"][0]["models"]) == (0, ["train"])
    auto = SweepConfig.from_params({"objective": "pkg.mod:train", "objective_device": "auto"})
    assert resolve_devices(auto, gpu_usable=False) == {"train": "cpu"}
    assert resolve_devices(auto, gpu_usable=True) == {"train": "gpu"}
    assert resolve_devices(SweepConfig.from_params({"objective": "pkg.mod:train"}), True) == {
        "train": "cpu"
    }
    assert SweepConfig.from_dict(gpu.to_dict()) == gpu
    with pytest.raises(SweepConfigError, match=r"^objective_device: places a custom objective"):
        SweepConfig.from_params({"objective_device": "gpu"})


def test_an_objective_that_does_not_import_is_refused_in_setup_before_any_trial(
    tmp_path, objectives
):
    with pytest.raises(SweepConfigError, match=r"^objective: cannot import no_such_mod_xyz \("):
        load_objective("no_such_mod_xyz:train")
    with pytest.raises(SweepConfigError, match=rf"^objective: {objectives} has no function nope"):
        load_objective(f"{objectives}:nope")
    storage = f"sqlite:///{tmp_path}/optuna.db"
    settings = dataclasses.replace(
        Settings.from_env({}), artifact_uri=(tmp_path / "a").as_uri(), optuna_storage=storage
    )
    params = {"dataset": "iris", "objective": "no_such_mod_xyz:train"}
    with pytest.raises(SweepConfigError, match="^objective: cannot import"):
        pipeline.setup(params, "hpo_sweep", "run-1", settings=settings)
    assert optuna.get_all_study_names(storage) == []
    plan = pipeline.setup(
        {"dataset": "iris", "objective": f"{objectives}:scripted", "n_trials": 3},
        "hpo_sweep",
        "run-2",
        settings=settings,
    )
    assert plan["devices"] == {"scripted": "cpu"}
    assert plan["cpu"] == [{"queue": "cpu", "models": ["scripted"]}] * 3 and plan["gpu"] == []


class FakeRegistry:
    def __init__(self):
        self.cards = []

    def register(self, card):
        self.cards.append(card)
        return True


@pytest.mark.parametrize(
    ("function", "stored"), [("scripted", "joblib"), ("writes_files", "directory")]
)
def test_the_refit_stores_the_returned_model_or_the_files_the_objective_wrote(
    objective_config, store, new_study, metrics, function, stored
):
    config = objective_config(function, n_trials=3, pruner="none")
    manifest = prepare_dataset(config, store, "run-1")
    study = new_study(config, manifest)
    run_sweep(config, manifest, study, metrics)
    registry = FakeRegistry()
    card = finalize_best(study, manifest, config, store, "run-1", registry, n_jobs=1)
    best = study.best_trial
    x = best.params[f"{function}.x"]
    assert card["model"] == function and card["params"]["x"] == x
    assert card["refit"]["stored"] == stored and card["test_score"] is None
    assert card["promoted"] is False and registry.cards == []  # no test score: not ranked
    path = Path(store.local_path(card["model_uri"]))
    if stored == "joblib":
        n_train = len(load_split(manifest, "train")[1])
        assert joblib.load(path) == {"x": x, "rows": n_train, "folds": 0}
    else:
        assert (path / "weights" / "w.txt").read_text() == str(x)
    assert store.read_json(card["card_uri"])["model_uri"] == card["model_uri"]
    assert not math.isnan(card["cv_score"])


def test_the_shipped_mlp_objective_trains_by_epochs_and_refits_a_model_that_predicts(
    make_config, store, new_study, metrics
):
    defaults = make_config().to_dict()
    del defaults["search_space"], defaults["device"], defaults["models"]
    config = SweepConfig.from_params(
        {
            **defaults,
            "dataset": "breast_cancer",
            "objective": "examples.mlp_objective:mlp_classifier",
            "n_trials": 3,
            "pruner": "none",
            "pruner_options": {},
        }
    )
    manifest = prepare_dataset(config, store, "run-1")
    study = new_study(config, manifest)
    assert run_sweep(config, manifest, study, metrics)["complete"] == 3
    for trial in study.trials:  # one report per epoch
        assert len(trial.intermediate_values) == trial.params["mlp_classifier.epochs"]
    card = finalize_best(study, manifest, config, store, "run-1", FakeRegistry(), n_jobs=1)
    model = joblib.load(Path(store.local_path(card["model_uri"])))
    X_test, y_test = load_split(manifest, "test")
    assert (model.predict(X_test) == y_test).mean() == pytest.approx(card["test_score"])
    assert card["refit"]["stored"] == "joblib" and card["promoted"] is True


def test_a_summary_without_a_test_score_says_so():
    from airsweep.follow import test_score_text

    assert test_score_text({"metric": "accuracy", "test_score": None}).startswith("none (")
    assert test_score_text({"metric": "accuracy", "test_score": 0.5}) == (
        "accuracy 0.5000 on the held-out split"
    )
