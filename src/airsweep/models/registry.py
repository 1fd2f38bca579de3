"""Model families by name."""

from __future__ import annotations

from airsweep.models.base import ModelFamily
from airsweep.models.hist_gradient_boosting import HistGradientBoostingFamily
from airsweep.models.linear import LinearFamily
from airsweep.models.logistic_regression import LogisticRegressionFamily
from airsweep.models.random_forest import RandomForestFamily
from airsweep.models.ridge import RidgeFamily
from airsweep.models.xgboost import XGBoostFamily

_FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (
        XGBoostFamily(),
        RandomForestFamily(),
        HistGradientBoostingFamily(),
        LogisticRegressionFamily(),
        RidgeFamily(),
        LinearFamily(),
    )
}


def available_families() -> tuple[str, ...]:
    """Return the names of all model families, in a stable order."""
    return tuple(_FAMILIES)


def get_family(name: str) -> ModelFamily:
    """Return the model family called ``name``.

    Raises:
        KeyError: ``name`` is not a known family (the message lists the known ones).
    """
    try:
        return _FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(_FAMILIES)}") from None
