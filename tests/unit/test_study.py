import optuna
import pytest

from airsweep.config import SweepConfig
from airsweep.space import grid_search_space
from airsweep.study import create_study, load_study, study_name_for

GRID = {
    "sampler": "grid",
    "models": ["ridge"],
    "n_trials": 3,
    "search_space": {"ridge": {"alpha": {"type": "categorical", "choices": [0.1, 1.0, 10.0]}}},
}


def test_study_name():
    assert study_name_for("hpo_sweep", "manual__2026-01-01") == "hpo_sweep__manual__2026-01-01"


def test_create_is_idempotent_and_stores_config_and_manifest_summary(iris_config, iris_manifest):
    storage = optuna.storages.InMemoryStorage()
    create_study(storage, "s", iris_manifest["objectives"], iris_config, iris_manifest)
    create_study(storage, "s", iris_manifest["objectives"], iris_config, iris_manifest)
    assert len(storage.get_all_studies()) == 1
    study = load_study(storage, "s", iris_config)
    assert study.user_attrs["config"] == iris_config.to_dict()
    assert study.user_attrs["manifest"]["fingerprint"] == iris_manifest["fingerprint"]
    assert "train_uri" not in study.user_attrs["manifest"]
    assert isinstance(study.pruner, optuna.pruners.MedianPruner)
    assert study.metric_names == ["accuracy"]
    with pytest.raises(ValueError, match=r"already exists with directions \['maximize'\], not"):
        create_study(storage, "s", [{"name": "rmse", "direction": "minimize"}], iris_config)


def test_grid_sampler_survives_ask_and_tell_past_the_end_of_the_grid():
    config = SweepConfig.from_params(GRID)
    storage = optuna.storages.InMemoryStorage()
    create_study(storage, "g", [{"name": "rmse", "direction": "minimize"}], config)
    study = load_study(storage, "g", config)
    seen = []
    for _ in range(4):  # one more than the grid: stock GridSampler raises in tell here
        trial = study.ask()
        seen.append(trial.suggest_categorical("ridge.alpha", [0.1, 1.0, 10.0]))
        study.tell(trial, 1.0)
    assert sorted(seen[:3]) == grid_search_space(config)["ridge.alpha"]
    assert len(study.trials) == 4
