"""Optuna samplers and pruners built from a sweep config (catalog: airsweep.config.strategies).

* :mod:`~airsweep.search.samplers`: :func:`make_sampler`;
* :mod:`~airsweep.search.pruners`: :func:`make_pruner`.
"""

from airsweep.search.pruners import make_pruner
from airsweep.search.samplers import make_sampler

__all__ = ["make_pruner", "make_sampler"]
