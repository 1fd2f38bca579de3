"""The environment every native component runs with.

It is ``airflow/airflow.env`` (shared with docker compose) plus the generated
secrets plus the wiring of this host: database, broker, API and StatsD
addresses. It is written once per ``up`` to ``<home>/cluster.env`` (mode 0600)
and read by ``airsweep component NAME --env-file``.
"""

from __future__ import annotations

from pathlib import Path

from airsweep.cluster.config import ClusterConfig
from airsweep.envfile import read_env_file

#: Database user and databases of the embedded Postgres.
DB_USER = "airsweep"
AIRFLOW_DB = "airflow"
OPTUNA_DB = "optuna"


def shared_env_path(root: Path) -> Path:
    """Path of the Airflow env file both run modes read."""
    return root / "airflow" / "airflow.env"


def database_url(cfg: ClusterConfig, secrets: dict[str, str]) -> str:
    """SQLAlchemy URL of the Airflow metadata database."""
    if cfg.database_url:
        return cfg.database_url
    password = secrets["AIRSWEEP_POSTGRES_PASSWORD"]
    port = cfg.ports["postgres"]
    return f"postgresql+psycopg2://{DB_USER}:{password}@127.0.0.1:{port}/{AIRFLOW_DB}"


def optuna_storage_url(cfg: ClusterConfig, secrets: dict[str, str]) -> str:
    """SQLAlchemy URL of the Optuna study database (its own database on the same server)."""
    if cfg.optuna_storage:
        return cfg.optuna_storage
    base, _, _ = database_url(cfg, secrets).rpartition("/")
    return f"{base}/{OPTUNA_DB}"


def broker_url(cfg: ClusterConfig, secrets: dict[str, str]) -> str:
    """Redis URL of the Celery broker."""
    if cfg.redis_url:
        return cfg.redis_url
    return f"redis://:{secrets['AIRSWEEP_REDIS_PASSWORD']}@127.0.0.1:{cfg.ports['redis']}/0"


def native_environment(cfg: ClusterConfig, secrets: dict[str, str]) -> dict[str, str]:
    """Return the full environment of the native components (secrets included)."""
    env = read_env_file(shared_env_path(cfg.root))
    env.update(secrets)
    db = database_url(cfg, secrets)
    env.update(
        {
            "AIRFLOW_HOME": str(cfg.path("airflow")),
            "AIRFLOW__CORE__DAGS_FOLDER": str(cfg.root / "dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(cfg)),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.api_url}/execution/",
            "AIRSWEEP_API_URL": cfg.api_url,
            "AIRSWEEP_ROOT": str(cfg.root),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
            "AIRFLOW__CELERY__BROKER_URL": broker_url(cfg, secrets),
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{db}",
            "AIRFLOW__CELERY__FLOWER_HOST": "127.0.0.1",
            "AIRFLOW__CELERY__FLOWER_PORT": str(cfg.ports["flower"]),
            "AIRFLOW__CELERY__FLOWER_BASIC_AUTH": f"admin:{secrets['AIRSWEEP_FLOWER_PASSWORD']}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(cfg.ports["api"]),
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(cfg.ports["statsd"]),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(cfg.path("logs", "airflow")),
            "AIRSWEEP_SERVE_LOGS": "false",
            "AIRSWEEP_QUEUE_EXPORTER_LISTEN": f"127.0.0.1:{cfg.ports['queue_exporter']}",
            "AIRSWEEP_DASHBOARD_LISTEN": f"127.0.0.1:{cfg.ports['dashboard']}",
            "AIRSWEEP_PROMETHEUS_URL": f"http://127.0.0.1:{cfg.ports['prometheus']}",
            "AIRSWEEP_CPU_WORKERS": str(cfg.cpu_workers),
            "AIRSWEEP_HOME": str(cfg.home),
            "AIRSWEEP_ARTIFACT_URI": cfg.path("artifacts").as_uri(),
            "AIRSWEEP_OPTUNA_STORAGE": optuna_storage_url(cfg, secrets),
            "AIRSWEEP_STATSD_HOST": "127.0.0.1",
            "AIRSWEEP_STATSD_PORT": str(cfg.ports["statsd"]),
        }
    )
    return env


def passwords_file(cfg: ClusterConfig) -> Path:
    """The simple auth manager's password file (``admin`` -> generated password)."""
    return cfg.path("airflow", "passwords.json")
