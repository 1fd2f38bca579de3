"""The dataset params: builtin names, the synthetic shape, file suffixes and their checks.

``dataset``, ``target``, ``synthetic`` and ``csv_options`` are checked here
beyond their JSON schemas (see :mod:`airsweep.config.schemas`): the
combination of synthetic values, a target for file datasets only, csv_options
for CSV files only. Loading a dataset is :mod:`airsweep.data`'s job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from airsweep.config.errors import SweepConfigError
from airsweep.csv_options import CSV_SUFFIXES, CsvOptionsError, check_csv_options

BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
SYNTHETIC = "synthetic"
FILE_SUFFIXES = (*CSV_SUFFIXES, ".parquet")

SYNTHETIC_DEFAULTS: dict[str, Any] = {
    "rows": 2000,
    "features": 20,
    "classes": 2,
    "noise": 0.05,
    "informative": None,
}


def resolved_synthetic(synthetic: Mapping[str, Any]) -> dict[str, Any]:
    """Fill synthetic defaults and check the combination of its values."""
    resolved = {**SYNTHETIC_DEFAULTS, **synthetic}
    features, classes = resolved["features"], resolved["classes"]
    if resolved["informative"] is None:
        resolved["informative"] = max(1, features // 2)
    informative = resolved["informative"]
    if informative > features:
        raise SweepConfigError(
            f"synthetic.informative: {informative} exceeds features ({features})"
        )
    if classes == 1:
        raise SweepConfigError("synthetic.classes: 1 is not allowed (0 = regression, >= 2 classes)")
    if classes > 2**informative:
        raise SweepConfigError(
            f"synthetic.classes: {classes} classes need at least "
            f"{math.ceil(math.log2(classes))} informative features (got {informative})"
        )
    return resolved


def check_dataset(dataset: str, target: str | None, csv_options: Mapping[str, Any]) -> None:
    """Check that a file dataset names its target and others do not; check csv_options."""
    if csv_options and not dataset.endswith(CSV_SUFFIXES):
        raise SweepConfigError(
            f"csv_options: only used with a .csv or .csv.gz dataset, not {dataset!r}"
        )
    try:
        check_csv_options(csv_options)
    except CsvOptionsError as exc:
        raise SweepConfigError(str(exc)) from None
    if dataset in (*BUILTIN_DATASETS, SYNTHETIC):
        if target is not None:
            raise SweepConfigError(
                f"target: only used with a file dataset; {dataset!r} has its own target"
            )
    elif target is None:
        raise SweepConfigError(f"target: required for the file dataset {dataset!r}")
