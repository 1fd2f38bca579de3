from __future__ import annotations

import dataclasses
import subprocess
import sys

import optuna
import pytest

from airsweep import pipeline
from airsweep.config import SweepConfigError
from airsweep.settings import Settings


def test_setup_validates_prepares_creates_the_study_and_plans_runners(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    settings = dataclasses.replace(
        Settings.from_env({}),
        artifact_uri=(tmp_path / "artifacts").as_uri(),
        optuna_storage=storage,
    )
    params = {"dataset": "iris", "models": ["logistic_regression", "xgboost"], "n_trials": 6}
    plan = pipeline.setup(params, "hpo_sweep", "run-1", broker_url="", settings=settings)
    assert plan["study_name"] == "hpo_sweep__run-1"
    assert plan["config"]["n_trials"] == 6 and plan["manifest"]["task_type"] == "classification"
    # No broker to ask for live gpu workers: auto trains on the cpu queue.
    assert plan["devices"] == {"logistic_regression": "cpu", "xgboost": "cpu"}
    assert plan["cpu"] == [{"queue": "cpu", "models": ["logistic_regression", "xgboost"]}] * 4
    assert plan["gpu"] == []
    assert optuna.load_study(study_name=plan["study_name"], storage=storage).trials == []
    with pytest.raises(SweepConfigError, match=r"^n_trials"):
        pipeline.setup({"n_trials": 0}, "hpo_sweep", "run-2", settings=settings)


def test_warm_up_loads_the_storage_code_and_leaves_nothing_behind(tmp_path):
    # A fresh interpreter: in this one, other tests may have configured the mappers.
    probe = (
        "import sys\n"
        "from sqlalchemy.orm import class_mapper\n"
        "from airsweep import pipeline\n"
        "from optuna.storages._rdb import models\n"
        "before = class_mapper(models.TrialModel, configure=False).configured\n"
        "pipeline.warm_up()\n"
        "after = class_mapper(models.TrialModel, configure=False).configured\n"
        "print(before, after, 'alembic.migration' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]
    assert list(tmp_path.iterdir()) == []  # an in-memory database: no file
