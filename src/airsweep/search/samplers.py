"""The sweep's sampler, built from ``sampler`` and ``sampler_options``."""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import optuna

from airsweep.config import SweepConfig
from airsweep.space import grid_search_space

#: The default options of ``tpe``: ``group=True`` needs ``multivariate``.
TPE_DEFAULTS: dict[str, Any] = {"multivariate": True, "constant_liar": True}


class _AskTellGridSampler(optuna.samplers.GridSampler):
    """``GridSampler`` usable with ask-and-tell.

    The stock sampler calls ``study.stop()`` in ``after_trial`` once the grid is
    exhausted, which raises ``RuntimeError`` outside ``Study.optimize``, so the
    last ``study.tell`` of a grid sweep would fail. There is no optimize loop to
    stop here: the sweep's budget stops the runners.
    """

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        """Do nothing (see the class docstring)."""


def make_sampler(config: SweepConfig, stream: str | None = None) -> optuna.samplers.BaseSampler:
    """Return the sampler of a sweep.

    Args:
        config: The sweep config (``sampler``, ``sampler_options`` and ``seed``).
        stream: Optional name of a random stream (a runner and its try). TPE,
            random, CMA-ES and GP samplers seeded with the same seed in every
            worker would propose the same candidates in concurrent runners; a
            stream derives a distinct, reproducible seed per runner. The grid
            and QMC samplers ignore it: every process must shuffle the grid
            (scramble the sequence) the same way.

    Returns:
        ``tpe``: ``TPESampler(multivariate=True, group=True, constant_liar=True)``
        unless ``sampler_options`` say otherwise (``group`` follows
        ``multivariate``: each family's parameters exist only in that family's
        trials, and TPE models each such group jointly); ``random``:
        ``RandomSampler``; ``grid``: a ``GridSampler`` over the sweep's finite
        space; ``cmaes``, ``qmc``, ``gp``: ``CmaEsSampler``, ``QMCSampler``,
        ``GPSampler`` with the options given.
    """
    options = dict(config.sampler_options)
    name = config.sampler
    if name == "grid":
        return _AskTellGridSampler(grid_search_space(config), seed=config.seed)
    seed = config.seed
    if stream is not None and name != "qmc":
        digest = hashlib.sha256(f"{config.seed}/{stream}".encode()).digest()
        seed = int.from_bytes(digest[:4], "big")
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():  # all but random and grid are "experimental" in parts
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "qmc":
            return optuna.samplers.QMCSampler(seed=seed, **options)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, **options)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed, **options)
        options = {**TPE_DEFAULTS, **options}
        return optuna.samplers.TPESampler(seed=seed, group=options["multivariate"], **options)
