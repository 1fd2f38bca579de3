"""Which device a GPU trial really trains on.

The answer comes from a cheap probe: a tiny XGBoost fit with ``device="cuda"``.
XGBoost does not fail when CUDA is missing; it warns and trains on the CPU, so
the probe reads the device back from the fitted booster's configuration and
keeps any warning as the reason. A runner probes in a forked child
(:func:`resolve_device`): a CUDA context does not survive ``fork``, and the
runner forks the process its trials fit in (:mod:`airsweep.forked`), so the
runner itself must never open one.
"""

from __future__ import annotations

import functools
import json
import re
import warnings

from airsweep.forked import DeadlinePassed, ForkedError, call_in_fork
from airsweep.models.base import CPU, DEVICES, GPU

FALLBACKS = ("cpu", "fail")
#: Seconds the CUDA probe may take (CUDA's start-up on a cold driver takes a few).
PROBE_TIMEOUT_S = 300
#: "[12:40:26] WARNING: /path/src/context.cc:53: " in front of XGBoost's log messages.
_XGB_LOG_PREFIX = re.compile(r"^.*?WARNING: \S+:\d+: ")


class GpuUnavailableError(RuntimeError):
    """A GPU was requested, CUDA is not usable and ``gpu_fallback`` is ``"fail"``."""


@functools.cache
def cuda_status() -> tuple[bool, str | None]:
    """Probe whether XGBoost can train on CUDA in this process (cached).

    This opens a CUDA context when there is a device: call it only in a
    process that will not fork one that uses CUDA (:func:`cuda_status_in_child`).

    Returns:
        ``(usable, reason)``; ``reason`` says why CUDA is not usable, else ``None``.
    """
    try:
        import numpy as np
        import xgboost
    except ImportError as exc:
        return False, f"xgboost is not importable: {exc}"
    if not xgboost.build_info().get("USE_CUDA"):
        return False, "this xgboost build has no CUDA support"
    X = np.arange(16, dtype=np.float32).reshape(8, 2)
    y = np.arange(8, dtype=np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = xgboost.XGBRegressor(n_estimators=1, tree_method="hist", device="cuda")
            model.fit(X, y)
        except Exception as exc:  # any failure means "no usable CUDA"
            return False, f"xgboost CUDA probe failed: {type(exc).__name__}: {exc}"
    config = json.loads(model.get_booster().save_config())
    used = config["learner"]["generic_param"]["device"]
    if used.startswith("cuda"):
        return True, None
    messages = "; ".join(_XGB_LOG_PREFIX.sub("", str(w.message)).strip() for w in caught)
    return False, f"xgboost trained on {used} when asked for cuda" + (
        f" ({messages})" if messages else ""
    )


def cuda_status_in_child() -> tuple[bool, str | None]:
    """:func:`cuda_status` probed in a forked child: this process opens no CUDA context.

    Returns:
        ``(usable, reason)``, as :func:`cuda_status`; a probe that fails or
        takes longer than :data:`PROBE_TIMEOUT_S` means "not usable".
    """
    try:
        return call_in_fork(cuda_status, PROBE_TIMEOUT_S, name="probe process")
    except DeadlinePassed:
        return False, f"CUDA probe did not finish in {PROBE_TIMEOUT_S}s"
    except ForkedError as exc:
        return False, f"CUDA probe failed: {exc}"


def resolve_device(requested: str, fallback: str) -> tuple[str, str | None]:
    """Return the device a trial will actually use.

    Args:
        requested: ``"cpu"`` or ``"gpu"``.
        fallback: ``"cpu"`` to train on the CPU when CUDA is not usable, or
            ``"fail"`` to raise instead.

    A GPU request is probed in a forked child (:func:`cuda_status_in_child`).

    Returns:
        ``(device_used, fallback_reason)``; the reason is ``None`` unless a GPU
        request fell back to the CPU.

    Raises:
        ValueError: ``requested`` or ``fallback`` is not a known value.
        GpuUnavailableError: a GPU was requested, CUDA is not usable and
            ``fallback`` is ``"fail"``.
    """
    if requested not in DEVICES:
        raise ValueError(f"device: unknown device {requested!r}; expected one of {DEVICES}")
    if fallback not in FALLBACKS:
        raise ValueError(f"gpu_fallback: unknown value {fallback!r}; expected one of {FALLBACKS}")
    if requested == CPU:
        return CPU, None
    usable, reason = cuda_status_in_child()
    if usable:
        return GPU, None
    if fallback == "fail":
        raise GpuUnavailableError(
            f"device: gpu requested but CUDA is not usable here: {reason}; "
            "set gpu_fallback to 'cpu' to train on the CPU instead"
        )
    return CPU, reason
