"""What a dataset loses or has treated before the split, each change counted and logged.

:func:`clean` applies, in order:

1. a column name that repeats keeps its first column; the later ones are
   dropped (``dropped_columns["duplicate"]``);
2. rows whose target is missing or infinite are dropped
   (``dropped_rows["missing_target"]``);
3. infinite values in float feature columns become missing values, which
   the model pipeline imputes (``infinite_values``, per column);
4. feature columns left without any value are dropped
   (``dropped_columns["all_missing"]``).

Nothing here refuses data: :func:`airsweep.data.prepare_dataset` checks what
is left (a target column named twice, no row, no feature).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cleaned:
    """A cleaned frame and what cleaning it changed.

    Attributes:
        frame: The rows and columns kept, infinite feature values made missing.
        dropped_rows: reason (``missing_target``) -> rows dropped.
        dropped_columns: reason (``duplicate``, ``all_missing``) -> names of the
            columns dropped, one entry per dropped column, in file order.
        infinite_values: feature column -> infinite values made missing (only
            columns that had some).
    """

    frame: pd.DataFrame
    dropped_rows: dict[str, int]
    dropped_columns: dict[str, list[str]]
    infinite_values: dict[str, int]


def clean(frame: pd.DataFrame, target: str, dataset: str) -> Cleaned:
    """Drop repeated columns, rows without a target and empty columns; make inf missing.

    Stops after dropping rows when no row is left (the caller refuses the data).

    Args:
        frame: The loaded dataset; its column names are strings and ``target``
            is one of them, exactly once.
        target: The target column.
        dataset: The dataset as the config names it (for the log).
    """
    frame, duplicate = _drop_duplicate_columns(frame, dataset)
    frame, missing_target = _drop_missing_targets(frame, target, dataset)
    infinite: dict[str, int] = {}
    all_missing: list[str] = []
    if len(frame):
        frame, infinite = _infinite_as_missing(frame, target, dataset)
        frame, all_missing = _drop_all_missing_columns(frame, target, dataset)
    return Cleaned(
        frame=frame,
        dropped_rows={"missing_target": missing_target},
        dropped_columns={"duplicate": duplicate, "all_missing": all_missing},
        infinite_values=infinite,
    )


def _drop_duplicate_columns(frame: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, list[str]]:
    """Keep the first column of each name; return the frame and the dropped names."""
    repeated = frame.columns.duplicated()
    dropped = [str(name) for name in frame.columns[repeated]]
    if dropped:
        log.warning(
            "dataset %r: dropped %d column(s) whose name repeats an earlier one "
            "(the first is kept): %s",
            dataset,
            len(dropped),
            ", ".join(dropped),
        )
    return frame.loc[:, ~repeated], dropped


def _drop_missing_targets(
    frame: pd.DataFrame, target: str, dataset: str
) -> tuple[pd.DataFrame, int]:
    """Drop the rows whose target is missing (or infinite); return the rest and the count."""
    values = frame[target]
    missing = values.isna().to_numpy() | _infinite(values)
    count = int(missing.sum())
    if count:
        log.warning(
            "dataset %r: dropped %d of %d rows whose target %r is missing",
            dataset,
            count,
            len(frame),
            target,
        )
    return frame.loc[~missing].reset_index(drop=True), count


def _infinite_as_missing(
    frame: pd.DataFrame, target: str, dataset: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Make infinite feature values missing; return the frame and the count per column."""
    counts = {}
    frame = frame.copy()
    for column in frame.columns:
        infinite = _infinite(frame[column])
        if column != target and infinite.any():
            frame[column] = frame[column].mask(infinite)
            counts[column] = int(infinite.sum())
    if counts:
        log.warning(
            "dataset %r: %d infinite value(s) treated as missing (%s)",
            dataset,
            sum(counts.values()),
            ", ".join(f"{column}: {count}" for column, count in counts.items()),
        )
    return frame, counts


def _drop_all_missing_columns(
    frame: pd.DataFrame, target: str, dataset: str
) -> tuple[pd.DataFrame, list[str]]:
    """Drop the feature columns without any value; return the frame and their names."""
    dropped = [c for c in frame.columns if c != target and frame[c].isna().all()]
    if dropped:
        log.warning(
            "dataset %r: dropped %d column(s) without any value: %s",
            dataset,
            len(dropped),
            ", ".join(dropped),
        )
    return frame.drop(columns=dropped), dropped


def _infinite(values: pd.Series) -> np.ndarray:
    """Boolean mask of the infinite values (only float columns can hold them)."""
    if not pd.api.types.is_float_dtype(values):
        return np.zeros(len(values), dtype=bool)
    return np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
