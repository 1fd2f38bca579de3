import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.preprocessing import StandardScaler

from airsweep.data import load_split
from airsweep.models import available_families, get_family
from airsweep.models import device as device_module
from airsweep.models.device import GpuUnavailableError, cuda_status, resolve_device
from airsweep.models.labels import LabelEncodedClassifier
from airsweep.models.pipeline import build_pipeline
from airsweep.models.scoring import score

FAST = {
    "xgboost": {"n_estimators": 5, "max_depth": 2},
    "random_forest": {"n_estimators": 5, "max_depth": 3},
    "hist_gradient_boosting": {"max_iter": 5},
    "logistic_regression": {"C": 1.0},
}


def test_registry_lists_every_family_and_rejects_unknown_names():
    assert available_families() == (
        "xgboost",
        "random_forest",
        "hist_gradient_boosting",
        "logistic_regression",
        "ridge",
        "linear",
        "lightgbm",  # the example plugin of plugins/ (docs/plugins.md)
    )
    assert get_family("ridge").task_types == ("regression",)
    with pytest.raises(KeyError, match="unknown model 'svm'; known models: xgboost"):
        get_family("svm")


@pytest.mark.parametrize(
    ("name", "task_type", "cls"),
    [
        ("xgboost", "regression", "XGBRegressor"),
        ("xgboost", "classification", "LabelEncodedClassifier"),
        ("random_forest", "classification", "RandomForestClassifier"),
        ("random_forest", "regression", "RandomForestRegressor"),
        ("hist_gradient_boosting", "regression", "HistGradientBoostingRegressor"),
        ("logistic_regression", "classification", "LogisticRegression"),
        ("ridge", "regression", "Ridge"),
        ("linear", "regression", "LinearRegression"),
    ],
)
def test_families_build_the_expected_estimator(name, task_type, cls):
    estimator = get_family(name).build({}, task_type, n_jobs=3, device="cpu", seed=5)
    assert type(estimator).__name__ == cls


def test_xgboost_uses_hist_threads_and_cuda_for_gpu():
    gpu = get_family("xgboost").build({"max_depth": 4}, "regression", n_jobs=2, device="gpu")
    cpu = get_family("xgboost").build({}, "classification", n_jobs=2, device="cpu").estimator
    assert gpu.get_params()["device"] == "cuda"
    assert cpu.get_params()["device"] == "cpu"
    assert (gpu.tree_method, gpu.n_jobs, gpu.max_depth) == ("hist", 2, 4)


@pytest.mark.parametrize("model", FAST)
def test_classification_pipelines_fit_iris(iris_manifest, model):
    X, y = load_split(iris_manifest, "train")
    pipeline = build_pipeline(iris_manifest, model, FAST[model], n_jobs=1, device="cpu")
    pipeline.fit(X, y)
    assert set(pipeline.predict(X)) <= {0, 1, 2}
    assert score(pipeline, X, y, "accuracy") > 0.8
    numeric = pipeline.named_steps["preprocess"].named_transformers_["numeric"]
    scaled = any(isinstance(step, StandardScaler) for step in numeric.named_steps.values())
    assert scaled == get_family(model).needs_scaling


def test_label_encoded_xgboost_predicts_original_labels_and_saves_native_model():
    X = pd.DataFrame({"a": np.arange(30.0)})
    y = np.array(["low"] * 10 + ["mid"] * 10 + ["high"] * 10)
    family = get_family("xgboost")
    model = family.build({"n_estimators": 4}, "classification", n_jobs=1, device="cpu").fit(X, y)
    assert isinstance(model, LabelEncodedClassifier)
    assert list(model.classes_) == ["high", "low", "mid"]
    assert (model.predict(X) == y).mean() > 0.9
    assert model.predict_proba(X).shape == (30, 3)
    booster = xgboost.Booster()
    booster.load_model(bytearray(family.native_model(model)))
    assert booster.num_boosted_rounds() == 4
    assert get_family("random_forest").native_model(object()) is None


def test_scores_are_in_the_metric_units(iris_manifest):
    X, y = load_split(iris_manifest, "train")
    pipeline = build_pipeline(iris_manifest, "logistic_regression", {}, 1, "cpu").fit(X, y)
    assert 0.5 < score(pipeline, X, y, "roc_auc") <= 1.0  # 3 classes -> one-vs-rest
    assert 0.0 < score(pipeline, X, y, "log_loss") < 1.0  # positive loss
    regression = build_pipeline({**iris_manifest, "task_type": "regression"}, "ridge", {}, 1, "cpu")
    regression.fit(X, y.astype(float))
    rmse = score(regression, X, y.astype(float), "rmse")
    assert 0.0 < rmse == pytest.approx(float(np.sqrt(np.mean((regression.predict(X) - y) ** 2))))


def test_cpu_requests_never_probe(monkeypatch):
    monkeypatch.setattr(device_module, "cuda_status", lambda: pytest.fail("probed"))
    assert resolve_device("cpu", "fail") == ("cpu", None)


def test_gpu_request_uses_cuda_when_usable_and_falls_back_otherwise(monkeypatch):
    monkeypatch.setattr(device_module, "cuda_status", lambda: (True, None))
    assert resolve_device("gpu", "fail") == ("gpu", None)
    monkeypatch.setattr(device_module, "cuda_status", lambda: (False, "no driver"))
    assert resolve_device("gpu", "cpu") == ("cpu", "no driver")
    with pytest.raises(
        GpuUnavailableError, match="^device: gpu requested but CUDA is not usable here: no driver"
    ):
        resolve_device("gpu", "fail")
    with pytest.raises(ValueError, match="^gpu_fallback:"):
        resolve_device("gpu", "sometimes")


def test_a_gpu_request_probes_cuda_in_a_child_process_not_in_this_one():
    # A runner forks trial processes: a CUDA context opened in it would not survive. A
    # fresh interpreter, as a runner's: after this process's own OpenMP fits (the tests
    # above), a forked child's xgboost fit would hang (GNU OpenMP does not survive fork).
    script = (
        "from airsweep.models import device; "
        "used, reason = device.resolve_device('gpu', 'cpu'); "
        "print(device.cuda_status.cache_info().currsize, used, reason is None)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    probed_here, used, no_reason = out.stdout.split()
    assert probed_here == "0"  # cuda_status never ran in the process that asked
    assert (used == "gpu") == (no_reason == "True")


def test_a_probe_that_crashes_means_no_cuda(monkeypatch):
    monkeypatch.setattr(device_module, "cuda_status", lambda: os.kill(os.getpid(), signal.SIGKILL))
    assert resolve_device("gpu", "cpu") == (
        "cpu",
        "CUDA probe failed: probe process died: killed by SIGKILL",
    )


def test_real_probe_on_this_machine():
    usable, reason = cuda_status()
    assert cuda_status() is cuda_status()  # cached per process
    if usable:
        assert reason is None
        assert resolve_device("gpu", "fail") == ("gpu", None)
    else:
        assert "cuda" in reason.lower() and ".cc:" not in reason
        assert resolve_device("gpu", "cpu") == ("cpu", reason)
        with pytest.raises(GpuUnavailableError):
            resolve_device("gpu", "fail")
