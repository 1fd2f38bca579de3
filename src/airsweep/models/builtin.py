"""The families airsweep ships, declared as any plugin module declares its own (``FAMILIES``).

:mod:`airsweep.models.plugins` loads this module first, with the same checks as
a plugin's: the built-in families take the plugin path.
"""

from airsweep.models.hist_gradient_boosting import HistGradientBoostingFamily
from airsweep.models.linear import LinearFamily
from airsweep.models.logistic_regression import LogisticRegressionFamily
from airsweep.models.random_forest import RandomForestFamily
from airsweep.models.ridge import RidgeFamily
from airsweep.models.xgboost import XGBoostFamily

FAMILIES = (
    XGBoostFamily(),
    RandomForestFamily(),
    HistGradientBoostingFamily(),
    LogisticRegressionFamily(),
    RidgeFamily(),
    LinearFamily(),
)
