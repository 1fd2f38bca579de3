"""Refit a custom objective's best trial in ``finalize`` and store what it returns.

The user's function is called once more with ``data.refit`` true and a
:class:`ReplayHandle` that answers every ``suggest_*`` with the best trial's
value, on the whole training split. It returns the fitted model, stored with
joblib as ``model.joblib`` (and test-scored when it has ``predict``), or writes
its files to ``data.model_dir`` and returns ``None``: they are stored under
``files/`` and the model has no test score (airsweep cannot load it).
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

from airsweep.artifacts import ArtifactStore
from airsweep.config import SweepConfig
from airsweep.custom.loading import load_objective
from airsweep.custom.trial import objective_data
from airsweep.data import load_split
from airsweep.models.base import CPU
from airsweep.models.scoring import score

#: How a refitted model is stored (the card's ``refit.stored``).
JOBLIB, DIRECTORY = "joblib", "directory"


@dataclass(frozen=True)
class Refitted:
    """A refitted, stored model.

    Attributes:
        model_uri: ``model.joblib``, or the folder of the files the objective wrote.
        native_model_uri: The library's own format (xgboost's ``model.ubj``), else ``None``.
        test_score: The primary metric on the test split; ``None`` when the model
            cannot be scored (a custom objective's files, or a model without ``predict``).
        seconds: The refit's wall time.
        stored: :data:`JOBLIB` or :data:`DIRECTORY`.
    """

    model_uri: str
    native_model_uri: str | None
    test_score: float | None
    seconds: float
    stored: str = JOBLIB


class ReplayHandle:
    """A :class:`~airsweep.objective.TrialHandle` that replays a finished trial's params.

    Args:
        params: The trial's params, without the family prefix.
        number: The trial's number (in errors).
    """

    def __init__(self, params: Mapping[str, Any], number: int) -> None:
        self._params = dict(params)
        self._number = number

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        """The trial's value of ``name``."""
        return float(self._param(name))

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        """The trial's value of ``name``."""
        return int(self._param(name))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """The trial's value of ``name``."""
        return self._param(name)

    def report(self, value: float, step: int) -> None:
        """Nothing: a refit reports no intermediate values."""

    def should_prune(self) -> bool:
        """Never: a refit is not pruned."""
        return False

    def _param(self, name: str) -> Any:
        if name not in self._params:
            raise KeyError(
                f"the refit asked for param {name!r}, which trial {self._number} did not sample "
                f"(it sampled {', '.join(sorted(self._params)) or 'none'})"
            )
        return self._params[name]


def refit_objective(
    config: SweepConfig,
    manifest: dict[str, Any],
    params: Mapping[str, Any],
    number: int,
    store: ArtifactStore,
    base: str,
    n_jobs: int,
) -> Refitted:
    """Call the sweep's custom objective to refit trial ``number`` and store the model.

    Args:
        config: The sweep config (``objective``).
        manifest: The dataset manifest.
        params: The trial's params, without the family prefix.
        number: The trial's number.
        store: The artifact store.
        base: URI of the model's folder (``runs/<run_key>/model``).
        n_jobs: Threads of the refit.

    Raises:
        ValueError: The function returned ``None`` and wrote no file.
        Exception: Whatever the function raised.
    """
    objective = load_objective(str(config.objective))
    X, y = load_split(manifest, "train")
    with tempfile.TemporaryDirectory(prefix="airsweep-refit-") as folder:
        data = objective_data(config, manifest, X, y, [], CPU, n_jobs, model_dir=Path(folder))
        started = time.perf_counter()
        model = objective(ReplayHandle(params, number), data)
        seconds = time.perf_counter() - started
        if model is None:
            return Refitted(_store_files(Path(folder), store, base), None, None, seconds, DIRECTORY)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    model_uri = store.write_bytes(f"{base}/model.joblib", buffer.getvalue())
    test_score = None
    if hasattr(model, "predict"):
        test_score = score(model, *load_split(manifest, "test"), manifest["metric"])
    return Refitted(model_uri, None, test_score, seconds)


def _store_files(folder: Path, store: ArtifactStore, base: str) -> str:
    """Copy every file under ``folder`` to ``<base>/files/``; return that folder's URI.

    Raises:
        ValueError: ``folder`` holds no file.
    """
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    if not files:
        raise ValueError(
            "objective: the refit returned None and wrote no file to data.model_dir; return "
            "the fitted model, or save it there"
        )
    for path in files:
        store.write_bytes(f"{base}/files/{path.relative_to(folder).as_posix()}", path.read_bytes())
    return f"{base}/files"
