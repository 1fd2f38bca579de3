"""How a command finds the cluster it talks to: the local state dir, or a remote URL.

Local (the default): the state dir is ``AIRSWEEP_HOME``, else ``.airsweep`` in
the checkout (:func:`airsweep.cluster.config.find_root`: the working directory's
checkout, else the one the package is installed from), so the command works
from any directory. ``<home>/cluster.env``, written by ``airsweep up``, holds
the api-server URL, the study database and the broker; ``<home>/secrets.env``
the admin password.

Remote: ``--api-url`` or ``AIRSWEEP_API_URL`` names the api-server; the user is
``--user`` or ``AIRSWEEP_USERNAME`` (default ``admin``) and the password
``AIRSWEEP_PASSWORD`` (never a flag: command lines are visible to other
users). Commands that read the study or the registry need
``AIRSWEEP_OPTUNA_STORAGE``; ``airsweep workers`` needs the broker,
``AIRFLOW__CELERY__BROKER_URL``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from airsweep.cli.output import CLIError, ExitCode
from airsweep.client import AirflowClient
from airsweep.cluster.config import ClusterConfig, find_root
from airsweep.envfile import read_env_file

#: Default user of a remote cluster (the simple auth manager's admin).
DEFAULT_USER = "admin"


@dataclass(frozen=True)
class Connection:
    """Where the cluster is and how to log in.

    Attributes:
        api_url: The api-server's base URL.
        username: The API user.
        password: That user's password.
        storage: SQLAlchemy URL of the study database (studies and registry); ``""`` if unknown.
        broker_url: The Celery broker URL; ``""`` if unknown.
        artifact_uri: Root URI of the artifact store; ``""`` if unknown.
        prometheus_url: Prometheus' base URL (sweep reports draw its panels); ``""`` if unknown.
        source: Where these came from, for error messages (a state dir or ``"environment"``).
    """

    api_url: str
    username: str
    password: str
    storage: str
    broker_url: str
    artifact_uri: str
    source: str
    prometheus_url: str = ""

    @classmethod
    def from_state_dir(cls, home: Path) -> Connection:
        """Read a local cluster's connection from its state dir.

        Raises:
            CLIError: ``airsweep up`` never ran with this state dir (exit code 3).
        """
        cluster_env, secrets = home / "cluster.env", home / "secrets.env"
        if not cluster_env.is_file() or not secrets.is_file():
            raise CLIError(
                f"no cluster in {home}: start one with `airsweep up`, point AIRSWEEP_HOME at "
                "its state dir, or set AIRSWEEP_API_URL for a remote one",
                ExitCode.UNREACHABLE,
            )
        env = read_env_file(cluster_env)
        return cls(
            api_url=env["AIRSWEEP_API_URL"],
            username=DEFAULT_USER,
            password=read_env_file(secrets)["AIRSWEEP_ADMIN_PASSWORD"],
            storage=env.get("AIRSWEEP_OPTUNA_STORAGE", ""),
            broker_url=env.get("AIRFLOW__CELERY__BROKER_URL", ""),
            artifact_uri=env.get("AIRSWEEP_ARTIFACT_URI", ""),
            source=str(home),
            prometheus_url=env.get("AIRSWEEP_PROMETHEUS_URL", ""),
        )

    @classmethod
    def resolve(
        cls, api_url: str | None, username: str | None, environ: Mapping[str, str] | None = None
    ) -> Connection:
        """The remote cluster if a URL is given (flag or environment), else the local one.

        Args:
            api_url: ``--api-url``, or ``None``.
            username: ``--user``, or ``None``.
            environ: The environment (default ``os.environ``).

        Raises:
            CLIError: A remote URL without ``AIRSWEEP_PASSWORD`` (exit code 2), or no
                local cluster (exit code 3).
        """
        env = os.environ if environ is None else environ
        url = (api_url or env.get("AIRSWEEP_API_URL", "")).strip()
        if not url:
            home = env.get("AIRSWEEP_HOME", "").strip()
            state_dir = (
                Path(home) if home else ClusterConfig.from_env(find_root(environ=env), env).home
            )
            return cls.from_state_dir(state_dir.expanduser().resolve())
        password = env.get("AIRSWEEP_PASSWORD", "")
        if not password:
            raise CLIError(f"set AIRSWEEP_PASSWORD to log in to {url}", ExitCode.USAGE)
        return cls(
            api_url=url.rstrip("/"),
            username=(username or env.get("AIRSWEEP_USERNAME", "") or DEFAULT_USER).strip(),
            password=password,
            storage=env.get("AIRSWEEP_OPTUNA_STORAGE", "").strip(),
            broker_url=env.get("AIRFLOW__CELERY__BROKER_URL", "").strip(),
            artifact_uri=env.get("AIRSWEEP_ARTIFACT_URI", "").strip(),
            source="environment",
            prometheus_url=env.get("AIRSWEEP_PROMETHEUS_URL", "").strip(),
        )

    def client(self) -> AirflowClient:
        """A REST client logged in as this connection's user."""
        return AirflowClient(self.api_url, self.username, self.password, timeout_s=30)

    def require_storage(self, command: str) -> str:
        """The study database URL.

        Raises:
            CLIError: It is unknown (a remote cluster without ``AIRSWEEP_OPTUNA_STORAGE``).
        """
        if not self.storage:
            raise CLIError(
                f"{command} reads the study database: set AIRSWEEP_OPTUNA_STORAGE",
                ExitCode.USAGE,
            )
        return self.storage

    def require_broker(self, command: str) -> str:
        """The Celery broker URL.

        Raises:
            CLIError: It is unknown (a remote cluster without ``AIRFLOW__CELERY__BROKER_URL``).
        """
        if not self.broker_url:
            raise CLIError(
                f"{command} asks the Celery broker: set AIRFLOW__CELERY__BROKER_URL",
                ExitCode.USAGE,
            )
        return self.broker_url


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``, ``--api-url`` and ``--user`` to a command that talks to the cluster."""
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    group = parser.add_argument_group("cluster (default: the local one, AIRSWEEP_HOME)")
    group.add_argument(
        "--api-url", help="a remote api-server (or AIRSWEEP_API_URL; password: AIRSWEEP_PASSWORD)"
    )
    group.add_argument("--user", help=f"API user (or AIRSWEEP_USERNAME; default {DEFAULT_USER})")


def connect(args: argparse.Namespace) -> Connection:
    """The connection a command's ``--api-url`` / ``--user`` and the environment name."""
    return Connection.resolve(args.api_url, args.user)
