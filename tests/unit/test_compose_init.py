"""``init_compose`` / ``airsweep init-compose``: the compose ``.env`` file."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from airsweep.cli import main
from airsweep.cluster.secrets import SECRET_NAMES
from airsweep.compose import (
    COMPOSE_SECRET_NAMES,
    COMPOSE_SETTINGS,
    ComposeEnvExistsError,
    init_compose,
)
from airsweep.envfile import read_env_file

ROOT = Path(__file__).resolve().parents[2]
ALL_SECRETS = SECRET_NAMES + COMPOSE_SECRET_NAMES


def test_env_file_is_private_and_complete(tmp_path: Path):
    path = init_compose(tmp_path)
    assert path == tmp_path / ".env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = read_env_file(path)
    for name in ALL_SECRETS:
        assert len(values[name]) >= 32, name
        assert re.fullmatch(r"[A-Za-z0-9_=-]+", values[name]), f"{name} is not URL-safe"
    assert {k: values[k] for k in COMPOSE_SETTINGS} == COMPOSE_SETTINGS
    Fernet(values["AIRFLOW__CORE__FERNET_KEY"].encode())


def test_secrets_are_fresh_and_distinct(tmp_path: Path):
    first = read_env_file(init_compose(tmp_path / "a"))
    second = read_env_file(init_compose(tmp_path / "b"))
    values = [first[name] for name in ALL_SECRETS] + [second[name] for name in ALL_SECRETS]
    assert len(set(values)) == len(values)


def test_existing_env_is_not_overwritten(tmp_path: Path):
    path = init_compose(tmp_path)
    before = path.read_text()
    with pytest.raises(ComposeEnvExistsError, match="--force"):
        init_compose(tmp_path)
    assert path.read_text() == before


def test_force_keeps_existing_values_and_adds_missing_ones(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_text(
        "AIRSWEEP_POSTGRES_PASSWORD=kept-password\nAIRSWEEP_CPU_WORKERS=4\nMY_SETTING=mine\n"
        "AIRSWEEP_REDIS_PASSWORD=\n"
    )
    values = read_env_file(init_compose(tmp_path, force=True))
    assert values["AIRSWEEP_POSTGRES_PASSWORD"] == "kept-password"
    assert values["AIRSWEEP_CPU_WORKERS"] == "4"
    assert values["MY_SETTING"] == "mine"
    assert values["AIRSWEEP_REDIS_PASSWORD"], "an empty secret counts as missing"
    assert set(ALL_SECRETS) <= set(values)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_every_required_compose_variable_comes_from_env(tmp_path: Path):
    values = read_env_file(init_compose(tmp_path))
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    required = set(re.findall(r"(?<!\$)\$\{(\w+):\?", json.dumps(compose)))
    assert required, "compose requires no variable"
    assert required <= set(values), f"not written by init-compose: {required - set(values)}"


def test_cli_writes_once_then_needs_force(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("AIRSWEEP_ROOT", str(tmp_path))
    assert main(["init-compose"]) == 0
    first = read_env_file(tmp_path / ".env")
    assert main(["init-compose"]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["init-compose", "--force"]) == 0
    assert read_env_file(tmp_path / ".env") == first
