"""hpo_sweep end to end on the real cluster, checked from the API, the study and the registry."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import joblib
import optuna
import pytest
from sklearn.metrics import accuracy_score

from airsweep.artifacts import ArtifactStore
from airsweep.data import load_split
from airsweep.follow import task_error
from airsweep.registry import ModelRegistry
from airsweep.study import study_name_for
from tests.integration.conftest import SWEEP

pytestmark = pytest.mark.integration


def _study(cluster, run_id):
    return optuna.load_study(
        study_name=study_name_for(SWEEP, run_id), storage=cluster.optuna_storage
    )


def test_sweep_succeeds_and_runs_every_trial(cluster, finished_sweep):
    assert finished_sweep.run["state"] == "success"
    trials = _study(cluster, finished_sweep.run_id).get_trials()
    assert len(trials) == finished_sweep.conf["n_trials"]
    states = {t.state for t in trials}
    assert states <= {
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    }
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    # logistic_regression's only C (-1) is invalid: each of its trials fails, alone.
    assert {t.user_attrs["model"] for t in failed} == {"logistic_regression"}
    assert len(failed) >= 1  # the family is sampled: at least its minimum of trials
    assert all("C" in t.user_attrs["error"] for t in failed)


def test_each_runner_ran_on_a_worker_of_its_queue(cluster, finished_sweep):
    client = cluster.client
    tis = client.task_instances(SWEEP, finished_sweep.run_id)
    mapped = [ti for ti in tis if ti["task_id"] in ("cpu_trials", "gpu_trials")]
    assert {ti["task_id"] for ti in mapped} == {"cpu_trials", "gpu_trials"}
    ran = 0
    for ti in mapped:
        queue = ti["task_id"].removesuffix("_trials")
        assert (ti["state"], ti["queue"], ti["pool"]) == ("success", queue, f"{queue}_trials")
        summary = client.xcom(SWEEP, finished_sweep.run_id, ti["task_id"], ti["map_index"])
        assert summary["queue"] == queue
        assert summary["worker"] == f"worker-{queue}"
        assert (
            summary["stop_reason"] == f"budget spent (n_trials={finished_sweep.conf['n_trials']})"
        )
        ran += summary["trials"]
    assert ran == finished_sweep.conf["n_trials"]
    for trial in _study(cluster, finished_sweep.run_id).get_trials():
        where = trial.user_attrs["placement"]
        assert where["worker"] == f"worker-{where['queue']}"
        expected_queue = "gpu" if trial.user_attrs["model"] == "xgboost" else "cpu"
        assert where["queue"] == expected_queue


def test_gpu_trials_record_the_device_they_really_used(cluster, finished_sweep):
    gpu_trials = [
        t
        for t in _study(cluster, finished_sweep.run_id).get_trials()
        if t.user_attrs["placement"]["queue"] == "gpu"
    ]
    assert gpu_trials
    for trial in gpu_trials:
        where = trial.user_attrs["placement"]
        assert where["device_requested"] == "gpu"
        # This machine has no GPU: the default fallback trains on the CPU and says why.
        assert where["device_used"] == "cpu"
        assert "cuda" in where["fallback_reason"].lower()


def test_stored_model_is_the_best_complete_trial_and_matches_its_card(cluster, finished_sweep):
    client = cluster.client
    run_id = finished_sweep.run_id
    summary = client.xcom(SWEEP, run_id, "finalize")
    study = _study(cluster, run_id)
    card = ArtifactStore(cluster.artifact_uri).read_json(summary["card_uri"])
    assert card["best_trial"]["number"] == study.best_trial.number
    assert card["cv_score"] == pytest.approx(study.best_value)
    assert study.best_trial.state == optuna.trial.TrialState.COMPLETE

    manifest = client.xcom(SWEEP, run_id, "setup", key="manifest")
    x_test, y_test = load_split(manifest, "test")
    model = joblib.load(Path(urlparse(card["model_uri"]).path))
    assert accuracy_score(y_test, model.predict(x_test)) == pytest.approx(card["test_score"])

    registry = ModelRegistry(cluster.optuna_storage, ArtifactStore(cluster.artifact_uri))
    assert registry.get(run_id)["card_uri"] == card["card_uri"]
    mine = registry.get(run_id)
    champion = registry.champion(card["dataset"]["fingerprint"], card["metric"])
    if champion["run_key"] == run_id:
        assert summary["promoted"]
    else:  # other sweeps of the session run on the same data: one holds the title now
        sign = 1 if card["direction"] == "maximize" else -1
        beaten_since = (
            champion["registered_at"] > mine["registered_at"]
            and sign * champion["test_score"] > sign * mine["test_score"]
        )
        kept_before = sign * mine["test_score"] <= sign * champion["test_score"]
        assert beaten_since if summary["promoted"] else kept_before, (summary, champion, mine)

    assert summary["leaderboard"][0]["number"] == study.best_trial.number


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"n_trials": -1}, "n_trials"),
        ({"models": ["svm"]}, "models"),
        ({"metric": "bogus"}, "metric"),
        ({"cv_folds": 1}, "cv_folds"),
        ({"csv_options": {"delimiter": ";"}}, "csv_options"),
    ],
)
def test_invalid_conf_is_rejected_with_400_and_creates_no_run(cluster, conf, field):
    from airsweep.client import AirflowAPIError

    client = cluster.client
    client.wait_for_dag(SWEEP)
    before = client.request("GET", f"/dags/{SWEEP}/dagRuns")["total_entries"]
    with pytest.raises(AirflowAPIError) as info:
        client.trigger(SWEEP, conf)
    assert info.value.status == 400
    assert field in info.value.message
    assert client.request("GET", f"/dags/{SWEEP}/dagRuns")["total_entries"] == before


def test_bad_input_fails_once_at_validation_with_no_trials(cluster, tmp_path):
    single_class = tmp_path / "one_class.csv"
    single_class.write_text("a,b,label\n" + "".join(f"{i},{i * 2},yes\n" for i in range(30)))
    tmp_path.chmod(0o755)
    cases = {
        "has a single class": {"dataset": str(single_class), "target": "label"},
        "low (9) is greater than high (3)": {
            "models": ["xgboost"],
            "search_space": {"xgboost": {"max_depth": {"type": "int", "low": 9, "high": 3}}},
        },
    }
    runs = {reason: cluster.trigger(conf) for reason, conf in cases.items()}
    for reason, run_id in runs.items():
        run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=300)
        assert run["state"] == "failed"
        tis = {ti["task_id"]: ti for ti in cluster.client.task_instances(SWEEP, run_id)}
        assert tis["setup"]["state"] == "failed"
        assert tis["setup"]["try_number"] == 1, "bad input must not be retried"
        assert tis["plan_cpu"]["state"] == "upstream_failed"
        assert reason in task_error(cluster.client, run_id, tis["setup"])
        with pytest.raises(KeyError):
            _study(cluster, run_id)


def test_a_sweep_with_no_gpu_model_skips_the_gpu_side_and_finishes(cluster):
    conf = {"dataset": "iris", "models": ["logistic_regression"], "n_trials": 2, "cv_folds": 2}
    run_id = cluster.trigger(conf)
    run = cluster.client.wait_for_run(SWEEP, run_id, timeout_s=600)
    assert run["state"] == "success"
    states = {}
    for ti in cluster.client.task_instances(SWEEP, run_id):
        states.setdefault(ti["task_id"], set()).add(ti["state"])
    assert states["gpu_trials"] == {"skipped"}
    assert states["cpu_trials"] == {"success"}
    assert states["finalize"] == {"success"}


def test_the_sweep_command_follows_a_sweep_to_its_leaderboard(cluster):
    result = cluster.airsweep(
        "sweep", "--dataset", "iris", "--models", "logistic_regression", "--n-trials", "4"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    progress = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert progress and "left" in progress[-1]
    assert "Leaderboard" in result.stdout
    assert "Best model : logistic_regression" in result.stdout


def test_a_messy_semicolon_csv_sweeps_and_reports_what_was_cleaned(cluster, tmp_path):
    species = ["Adelie", "Gentoo", "Chinstrap", "Adelie", ""]  # every fifth row: no target
    rows = [
        f"{'inf' if i == 7 else f'{38 + i % 9},{i % 10}'};{180 + i % 23};"
        f"{['Biscoe', 'Rêve'][i % 2]};;{species[i % 5]};Torgersen"
        for i in range(60)
    ]
    header = "bill_length;flipper_length;island;comments;species;island"
    path = tmp_path / "penguins.csv"
    path.write_bytes("\n".join([header, *rows, ""]).encode("latin-1"))
    tmp_path.chmod(0o755)
    conf = {"cv_folds": 2, "csv_options": {"sep": ";", "decimal": ",", "encoding": "latin-1"}}
    result = cluster.airsweep(
        "sweep",
        *("--dataset", str(path), "--target", "species"),
        *("--models", "logistic_regression", "--n-trials", "2", "--conf", json.dumps(conf)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "Data       : dropped 12 row(s) before the split (12 missing_target); "
        "dropped 2 column(s): island (duplicate), comments (all_missing); "
        "1 infinite value(s) treated as missing (bill_length 1)"
    ) in result.stdout
    run_id = result.stdout.split("triggered hpo_sweep run ", 1)[1].split()[0]
    summary = cluster.client.xcom(SWEEP, run_id, "finalize")
    card = ArtifactStore(cluster.artifact_uri).read_json(summary["card_uri"])
    for report in (summary, card["dataset"]):
        assert report["dropped_rows"] == {"missing_target": 12}
        assert report["dropped_columns"] == {"duplicate": ["island"], "all_missing": ["comments"]}
        assert report["infinite_values"] == {"bill_length": 1}
    manifest = cluster.client.xcom(SWEEP, run_id, "setup", key="manifest")
    assert manifest["features"] == ["bill_length", "flipper_length", "island"]
    assert manifest["categorical"] == ["island"]
    x_train, _ = load_split(manifest, "train")
    assert set(x_train["island"]) == {"Biscoe", "Rêve"}  # the first island, read as latin-1
    assert x_train["bill_length"].dropna().between(38, 47).all()  # decimal commas: numbers
