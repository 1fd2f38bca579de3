"""LightGBM as an airsweep model family: an example plugin (docs/plugins.md).

airsweep imports every module of its plugins folder and registers the
families in its ``FAMILIES``; this one adds ``lightgbm`` (``LGBMClassifier`` /
``LGBMRegressor``) with boosting rounds as steps, so the pruners act on rounds
as they do for xgboost. LightGBM is imported in ``build`` only: the DAG file
reads this module at parse time.

GPU: ``device: {"lightgbm": "gpu"}`` trains with ``device_type="gpu"``, LightGBM's
OpenCL learner, which the PyPI wheel includes. It needs an OpenCL driver on the
gpu worker (NVIDIA's ships one with CUDA); without one LightGBM raises ``No OpenCL
device found`` and the trial fails with that error. airsweep's gpu queue checks
for CUDA with XGBoost, not for OpenCL, so the default device stays ``cpu``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airsweep.models import ModelFamily
from airsweep.models.base import CLASSIFICATION, CPU, GPU, TASK_TYPES, Spec


class LightGBMFamily(ModelFamily):
    """LightGBM gradient-boosted trees; steps are boosting rounds (``n_estimators``)."""

    name = "lightgbm"
    task_types = TASK_TYPES
    supports_gpu = True
    default_device = CPU
    step_param = "n_estimators"

    def default_space(self, task_type: str) -> dict[str, Spec]:
        """The default search space (same for both task types)."""
        return {
            "n_estimators": {"type": "int", "low": 50, "high": 500, "log": True},
            "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
            "num_leaves": {"type": "int", "low": 8, "high": 128, "log": True},
            "min_child_samples": {"type": "int", "low": 5, "high": 100, "log": True},
            "colsample_bytree": {"type": "float", "low": 0.5, "high": 1.0},
            "reg_lambda": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
        }

    def build(
        self, params: dict[str, Any], task_type: str, n_jobs: int, device: str, seed: int = 0
    ) -> Any:
        """An ``LGBMClassifier`` or ``LGBMRegressor`` on ``n_jobs`` threads (quiet)."""
        import lightgbm

        cls = lightgbm.LGBMClassifier if task_type == CLASSIFICATION else lightgbm.LGBMRegressor
        device_type = "gpu" if device == GPU else "cpu"
        return cls(n_jobs=n_jobs, random_state=seed, verbose=-1, device_type=device_type, **params)

    def fit_steps(
        self, estimator: Any, X: Any, y: Any, checkpoints: Sequence[int]
    ) -> Iterator[Any]:
        """Train the rounds up to each checkpoint on top of the booster so far (``init_model``).

        Without bagging (this space has none) the trees are those of one fit;
        ``colsample_bytree`` below 1 draws each chunk's columns afresh.
        """
        booster, done = None, 0
        for rounds in checkpoints:
            estimator.set_params(n_estimators=rounds - done)
            estimator.fit(X, y, init_model=booster)
            booster, done = estimator.booster_, rounds
            yield estimator


FAMILIES = [LightGBMFamily()]
