"""Pruning on training steps: families with steps train their folds side by side in
chunks of boosting rounds and report the mean score at each checkpoint (issue 11)."""

import dataclasses
import re

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from sklearn.model_selection import StratifiedKFold

from airsweep.config import SweepConfig, SweepConfigError
from airsweep.crossval import CrossValidation
from airsweep.data import load_split, prepare_dataset
from airsweep.models.xgboost import XGBoostFamily
from airsweep.report import cv_std, fold_scores
from airsweep.runner import Runner, RunnerContext
from airsweep.search.pruners import FIRST_STEP, StepSchedule, make_pruner, step_schedule
from airsweep.study_lock import ThreadStudyLock

XGB_SPACE = {
    "n_estimators": {"type": "int", "low": 20, "high": 120},
    "max_depth": {"type": "int", "low": 2, "high": 4},
    "learning_rate": {"type": "float", "low": 0.001, "high": 0.5, "log": True},
}


@pytest.fixture
def cancer(make_config, store):
    config = make_config(dataset="breast_cancer", models=["xgboost"], search_space={}, cv_folds=3)
    manifest = prepare_dataset(config, store, "run-1")
    X, y = load_split(manifest, "train")
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    return CrossValidation(manifest, X, y, folds, n_jobs=1, device="cpu", seed=7)


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("hist_gradient_boosting", {"max_iter": 57, "learning_rate": 0.1, "max_leaf_nodes": 8}),
        ("xgboost", {"n_estimators": 57, "max_depth": 3, "learning_rate": 0.1}),
    ],
)
def test_the_last_checkpoint_scores_what_a_plain_fit_scores(cancer, model, params):
    reports = list(cancer.reports(model, params, [10, 20, 40, 57]))
    assert [step for step, _, _ in reports] == [10, 20, 40, 57]
    assert all(len(scores) == 3 for _, scores, _ in reports)
    assert reports[-1][1] == pytest.approx(list(cancer.fold_scores(model, params)), abs=1e-12)
    assert reports[0][1] != reports[-1][1]  # the early checkpoints are earlier models


def test_folds_report_the_scores_so_far(cancer):
    reports = list(cancer.reports("logistic_regression", {"C": 1.0}, None))
    assert [step for step, _, _ in reports] == [0, 1, 2]
    assert [len(scores) for _, scores, _ in reports] == [1, 2, 3]


def test_checkpoints_grow_from_the_first_to_the_total():
    assert StepSchedule(10, 3, 500).checkpoints(300) == [10, 30, 90, 270, 300]
    assert StepSchedule(10, 3, 500).checkpoints(90) == [10, 30, 90]
    assert StepSchedule(10, 2, 500).checkpoints(7) == [7]
    assert StepSchedule(None, 2, 500).checkpoints(300) == [300]  # pruner none: one fit


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"pruner": "hyperband"}, {"_min_resource": FIRST_STEP, "_max_resource": 500}),
        (
            {
                "models": ["xgboost"],
                "pruner": "hyperband",
                "pruner_options": {"min_resource": 25, "reduction_factor": 2},
            },
            {"_min_resource": 25, "_max_resource": 500, "_reduction_factor": 2},
        ),
        (
            {"pruner": "successive_halving", "search_space": {"xgboost": XGB_SPACE}},
            {"_min_resource": FIRST_STEP, "_reduction_factor": 4},
        ),
    ],
)
def test_a_family_with_steps_counts_its_resources_in_rounds(params, expected):
    config = SweepConfig.from_params({"models": ["xgboost", "random_forest"], **params})
    schedule = step_schedule(config, "xgboost", "classification")
    pruner = make_pruner(config, schedule)
    assert {key: getattr(pruner, key) for key in expected} == expected
    assert step_schedule(config, "random_forest", "classification") is None
    folds = make_pruner(config, None)  # the forests keep pruning on folds
    assert getattr(folds, "_max_resource", config.cv_folds) == config.cv_folds
    assert getattr(folds, "_min_resource", 1) == config.pruner_options.get("min_resource", 1)


GRID_FOREST = {
    "random_forest": {
        name: {"type": "categorical", "choices": [value]}
        for name, value in {
            "n_estimators": 10,
            "max_depth": 3,
            "min_samples_leaf": 1,
            "max_features": 0.5,
        }.items()
    }
}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"models": ["random_forest"], "sampler": "grid", "pruner": "hyperband",
             "search_space": GRID_FOREST, "n_trials": 1},
            "pruner: hyperband allocates training steps, and random_forest has none",
        ),
        (
            {"models": ["xgboost"], "pruner": "hyperband", "pruner_options": {"min_resource": 500}},
            "pruner_options.min_resource: 500 is at or beyond xgboost's last step (500 rounds)",
        ),
        (
            {"models": ["xgboost", "random_forest"], "pruner": "successive_halving",
             "pruner_options": {"min_resource": 20}},
            "pruner_options.min_resource: 20 is at or beyond random_forest's last step "
            "(fold 2 of cv_folds=3)",
        ),
    ],
)  # fmt: skip
def test_pruners_that_cannot_act_are_refused_naming_the_field(params, message):
    with pytest.raises(SweepConfigError, match=f"^{re.escape(message)}"):
        SweepConfig.from_params(params)


