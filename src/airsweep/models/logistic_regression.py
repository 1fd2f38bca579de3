"""Logistic regression from scikit-learn."""

from __future__ import annotations

from typing import Any

from airsweep.models.base import CLASSIFICATION, ModelFamily, Spec


class LogisticRegressionFamily(ModelFamily):
    """``LogisticRegression`` (L2, lbfgs) on standardized features."""

    name = "logistic_regression"
    task_types = (CLASSIFICATION,)
    needs_scaling = True

    def default_space(self, task_type: str) -> dict[str, Spec]:
        """Return the default search space: inverse regularization and class weights."""
        return {
            "C": {"type": "float", "low": 1e-3, "high": 100.0, "log": True},
            "class_weight": {"type": "categorical", "choices": [None, "balanced"]},
        }

    def build(
        self, params: dict[str, Any], task_type: str, n_jobs: int, device: str, seed: int = 0
    ) -> Any:
        """Build a logistic regression (BLAS threads are capped by the trial runner)."""
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, random_state=seed, **params)
