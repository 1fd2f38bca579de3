"""The Airflow and Celery components of a cluster and the command each one runs.

Both run modes start components through ``airsweep component NAME``: the native
supervisor and docker compose run the same commands, built here from the same
settings (``airflow/airflow.env``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from airsweep.queues import CONTROL_KIND, TRIAL_KINDS, WORKER_QUEUES

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Component",
    "UnknownComponentError",
    "component",
    "core_component_names",
    "serves_logs",
    "trial_slots",
    "worker_concurrency",
]


class UnknownComponentError(ValueError):
    """The component name is not one airsweep knows."""


@dataclass(frozen=True)
class Component:
    """One long-running Airflow or Celery process.

    Attributes:
        name: Supervisor program / compose service name.
        argv: The command line, without environment.
        worker_kind: ``"control"``, ``"cpu"`` or ``"gpu"`` for Celery workers, else ``""``.
    """

    name: str
    argv: tuple[str, ...]
    worker_kind: str = ""


#: Celery concurrency of one worker of each kind when its variable is unset.
DEFAULT_CONCURRENCY = {CONTROL_KIND: 3, "cpu": 2, "gpu": 1}


def worker_concurrency(kind: str, env: Mapping[str, str]) -> int:
    """Return the Celery concurrency of one worker of ``kind``.

    Read from ``AIRSWEEP_<KIND>_WORKER_CONCURRENCY`` (defaults: control 3, cpu 2,
    gpu 1). For a cpu or gpu worker it is also its number of trial slots: every
    Celery process of such a worker runs trials, nothing else.
    """
    variable = f"AIRSWEEP_{kind.upper()}_WORKER_CONCURRENCY"
    raw = env.get(variable, "").strip() or str(DEFAULT_CONCURRENCY.get(kind, 1))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{variable}: expected a positive integer, got {raw!r}")
    return int(raw)


def trial_slots(env: Mapping[str, str]) -> dict[str, int]:
    """Trial slots per trial kind (cpu, gpu): concurrency times the number of workers.

    ``AIRSWEEP_CPU_WORKERS`` and ``AIRSWEEP_GPU_WORKERS`` (default 1) count the
    workers; ``airsweep bootstrap`` sizes the ``cpu_trials`` and ``gpu_trials``
    pools from these figures at first. The control worker has no trial slots.
    """
    slots = {}
    for kind in TRIAL_KINDS:
        variable = f"AIRSWEEP_{kind.upper()}_WORKERS"
        raw = env.get(variable, "").strip() or "1"
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{variable}: expected a positive integer, got {raw!r}")
        slots[kind] = worker_concurrency(kind, env) * int(raw)
    return slots


def serves_logs(env: Mapping[str, str]) -> bool:
    """Whether workers and the triggerer serve task logs over HTTP (``AIRSWEEP_SERVE_LOGS``).

    Native mode turns it off (one filesystem holds every log); compose keeps
    the default (on) so the api-server can fetch logs from worker containers.
    """
    return env.get("AIRSWEEP_SERVE_LOGS", "true").strip().lower() not in ("false", "0", "no")


def component(name: str, env: Mapping[str, str]) -> Component:
    """Build the component called ``name``.

    Names are ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``,
    ``flower``, ``queue-exporter`` (Celery queue depth from the broker named by
    ``AIRFLOW__CELERY__BROKER_URL``, served on ``AIRSWEEP_QUEUE_EXPORTER_LISTEN``),
    ``pool-sync`` (the trial pools follow the live worker slots:
    :mod:`airsweep.cluster.pool_sync`, configured by its environment),
    ``dashboard`` (optuna-dashboard on the study database, read-only, behind the
    admin password: :mod:`airsweep.monitoring.trials_dashboard`, served on
    ``AIRSWEEP_DASHBOARD_LISTEN``), and
    the Celery workers ``worker-control`` (queue ``default``: the sweep's
    control tasks), ``worker-cpu`` and ``worker-gpu`` (queues ``cpu``, ``gpu``:
    trials, one per Celery process), with an optional ``-N`` suffix for extra
    workers of the same kind (``worker-cpu-2``).

    Raises:
        UnknownComponentError: ``name`` is none of these.
    """
    simple = {
        "api-server": ("airflow", "api-server"),
        "scheduler": ("airflow", "scheduler"),
        "dag-processor": ("airflow", "dag-processor"),
        "triggerer": ("airflow", "triggerer"),
        "flower": ("airflow", "celery", "flower"),
    }
    # Worker and triggerer log servers bind every interface and cannot be told
    # otherwise; where all components share one filesystem they are not needed.
    skip_logs = ("--skip-serve-logs",) if not serves_logs(env) else ()
    if name == "triggerer":
        return Component(name, simple[name] + skip_logs)
    if name in simple:
        return Component(name, simple[name])
    if name == "queue-exporter":
        listen = env.get("AIRSWEEP_QUEUE_EXPORTER_LISTEN", "").strip() or "127.0.0.1:9808"
        queues = ",".join(q for kind in WORKER_QUEUES.values() for q in kind)
        module = "airsweep.monitoring.queue_exporter"
        argv = ("python", "-m", module, "--queues", queues, "--web-listen", listen)
        return Component(name, argv)
    if name == "pool-sync":
        return Component(name, ("python", "-m", "airsweep.cluster.pool_sync"))
    if name == "dashboard":
        listen = env.get("AIRSWEEP_DASHBOARD_LISTEN", "").strip() or "127.0.0.1:8085"
        module = "airsweep.monitoring.trials_dashboard"
        return Component(name, ("python", "-m", module, "--listen", listen))
    for kind, queues in WORKER_QUEUES.items():
        prefix = f"worker-{kind}"
        suffix = name.removeprefix(prefix)
        if name.startswith(prefix) and (suffix == "" or suffix[1:].isdigit()):
            argv = (
                "airflow",
                "celery",
                "worker",
                "--queues",
                ",".join(queues),
                "--concurrency",
                str(worker_concurrency(kind, env)),
                "--celery-hostname",
                f"{name}@%h",
                *skip_logs,
            )
            return Component(name, argv, worker_kind=kind)
    raise UnknownComponentError(f"unknown component {name!r}")


def core_component_names(cpu_workers: int) -> list[str]:
    """Names of the components a cluster runs, with ``cpu_workers`` cpu workers.

    One control worker and one gpu worker; only the cpu workers scale.
    """
    workers = ["worker-cpu"] + [f"worker-cpu-{i}" for i in range(2, cpu_workers + 1)]
    base = ["api-server", "scheduler", "dag-processor", "triggerer", f"worker-{CONTROL_KIND}"]
    return base + workers + ["worker-gpu", "flower", "pool-sync"]
