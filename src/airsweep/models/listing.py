"""The model families a sweep can use, as rows and as text (``airsweep models families``).

Rows come from the registry (:mod:`airsweep.models.registry`): the built-in
families, then the plugins, each with its search space; the plugins that
failed to load are listed apart, with their file and error.
"""

from __future__ import annotations

import json
from typing import Any

from airsweep.models.base import Spec
from airsweep.models.plugins import BUILTIN, LoadedFamilies
from airsweep.models.registry import loaded_families


def family_rows(loaded: LoadedFamilies | None = None) -> list[dict[str, Any]]:
    """One row per family, built-in ones first.

    Args:
        loaded: The loaded families; default this process's.

    Returns:
        Rows of ``name``, ``source``, ``task_types``, ``supports_gpu``,
        ``default_device``, ``steps`` (its step param, ``None`` when it is
        pruned on folds) and ``space`` (task type -> param -> spec).
    """
    loaded = loaded or loaded_families()
    return [
        {
            "name": name,
            "source": loaded.sources[name],
            "task_types": list(family.task_types),
            "supports_gpu": family.supports_gpu,
            "default_device": family.default_device,
            "steps": family.step_param,
            "space": {t: family.default_space(t) for t in family.task_types},
        }
        for name, family in loaded.families.items()
    ]


def format_spec(spec: Spec) -> str:
    """A spec in words: ``int 50-500 log``, ``float 0.5-1.0 step 0.1``, ``one of [null, "x"]``."""
    if spec.get("type") == "categorical":
        return f"one of {json.dumps(spec.get('choices'))}"
    words = [f"{spec.get('type')} {spec.get('low')}-{spec.get('high')}"]
    if spec.get("log"):
        words.append("log")
    if spec.get("step") not in (None, 1):
        words.append(f"step {spec['step']}")
    return " ".join(words)


def format_families(rows: list[dict[str, Any]], errors: list[str]) -> str:
    """The families as text: a header line per family, then its default search space.

    A family whose space differs by task type shows each; ``errors`` (the
    plugins left out) follow at the end.
    """
    lines: list[str] = []
    for row in rows:
        origin = "built-in" if row["source"] == BUILTIN else f"plugin {row['source']}"
        gpu = f"gpu: yes (default {row['default_device']})" if row["supports_gpu"] else "gpu: no"
        steps = f"steps: {row['steps']}" if row["steps"] else "steps: CV folds"
        lines.append(f"{row['name']}  ({origin})")
        lines.append(f"  tasks: {', '.join(row['task_types'])}   {gpu}   {steps}")
        spaces = list(row["space"].items())
        same = all(space == spaces[0][1] for _, space in spaces)
        for task_type, space in spaces[:1] if same else spaces:
            if not same:
                lines.append(f"  {task_type}:")
            width = max((len(param) for param in space), default=0)
            lines.extend(
                f"    {param:<{width}}  {format_spec(spec)}" for param, spec in space.items()
            )
        lines.append("")
    if errors:
        lines.append("plugins left out:")
        lines.extend(f"  {error}" for error in errors)
    return "\n".join(lines).rstrip()
