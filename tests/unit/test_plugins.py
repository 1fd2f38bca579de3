"""The model-family plugin loader: plugins folder, entry points, errors (issue 12)."""

import json
import logging
import textwrap
import uuid
from importlib import metadata

import pytest
from sklearn.model_selection import StratifiedKFold

from airsweep.config import PARAM_SCHEMAS, SweepConfig, SweepConfigError
from airsweep.config.schemas import check_schema
from airsweep.crossval import CrossValidation
from airsweep.data import load_split, prepare_dataset
from airsweep.models.plugins import BUILTIN, ENTRY_POINT_GROUP, load_families, plugins_dir
from airsweep.models.registry import available_families, loaded_families

BUILTINS = (
    "xgboost",
    "random_forest",
    "hist_gradient_boosting",
    "logistic_regression",
    "ridge",
    "linear",
)


SPACE = 'return {"C": {"type": "float", "low": 0.1, "high": 10.0, "log": True}}'


def family_source(name, space=SPACE):
    """A plugin module declaring one family called ``name`` whose default_space runs ``space``."""
    return textwrap.dedent(
        f"""
        from airsweep.models import ModelFamily

        class Family(ModelFamily):
            name = {name!r}
            task_types = ("classification",)

            def default_space(self, task_type):
                {space}

            def build(self, params, task_type, n_jobs, device, seed=0):
                from sklearn.linear_model import LogisticRegression

                return LogisticRegression(**params)

        FAMILIES = [Family()]
        """
    )


@pytest.fixture
def folder(tmp_path):
    """A fresh plugins folder (its modules get unique names: ``sys.modules`` caches them)."""
    root = tmp_path / f"plugins_{uuid.uuid4().hex[:8]}"
    root.mkdir()
    return root


def write(folder, name, text):
    path = folder / f"{name}_{uuid.uuid4().hex[:8]}.py"
    path.write_text(text)
    return path


def test_built_in_families_come_first_through_the_same_loader():
    loaded = load_families(None)
    assert tuple(loaded.families) == BUILTINS
    assert set(loaded.sources.values()) == {BUILTIN} and loaded.errors == []


def test_a_good_plugin_is_loaded_with_its_file_as_source(folder):
    sub = folder / "team"
    sub.mkdir()
    path = write(sub, "mine", family_source("my_logit"))
    loaded = load_families(folder)
    assert tuple(loaded.families) == (*BUILTINS, "my_logit")
    assert loaded.sources["my_logit"] == str(path) and loaded.errors == []


def test_a_plugin_that_fails_to_import_is_reported_once_and_the_others_load(folder, caplog):
    broken = write(folder, "broken", "import not_a_real_module_xyz\n")
    write(folder, "good", family_source("good_one"))
    with caplog.at_level(logging.ERROR, logger="airsweep.models.plugins"):
        loaded = load_families(folder)
    assert "good_one" in loaded.families
    assert [(e.source, e.message) for e in loaded.errors] == [
        (str(broken), "ModuleNotFoundError: No module named 'not_a_real_module_xyz'")
    ]
    assert len([r for r in caplog.records if str(broken) in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (family_source("xgboost"), "family 'xgboost' clashes with a built-in family; rename it"),
        (family_source("Bad.Name"), "family name 'Bad.Name' must be 1-64 lower-case letters"),
        (
            family_source("spaceless", "raise OSError('x')"),
            "spaceless: default_space('classification') raised OSError: x",
        ),
        ("FAMILIES = [object()]\n", "is not a ModelFamily instance"),
    ],
)
def test_a_bad_family_is_refused_with_the_reason(folder, source, message):
    path = write(folder, "bad", source)
    loaded = load_families(folder)
    assert tuple(loaded.families) == BUILTINS
    [error] = loaded.errors
    assert error.source == str(path) and message in error.message


def test_two_plugins_of_one_name_keep_the_first(folder):
    first = write(folder, "a", family_source("twin"))
    write(folder, "b", family_source("twin"))
    loaded = load_families(folder)
    assert loaded.sources["twin"] == str(first)
    assert [e.message for e in loaded.errors] == [
        f"family 'twin' clashes with the family of {first}; rename it"
    ]


def test_an_entry_point_names_a_family_class(folder, monkeypatch):
    module = write(folder, "pkg", family_source("from_entry_point")).stem
    monkeypatch.syspath_prepend(str(folder))
    points = [
        metadata.EntryPoint("fam", f"{module}:Family", ENTRY_POINT_GROUP),
        metadata.EntryPoint("gone", "no_such_package_xyz:Family", ENTRY_POINT_GROUP),
    ]
    loaded = load_families(None, points)
    assert loaded.sources["from_entry_point"] == f"entry point fam = {module}:Family"
    [error] = loaded.errors
    assert error.source == "entry point gone = no_such_package_xyz:Family"
    assert error.message.startswith("ModuleNotFoundError")


def test_the_shipped_lightgbm_plugin_is_a_family_the_params_accept():
    assert plugins_dir({}).name == "plugins"
    assert loaded_families().sources["lightgbm"].endswith("plugins/examples/lightgbm_family.py")
    assert "lightgbm" in available_families()
    assert "lightgbm" in PARAM_SCHEMAS["models"]["items"]["enum"]
    assert "num_leaves" in PARAM_SCHEMAS["search_space"]["properties"]["lightgbm"]["properties"]
    config = SweepConfig.from_params({"models": ["xgboost", "lightgbm"], "pruner": "hyperband"})
    assert config.device["lightgbm"] == "cpu"
    with pytest.raises(SweepConfigError, match="^models.1: 'lightgbmm' is not one of"):
        check_schema("models", ["xgboost", "lightgbmm"])


def test_lightgbm_trains_in_rounds_to_the_plain_fit(make_config, store):
    config = make_config(dataset="breast_cancer", models=["lightgbm"], search_space={})
    manifest = prepare_dataset(config, store, "run-1")
    X, y = load_split(manifest, "train")
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    cv = CrossValidation(manifest, X, y, folds, n_jobs=1, device="cpu", seed=3)
    params = {"n_estimators": 45, "learning_rate": 0.1, "num_leaves": 15, "colsample_bytree": 1.0}
    reports = list(cv.reports("lightgbm", params, [10, 30, 45]))
    assert [step for step, _, _ in reports] == [10, 30, 45]
    assert reports[-1][1] == pytest.approx(list(cv.fold_scores("lightgbm", params)), abs=1e-12)


def test_families_are_listed_with_their_source_space_and_the_plugins_left_out(folder, capsys):
    from airsweep.cli import main
    from airsweep.models.listing import family_rows, format_families

    write(folder, "broken", "raise RuntimeError('boom')\n")
    loaded = load_families(folder)
    rows = family_rows(loaded)
    assert [row["name"] for row in rows] == list(BUILTINS)
    text = format_families(rows, [str(e) for e in loaded.errors])
    assert "xgboost  (built-in)" in text and "steps: n_estimators" in text
    assert "    max_depth         int 2-10" in text
    assert text.endswith("RuntimeError: boom")
    assert main(["models", "families", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    [lightgbm] = [row for row in listed["families"] if row["name"] == "lightgbm"]
    assert lightgbm["steps"] == "n_estimators" and lightgbm["source"].endswith(".py")
