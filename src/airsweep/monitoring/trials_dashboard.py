"""The live trials dashboard: optuna-dashboard, read-only, behind the admin password.

optuna-dashboard has no authentication, and its API can change studies (delete or
rename a study, tell a trial, edit notes). airsweep serves it through a small WSGI
wrapper (:func:`guard`):

- every request needs HTTP basic auth as ``admin`` with ``AIRSWEEP_ADMIN_PASSWORD``
  (the Airflow admin's password; compared in constant time), except
  ``/healthcheck``, which answers ``OK`` and nothing else (as Flower's does);
- it is read-only: only ``GET`` and ``HEAD`` reach optuna-dashboard, any other
  method gets ``405``, so a sweep's study can be watched but not changed.

The study database comes from ``AIRSWEEP_OPTUNA_STORAGE``, never from the command
line (visible in ``ps``). The standard library's WSGI server answers each request
in its own thread. Exits 0 on SIGTERM or SIGINT, 1 when the address cannot be
bound, 2 when the environment is incomplete.

    python -m airsweep.monitoring.trials_dashboard [--listen 127.0.0.1:8085]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

logger = logging.getLogger("airsweep.trials_dashboard")

#: The one user the dashboard accepts (the Airflow admin).
USER = "admin"
#: Answers without authentication, for health checks.
HEALTH_PATH = "/healthcheck"
#: Methods that reach optuna-dashboard: it is read-only.
READ_METHODS = ("GET", "HEAD")
DEFAULT_LISTEN = "127.0.0.1:8085"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _answer(
    start_response: Callable[..., Any], status: str, text: str, *headers: tuple[str, str]
) -> list[bytes]:
    """Answer with a one-line plain-text body."""
    body = (text + "\n").encode()
    start_response(
        status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *headers]
    )
    return [body]


def authorized(header: str, password: str) -> bool:
    """Whether an ``Authorization`` header is basic auth as :data:`USER` with ``password``."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, given = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(user.encode(), USER.encode()) & hmac.compare_digest(
        given.encode(), password.encode()
    )


def guard(app: WSGIApp, password: str) -> WSGIApp:
    """Wrap a WSGI app: basic auth as ``admin`` with ``password``, read-only methods.

    Args:
        app: optuna-dashboard's WSGI app.
        password: The admin password; must not be empty.

    Returns:
        The guarded app (``/healthcheck`` answers ``OK`` without authentication).
    """
    if not password:
        raise ValueError("the dashboard needs a password")

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return _answer(start_response, "200 OK", "OK")
        if not authorized(environ.get("HTTP_AUTHORIZATION", ""), password):
            challenge = ("WWW-Authenticate", 'Basic realm="airsweep trials dashboard"')
            return _answer(start_response, "401 Unauthorized", "authentication required", challenge)
        if environ.get("REQUEST_METHOD", "GET") not in READ_METHODS:
            allow = ("Allow", ", ".join(READ_METHODS))
            return _answer(start_response, "405 Method Not Allowed", "read-only dashboard", allow)
        return app(environ, start_response)

    return guarded


class _Server(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request."""

    daemon_threads = True


class _Handler(WSGIRequestHandler):
    """Logs failed requests only (the dashboard polls every few seconds)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).isdigit() and int(code) >= 400:
            super().log_request(code, size)


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port).

    Raises:
        ValueError: Not ``HOST:PORT`` with a port number.
    """
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    """Serve the dashboard until SIGTERM or SIGINT; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help="HOST:PORT to bind")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    storage_url = os.environ.get("AIRSWEEP_OPTUNA_STORAGE", "").strip()
    password = os.environ.get("AIRSWEEP_ADMIN_PASSWORD", "").strip()
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        parser.error(str(exc))
    if not storage_url or not password:
        logger.error("AIRSWEEP_OPTUNA_STORAGE and AIRSWEEP_ADMIN_PASSWORD must be set")
        return 2
    import optuna
    import optuna_dashboard

    # Creates Optuna's tables if no sweep has yet (optuna-dashboard's own loader would not).
    app = optuna_dashboard.wsgi(optuna.storages.RDBStorage(storage_url))
    try:
        server = make_server(host, port, guard(app, password), _Server, _Handler)
    except OSError as exc:
        logger.error("cannot listen on %s: %s", args.listen, exc)
        return 1

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("trials dashboard on http://%s:%d (user %s, read-only)", host, port, USER)
    try:
        server.serve_forever()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
