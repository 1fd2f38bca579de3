import io

import joblib
import numpy as np
import optuna
import pytest
import xgboost
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from airsweep.data import load_split, prepare_dataset
from airsweep.models.scoring import score
from airsweep.registry import ModelRegistry
from airsweep.report import fold_scores
from airsweep.runner import Runner, RunnerContext
from airsweep.selection import NoCompletedTrialError, finalize_best, select_best
from airsweep.study_lock import ThreadStudyLock


def add(study, state, value=None, **attrs):
    trial = create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        intermediate_values={0: value} if value is not None else {},
        params={"ridge.alpha": 1.0},
        distributions={"ridge.alpha": FloatDistribution(0.001, 100.0, log=True)},
        user_attrs={"model": "ridge", **attrs},
    )
    study.add_trial(trial)


@pytest.mark.parametrize(("direction", "best_value"), [("maximize", 0.9), ("minimize", 0.2)])
def test_select_best_considers_complete_trials_only(direction, best_value):
    study = optuna.create_study(direction=direction)
    add(study, TrialState.COMPLETE, 0.5)
    add(study, TrialState.COMPLETE, best_value)
    add(study, TrialState.PRUNED, 5.0 if direction == "maximize" else -5.0)
    add(study, TrialState.FAIL, error="ValueError: x")
    best = select_best(study).trial
    assert (best.number, best.value) == (1, best_value)


def test_select_best_without_complete_trials_explains_why():
    study = optuna.create_study(study_name="empty-sweep")
    add(study, TrialState.FAIL, error="MemoryError: too big")
    add(study, TrialState.FAIL, error="ValueError: C must be > 0")
    add(study, TrialState.FAIL, error="MemoryError: too big")
    add(study, TrialState.PRUNED, 1.0)
    with pytest.raises(NoCompletedTrialError) as info:
        select_best(study)
    message = str(info.value)
    assert "'empty-sweep' has no COMPLETE trial" in message
    assert "'FAIL': 3" in message and "'PRUNED': 1" in message
    assert message.endswith("errors: 2x MemoryError: too big; 1x ValueError: C must be > 0")


def run_sweep(config, manifest, study, n, metrics):
    config = config.from_params({**config.to_dict(), "n_trials": n})
    context = RunnerContext("run-1", "cpu", 0, 1, "w1", 1)
    plan = {"queue": "cpu", "models": [config.models[0]]}
    Runner(
        plan, manifest, config, study, context, ThreadStudyLock(study.study_name), None, metrics
    ).run()


def test_finalize_refits_scores_and_stores_a_loadable_model(
    store, iris_config, iris_manifest, new_study, metrics, postgres_url
):
    study = new_study(iris_config, iris_manifest, name="hpo__run-1")
    run_sweep(iris_config, iris_manifest, study, 2, metrics)
    add(study, TrialState.FAIL, error="boom")
    registry = ModelRegistry(postgres_url, store)
    card = finalize_best(study, iris_manifest, iris_config, store, "run-1", registry, n_jobs=1)

    model = joblib.load(io.BytesIO(store.read_bytes(card["model_uri"])))
    X_test, y_test = load_split(iris_manifest, "test")
    assert score(model, X_test, y_test, "accuracy") == card["test_score"]
    best = select_best(study).trial
    assert (card["model"], card["cv_score"], card["cv_std"]) == (
        "random_forest",
        best.value,
        pytest.approx(np.std(fold_scores(best))),
    )
    assert card["best_trial"]["queue"] == best.user_attrs["placement"]["queue"] == "cpu"
    assert card["params"] == {k.split(".", 1)[1]: v for k, v in best.params.items()}
    assert model.named_steps["model"].get_params()["n_estimators"] == card["params"]["n_estimators"]
    assert (card["metric"], card["direction"]) == ("accuracy", "maximize")
    assert card["dataset"]["fingerprint"] == iris_manifest["fingerprint"]
    assert card["dataset"]["name"] == "iris"
    assert card["trials"] == {"complete": 2, "fail": 1, "total": 3}
    assert card["best_trial"]["number"] == best.number
    assert card["best_trial"]["worker"] == "w1" and card["best_trial"]["device"] == "cpu"
    assert card["sweep"]["wall_seconds"] >= 0
    assert card["sweep"]["stop_reason"] == "budget spent (n_trials=2)"
    assert set(card["versions"]) == {
        "python",
        "scikit-learn",
        "xgboost",
        "optuna",
        "pandas",
        "numpy",
    }
    assert card["native_model_uri"] is None
    assert card["promoted"] is True
    stored = store.read_json(card["card_uri"])
    assert stored == {k: v for k, v in card.items() if k != "promoted"}
    assert registry.get("run-1")["card_uri"] == card["card_uri"]


def test_finalize_xgboost_also_writes_the_native_model(
    store, make_config, new_study, fast_space, metrics, postgres_url
):
    config = make_config(
        models=["xgboost"],
        device={"xgboost": "cpu"},
        search_space={"xgboost": fast_space["xgboost"]},
    )
    manifest = prepare_dataset(config, store, "xgb")
    study = new_study(config, manifest)
    run_sweep(config, manifest, study, 1, metrics)
    registry = ModelRegistry(postgres_url, store)
    card = finalize_best(study, manifest, config, store, "xgb", registry, n_jobs=1)
    booster = xgboost.Booster()
    booster.load_model(bytearray(store.read_bytes(card["native_model_uri"])))
    assert booster.num_boosted_rounds() == card["params"]["n_estimators"]
    assert card["native_model_uri"].endswith("/runs/xgb/model/model.ubj")


def test_a_crash_before_the_card_is_written_registers_nothing(
    store, iris_config, iris_manifest, new_study, metrics, postgres_url, monkeypatch
):
    study = new_study(iris_config, iris_manifest, name="hpo__run-1")
    run_sweep(iris_config, iris_manifest, study, 1, metrics)
    registry = ModelRegistry(postgres_url, store)

    def crash(uri, obj):
        raise OSError("worker killed")

    monkeypatch.setattr(store, "write_json", crash)
    with pytest.raises(OSError, match="worker killed"):
        finalize_best(study, iris_manifest, iris_config, store, "run-1", registry, n_jobs=1)
    model = store.uri("runs", "run-1", "model")
    assert store.exists(f"{model}/model.joblib")  # an unregistered artifact, nothing worse
    assert not store.exists(f"{model}/card.json")
    assert registry.list_models() == []
