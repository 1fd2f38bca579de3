from __future__ import annotations

import dataclasses

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from airsweep import pipeline
from airsweep.budget import WARM_START_FROM, choose, usage
from airsweep.config import SweepConfigError
from airsweep.data import prepare_dataset
from airsweep.report import sweep_timing
from airsweep.runner import Runner, RunnerContext, family_param
from airsweep.settings import Settings
from airsweep.space import param_key, resolve_space
from airsweep.stopping import check_rules
from airsweep.study import create_study, load_study, study_name_for
from airsweep.study_lock import ThreadStudyLock
from airsweep.warm_start import (
    SOURCE_TRIAL,
    WARM_START,
    contains,
    incompatibility,
    open_source,
    seed_study,
)

SOURCE = study_name_for("hpo_sweep", "run-1")
NEW = study_name_for("hpo_sweep", "run-2")
#: The earlier sweep: random forest and xgboost, both on the cpu queue.
OLD_SPACE = {
    "random_forest": {
        "n_estimators": {"type": "int", "low": 5, "high": 10},
        "max_depth": {"type": "int", "low": 2, "high": 4},
    },
    "xgboost": {"n_estimators": {"type": "int", "low": 3, "high": 6}},
}
#: The new sweep: fewer trees for random forest, logistic regression instead of xgboost.
NEW_SPACE = {
    "random_forest": {
        "n_estimators": {"type": "int", "low": 5, "high": 7},
        "max_depth": {"type": "int", "low": 2, "high": 4},
    },
}
NEW_DEVICES = {"random_forest": "cpu", "logistic_regression": "cpu"}


def old_trial(model, value, state=TrialState.COMPLETE, attrs=None, **params):
    """A finished trial as the earlier sweep's runners record it: every param, the family param."""
    space = resolve_space(model, "classification", OLD_SPACE[model])
    values = {name: params.get(name, dist.low) for name, dist in space.items()}
    family = CategoricalDistribution(["random_forest", "xgboost"])
    return create_trial(
        state=state,
        value=value,
        params={**{param_key(model, k): v for k, v in values.items()}, "cpu.model": model},
        distributions={
            **{param_key(model, k): d for k, d in space.items()},
            "cpu.model": family,
        },
        user_attrs={
            "model": model,
            "fit_seconds": 0.5,
            "placement": {"queue": "cpu"},
            **(attrs or {}),
        },
        intermediate_values={0: value or 0.5, 1: value or 0.5},
    )


@pytest.fixture
def storage():
    return optuna.storages.InMemoryStorage()


@pytest.fixture
def source(storage, make_config, iris_manifest):
    """The earlier sweep's study with six finished trials."""
    config = make_config(models=["random_forest", "xgboost"], search_space=OLD_SPACE)
    create_study(storage, SOURCE, iris_manifest["objectives"], config, iris_manifest)
    study = optuna.load_study(study_name=SOURCE, storage=storage)
    study.add_trials(
        [
            old_trial("random_forest", 0.91, n_estimators=6),
            old_trial("random_forest", 0.97, n_estimators=9),  # outside the new 5..7
            old_trial("xgboost", 0.93),  # family not in the new sweep
            old_trial("random_forest", None, TrialState.PRUNED),  # not COMPLETE
            old_trial("random_forest", 0.92, n_estimators=7, max_depth=4),
            old_trial("random_forest", 0.96, attrs={WARM_START_FROM: "run-0"}),  # seeded there
        ]
    )
    return study


def new_config(make_config, **params):
    values = {
        "models": ["random_forest", "logistic_regression"],
        "search_space": NEW_SPACE,
        "n_trials": 4,
        "warm_start_from": "run-1",
        **params,
    }
    return make_config(**values)


def seed(storage, name, config, manifest, devices):
    """What setup does: check the earlier sweep, then seed the new study."""
    source = open_source(storage, name, config, manifest)
    return seed_study(storage, name, source, config, manifest, devices)


def new_study(storage, config, manifest):
    create_study(storage, NEW, manifest["objectives"], config, manifest)
    return load_study(storage, NEW, config)


def test_the_complete_trials_that_fit_are_copied_in_the_new_space(
    storage, source, make_config, iris_manifest
):
    config = new_config(make_config)
    study = new_study(storage, config, iris_manifest)
    record = seed(storage, NEW, config, iris_manifest, NEW_DEVICES)
    assert record == {
        "from": "run-1",
        "copied": 2,
        "skipped": 3,
        "reasons": {
            "random_forest.n_estimators outside the search space": 1,
            "seeded in that sweep": 1,
            "xgboost not in models": 1,
        },
    }
    assert study.user_attrs[WARM_START] == record
    copies = study.get_trials()
    assert [(t.state, t.value, t.user_attrs[SOURCE_TRIAL]) for t in copies] == [
        (TrialState.COMPLETE, 0.91, 0),
        (TrialState.COMPLETE, 0.92, 4),
    ]
    new_rf = resolve_space("random_forest", "classification", NEW_SPACE["random_forest"])
    family = CategoricalDistribution(["random_forest", "logistic_regression"])
    assert copies[1].distributions == {
        **{param_key("random_forest", k): d for k, d in new_rf.items()},
        family_param("cpu"): family,  # the new sweep's family param
    }
    assert copies[1].params["random_forest.n_estimators"] == 7
    assert copies[1].params["random_forest.max_depth"] == 4
    assert copies[1].params["cpu.model"] == "random_forest"
    assert copies[1].user_attrs == {
        "model": "random_forest",
        "fit_seconds": 0.5,
        WARM_START_FROM: "run-1",
        SOURCE_TRIAL: 4,
    }
    assert copies[1].intermediate_values == {0: 0.92, 1: 0.92}  # same cv_folds