def test_a_grid_of_a_family_with_steps_may_use_hyperband():
    defaults = XGBoostFamily().default_space("classification")
    space = {
        name: {"type": "categorical", "choices": [spec["low"]]} for name, spec in defaults.items()
    }
    space["n_estimators"] = {"type": "int", "low": 20, "high": 120, "step": 50}
    config = SweepConfig.from_params(
        {"models": ["xgboost"], "sampler": "grid", "pruner": "hyperband", "n_trials": 3,
         "search_space": {"xgboost": space}}
    )  # fmt: skip
    assert config.pruner == "hyperband"


def test_a_runner_prunes_xgboost_on_boosting_rounds(make_config, store, new_study, metrics):
    config = make_config(
        dataset="breast_cancer",
        models=["xgboost"],
        search_space={"xgboost": XGB_SPACE},
        device={"xgboost": "cpu"},
        n_trials=14,
        cv_folds=3,
        sampler="random",
        pruner="hyperband",
    )
    manifest = prepare_dataset(config, store, "run-1")
    study = new_study(config, manifest)
    ctx = RunnerContext(run_id="r", queue="cpu", map_index=0, try_number=1, worker="w", n_jobs=1)
    plan = {"queue": "cpu", "models": ["xgboost"]}
    summary = Runner(plan, manifest, config, study, ctx, ThreadStudyLock("s"), None, metrics).run()
    assert summary["trials"] == 14 and summary["failed"] == 0
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert pruned and complete, summary
    for trial in study.trials:
        total = trial.params["xgboost.n_estimators"]
        steps = sorted(trial.intermediate_values)
        assert steps == StepSchedule(10, 3, 120).checkpoints(total)[: len(steps)]
        scores = fold_scores(trial)
        assert len(scores) == 3 and cv_std(trial) == pytest.approx(np.std(scores))
        assert trial.intermediate_values[steps[-1]] == pytest.approx(np.mean(scores))
        if trial.state == TrialState.COMPLETE:
            assert steps[-1] == total and trial.value == pytest.approx(np.mean(scores))
        else:  # pruned at a rung, before its last round
            assert steps[-1] < total
    # Rungs are in rounds (10, 30, 90) and written to the study for every runner to see.
    rungs = {key for t in study.trials for key in t.system_attrs if "completed_rung" in key}
    assert rungs


def test_pruner_none_trains_a_family_with_steps_in_one_fit(make_config, store, new_study, metrics):
    config = make_config(
        dataset="breast_cancer",
        models=["hist_gradient_boosting"],
        search_space={
            "hist_gradient_boosting": {"max_iter": {"type": "int", "low": 20, "high": 40}}
        },
        n_trials=2,
        pruner="none",
    )
    manifest = prepare_dataset(config, store, "run-1")
    study = new_study(config, manifest)
    ctx = RunnerContext(run_id="r", queue="cpu", map_index=0, try_number=1, worker="w", n_jobs=1)
    plan = {"queue": "cpu", "models": ["hist_gradient_boosting"]}
    Runner(plan, manifest, config, study, ctx, ThreadStudyLock("s"), None, metrics).run()
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE
        assert list(trial.intermediate_values) == [trial.params["hist_gradient_boosting.max_iter"]]
    assert isinstance(study.pruner, optuna.pruners.NopPruner)


def test_a_multi_objective_trial_measures_its_other_objectives_at_its_last_step(cancer):
    cv = dataclasses.replace(cancer, other_objectives=("roc_auc", "predict_ms_per_1k_rows"))
    params = {"n_estimators": 30, "max_depth": 3, "learning_rate": 0.1}
    reports = list(cv.reports("xgboost", params, [10, 30]))
    assert reports[0][2] == []  # measured once the folds are trained
    others = reports[-1][2]
    assert len(others) == 3 and all(set(o) == {"roc_auc", "predict_ms_per_1k_rows"} for o in others)
    assert all(0.5 < o["roc_auc"] <= 1 and o["predict_ms_per_1k_rows"] > 0 for o in others)
    by_folds = list(cv.reports("logistic_regression", {"C": 1.0}, None))
    assert [len(o) for _, _, o in by_folds] == [1, 2, 3]


def test_pruner_auto_prunes_between_folds_and_steps_folds_is_an_option():
    auto = SweepConfig.from_params({"models": ["xgboost", "random_forest"]})
    assert (auto.pruner, auto.pruner_options) == ("median", {"steps": "folds"})
    assert step_schedule(auto, "xgboost", "classification") is None
    assert isinstance(make_pruner(auto), optuna.pruners.MedianPruner)
    median = SweepConfig.from_params({"models": ["xgboost"], "pruner": "median"})
    assert step_schedule(median, "xgboost", "classification").checkpoints(50) == [10, 20, 40, 50]
    folds = SweepConfig.from_params(
        {"models": ["xgboost"], "pruner": "hyperband", "pruner_options": {"steps": "folds"}}
    )
    assert step_schedule(folds, "xgboost", "classification") is None
    with pytest.raises(SweepConfigError, match=r"^pruner_options.min_resource: 5 is at or beyond"):
        SweepConfig.from_params(
            {
                "models": ["xgboost"],
                "pruner": "hyperband",
                "pruner_options": {"steps": "folds", "min_resource": 5},
            }
        )
