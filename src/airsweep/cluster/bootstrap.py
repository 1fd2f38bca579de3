"""``airsweep bootstrap``: databases, schema, admin password file and trial pools.

docker compose runs it in the one-shot ``airflow-init`` service before any other
Airflow component starts. It reads only its environment (the compose wiring,
with ``AIRSWEEP_CPU_WORKERS`` and ``AIRSWEEP_GPU_WORKERS``) and
``airflow/pools.json``; every step is idempotent. The pool sizes it sets are the
initial ones: the ``pool-sync`` component then keeps them equal to the live
worker slots (:mod:`airsweep.cluster.pool_sync`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from airsweep.cluster import postgres
from airsweep.cluster.components import trial_slots
from airsweep.console import Printer

#: Variables ``bootstrap`` needs from its environment.
REQUIRED_VARIABLES = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRSWEEP_OPTUNA_STORAGE",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRSWEEP_ADMIN_PASSWORD",
)


class BootstrapError(RuntimeError):
    """A bootstrap step failed; the message names the step."""


def pool_sizes(root: Path, env: Mapping[str, str]) -> dict[str, tuple[int, str]]:
    """Size each pool of ``airflow/pools.json`` from the worker slots of ``env``.

    Returns:
        Pool name -> (slots, description); slots as
        :func:`airsweep.cluster.components.trial_slots` counts them.
    """
    spec = json.loads((root / "airflow" / "pools.json").read_text())
    slots = trial_slots(env)
    return {name: (slots[pool["slots_per"]], pool["description"]) for name, pool in spec.items()}


def create_databases(urls: Iterable[str]) -> None:
    """Create the database named in each SQLAlchemy URL of ``urls`` if it is missing.

    Raises:
        postgres.PostgresError: The server did not accept connections in time.
    """
    for url in urls:
        name = url.rpartition("/")[2].partition("?")[0]
        postgres.ensure_databases(url, [name])


def write_passwords_file(path: Path, password: str) -> None:
    """Write the simple auth manager's password file (``admin`` -> ``password``, mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps({"admin": password}) + "\n")


def _airflow(*args: str) -> None:
    """Run ``airflow ARGS`` with this process's environment; raise on failure."""
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise BootstrapError(f"`airflow {' '.join(args)}` exited with {result.returncode}")


def bootstrap(root: Path, env: Mapping[str, str], out: Printer = print) -> dict[str, int]:
    """Prepare a cluster whose services reach each other as ``env`` says.

    Creates the Airflow and Optuna databases, migrates the Airflow schema,
    writes the admin password file and creates or resizes the trial pools.

    Args:
        root: The airsweep checkout (holds ``airflow/pools.json``).
        env: The environment of the Airflow components; must be the one this
            process runs with, since ``airflow`` subcommands inherit it.
        out: Receives progress lines.

    Returns:
        Slots of each pool.

    Raises:
        BootstrapError: A variable is missing or a step failed.
    """
    missing = [name for name in REQUIRED_VARIABLES if not env.get(name)]
    if missing:
        raise BootstrapError(f"missing environment variables: {', '.join(missing)}")
    try:
        sizes = pool_sizes(root, env)
    except ValueError as exc:
        raise BootstrapError(f"pools: {exc}") from exc
    out("creating databases ...")
    try:
        create_databases(
            [env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env["AIRSWEEP_OPTUNA_STORAGE"]]
        )
    except postgres.PostgresError as exc:
        raise BootstrapError(f"databases: {exc}") from exc
    out("migrating the Airflow database ...")
    _airflow("db", "migrate")
    write_passwords_file(
        Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]),
        env["AIRSWEEP_ADMIN_PASSWORD"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        pools_file = Path(tmp) / "pools.json"
        pools_file.write_text(
            json.dumps({name: {"slots": s, "description": d} for name, (s, d) in sizes.items()})
        )
        _airflow("pools", "import", str(pools_file))
    slots = {name: size for name, (size, _) in sizes.items()}
    out("pools: " + ", ".join(f"{name}={size}" for name, size in slots.items()))
    return slots
