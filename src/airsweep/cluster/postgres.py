"""The embedded PostgreSQL server (binaries shipped by the ``pgserver`` wheel).

PostgreSQL refuses to run as root, so when airsweep runs as root the server
runs as a dedicated system user, as ``pgserver`` itself does.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from airsweep.cluster.config import ClusterConfig, package_dir
from airsweep.cluster.environment import DB_USER

#: System user that runs Postgres when airsweep runs as root.
SYSTEM_USER = "airsweep-pg"


class PostgresError(RuntimeError):
    """The embedded Postgres could not be initialised or reached."""


def bin_dir() -> Path:
    """Directory of the PostgreSQL binaries inside the ``pgserver`` package."""
    return package_dir("pgserver") / "pginstall" / "bin"


def data_dir(cfg: ClusterConfig) -> Path:
    """The cluster's PGDATA directory."""
    return cfg.path("postgres", "data")


def run_as_user() -> str | None:
    """System user to run Postgres as: a dedicated one under root, else the caller."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let other users traverse every parent of ``path`` (mode o+x), as pgserver does."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


def server_argv(cfg: ClusterConfig) -> list[str]:
    """The ``postgres`` command line: loopback only, socket in the state dir."""
    return [
        str(bin_dir() / "postgres"),
        "-D",
        str(data_dir(cfg)),
        "-p",
        str(cfg.ports["postgres"]),
        "-k",
        str(cfg.path("postgres")),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "max_connections=300",
        "-c",
        "shared_buffers=128MB",
    ]


def ensure_initialized(cfg: ClusterConfig, password: str) -> bool:
    """Run ``initdb`` once for the state dir; return whether it ran.

    The superuser is ``airsweep`` with the generated password and
    scram-sha-256 authentication on TCP.
    """
    pgdata = data_dir(cfg)
    if (pgdata / "PG_VERSION").exists():
        return False
    user = run_as_user()
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    if user is not None:
        entry = pwd.getpwnam(user)
        _make_traversable(pgdata.parent)
        os.chown(pgdata.parent, entry.pw_uid, entry.pw_gid)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    with tempfile.NamedTemporaryFile("w", dir=pgdata.parent, delete=False) as handle:
        handle.write(password + "\n")
        pwfile = Path(handle.name)
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        result = subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                DB_USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            user=user,
            capture_output=True,
            text=True,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise PostgresError(f"initdb failed ({pgdata}): {result.stderr.strip()[-2000:]}")
    return True


def ensure_databases(url: str, names: list[str], timeout_s: float = 60.0) -> None:
    """Create each database in ``names`` on the server of ``url`` if it is missing.

    ``url`` is a SQLAlchemy URL of any database on that server; the server is
    polled until it accepts connections or ``timeout_s`` passes.
    """
    dsn = url.replace("postgresql+psycopg2://", "postgresql://", 1)
    base, _, _ = dsn.rpartition("/")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn = psycopg2.connect(f"{base}/postgres", connect_timeout=3)
            break
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresError(f"Postgres did not accept connections: {exc}") from exc
            time.sleep(0.5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in names:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
