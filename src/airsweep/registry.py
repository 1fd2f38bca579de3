"""The model registry: every sweep's model and one champion per task, in Postgres.

Every registered sweep model stays addressable by its run key. For each
(dataset fingerprint, metric) pair the registry also names a *champion*: the
model with the best test score in the metric's direction; a new model replaces
it only when strictly better. Since the fingerprint identifies the task on the
data as split (target, task type, train and test rows), champions are compared
on the same held-out rows.

The registry lives in the schema ``airsweep_registry`` of the study database
(``AIRSWEEP_OPTUNA_STORAGE``), created on first use. Registering is one
transaction holding a transaction-level advisory lock on its (fingerprint,
metric) pair, so concurrent sweeps never lose an entry or a champion change,
and a crash leaves either the whole registration or nothing. Model files and
cards stay in the artifact store; the registry row comes last and points at
them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.pool import NullPool

from airsweep.artifacts import ArtifactStore
from airsweep.config import MAXIMIZE
from airsweep.registry_schema import (
    CHAMPIONS,
    IMPORTS,
    METADATA,
    MODELS,
    SCHEMA,
    RegistryError,
    entry_from_card,
    legacy_entries,
)

#: Path, in the artifact store, of the JSON index of earlier versions (imported once).
LEGACY_INDEX = ("registry", "index.json")
#: First key of the registry's advisory locks ("ASWR"); the second is the hash of a name.
ADVISORY_NAMESPACE = 0x41535752


class ModelRegistry:
    """Registry of sweep models and per-task champions.

    Opening it creates the schema if it is missing and imports the artifact
    store's old ``registry/index.json`` once.

    Args:
        url: SQLAlchemy URL of a PostgreSQL database: the study database
            (``AIRSWEEP_OPTUNA_STORAGE``) in the cluster.
        store: The artifact store the models are in (and an old index may be).

    Raises:
        RegistryError: ``url`` is not a PostgreSQL URL, or the old index is unreadable.
    """

    def __init__(self, url: str, store: ArtifactStore) -> None:
        scheme = url.partition("://")[0]
        if not scheme.startswith("postgresql"):
            raise RegistryError(
                "registry url: expected a PostgreSQL SQLAlchemy URL (postgresql+psycopg2://...), "
                f"got {scheme or url[:20]!r}"
            )
        self._engine = sa.create_engine(url, poolclass=NullPool)
        with self._engine.begin() as conn:
            _lock(conn, "schema")
            conn.execute(sa.schema.CreateSchema(SCHEMA, if_not_exists=True))
            METADATA.create_all(conn)
        self._import_legacy_index(store)

    def list_models(self) -> list[dict[str, Any]]:
        """Return every registered model entry, oldest first."""
        query = sa.select(MODELS).order_by(MODELS.c.registered_at, MODELS.c.run_key)
        with self._engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def get(self, run_key: str) -> dict[str, Any]:
        """Return the entry of the model registered by sweep ``run_key``.

        Raises:
            KeyError: no model of that run key.
        """
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(MODELS).where(MODELS.c.run_key == run_key)).first()
        if row is None:
            raise KeyError(f"no registered model for run {run_key!r}")
        return _entry(row)

    def champion(self, fingerprint: str, metric: str) -> dict[str, Any] | None:
        """Return the champion entry for a dataset fingerprint and metric, or ``None``."""
        query = (
            sa.select(MODELS)
            .join(CHAMPIONS, CHAMPIONS.c.run_key == MODELS.c.run_key)
            .where(CHAMPIONS.c.fingerprint == fingerprint, CHAMPIONS.c.metric == metric)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return _entry(row) if row is not None else None

    def champions(self) -> list[dict[str, Any]]:
        """Return the champion entry of every (dataset fingerprint, metric), with ``since``.

        Ordered by dataset name, then metric; ``since`` is when it became the
        champion (an ISO string).
        """
        query = (
            sa.select(MODELS, CHAMPIONS.c.since)
            .join(CHAMPIONS, CHAMPIONS.c.run_key == MODELS.c.run_key)
            .order_by(MODELS.c.dataset_name, MODELS.c.metric, MODELS.c.fingerprint)
        )
        with self._engine.connect() as conn:
            return [{**_entry(row), "since": row.since.isoformat()} for row in conn.execute(query)]

    def register(self, card: Mapping[str, Any]) -> bool:
        """Add a model card's entry; promote it if it beats the champion.

        One transaction under an advisory lock on the card's (fingerprint,
        metric): the entry is added (or, for a run key registered before,
        replaced: a retried finalize is harmless) and the champion compared
        and changed atomically.

        Args:
            card: A model card from :func:`airsweep.selection.finalize_best`.

        Returns:
            Whether the model is now the champion of its fingerprint and metric:
            there was none, it was already, or its test score is strictly better
            in the metric's direction.

        Raises:
            RegistryError: A card field is missing or invalid (the message
                names it), or the run key is registered for another task.
        """
        entry = entry_from_card(card)
        task = (entry["fingerprint"], entry["metric"])
        with self._engine.begin() as conn:
            _lock(conn, "champion", *task)
            registered = conn.execute(
                sa.select(MODELS.c.fingerprint, MODELS.c.metric)
                .where(MODELS.c.run_key == entry["run_key"])
                .with_for_update()
            ).first()
            if registered is not None and tuple(registered) != task:
                raise RegistryError(
                    f"run_key: {entry['run_key']!r} is registered for fingerprint "
                    f"{registered.fingerprint} and metric {registered.metric}, not this card's"
                )
            insert = postgresql.insert(MODELS).values(entry)
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[MODELS.c.run_key],
                    set_={name: insert.excluded[name] for name in entry if name != "run_key"},
                )
            )
            current = conn.execute(
                sa.select(CHAMPIONS.c.run_key, MODELS.c.test_score)
                .join(MODELS, CHAMPIONS.c.run_key == MODELS.c.run_key)
                .where(CHAMPIONS.c.fingerprint == task[0], CHAMPIONS.c.metric == task[1])
            ).first()
            promoted = (
                current is None
                or current.run_key == entry["run_key"]
                or _better(entry["direction"], entry["test_score"], current.test_score)
            )
            if promoted and (current is None or current.run_key != entry["run_key"]):
                _set_champion(conn, entry, replace=True)
        return promoted

    def _import_legacy_index(self, store: ArtifactStore) -> None:
        """Import ``registry/index.json`` of ``store`` once, if it exists.

        Its models are added unless their run key is registered already, and its
        champions unless their (fingerprint, metric) has one already; the file is
        left as it is. The import is recorded under the index's URI in ``imports``.
        """
        source = store.uri(*LEGACY_INDEX)
        done = sa.select(IMPORTS.c.source).where(IMPORTS.c.source == source)
        with self._engine.connect() as conn:
            if conn.execute(done).first() is not None:
                return
        if not store.exists(source):
            return
        with self._engine.begin() as conn:
            _lock(conn, "import", source)
            if conn.execute(done).first() is not None:
                return
            try:
                index = store.read_json(source)
            except ValueError as exc:
                raise RegistryError(f"{source}: not a JSON registry index ({exc})") from exc
            models, champions = legacy_entries(index, source)
            if models:
                conn.execute(postgresql.insert(MODELS).values(models).on_conflict_do_nothing())
            added = sum(_set_champion(conn, entry, replace=False) for entry in champions)
            conn.execute(
                IMPORTS.insert().values(
                    source=source,
                    models=len(models),
                    champions=added,
                    imported_at=datetime.now(UTC),
                )
            )


def _lock(conn: sa.Connection, *name: str) -> None:
    """Take the transaction-level advisory lock of ``name`` (released at commit or rollback)."""
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:name))"),
        {"namespace": ADVISORY_NAMESPACE, "name": "/".join(name)},
    )


def _set_champion(conn: sa.Connection, entry: Mapping[str, Any], *, replace: bool) -> bool:
    """Make ``entry`` the champion of its task; unless ``replace``, only where there is none.

    Returns:
        Whether a row was written.
    """
    insert = postgresql.insert(CHAMPIONS).values(
        fingerprint=entry["fingerprint"],
        metric=entry["metric"],
        run_key=entry["run_key"],
        since=datetime.now(UTC),
    )
    if replace:
        statement = insert.on_conflict_do_update(
            index_elements=[CHAMPIONS.c.fingerprint, CHAMPIONS.c.metric],
            set_={"run_key": insert.excluded.run_key, "since": insert.excluded.since},
        )
    else:
        statement = insert.on_conflict_do_nothing()
    return conn.execute(statement).rowcount > 0


def _entry(row: sa.Row) -> dict[str, Any]:
    """A registry row as an entry dict (``registered_at`` as an ISO string)."""
    entry = dict(row._mapping)
    entry["registered_at"] = entry["registered_at"].isoformat()
    return entry


def _better(direction: str, new: float, old: float) -> bool:
    """Whether test score ``new`` is strictly better than ``old`` in ``direction``."""
    return new > old if direction == MAXIMIZE else new < old
