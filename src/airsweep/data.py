"""Load a sweep's dataset once, validate it, split it and store the splits.

:func:`prepare_dataset` runs once per sweep. It writes the train and test
splits as Parquet to the artifact store and returns a small JSON *manifest*
that every later task receives instead of the data. No preprocessing happens
here: imputation and encoding live in the model pipeline
(:func:`airsweep.models.pipeline.build_preprocessor`) so that cross-validation
fits them on training folds only.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from airsweep.artifacts import ArtifactStore, safe_key
from airsweep.cleaning import Cleaned, clean
from airsweep.config import SYNTHETIC, SweepConfig, metric_direction
from airsweep.csv_options import read_csv
from airsweep.models.base import CLASSIFICATION, REGRESSION

if TYPE_CHECKING:
    from airsweep.metrics import Metrics

#: An integer target with at most this many distinct values is inferred to be classes.
MAX_INFERRED_CLASSES = 20
BUILTIN_TARGET = "target"
SPLITS = ("train", "test")


class DatasetError(ValueError):
    """The dataset cannot be used for the sweep; the message says why, in one line."""


def prepare_dataset(
    config: SweepConfig,
    store: ArtifactStore,
    run_key: str,
    metrics: Metrics | None = None,
) -> dict[str, Any]:
    """Load, validate, split and store the sweep's dataset.

    Args:
        config: The sweep config.
        store: Artifact store receiving ``runs/<run_key>/data/{train,test}.parquet``
            and ``manifest.json``.
        run_key: Key of the sweep run (any string; made path-safe).
        metrics: If given, receives ``data.prepare_duration.<dataset>``.

    Returns:
        The manifest: ``dataset``, ``dataset_name``, ``target``, ``task_type``,
        ``metric``, ``direction`` (the primary metric), ``objectives`` (each
        ``name`` and ``direction``), ``fingerprint``, ``n_rows`` (kept),
        ``dropped_rows`` (reason -> rows dropped before the split),
        ``dropped_columns`` (reason -> names), ``infinite_values`` (column ->
        values made missing; see :mod:`airsweep.cleaning`), ``n_train``,
        ``n_test``, ``features``, ``categorical``, ``classes`` (``None`` for
        regression), ``train_uri``, ``test_uri``, ``manifest_uri``,
        ``artifact_root``, ``split`` and ``prepared_at``.

    Raises:
        DatasetError: the data is unreadable, empty, or unfit for the sweep.
    """
    started = time.perf_counter()
    frame, target = _load(config)
    _check_columns(frame, target, config.dataset)
    cleaned = clean(frame, target, config.dataset)
    features = _check_cleaned(cleaned, target, config.dataset)
    frame = _normalized(cleaned.frame, target)
    task_type = _task_type(config, frame[target])
    stratify = task_type == CLASSIFICATION
    _check_rows(frame[target], task_type, config.cv_folds)
    train, test = _split(frame, target, stratify, config)
    _check_train_rows(train[target], task_type, config.cv_folds)
    metric = config.metric_for(task_type)
    base = store.uri("runs", safe_key(run_key), "data")
    manifest = {
        "dataset": config.dataset,
        "dataset_name": config.dataset_name,
        "target": target,
        "task_type": task_type,
        "metric": metric,
        "direction": metric_direction(metric),
        "objectives": config.objectives_for(task_type),
        "fingerprint": fingerprint(train, test, target=target, task_type=task_type),
        "n_rows": len(frame),
        "dropped_rows": cleaned.dropped_rows,
        "dropped_columns": cleaned.dropped_columns,
        "infinite_values": cleaned.infinite_values,
        "n_train": len(train),
        "n_test": len(test),
        "features": features,
        "categorical": [c for c in features if not _is_numeric(frame[c])],
        "classes": _classes(frame[target]) if stratify else None,
        "train_uri": store.write_dataframe(f"{base}/train.parquet", train),
        "test_uri": store.write_dataframe(f"{base}/test.parquet", test),
        "manifest_uri": f"{base}/manifest.json",
        "artifact_root": store.root_uri,
        "split": {"test_size": config.test_size, "seed": config.seed, "stratified": stratify},
        "prepared_at": datetime.now(UTC).isoformat(),
    }
    store.write_json(manifest["manifest_uri"], manifest)
    if metrics is not None:
        metrics.prepare_duration(config.dataset_name, (time.perf_counter() - started) * 1000)
    return manifest


def load_split(manifest: dict[str, Any], split: str) -> tuple[pd.DataFrame, pd.Series]:
    """Read one stored split back as features and target.

    Args:
        manifest: The manifest returned by :func:`prepare_dataset`.
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(X, y)``, columns of ``X`` in ``manifest["features"]`` order.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    store = ArtifactStore(manifest["artifact_root"])
    frame = store.read_dataframe(manifest[f"{split}_uri"])
    return frame[manifest["features"]], frame[manifest["target"]]


