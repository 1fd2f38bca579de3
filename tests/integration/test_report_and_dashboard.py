"""On the real cluster: a finished sweep's report in the artifact store, opened in headless
Chromium, a report written on demand, and the live trials dashboard listing the sweep."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from airsweep.artifacts import ArtifactStore
from airsweep.metrics import sweep_id
from airsweep.study import study_name_for
from airsweep.sweep_report import report_uri
from tests.browser import DRAWN, image_contrast, open_page
from tests.integration.conftest import SWEEP

pytestmark = pytest.mark.integration


def _local(cluster, uri: str) -> Path:
    path = ArtifactStore(cluster.artifact_uri).local_path(uri)
    assert path is not None and path.is_file(), uri
    return path


def test_a_finished_sweep_has_its_report_and_it_opens_in_a_browser(
    cluster, finished_sweep, tmp_path
):
    summary = cluster.client.xcom(SWEEP, finished_sweep.run_id, "finalize")
    assert "report_error" not in summary, summary["report_error"]
    store = ArtifactStore(cluster.artifact_uri)
    assert summary["report_uri"] == report_uri(store, finished_sweep.run_id)
    page = _local(cluster, summary["report_uri"])
    text = page.read_text()
    for family in finished_sweep.conf["models"]:
        assert f">Family {family}</h2>" in text
    assert "on the held-out split" in text and "Trials over time per queue and worker" in text
    if shutil.which("prometheus"):  # Prometheus answered (its data may lag a scrape)
        assert "not reachable" not in text
    loaded = open_page(page, tmp_path)
    assert loaded.errors == []
    assert len(loaded.images) >= 8
    assert all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in loaded.images)
    contrast = image_contrast(loaded)
    assert len(contrast) >= 2 and min(contrast.values()) > DRAWN, contrast


def test_airsweep_sweep_report_writes_it_on_demand_with_the_registered_model(
    cluster, finished_sweep
):
    has_prometheus = shutil.which("prometheus") is not None
    if has_prometheus:  # once scraped, the sweep's gauges are in its window
        _wait_for_series(
            cluster, f'airsweep_sweep_budget_left{{sweep="{_sweep_id(finished_sweep)}"}}'
        )
    result = cluster.airsweep("sweep", "report", finished_sweep.run_id, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    path = _local(cluster, document["report_uri"])
    assert document["path"] == str(path)
    text = path.read_text()
    assert "on the held-out split" in text, "the model comes from the registry"
    panels = text[text.index('<section id="sweeps-dashboard-prometheus">') :]
    drawn = set(re.findall(r'<img src="data:image/png;base64,[^"]+" alt="([^"]+)"', panels))
    if has_prometheus:
        assert {"Budget left per sweep", "Best score over time per sweep"} <= drawn, (
            f"drawn: {drawn}; notes: {re.findall(r'<p class=.note.>(.*?)</p>', panels)}"
        )


def _sweep_id(sweep) -> str:
    return sweep_id(study_name_for(SWEEP, sweep.run_id))


def _wait_for_series(cluster, selector: str, timeout_s: float = 90) -> None:
    url = f"http://127.0.0.1:{cluster.cfg.ports['prometheus']}/api/v1/query"
    deadline = time.monotonic() + timeout_s
    while not httpx.get(url, params={"query": selector}, timeout=10).json()["data"]["result"]:
        assert time.monotonic() < deadline, f"Prometheus has no {selector}"
        time.sleep(5)


def test_the_trials_dashboard_lists_the_sweep_to_the_admin_only(cluster, finished_sweep):
    url = f"http://127.0.0.1:{cluster.cfg.ports['dashboard']}"
    auth = ("admin", cluster.secrets["AIRSWEEP_ADMIN_PASSWORD"])
    studies = httpx.get(f"{url}/api/studies", auth=auth, timeout=30).json()["study_summaries"]
    assert study_name_for(SWEEP, finished_sweep.run_id) in {s["study_name"] for s in studies}
    assert httpx.get(f"{url}/api/studies", timeout=10).status_code == 401
    assert httpx.delete(f"{url}/api/studies/1", auth=auth, timeout=10).status_code == 405
    status = cluster.airsweep("status")
    assert re.search(r"^dashboard\s+RUNNING", status.stdout, re.M), status.stdout
    assert f"trials dashboard: {url}" in status.stdout
