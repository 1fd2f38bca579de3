"""Model families: a small protocol, one module per family and a registry by name.

Importing this package is cheap (no scikit-learn, no xgboost); estimators are
imported when a family builds one.
"""

from airsweep.models.base import ModelFamily
from airsweep.models.registry import available_families, get_family

__all__ = ["ModelFamily", "available_families", "get_family"]