def test_other_folds_copy_no_intermediate_values_and_one_family_no_family_param(
    storage, source, make_config, iris_manifest
):
    config = new_config(make_config, models=["random_forest"], cv_folds=3)
    new_study(storage, config, iris_manifest)
    seed(storage, NEW, config, iris_manifest, {"random_forest": "cpu"})
    copies = optuna.load_study(study_name=NEW, storage=storage).get_trials()
    assert len(copies) == 2
    assert copies[0].intermediate_values == {}
    assert "cpu.model" not in copies[0].params


def test_seeding_again_copies_nothing_twice(storage, source, make_config, iris_manifest):
    config = new_config(make_config)
    study = new_study(storage, config, iris_manifest)
    first = seed(storage, NEW, config, iris_manifest, NEW_DEVICES)
    source.add_trial(old_trial("random_forest", 0.9))  # read once: the record is final
    assert seed(storage, NEW, config, iris_manifest, NEW_DEVICES) == first
    assert len(study.get_trials()) == 2


def test_a_retry_after_an_interrupted_copy_copies_only_the_rest(
    storage, source, make_config, iris_manifest
):
    config = new_config(make_config)
    study = new_study(storage, config, iris_manifest)
    seed(storage, NEW, config, iris_manifest, NEW_DEVICES)
    # The same trials in a study that lacks the record: as if setup died before writing it.
    create_study(storage, "retry", iris_manifest["objectives"], config, iris_manifest)
    retry = optuna.load_study(study_name="retry", storage=storage)
    retry.add_trial(study.get_trials()[0])
    record = seed(storage, "retry", config, iris_manifest, NEW_DEVICES)
    assert record["copied"] == 2
    assert [t.user_attrs[SOURCE_TRIAL] for t in retry.get_trials()] == [0, 4]


def test_seeded_trials_do_not_count_against_the_budget(storage, source, make_config, iris_manifest):
    config = new_config(make_config)
    study = new_study(storage, config, iris_manifest)
    seed(storage, NEW, config, iris_manifest, NEW_DEVICES)
    used = usage(study.get_trials())
    assert (used.finished, used.running, used.lost, sum(used.by_model.values())) == (0, 0, 0, 0)
    # Every family still gets its minimum of new trials: random forest is not ahead.
    assert choose(used, 4, list(config.models), "adaptive", {}, 1).model == "random_forest"
    assert sweep_timing(study)["first_trial_start"] is None


def test_a_runner_takes_n_trials_new_trials_besides_the_seeded_ones(
    storage, source, make_config, iris_manifest, metrics
):
    config = new_config(make_config)
    study = new_study(storage, config, iris_manifest)
    seed(storage, NEW, config, iris_manifest, NEW_DEVICES)
    context = RunnerContext("run-2", "cpu", 0, 1, "worker-cpu-1")
    plan = {"queue": "cpu", "models": list(config.models)}
    lock = ThreadStudyLock(NEW)
    summary = Runner(plan, iris_manifest, config, study, context, lock, None, metrics).run()
    assert summary["trials"] == 4
    trials = study.get_trials()
    new = [t for t in trials if WARM_START_FROM not in t.user_attrs]
    assert len(trials) == 6 and len(new) == 4
    assert {t.user_attrs["model"] for t in new} == {"random_forest", "logistic_regression"}
    assert all(t.state == TrialState.COMPLETE for t in trials)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"warm_start_from": "run-9"}, r"^warm_start_from: no hpo_sweep run 'run-9'"),
        ({"warm_start_from": "run-2"}, r"^warm_start_from: a sweep cannot warm start from itself"),
        ({"metric": "f1_macro"}, r"^warm_start_from: run 'run-1' optimized accuracy"),
    ],
)
def test_a_missing_or_unlike_source_is_refused(
    storage, source, make_config, iris_manifest, change, message
):
    config = new_config(make_config, **change)
    manifest = {**iris_manifest, "metric": config.metric_for("classification")}
    with pytest.raises(SweepConfigError, match=message):
        open_source(storage, NEW, config, manifest)


def test_a_source_on_other_data_is_refused(storage, source, make_config, store):
    config = new_config(make_config, dataset="wine")
    manifest = prepare_dataset(config, store, "run-2")
    with pytest.raises(SweepConfigError, match=r"^warm_start_from: run 'run-1' swept other data"):
        open_source(storage, NEW, config, manifest)


