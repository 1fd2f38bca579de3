"""Monitoring glue: StatsD mapping, the native StatsD bridge, the Celery queue exporter.

The same mapping file drives the official ``statsd_exporter`` (docker compose) and
:mod:`airsweep.monitoring.statsd_bridge` (native mode); see ``docs/monitoring.md``.
"""

from __future__ import annotations


def parse_listen_address(value: str) -> tuple[str, int]:
    """Split a ``host:port`` listen address.

    Args:
        value: Address such as ``127.0.0.1:9102``, ``[::1]:9102`` or ``:9102`` (all
            interfaces). Port ``0`` asks the OS for a free port.

    Returns:
        The host (``""`` for all interfaces) and the port.

    Raises:
        ValueError: If the value has no port or the port is not in 0..65535.
    """
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port out of range in {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port
