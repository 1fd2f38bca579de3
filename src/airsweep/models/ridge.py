"""Ridge regression from scikit-learn."""

from __future__ import annotations

from typing import Any

from airsweep.models.base import REGRESSION, ModelFamily, Spec


class RidgeFamily(ModelFamily):
    """``Ridge`` regression on standardized features."""

    name = "ridge"
    task_types = (REGRESSION,)
    needs_scaling = True

    def default_space(self, task_type: str) -> dict[str, Spec]:
        """Return the default search space: the L2 penalty."""
        return {"alpha": {"type": "float", "low": 1e-3, "high": 100.0, "log": True}}

    def build(
        self, params: dict[str, Any], task_type: str, n_jobs: int, device: str, seed: int = 0
    ) -> Any:
        """Build a ridge regression."""
        from sklearn.linear_model import Ridge

        return Ridge(random_state=seed, **params)
