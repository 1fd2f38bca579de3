"""Ordinary least-squares linear regression from scikit-learn."""

from __future__ import annotations

from typing import Any

from airsweep.models.base import REGRESSION, ModelFamily, Spec


class LinearFamily(ModelFamily):
    """``LinearRegression`` (ordinary least squares): a baseline with almost nothing to tune."""

    name = "linear"
    task_types = (REGRESSION,)
    needs_scaling = True

    def default_space(self, task_type: str) -> dict[str, Spec]:
        """Return the default search space: whether to fit an intercept."""
        return {"fit_intercept": {"type": "categorical", "choices": [True, False]}}

    def build(
        self, params: dict[str, Any], task_type: str, n_jobs: int, device: str, seed: int = 0
    ) -> Any:
        """Build an ordinary least-squares regression."""
        from sklearn.linear_model import LinearRegression

        return LinearRegression(n_jobs=n_jobs, **params)
