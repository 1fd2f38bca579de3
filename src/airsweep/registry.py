"""A model registry kept as one JSON index in the artifact store.

Every registered sweep model stays addressable by its run key. For each
(dataset fingerprint, metric) pair the index also names a *champion*: the model
with the best test score in the metric's direction; a new model replaces it
only when strictly better. Since the fingerprint identifies the data as split,
champions are compared on the same held-out rows.

The index is rewritten atomically (temporary file + rename) under an exclusive
``fcntl`` lock on a sibling lock file, so concurrent local writers do not lose
each other's entries and a crash leaves the previous index intact. Object
stores get the atomic write but no lock (last writer wins).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from airsweep.artifacts import ArtifactStore
from airsweep.config import MAXIMIZE

INDEX_VERSION = 1


class ModelRegistry:
    """Registry of sweep models and per-dataset champions.

    Args:
        store: Artifact store holding ``registry/index.json``.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.index_uri = store.uri("registry", "index.json")
        self.lock_uri = store.uri("registry", "index.lock")

    def list_models(self) -> list[dict[str, Any]]:
        """Return every registered model entry, oldest first."""
        models = self._read()["models"].values()
        return sorted(models, key=lambda entry: entry["registered_at"])

    def get(self, run_key: str) -> dict[str, Any]:
        """Return the entry of the model registered by sweep ``run_key``.

        Raises:
            KeyError: no model of that run key.
        """
        try:
            return self._read()["models"][run_key]
        except KeyError:
            raise KeyError(f"no registered model for run {run_key!r}") from None

    def champion(self, fingerprint: str, metric: str) -> dict[str, Any] | None:
        """Return the champion entry for a dataset fingerprint and metric, or ``None``."""
        index = self._read()
        run_key = index["champions"].get(_champion_key(fingerprint, metric))
        return index["models"][run_key] if run_key is not None else None

    def register(self, card: dict[str, Any]) -> bool:
        """Add a model card's entry; promote it if it beats the champion.

        Registering the same run key again (a retried task) replaces its entry.

        Args:
            card: A model card from :func:`airsweep.selection.finalize_best`.

        Returns:
            Whether the model is now the champion of its fingerprint and metric.
        """
        entry = {
            "run_key": card["run_key"],
            "study_name": card["study_name"],
            "model": card["model"],
            "metric": card["metric"],
            "direction": card["direction"],
            "cv_score": card["cv_score"],
            "test_score": card["test_score"],
            "fingerprint": card["dataset"]["fingerprint"],
            "dataset_name": card["dataset"]["name"],
            "model_uri": card["model_uri"],
            "card_uri": card["card_uri"],
            "registered_at": datetime.now(UTC).isoformat(),
        }
        key = _champion_key(entry["fingerprint"], entry["metric"])
        with self._locked():
            index = self._read()
            current = index["champions"].get(key)
            index["models"][entry["run_key"]] = entry
            promoted = (
                current is None
                or current == entry["run_key"]
                or _better(entry, index["models"][current])
            )
            if promoted:
                index["champions"][key] = entry["run_key"]
            self.store.write_json(self.index_uri, index)
        return promoted

    def _read(self) -> dict[str, Any]:
        """Return the index (an empty one when none exists yet)."""
        if not self.store.exists(self.index_uri):
            return {"version": INDEX_VERSION, "models": {}, "champions": {}}
        return self.store.read_json(self.index_uri)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the index (local stores only)."""
        path = self.store.local_path(self.lock_uri)
        if path is None:
            yield
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _champion_key(fingerprint: str, metric: str) -> str:
    """Key of a champion in the index: ``"<fingerprint>/<metric>"``."""
    return f"{fingerprint}/{metric}"


def _better(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether ``new`` has a strictly better test score than ``old``."""
    if new["direction"] == MAXIMIZE:
        return new["test_score"] > old["test_score"]
    return new["test_score"] < old["test_score"]
