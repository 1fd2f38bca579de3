"""Model-family plugins: modules of the plugins folder and ``airsweep.models`` entry points.

A user adds a family without touching airsweep, in either of two ways:

* a Python module in the plugins folder (``plugins/`` of the checkout, or the
  folder ``AIRSWEEP_PLUGINS`` names), at any depth, that declares
  ``FAMILIES = [MyFamily()]``: instances of :class:`~airsweep.models.ModelFamily`;
* an installed package whose entry point in the ``airsweep.models`` group names
  a family (a ``ModelFamily`` subclass or instance), e.g. in its pyproject:
  ``[project.entry-points."airsweep.models"] lightgbm = "my_pkg.families:LightGBMFamily"``.

The built-in families are loaded first, from :mod:`airsweep.models.builtin`,
with the same checks. The plugins folder is put in front of ``sys.path``, so a
module there is imported by its dotted path (``examples.lightgbm_family``) and
can import its neighbours. Every module of the folder is imported (files whose
name starts with ``_`` or ``test_`` are skipped): keep their imports light, and
import the estimator library inside ``build``, as the built-in families do.

A plugin that fails (its module raises on import, an entry that is not a
family, a bad name or task type, a default space that raises, a name that
clashes with a built-in or an earlier plugin) is left out with a
:class:`PluginError` naming its file or entry point; it is logged once per
process and listed by ``airsweep models families``. The other families keep
working.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from airsweep.models.base import AUTO, DEVICES, TASK_TYPES, ModelFamily

log = logging.getLogger(__name__)

#: Environment variable naming the plugins folder.
PLUGINS_ENV = "AIRSWEEP_PLUGINS"
#: Entry-point group of installed family plugins.
ENTRY_POINT_GROUP = "airsweep.models"
#: Where a family comes from when airsweep ships it.
BUILTIN = "built-in"
#: A family name: it prefixes the family's params (``<name>.<param>``) in the study.
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class PluginLoadError(Exception):
    """A plugin family is refused; the message says why."""


@dataclass(frozen=True)
class PluginError:
    """A plugin that could not be loaded.

    Attributes:
        source: The module's file, or ``entry point <name> = <value>``.
        message: What went wrong (the exception's type and message).
    """

    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass
class LoadedFamilies:
    """Every family loaded, where each came from, and the plugins that failed.

    Attributes:
        families: Name to family: the built-in ones first, then plugins.
        sources: Name to :data:`BUILTIN`, the plugin module's file or its entry point.
        errors: The plugins left out.
    """

    families: dict[str, ModelFamily] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    errors: list[PluginError] = field(default_factory=list)

    def add(self, candidate: Any, source: str) -> None:
        """Check ``candidate`` and add it; record a :class:`PluginError` if it is refused."""
        try:
            family = _checked(candidate, self.families, self.sources)
        except PluginLoadError as exc:
            self.errors.append(PluginError(source, str(exc)))
            return
        self.families[family.name] = family
        self.sources[family.name] = source


def plugins_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The plugins folder: ``AIRSWEEP_PLUGINS``, else ``plugins/`` of the checkout."""
    env = os.environ if environ is None else environ
    if env.get(PLUGINS_ENV, "").strip():
        return Path(env[PLUGINS_ENV].strip()).expanduser().resolve()
    return Path(__file__).resolve().parents[3] / "plugins"  # <root>/src/airsweep/models/


def load_families(
    folder: Path | None, entry_points: Iterable[metadata.EntryPoint] = ()
) -> LoadedFamilies:
    """Load the built-in families, then the plugins of ``folder``, then ``entry_points``.

    Args:
        folder: The plugins folder (``None`` or missing: none).
        entry_points: Entry points of the ``airsweep.models`` group.

    Returns:
        The families and the errors of the plugins left out (each logged).
    """
    from airsweep.models import builtin

    loaded = LoadedFamilies()
    for family in builtin.FAMILIES:
        loaded.add(family, BUILTIN)
    for path, module_name in _plugin_modules(folder):
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken plugin must not break the others
            loaded.errors.append(PluginError(str(path), f"{type(exc).__name__}: {exc}"))
            continue
        for candidate in getattr(module, "FAMILIES", ()):
            loaded.add(candidate, str(path))
    for entry in entry_points:
        source = f"entry point {entry.name} = {entry.value}"
        try:
            target = entry.load()
            loaded.add(target() if isinstance(target, type) else target, source)
        except Exception as exc:
            loaded.errors.append(PluginError(source, f"{type(exc).__name__}: {exc}"))
    for error in loaded.errors:
        log.error("model plugin left out: %s", error)
    return loaded


def installed_entry_points() -> list[metadata.EntryPoint]:
    """The ``airsweep.models`` entry points of the installed packages."""
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def put_on_path(folder: Path) -> bool:
    """Put ``folder`` in front of ``sys.path`` (once); whether it is a folder at all."""
    if not folder.is_dir():
        return False
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return True


def _plugin_modules(folder: Path | None) -> list[tuple[Path, str]]:
    """Each module file of ``folder`` and its dotted name; puts ``folder`` on ``sys.path``."""
    if folder is None or not put_on_path(folder):
        return []
    modules = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        if any(part.startswith(("_", ".")) for part in parts) or parts[-1].startswith("test_"):
            continue
        modules.append((path, ".".join(parts)))
    return modules


def _checked(
    candidate: Any, families: Mapping[str, ModelFamily], sources: Mapping[str, str]
) -> ModelFamily:
    """Return ``candidate`` if it is a usable family that clashes with none of ``families``.

    Raises:
        PluginLoadError: Why it is refused.
    """
    if not isinstance(candidate, ModelFamily):
        raise PluginLoadError(f"{candidate!r} is not a ModelFamily instance")
    name = getattr(candidate, "name", None)
    if not isinstance(name, str) or not NAME.match(name):
        raise PluginLoadError(
            f"family name {name!r} must be 1-64 lower-case letters, digits or _ "
            "(starting with a letter)"
        )
    if name in families:
        where = (
            "a built-in family" if sources[name] == BUILTIN else f"the family of {sources[name]}"
        )
        raise PluginLoadError(f"family {name!r} clashes with {where}; rename it")
    task_types = tuple(getattr(candidate, "task_types", ()))
    if not task_types or not set(task_types) <= set(TASK_TYPES):
        raise PluginLoadError(f"{name}: task_types {task_types!r} must be some of {TASK_TYPES}")
    if candidate.default_device not in (AUTO, *DEVICES):
        raise PluginLoadError(f"{name}: default_device {candidate.default_device!r} is unknown")
    if candidate.default_device != "cpu" and not candidate.supports_gpu:
        raise PluginLoadError(
            f"{name}: default_device {candidate.default_device} needs supports_gpu"
        )
    for task_type in task_types:
        try:
            space = candidate.default_space(task_type)
        except Exception as exc:
            raise PluginLoadError(
                f"{name}: default_space({task_type!r}) raised {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(space, dict) or not all(isinstance(s, dict) for s in space.values()):
            raise PluginLoadError(f"{name}: default_space must return param -> spec dicts")
        if candidate.step_param is not None and candidate.step_param not in space:
            raise PluginLoadError(
                f"{name}: step_param {candidate.step_param!r} is not in its default space"
            )
    return candidate
