"""One lock per study, held while a runner counts the budget and takes a trial.

On Postgres (the cluster's study database) it is a session-level advisory lock
keyed by the study name: atomic across every runner process of every queue and
host, and released by the server when a runner's connection dies with it, so
a killed worker never leaves it held. Other storages (in-memory studies in
tests and benchmarks) get a lock shared by the threads of one process.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Protocol

import sqlalchemy
from sqlalchemy.pool import NullPool

#: First key of airsweep's advisory locks ("ASWP"); the second is the study name's hash.
ADVISORY_NAMESPACE = 0x41535750


class StudyLock(Protocol):
    """A context manager held while a runner counts the budget and takes a trial."""

    def __enter__(self) -> StudyLock: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def close(self) -> None:
        """Release the lock's resources (its database connection)."""


class PostgresStudyLock:
    """``pg_advisory_lock`` on one dedicated connection (autocommit: no open transaction).

    Args:
        url: SQLAlchemy URL of the study database.
        study_name: The study the lock guards.
    """

    def __init__(self, url: str, study_name: str) -> None:
        self._engine = sqlalchemy.create_engine(url, poolclass=NullPool)
        self._study_name = study_name
        self._connection: sqlalchemy.Connection | None = None

    def _execute(self, function: str) -> None:
        if self._connection is None:
            self._connection = self._engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            )
        self._connection.execute(
            sqlalchemy.text(f"SELECT {function}(:namespace, hashtext(:name))"),
            {"namespace": ADVISORY_NAMESPACE, "name": self._study_name},
        )

    def __enter__(self) -> PostgresStudyLock:
        self._execute("pg_advisory_lock")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._execute("pg_advisory_unlock")
        except sqlalchemy.exc.DBAPIError:
            # The connection broke: the server has released the lock with it.
            self.close()

    def close(self) -> None:
        """Close the connection (releasing the lock if held) and the engine."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()


class ThreadStudyLock:
    """A lock for the threads of one process (in-memory studies)."""

    _locks: dict[str, threading.Lock] = {}
    _guard = threading.Lock()

    def __init__(self, study_name: str) -> None:
        with self._guard:
            self._lock = self._locks.setdefault(study_name, threading.Lock())

    def __enter__(self) -> ThreadStudyLock:
        self._lock.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()

    def close(self) -> None:
        """Nothing to release."""


def study_lock(storage_url: object, study_name: str) -> StudyLock:
    """The lock of ``study_name``: an advisory lock on Postgres, else a process-local one.

    Args:
        storage_url: The study storage's URL (or a storage object, for tests).
        study_name: The study.
    """
    if isinstance(storage_url, str) and storage_url.startswith("postgresql"):
        return PostgresStudyLock(storage_url, study_name)
    return ThreadStudyLock(study_name)
