"""Train a classifier on integer class codes, predict the original labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.preprocessing import LabelEncoder


class LabelEncodedClassifier(ClassifierMixin, BaseEstimator):
    """Wrap a classifier that only accepts labels ``0..K-1`` (such as XGBoost).

    ``fit`` encodes the labels, ``predict`` decodes them, so scorers and users
    see the dataset's own labels (strings, booleans, sparse integers).

    Args:
        estimator: The unfitted classifier to wrap; it is cloned on ``fit``.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelEncodedClassifier:
        """Fit the wrapped classifier on encoded labels.

        Args:
            X: Features.
            y: Class labels of any type ``LabelEncoder`` accepts.
            **fit_params: Passed to the wrapped classifier's ``fit`` (``xgb_model``).

        Returns:
            ``self``.
        """
        self.encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.encoder_.classes_
        self.estimator_ = clone(self.estimator).fit(X, self.encoder_.transform(y), **fit_params)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predict class labels (decoded)."""
        return self.encoder_.inverse_transform(self.estimator_.predict(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Predict class probabilities, columns ordered as ``classes_``."""
        return self.estimator_.predict_proba(X)