def fingerprint(*frames: pd.DataFrame, target: str, task_type: str) -> str:
    """Return the sha256 of the task and of the frames' column names and cell values.

    Applied to the stored train and test splits, it identifies the learning
    task on the data *as split*: same data, target, task type, seed and
    test_size give the same fingerprint, and models with the same fingerprint
    predicted the same column on the same test rows. (Without the target, a
    CSV tuned once for ``price`` and once for ``area`` on the same split shared
    one fingerprint, and the registry compared the two models.)

    Args:
        frames: The splits, in a fixed order (train, test).
        target: The target column.
        task_type: ``classification`` or ``regression``.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"target": target, "task_type": task_type}).encode())
    for frame in frames:
        digest.update(json.dumps([str(c) for c in frame.columns]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def infer_task_type(target: pd.Series) -> str:
    """Guess the task type from a target column.

    Strings, booleans and categories are classes; so is an integer-valued
    numeric target with at most :data:`MAX_INFERRED_CLASSES` distinct values.
    Any other numeric target is a regression target.
    """
    if not _is_numeric(target):
        return CLASSIFICATION
    values = target.dropna().to_numpy(dtype=float)
    integral = bool(np.all(np.mod(values, 1) == 0))
    if integral and len(np.unique(values)) <= MAX_INFERRED_CLASSES:
        return CLASSIFICATION
    return REGRESSION


def _load(config: SweepConfig) -> tuple[pd.DataFrame, str]:
    """Load the raw dataset and return it with its target column name."""
    if config.dataset == SYNTHETIC:
        return _synthetic(config), BUILTIN_TARGET
    if not config.is_file_dataset:
        from sklearn import datasets

        loader = getattr(datasets, f"load_{config.dataset}")
        return loader(as_frame=True).frame, BUILTIN_TARGET
    return _read_file(config.dataset, config.csv_options), str(config.target)


def _synthetic(config: SweepConfig) -> pd.DataFrame:
    """Generate the ``synthetic`` dataset described by ``config.synthetic``."""
    from sklearn.datasets import make_classification, make_regression

    spec = config.synthetic
    shape = {
        "n_samples": spec["rows"],
        "n_features": spec["features"],
        "n_informative": spec["informative"],
        "random_state": config.seed,
    }
    if spec["classes"]:
        X, y = make_classification(
            **shape,
            n_redundant=0,
            n_classes=spec["classes"],
            n_clusters_per_class=1,
            flip_y=spec["noise"],
        )
    else:
        X, y = make_regression(**shape)
        rng = np.random.default_rng(config.seed)
        y = y + rng.normal(0.0, spec["noise"] * (y.std() or 1.0), size=len(y))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame[BUILTIN_TARGET] = y
    return frame


def _read_file(uri: str, csv_options: dict[str, Any]) -> pd.DataFrame:
    """Read a CSV (optionally gzipped, with ``csv_options``) or Parquet file from any fsspec URI."""
    import fsspec

    try:
        if not uri.endswith(".parquet"):
            return read_csv(uri, csv_options)
        with fsspec.open(uri, "rb") as handle:
            return pd.read_parquet(handle)
    except FileNotFoundError:
        raise DatasetError(f"dataset: {uri!r} does not exist") from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"dataset: {uri!r} is empty") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"csv_options.encoding: {uri!r} is not {exc.encoding} text (byte "
            f"0x{exc.object[exc.start]:02x}: {exc.reason}); set csv_options.encoding to the "
            "file's encoding, e.g. latin-1 or cp1252"
        ) from None
    except Exception as exc:  # any parser or I/O failure means "unreadable"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DatasetError(
            f"dataset: cannot read {uri!r}: {type(exc).__name__}: {reason}"
        ) from None


def _normalized(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """Give every column a model-friendly dtype.

    Numeric features become float64 (nullable integers included); anything
    non-numeric (strings, booleans, categories, mixed objects) becomes strings
    with missing values kept missing. A numeric target keeps its dtype (as
    plain NumPy), so integer classes stay integers.
    """
    frame = frame.copy()
    for column in frame.columns:
        series = frame[column]
        if not _is_numeric(series):
            frame[column] = series.astype("str")
        elif column == target:
            frame[column] = series.to_numpy(dtype=getattr(series.dtype, "numpy_dtype", None))
        else:
            frame[column] = series.astype("float64")
    return frame


def _is_numeric(series: pd.Series) -> bool:
    """Numeric, and not boolean (booleans are treated as categories)."""
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _check_columns(frame: pd.DataFrame, target: str, dataset: str) -> None:
    """Check the rows, the target column and that some other column exists.

    Column names are made strings in place. A repeated name is refused only
    for the target (which of the columns would it be?); others are cleaned.
    """
    if frame.empty:
        raise DatasetError(f"dataset: {dataset!r} has no rows")
    frame.columns = [str(c) for c in frame.columns]
    if target not in frame.columns:
        shown = ", ".join(frame.columns[:20]) + (", ..." if len(frame.columns) > 20 else "")
        raise DatasetError(
            f"target: column {target!r} not found in {dataset!r} (columns: {shown})"
            + _separator_hint(frame.columns)
        )
    repeats = int((frame.columns == target).sum())
    if repeats > 1:
        raise DatasetError(
            f"target: {repeats} columns of {dataset!r} are named {target!r}; rename all but one"
        )
    if len(frame.columns) == 1:
        raise DatasetError(f"dataset: {dataset!r} has no feature columns besides {target!r}")


def _separator_hint(columns: pd.Index) -> str:
    """A hint when the only column's name holds a common separator: the CSV's own one."""
    found = [sep for sep in (";", "\t", "|") if len(columns) == 1 and sep in columns[0]]
    return f"; the header looks {found[0]!r}-separated: set csv_options.sep" if found else ""


def _check_cleaned(cleaned: Cleaned, target: str, dataset: str) -> list[str]:
    """Check that rows and features are left after cleaning; return the feature columns."""
    if cleaned.frame.empty:
        rows = cleaned.dropped_rows["missing_target"]
        raise DatasetError(f"target: column {target!r} has no value in any of the {rows} rows")
    features = [c for c in cleaned.frame.columns if c != target]
    if not features:
        empty = ", ".join(cleaned.dropped_columns["all_missing"])
        raise DatasetError(f"dataset: {dataset!r} has no feature column with a value ({empty})")
    return features


def _task_type(config: SweepConfig, target: pd.Series) -> str:
    """Resolve the task type: forced by the config when it allows one, else inferred."""
    allowed = config.task_types()
    task_type = allowed[0] if len(allowed) == 1 else infer_task_type(target)
    if task_type == REGRESSION and not _is_numeric(target):
        raise DatasetError(
            f"target: regression needs a numeric target, {target.name!r} holds "
            f"{target.dtype} values such as {target.iloc[0]!r}"
        )
    return task_type


def _check_rows(target: pd.Series, task_type: str, cv_folds: int) -> None:
    """Check there are enough rows (per class for classification) before the split."""
    if task_type == CLASSIFICATION:
        counts = target.value_counts()
        if len(counts) < 2:
            raise DatasetError(
                f"target: {target.name!r} has a single class ({counts.index[0]!r}); "
                "classification needs at least 2"
            )
        label, count = counts.index[-1], int(counts.iloc[-1])
        if count < cv_folds + 1:
            raise DatasetError(
                f"dataset: too few rows for cv_folds={cv_folds}: class {label!r} has {count} "
                f"row(s), needs at least {cv_folds + 1} (the folds plus the test split)"
            )
    elif len(target) < 2 * cv_folds + 1:
        raise DatasetError(
            f"dataset: too few rows for cv_folds={cv_folds}: {len(target)} row(s), "
            f"needs at least {2 * cv_folds + 1}"
        )


def _check_train_rows(target: pd.Series, task_type: str, cv_folds: int) -> None:
    """Check the training split still has enough rows for the folds."""
    if task_type == CLASSIFICATION:
        counts = target.value_counts()
        label, count = counts.index[-1], int(counts.iloc[-1])
        needed = cv_folds
        subject = f"class {label!r} has {count} training row(s)"
    else:
        count, needed = len(target), 2 * cv_folds
        subject = f"the training split has {count} row(s)"
    if count < needed:
        raise DatasetError(
            f"dataset: too few rows for cv_folds={cv_folds}: {subject}, needs at least {needed}"
        )


def _split(
    frame: pd.DataFrame, target: str, stratify: bool, config: SweepConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into train and test (stratified for classification, seeded)."""
    from sklearn.model_selection import train_test_split

    try:
        train, test = train_test_split(
            frame,
            test_size=config.test_size,
            random_state=config.seed,
            stratify=frame[target] if stratify else None,
        )
    except ValueError as exc:
        raise DatasetError(f"test_size: cannot split the data: {exc}") from None
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _classes(target: pd.Series) -> list[Any]:
    """Sorted distinct labels as JSON-able Python values."""
    return np.sort(target.unique()).tolist()
