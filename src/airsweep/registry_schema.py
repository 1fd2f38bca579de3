"""The registry's tables and the checked rows that go into them.

A model's row is built from its model card (:func:`entry_from_card`) or from an
entry of the JSON index earlier versions kept in the artifact store
(:func:`legacy_entries`); either way every field is checked first, and a bad one
is refused with a one-line error naming it, before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from airsweep.config import MAXIMIZE, MINIMIZE

#: The registry's schema in the study database.
SCHEMA = "airsweep_registry"

TEXT = "text"
OPTIONAL_TEXT = "optional text"
DIRECTION = "direction"
SCORE = "score"
OPTIONAL_OBJECT = "optional object"

#: Column of ``models`` -> (its path in a model card, its kind).
FIELDS: dict[str, tuple[str, str]] = {
    "run_key": ("run_key", TEXT),
    "study_name": ("study_name", TEXT),
    "model": ("model", TEXT),
    "metric": ("metric", TEXT),
    "direction": ("direction", DIRECTION),
    "cv_score": ("cv_score", SCORE),
    "test_score": ("test_score", SCORE),
    "fingerprint": ("dataset.fingerprint", TEXT),
    "dataset_name": ("dataset.name", TEXT),
    "task_type": ("dataset.task_type", OPTIONAL_TEXT),
    "target": ("dataset.target", OPTIONAL_TEXT),
    "params": ("params", OPTIONAL_OBJECT),
    "model_uri": ("model_uri", TEXT),
    "native_model_uri": ("native_model_uri", OPTIONAL_TEXT),
    "card_uri": ("card_uri", TEXT),
}

_COLUMN_TYPES = {
    TEXT: (sa.Text, False),
    OPTIONAL_TEXT: (sa.Text, True),
    DIRECTION: (sa.Text, False),
    SCORE: (sa.Double, False),
    OPTIONAL_OBJECT: (postgresql.JSONB, True),
}

METADATA = sa.MetaData(schema=SCHEMA)

MODELS = sa.Table(
    "models",
    METADATA,
    *(
        sa.Column(
            name,
            _COLUMN_TYPES[kind][0],
            primary_key=name == "run_key",
            nullable=_COLUMN_TYPES[kind][1],
        )
        for name, (_, kind) in FIELDS.items()
    ),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(f"direction IN ('{MAXIMIZE}', '{MINIMIZE}')", name="models_direction"),
    sa.UniqueConstraint("run_key", "fingerprint", "metric", name="models_task_key"),
    sa.Index("models_by_task", "fingerprint", "metric"),
)

CHAMPIONS = sa.Table(
    "champions",
    METADATA,
    sa.Column("fingerprint", sa.Text, primary_key=True),
    sa.Column("metric", sa.Text, primary_key=True),
    sa.Column("run_key", sa.Text, nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    # A champion is always a model of its own fingerprint and metric.
    sa.ForeignKeyConstraint(
        ["run_key", "fingerprint", "metric"],
        [MODELS.c.run_key, MODELS.c.fingerprint, MODELS.c.metric],
        name="champions_model",
    ),
)

IMPORTS = sa.Table(
    "imports",
    METADATA,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("models", sa.Integer, nullable=False),
    sa.Column("champions", sa.Integer, nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
)


class RegistryError(ValueError):
    """A registry input is invalid; the message starts with the field."""


_MISSING = object()


def entry_from_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """The ``models`` row of a model card, registered now.

    Raises:
        RegistryError: A field is missing or invalid; the message names its
            path in the card (``dataset.fingerprint: missing``).
    """
    entry = {
        name: _checked(_lookup(card, path), kind, path) for name, (path, kind) in FIELDS.items()
    }
    entry["registered_at"] = datetime.now(UTC)
    return entry


def legacy_entries(index: Any, source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ``models`` rows of an old JSON index, and those of its champions.

    Args:
        index: The parsed ``registry/index.json`` (``models`` by run key,
            ``champions`` by ``"<fingerprint>/<metric>"``).
        source: Its URI, for error messages.

    Raises:
        RegistryError: The index or one of its fields is invalid; the message
            names the file and the field (``...: models.run-1.test_score: ...``).
    """
    if not isinstance(index, Mapping) or not all(
        isinstance(index.get(key), Mapping) for key in ("models", "champions")
    ):
        raise RegistryError(f"{source}: expected an object with 'models' and 'champions' objects")
    models: dict[str, dict[str, Any]] = {}
    for key, raw in index["models"].items():
        label = f"{source}: models.{key}"
        if not isinstance(raw, Mapping):
            raise RegistryError(f"{label}: expected an object, got {_short(raw)}")
        entry = {
            name: _checked(raw.get(name, _MISSING), kind, f"{label}.{name}")
            for name, (_, kind) in FIELDS.items()
        }
        if entry["run_key"] != key:
            raise RegistryError(f"{label}.run_key: {entry['run_key']!r} is not its key")
        entry["registered_at"] = _timestamp(raw.get("registered_at"), f"{label}.registered_at")
        models[key] = entry
    champions = []
    for key, run_key in index["champions"].items():
        entry = models.get(run_key) if isinstance(run_key, str) else None
        if entry is None or key != f"{entry['fingerprint']}/{entry['metric']}":
            raise RegistryError(
                f"{source}: champions.{key}: {_short(run_key)} is not a model of that task"
            )
        champions.append(entry)
    return list(models.values()), champions


def _lookup(card: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` in ``card``, or ``_MISSING``."""
    value: Any = card
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _checked(value: Any, kind: str, label: str) -> Any:
    """``value`` if it is of ``kind`` (scores as floats); else raise naming ``label``."""
    if value is _MISSING or value is None:
        if kind in (OPTIONAL_TEXT, OPTIONAL_OBJECT):
            return None
        raise RegistryError(f"{label}: missing")
    if kind in (TEXT, OPTIONAL_TEXT):
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{label}: expected a non-empty string, got {_short(value)}")
    elif kind == DIRECTION:
        if value not in (MAXIMIZE, MINIMIZE):
            raise RegistryError(
                f"{label}: expected {MAXIMIZE!r} or {MINIMIZE!r}, got {_short(value)}"
            )
    elif kind == SCORE:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise RegistryError(f"{label}: expected a finite number, got {_short(value)}")
        return float(value)
    elif not isinstance(value, Mapping):
        raise RegistryError(f"{label}: expected an object, got {_short(value)}")
    return value


def _timestamp(value: Any, label: str) -> datetime:
    """An ISO 8601 time (UTC when it has no offset); else raise naming ``label``."""
    try:
        when = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise RegistryError(f"{label}: expected an ISO 8601 time, got {_short(value)}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
