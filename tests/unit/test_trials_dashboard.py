"""The live trials dashboard (airsweep.monitoring.trials_dashboard): admin password,
read-only, and the real optuna-dashboard on a study database."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import optuna
import pytest

from airsweep.cluster.components import component
from airsweep.cluster.config import ClusterConfig
from airsweep.cluster.environment import native_environment
from airsweep.cluster.lifecycle import dashboard_url, monitoring_programs, summary
from airsweep.cluster.secrets import generate_secrets
from airsweep.monitoring.trials_dashboard import authorized, guard, main, parse_listen

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _call(app, method: str = "GET", path: str = "/api/studies", auth: str = "") -> str:
    seen: list[str] = []
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path}
    if auth:
        environ["HTTP_AUTHORIZATION"] = auth
    body = b"".join(app(environ, lambda status, headers: seen.append(status)))
    return f"{seen[0]} {body.decode().strip()}"


def _inner(environ, start_response):
    start_response("200 OK", [])
    return [b"studies"]


@pytest.mark.parametrize(
    ("method", "path", "auth", "expected"),
    [
        ("GET", "/api/studies", _basic("admin", PASSWORD), "200 OK studies"),
        ("HEAD", "/dashboard", _basic("admin", PASSWORD), "200 OK studies"),
        ("GET", "/api/studies", "", "401 Unauthorized authentication required"),
        (
            "GET",
            "/api/studies",
            _basic("admin", "wrong"),
            "401 Unauthorized authentication required",
        ),
        (
            "GET",
            "/api/studies",
            _basic("root", PASSWORD),
            "401 Unauthorized authentication required",
        ),
        (
            "DELETE",
            "/api/studies/1",
            _basic("admin", PASSWORD),
            "405 Method Not Allowed read-only dashboard",
        ),
        (
            "POST",
            "/api/studies",
            _basic("admin", PASSWORD),
            "405 Method Not Allowed read-only dashboard",
        ),
        (
            "PUT",
            "/api/studies/1/note",
            _basic("admin", PASSWORD),
            "405 Method Not Allowed read-only dashboard",
        ),
        ("POST", "/api/studies", "", "401 Unauthorized authentication required"),
        ("GET", "/healthcheck", "", "200 OK OK"),
    ],
)
def test_the_guard_wants_the_admin_password_and_lets_only_reads_through(
    method, path, auth, expected
):
    assert _call(guard(_inner, PASSWORD), method, path, auth) == expected


@pytest.mark.parametrize(
    "header", ["", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"\xff\xfe").decode()]
)
def test_malformed_credentials_are_refused(header: str):
    assert not authorized(header, PASSWORD)


def test_the_guard_refuses_an_empty_password():
    with pytest.raises(ValueError):
        guard(_inner, "")


def test_listen_addresses():
    assert parse_listen("127.0.0.1:8085") == ("127.0.0.1", 8085)
    for bad in ("8085", "host:", ":80", "host:http"):
        with pytest.raises(ValueError):
            parse_listen(bad)


def test_without_storage_or_password_it_exits_2(monkeypatch):
    monkeypatch.delenv("AIRSWEEP_OPTUNA_STORAGE", raising=False)
    monkeypatch.setenv("AIRSWEEP_ADMIN_PASSWORD", PASSWORD)
    assert main(["--listen", "127.0.0.1:0"]) == 2


def test_native_mode_runs_it_supervised_on_loopback_and_prints_its_url(tmp_path):
    cfg = ClusterConfig.from_env(ROOT, {"AIRSWEEP_HOME": str(tmp_path)})
    env = native_environment(cfg, generate_secrets())
    argv = component("dashboard", env).argv
    assert argv == (
        "python",
        "-m",
        "airsweep.monitoring.trials_dashboard",
        "--listen",
        f"127.0.0.1:{cfg.ports['dashboard']}",
    )
    assert cfg.ports["dashboard"] == 28085
    program = next(p for p in monitoring_programs(cfg) if p.name == "dashboard")
    assert program.argv[2:5] == ("airsweep", "component", "dashboard")
    assert program.phase == "monitoring"
    assert dashboard_url(cfg) == "http://127.0.0.1:28085"
    assert f"trials         : {dashboard_url(cfg)}" in summary(cfg, env)


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, str]]:
    """The dashboard serving a sqlite study database: (URL, study name)."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=storage, study_name="hpo_sweep__manual_1")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "AIRSWEEP_OPTUNA_STORAGE": storage, "AIRSWEEP_ADMIN_PASSWORD": PASSWORD}
    module = "airsweep.monitoring.trials_dashboard"
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthcheck", timeout=1)
            break
        except httpx.HTTPError:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
    yield url, study.study_name
    proc.terminate()
    assert proc.wait(timeout=10) == 0, "SIGTERM is a clean stop"


def test_the_real_dashboard_lists_the_study_to_the_admin_only(served):
    url, name = served
    auth = ("admin", PASSWORD)
    studies = httpx.get(f"{url}/api/studies", auth=auth, timeout=10).json()["study_summaries"]
    assert [s["study_name"] for s in studies] == [name]
    assert httpx.get(f"{url}/api/studies", timeout=10).status_code == 401
    assert httpx.delete(f"{url}/api/studies/1", auth=auth, timeout=10).status_code == 405
    page = httpx.get(f"{url}/dashboard", auth=auth, timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
