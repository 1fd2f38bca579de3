"""The sweep's pruner, built from ``pruner``, ``pruner_options`` and ``cv_folds``.

Steps are CV folds: after fold ``k`` (counted from 0) a trial reports its
running mean score at step ``k``. The pruner is applied per model family by
:class:`airsweep.pruning.FoldPruner`.
"""

from __future__ import annotations

from typing import Any

import optuna

from airsweep.config import SweepConfig

#: Options the sweep sets when the user does not (Optuna's defaults otherwise).
PRUNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "median": {"n_startup_trials": 5, "n_warmup_steps": 0},
    "percentile": {"percentile": 25.0},
    "successive_halving": {"min_resource": 1},
    "hyperband": {"min_resource": 1},
}


def make_pruner(config: SweepConfig) -> optuna.pruners.BasePruner:
    """Return the pruner of a sweep.

    Args:
        config: The sweep config (``pruner``, ``pruner_options``, ``cv_folds``).

    Returns:
        ``none``: ``NopPruner``; ``median``: ``MedianPruner(n_startup_trials=5)``;
        ``percentile``: ``PercentilePruner(25)``; ``successive_halving``:
        ``SuccessiveHalvingPruner(min_resource=1)``; ``hyperband``:
        ``HyperbandPruner(min_resource=1, max_resource=cv_folds)``; each with
        ``pruner_options`` over these defaults.
    """
    options = {**PRUNER_DEFAULTS.get(config.pruner, {}), **config.pruner_options}
    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(**options)
    if config.pruner == "percentile":
        return optuna.pruners.PercentilePruner(**options)
    if config.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(**options)
    return optuna.pruners.HyperbandPruner(max_resource=config.cv_folds, **options)
