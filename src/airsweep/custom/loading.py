"""Import a custom objective, ``module:function``, from the plugins folder or a package."""

from __future__ import annotations

import importlib

from airsweep.config import SweepConfigError
from airsweep.models.plugins import plugins_dir, put_on_path
from airsweep.objective import Objective


def load_objective(objective: str) -> Objective:
    """Import the function ``objective`` names (the plugins folder in front of ``sys.path``).

    Args:
        objective: ``module:function`` (the ``objective`` param, pattern-checked).

    Raises:
        SweepConfigError: The module does not import (its exception is in the
            message) or has no such function.
    """
    module_name, _, name = objective.partition(":")
    put_on_path(plugins_dir())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any error is the message
        raise SweepConfigError(
            f"objective: cannot import {module_name} ({type(exc).__name__}: {exc}); it must be "
            f"a module of the plugins folder ({plugins_dir()}) or of an installed package"
        ) from None
    function = getattr(module, name, None)
    if not callable(function):
        raise SweepConfigError(f"objective: {module_name} has no function {name}")
    return function
