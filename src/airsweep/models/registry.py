"""Model families by name: the built-in ones and the plugins (:mod:`airsweep.models.plugins`).

The families are loaded once per process, at the first look-up: the DAG's
param schemas (``models``, ``search_space``, ``device``) list the plugins too.
"""

from __future__ import annotations

import functools

from airsweep.models.base import ModelFamily
from airsweep.models.plugins import (
    LoadedFamilies,
    installed_entry_points,
    load_families,
    plugins_dir,
)


@functools.cache
def loaded_families() -> LoadedFamilies:
    """The families of this process (built-in, plugins folder, entry points), loaded once."""
    return load_families(plugins_dir(), installed_entry_points())


def available_families() -> tuple[str, ...]:
    """Return the names of all model families, in a stable order (built-in ones first)."""
    return tuple(loaded_families().families)


def get_family(name: str) -> ModelFamily:
    """Return the model family called ``name``.

    Raises:
        KeyError: ``name`` is not a known family (the message lists the known ones).
    """
    families = loaded_families().families
    try:
        return families[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(families)}") from None
