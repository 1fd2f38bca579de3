"""XGBoost gradient-boosted trees (``hist`` tree method, CPU or CUDA)."""

from __future__ import annotations

from typing import Any

from airsweep.models.base import AUTO, CLASSIFICATION, GPU, TASK_TYPES, ModelFamily, Spec


class XGBoostFamily(ModelFamily):
    """``XGBClassifier`` / ``XGBRegressor`` with ``tree_method="hist"``.

    Classification labels are encoded to ``0..K-1`` for XGBoost and decoded on
    prediction (:class:`~airsweep.models.labels.LabelEncodedClassifier`), so the
    saved model predicts the dataset's own class labels.
    """

    name = "xgboost"
    task_types = TASK_TYPES
    supports_gpu = True
    default_device = AUTO

    def default_space(self, task_type: str) -> dict[str, Spec]:
        """Return the default XGBoost search space (same for both task types)."""
        return {
            "n_estimators": {"type": "int", "low": 50, "high": 500, "log": True},
            "max_depth": {"type": "int", "low": 2, "high": 10},
            "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
            "subsample": {"type": "float", "low": 0.5, "high": 1.0},
            "colsample_bytree": {"type": "float", "low": 0.5, "high": 1.0},
            "min_child_weight": {"type": "float", "low": 0.5, "high": 10.0, "log": True},
            "reg_lambda": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
        }

    def build(
        self, params: dict[str, Any], task_type: str, n_jobs: int, device: str, seed: int = 0
    ) -> Any:
        """Build an XGBoost estimator on ``device`` (``"gpu"`` means CUDA)."""
        import xgboost

        common = {
            "tree_method": "hist",
            "device": "cuda" if device == GPU else "cpu",
            "n_jobs": n_jobs,
            "random_state": seed,
            **params,
        }
        if task_type != CLASSIFICATION:
            return xgboost.XGBRegressor(**common)
        from airsweep.models.labels import LabelEncodedClassifier

        return LabelEncodedClassifier(xgboost.XGBClassifier(**common))

    def native_model(self, estimator: Any) -> bytes | None:
        """Return the fitted booster in XGBoost's UBJSON format (``model.ubj``)."""
        fitted = getattr(estimator, "estimator_", estimator)
        return bytes(fitted.get_booster().save_raw(raw_format="ubj"))