def test_warm_start_from_takes_a_run_id_or_null(make_config):
    assert make_config().warm_start_from is None
    run_id = "manual__2026-11-30T07:31:03.123456+00:00"
    assert make_config(warm_start_from=run_id).warm_start_from == run_id
    for bad in ("", "run 1", "../run", 7):
        with pytest.raises(SweepConfigError, match=r"^warm_start_from: "):
            make_config(warm_start_from=bad)


def test_a_trial_from_another_version_of_a_family_space_does_not_fit():
    space = {
        "random_forest": {
            "random_forest.n_estimators": IntDistribution(5, 7),
            "random_forest.max_depth": IntDistribution(2, 4),
        }
    }

    def rf_trial(**params):
        keyed = {f"random_forest.{k}": v for k, v in params.items()}
        dists = {k: CategoricalDistribution([v]) for k, v in keyed.items()}
        return create_trial(
            value=1.0, params=keyed, distributions=dists, user_attrs={"model": "random_forest"}
        )

    extra = rf_trial(n_estimators=5, max_depth=2, criterion="gini")
    assert incompatibility(extra, space) == "random_forest.criterion not in the search space"
    assert incompatibility(rf_trial(n_estimators=5), space) == "random_forest.max_depth missing"
    assert incompatibility(rf_trial(n_estimators=5, max_depth=2), space) is None


@pytest.mark.parametrize(
    ("dist", "inside", "outside"),
    [
        (IntDistribution(2, 8, step=2), [2, 4, 8], [3, 10, 4.0, True]),
        (FloatDistribution(0.1, 1.0), [0.1, 0.5, 1, 1.0], [0.05, 1.5, float("nan"), "0.5"]),
        (FloatDistribution(0.0, 1.0, step=0.25), [0.0, 0.75], [0.3]),
        (CategoricalDistribution([None, "balanced", 1]), [None, "balanced", 1], [True, 2, "x"]),
    ],
)
def test_contains(dist, inside, outside):
    assert all(contains(dist, value) for value in inside)
    assert not any(contains(dist, value) for value in outside)


def test_setup_seeds_the_new_study_once_and_refuses_a_run_on_other_data(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    settings = dataclasses.replace(
        Settings.from_env({}),
        artifact_uri=(tmp_path / "artifacts").as_uri(),
        optuna_storage=storage,
    )
    params = {"dataset": "iris", "models": ["logistic_regression"], "n_trials": 2}
    first = pipeline.setup(params, "hpo_sweep", "run-1", settings=settings)
    assert first["warm_start"] is None
    earlier = optuna.load_study(study_name=first["study_name"], storage=storage)
    space = resolve_space("logistic_regression", "classification")
    earlier.add_trial(
        create_trial(
            value=0.9,
            params={"logistic_regression.C": 1.0, "logistic_regression.class_weight": None},
            distributions={param_key("logistic_regression", k): d for k, d in space.items()},
            user_attrs={"model": "logistic_regression"},
        )
    )
    again = {**params, "warm_start_from": "run-1"}
    for _ in range(2):  # a retried setup seeds nothing twice
        plan = pipeline.setup(again, "hpo_sweep", "run-2", settings=settings)
        assert plan["warm_start"] == {"from": "run-1", "copied": 1, "skipped": 0, "reasons": {}}
    seeded = optuna.load_study(study_name=plan["study_name"], storage=storage).get_trials()
    assert [t.user_attrs[WARM_START_FROM] for t in seeded] == ["run-1"]
    other = {**again, "dataset": "wine"}
    with pytest.raises(SweepConfigError, match=r"^warm_start_from: run 'run-1' swept other data"):
        pipeline.setup(other, "hpo_sweep", "run-3", settings=settings)
    with pytest.raises(KeyError):  # refused before its study was created
        optuna.load_study(study_name="hpo_sweep__run-3", storage=storage)


def finished(value, seeded=False):
    """A COMPLETE trial of random forest, seeded from run-1 or not."""
    attrs = {"model": "random_forest", **({WARM_START_FROM: "run-1"} if seeded else {})}
    return create_trial(value=value, user_attrs=attrs)


def test_seeded_trials_set_the_best_but_do_not_use_up_patience(make_config):
    config = make_config(patience=2, target_score=0.99)
    # Seeded: the best (0.92), then one that did not improve it.
    trials = [finished(0.91, seeded=True), finished(0.92, seeded=True), finished(0.8, seeded=True)]

    def rules():
        return check_rules(trials, usage(trials), config, ["maximize"], 0.0, 1.0)

    trials.append(finished(0.5))
    assert rules() is None  # one new trial below the seeded best
    trials.append(finished(0.5))
    assert rules() == "patience=2: no improvement in the last 2 trials"


def test_a_seeded_trial_that_reaches_target_score_stops_the_sweep(make_config):
    config = make_config(target_score=0.9)
    trials = [finished(0.95, seeded=True)]
    reason = check_rules(trials, usage(trials), config, ["maximize"], 0.0, 1.0)
    assert reason == f"target_score=0.9 reached by trial {trials[0].number} (0.95)"
