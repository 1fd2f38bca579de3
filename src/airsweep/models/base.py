"""The contract every model family implements.

A family is a small, import-light object: its metadata and default search space
are plain Python so that the DAG file and the sweep validation can read them
without importing scikit-learn or xgboost. Only :meth:`ModelFamily.build`
imports the estimator library, lazily.

A search-space *spec* is a JSON-able dict in one of three shapes (the same
shape users write in the ``search_space`` sweep param)::

    {"type": "int", "low": 2, "high": 10, "log": False, "step": 1}
    {"type": "float", "low": 0.01, "high": 0.3, "log": True}
    {"type": "categorical", "choices": [None, "balanced"]}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASK_TYPES = (CLASSIFICATION, REGRESSION)

CPU = "cpu"
GPU = "gpu"
DEVICES = (CPU, GPU)
#: A device (or other setting) resolved when the sweep starts.
AUTO = "auto"

Spec = dict[str, Any]


class ModelFamily(ABC):
    """A trainable model family: metadata, default search space and a builder.

    Attributes:
        name: Name used in the ``models`` sweep param.
        task_types: Task types the family can solve.
        supports_gpu: Whether :meth:`build` can train on a CUDA device.
        default_device: Device used when the ``device`` sweep param does not
            name this family: ``cpu``, ``gpu`` or ``auto`` (gpu when a live gpu
            worker has a usable CUDA device, else cpu).
        needs_scaling: Whether numeric features should be standardized
            (linear models) in the preprocessing step.
        step_param: The parameter of the search space that counts the
            family's training steps (boosting rounds: ``n_estimators``,
            ``max_iter``), when it trains in steps and implements
            :meth:`fit_steps`; ``None`` for a family pruned between CV folds.
    """

    name: ClassVar[str]
    task_types: ClassVar[tuple[str, ...]]
    supports_gpu: ClassVar[bool] = False
    default_device: ClassVar[str] = CPU
    needs_scaling: ClassVar[bool] = False
    step_param: ClassVar[str | None] = None

    @abstractmethod
    def default_space(self, task_type: str) -> dict[str, Spec]:
        """Return the default search space for ``task_type``.

        Parameter names must not depend on ``task_type``: user overrides are
        validated before the task type of a dataset is known.

        Args:
            task_type: ``"classification"`` or ``"regression"``.

        Returns:
            Parameter name to spec (see the module docstring).
        """

    @abstractmethod
    def build(
        self, params: dict[str, Any], task_type: str, n_jobs: int, device: str, seed: int = 0
    ) -> Any:
        """Build an unfitted scikit-learn compatible estimator.

        Args:
            params: Hyperparameters, without the ``<model>.`` prefix.
            task_type: ``"classification"`` or ``"regression"``.
            n_jobs: CPU threads the estimator may use.
            device: ``"cpu"`` or ``"gpu"`` (the device actually available,
                see :func:`airsweep.models.device.resolve_device`).
            seed: Random seed of the estimator.

        Returns:
            The estimator.
        """

    def fit_steps(
        self, estimator: Any, X: Any, y: Any, checkpoints: Sequence[int]
    ) -> Iterator[Any]:
        """Train ``estimator`` step by step, pausing at each checkpoint (families with steps).

        Each time the generator resumes, training goes on from where it paused
        (it never starts again from zero) up to the next checkpoint; closing the
        generator early stops the training there.

        Args:
            estimator: An estimator returned by :meth:`build` (the trial's
                total number of steps is its :attr:`step_param`).
            X: Training features (already preprocessed).
            y: Training targets.
            checkpoints: Increasing step counts; the last is the trial's total.

        Yields:
            ``estimator`` trained for the next checkpoint's number of steps,
            ready to predict.

        Raises:
            NotImplementedError: The family has no steps (:attr:`step_param` is ``None``).
        """
        raise NotImplementedError(f"{self.name} does not train in steps")

    def native_model(self, estimator: Any) -> bytes | None:
        """Serialize a fitted estimator in its library's native format, if it has one.

        Args:
            estimator: An estimator returned by :meth:`build`, fitted.

        Returns:
            The serialized model, or ``None`` when the family has no native format.
        """
        return None

    def supports(self, task_type: str) -> bool:
        """Return whether the family can solve ``task_type``."""
        return task_type in self.task_types
