"""Preprocessing + estimator pipelines, built from a dataset manifest.

Preprocessing lives inside the pipeline (not in the data preparation) so that
cross-validation fits imputers and encoders on each training fold only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from airsweep.models.registry import get_family


def build_preprocessor(manifest: Mapping[str, Any], scale: bool = False) -> ColumnTransformer:
    """Build the feature preprocessor for a prepared dataset.

    Numeric columns: median imputation (then standardization when ``scale``).
    Categorical columns: most-frequent imputation, then one-hot encoding that
    ignores categories unseen during fit.

    Args:
        manifest: The manifest returned by :func:`airsweep.data.prepare_dataset`.
        scale: Standardize numeric columns (for linear models).

    Returns:
        An unfitted ``ColumnTransformer`` producing a dense matrix.
    """
    categorical = list(manifest["categorical"])
    numeric = [name for name in manifest["features"] if name not in set(categorical)]
    numeric_steps: list[Any] = [SimpleImputer(strategy="median")]
    if scale:
        numeric_steps.append(StandardScaler())
    return ColumnTransformer(
        [
            ("numeric", make_pipeline(*numeric_steps), numeric),
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
        ],
        sparse_threshold=0.0,
    )


def build_pipeline(
    manifest: Mapping[str, Any],
    model_name: str,
    params: Mapping[str, Any],
    n_jobs: int,
    device: str,
    seed: int = 0,
) -> Pipeline:
    """Build ``Pipeline([("preprocess", ...), ("model", ...)])`` for one trial or refit.

    Args:
        manifest: The dataset manifest (features, categorical columns, task type).
        model_name: Model family name.
        params: Hyperparameters without the ``<model>.`` prefix.
        n_jobs: CPU threads for the estimator.
        device: ``"cpu"`` or ``"gpu"`` (already resolved).
        seed: Random seed of the estimator.

    Returns:
        The unfitted pipeline.
    """
    family = get_family(model_name)
    estimator = family.build(dict(params), manifest["task_type"], n_jobs, device, seed)
    return Pipeline(
        [
            ("preprocess", build_preprocessor(manifest, scale=family.needs_scaling)),
            ("model", estimator),
        ]
    )
