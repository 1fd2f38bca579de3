from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from airsweep import pipeline
from airsweep.config import SweepConfigError
from airsweep.settings import Settings


def test_validate_normalizes_and_names_the_bad_field():
    config = pipeline.validate({"dataset": "iris", "n_trials": 6})
    assert config["dataset"] == "iris" and config["n_trials"] == 6
    assert config["models"]  # defaults filled in
    with pytest.raises(SweepConfigError, match=r"^n_trials"):
        pipeline.validate({"n_trials": 0})


def test_plan_uses_configured_slots_without_a_broker():
    settings = dataclasses.replace(Settings.from_env({}), slots={"cpu": 3, "gpu": 1})
    config = pipeline.validate(
        {"models": ["random_forest", "xgboost"], "device": {"xgboost": "gpu"}, "n_trials": 12}
    )
    plan = pipeline.plan(config, broker_url="", settings=settings)
    assert len(plan["cpu"]) == 3 and len(plan["gpu"]) == 1
    assert sum(sum(b["trials"].values()) for side in plan.values() for b in side) == 12


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
