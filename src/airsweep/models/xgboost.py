"""XGBoost gradient-boosted trees (``hist`` tree method, CPU or CUDA)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airsweep.models.base import AUTO, CLASSIFICATION, GPU, TASK_TYPES, ModelFamily, Spec


class XGBoostFamily(ModelFamily):
    """``XGBClassifier`` / ``XGBRegressor`` with ``tree_method="hist"``.

    Classification labels are encoded to ``0..K-1`` for XGBoost and decoded on
    prediction (:class:`~airsweep.models.labels.LabelEncodedClassifier`), so the
    saved model predicts the dataset's own class labels.

    Its steps are boosting rounds (``n_estimators``): training goes on from the
    booster of the last checkpoint (``xgb_model``). Without row or column
    subsampling the trees are those of one fit; with ``subsample`` or
    ``colsample_*`` below 1, XGBoost draws the samples of each chunk afresh
    from its seed, so the model is an equally random draw, not the same one
    (docs/sweeps.md, "Pruners").
    """

    name = "xgboost"
    task_types = TASK_TYPES
    supports_gpu = True
    default_device = AUTO
    step_param = "n_estimators"

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

    def fit_steps(
        self, estimator: Any, X: Any, y: Any, checkpoints: Sequence[int]
    ) -> Iterator[Any]:
        """Train the rounds up to each checkpoint on top of the booster trained so far."""
        from airsweep.models.labels import LabelEncodedClassifier

        wrapped = isinstance(estimator, LabelEncodedClassifier)
        rounds_param = "estimator__n_estimators" if wrapped else "n_estimators"
        booster, done = None, 0
        for rounds in checkpoints:
            estimator.set_params(**{rounds_param: rounds - done})
            estimator.fit(X, y, xgb_model=booster)
            booster = (estimator.estimator_ if wrapped else estimator).get_booster()
            done = rounds
            yield estimator

    def native_model(self, estimator: Any) -> bytes | None:
        """Return the fitted booster in XGBoost's UBJSON format (``model.ubj``)."""
        fitted = getattr(estimator, "estimator_", estimator)
        return bytes(fitted.get_booster().save_raw(raw_format="ubj"))
