"""Every DAG file imports cleanly, touches no database or network at parse time,
and follows the project's conventions (retries, tags, docs)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.dags.conftest import DAGS, ROOT

DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))

# Pools a DAG may use: Airflow's default pool and those `airsweep up` creates.
KNOWN_POOLS = {"default_pool", *json.loads((ROOT / "airflow" / "pools.json").read_text())}


class NetworkAccessError(AssertionError):
    pass


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    def refuse(self, address):
        raise NetworkAccessError(f"DAG parsing opened a connection to {address}")

    original = socket.socket.connect
    socket.socket.connect = refuse
    try:
        return DagBag(dag_folder=str(DAGS), safe_mode=False, known_pools=KNOWN_POOLS)
    finally:
        socket.socket.connect = original


def test_dag_folder_is_not_empty():
    assert DAG_FILES, "dags/ holds no DAG file"


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_every_file_defines_a_dag(dagbag, path):
    defined = [dag for dag in dagbag.dags.values() if dag.fileloc == str(path)]
    assert defined, f"{path.name} defines no DAG"


def test_dags_follow_conventions(dagbag):
    assert dagbag.dags
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id}: no tags"
        assert dag.doc_md and dag.doc_md.strip(), f"{dag_id}: no doc_md"
        assert dag.schedule is None or dag.catchup is False, f"{dag_id}: catchup on"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id}: no retries"
