"""Sweep reports (airsweep.sweep_report) on in-memory studies: plots, HTML, Prometheus
panels, writing to the artifact store, and the page in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState
from PIL import Image, ImageStat

from airsweep.artifacts import ArtifactStore
from airsweep.budget import WARM_START_FROM, WORKER_LOST
from airsweep.cli import main
from airsweep.envfile import write_env_file
from airsweep.metrics import sweep_id
from airsweep.monitoring.queries import render_grafana_expr
from airsweep.settings import Settings
from airsweep.stopping import STARTED_AT, STOP_REASON
from airsweep.sweep_report import report_fields, report_uri, write_report
from airsweep.sweep_report.build import build_report
from airsweep.sweep_report.data import SweepData, snapshot
from airsweep.sweep_report.figures import Figure, NotDrawn, render
from airsweep.sweep_report.html import Section, Table, render_page
from airsweep.sweep_report.panels import load_panels, panel_figures, sweeps_dashboard
from airsweep.sweep_report.timeline import lanes
from tests.browser import DRAWN, image_contrast, open_page

RUN_ID = "manual__2026-11-30T10:00:00+00:00"
STUDY = f"hpo_sweep__{RUN_ID}"
T0 = datetime(2026, 11, 30, 10, 0, 0)
IMG_RE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _trial(number: int, family: str, state: TrialState, start_s: float, seconds: float, **extra):
    """A finished or running trial of ``family`` on ``worker`` (extra: value, worker, attrs)."""
    space = {
        f"{family}.n_estimators": IntDistribution(10, 100),
        f"{family}.max_depth": IntDistribution(2, 8),
    }
    params = {f"{family}.n_estimators": 10 + 7 * number % 90, f"{family}.max_depth": 2 + number % 7}
    space["cpu.model"] = CategoricalDistribution(["random_forest", "xgboost"])
    params["cpu.model"] = family
    start = T0 + timedelta(seconds=start_s)
    attrs = {
        "model": family,
        "placement": {"queue": "cpu", "worker": extra.get("worker", "worker-cpu")},
        **extra.get("attrs", {}),
    }
    return FrozenTrial(
        number=number,
        state=state,
        value=extra.get("value"),
        datetime_start=start,
        datetime_complete=None
        if state == TrialState.RUNNING
        else start + timedelta(seconds=seconds),
        params=params,
        distributions=space,
        user_attrs=attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def _study(trials: list[FrozenTrial], directions: tuple[str, ...] = ("maximize",)) -> optuna.Study:
    study = optuna.create_study(directions=list(directions), study_name=STUDY)
    study.set_user_attr("config", {"models": ["random_forest", "xgboost"]})
    study.set_user_attr(
        "manifest", {"dataset_name": "iris", "task_type": "multiclass", "metric": "accuracy"}
    )
    study.set_user_attr(STARTED_AT, T0.astimezone().timestamp() - 5)
    study.add_trials([t for t in trials if t.state != TrialState.RUNNING])
    for trial in trials:
        if trial.state == TrialState.RUNNING:  # add_trials takes finished trials only
            running = study.ask()
            for key, value in trial.user_attrs.items():
                running.set_user_attr(key, value)
    return study


def _sweep() -> optuna.Study:
    """Two families on two workers: complete, pruned, failed, lost and seeded trials."""
    trials = [
        _trial(
            n,
            "random_forest" if n % 2 else "xgboost",
            TrialState.COMPLETE,
            2 * n,
            3.0,
            value=0.8 + 0.01 * n,
            worker="worker-cpu" if n % 3 else "worker-cpu-2",
        )
        for n in range(10)
    ]
    trials += [
        _trial(10, "xgboost", TrialState.PRUNED, 21, 1.0, value=None),
        _trial(11, "random_forest", TrialState.FAIL, 22, 0.5, attrs={"error": "ValueError: x"}),
        _trial(12, "xgboost", TrialState.FAIL, 23, 0.5, attrs={"error": WORKER_LOST}),
        _trial(
            13,
            "random_forest",
            TrialState.COMPLETE,
            -600,
            2.0,
            value=0.95,
            attrs={WARM_START_FROM: "manual__earlier"},
        ),
    ]
    study = _study(trials)
    study.set_user_attr(STOP_REASON, "budget spent (n_trials=13)")
    return study


def _images(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in IMG_RE.findall(page)]


def _notes(page: str) -> list[str]:
    return re.findall(r'<p class="note">(.*?)</p>', page)


# --- the page ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_page() -> str:
    return build_report(snapshot(_sweep(), RUN_ID), prometheus_url="")


def test_a_finished_sweep_gets_every_plot_drawn(finished_page: str):
    page = finished_page
    images = _images(page)
    # history, score by family, 2 families x (importances, slice), the Gantt chart
    assert len(images) == 7
    for image in images:
        assert image.format == "PNG" and image.width > 100 and image.height > 100
        assert max(ImageStat.Stat(image.convert("L")).stddev) > 10, "a blank image"
    for section in ("Summary", "Search", "Family random_forest", "Family xgboost"):
        assert f">{section}</h2>" in page
    assert "budget spent (n_trials=13)" in page and "Trials over time" in page
    assert "1 trials seeded from an earlier sweep are not shown" in page
    assert "AIRSWEEP_PROMETHEUS_URL is unset" in page


def test_the_page_needs_no_network_and_runs_no_script(finished_page: str):
    page = finished_page
    assert "<script" not in page
    assert not re.findall(r'(?:src|href)="(?!data:image/png;base64,|#)', page)
    assert "default-src 'none'; img-src data:" in page


def test_html_escapes_everything_it_is_given():
    figure = Figure("<b>plot</b>", note="a & b")
    table = Table(("", ""), (("<i>key</i>", "value"),))
    page = render_page(
        "Sweep <x>", "sub", [Section("S <1>", note="n<", tables=(table,), figures=(figure,))]
    )
    assert "<b>" not in page and "<i>" not in page and "&lt;b&gt;plot&lt;/b&gt;" in page
    assert "<thead>" not in page, "a table without column names has no header row"
    assert 'href="#s-1"' in page and 'id="s-1"' in page


@pytest.mark.parametrize(
    ("trials", "expected_notes"),
    [
        ([], ["no COMPLETE trial yet", "no trial has started yet"]),
        (
            [_trial(0, "xgboost", TrialState.COMPLETE, 0, 1, value=0.9)],
            ["needs at least 4 COMPLETE trials of xgboost (has 1)"],
        ),
        (
            [_trial(n, "xgboost", TrialState.FAIL, n, 1) for n in range(3)],
            [
                "no COMPLETE trial yet",
                "needs at least 4 COMPLETE trials of xgboost (has 0)",
                "no COMPLETE trial of xgboost yet",
            ],
        ),
    ],
    ids=["empty", "one-trial", "all-failed"],
)
def test_small_sweeps_get_notes_instead_of_plots(trials, expected_notes):
    page = build_report(snapshot(_study(trials), RUN_ID), prometheus_url="")
    notes = _notes(page)
    for expected in expected_notes:
        assert expected in notes, notes
    assert "not built" not in page and "not drawn" not in page


def test_a_running_sweep_is_reported_as_running():
    trials = [
        _trial(0, "xgboost", TrialState.COMPLETE, 0, 1, value=0.9),
        _trial(1, "xgboost", TrialState.RUNNING, 1, 0),
    ]
    study = _study(trials)
    study.set_user_attr(STOP_REASON, "patience: ...")  # runners stop taking trials, one runs
    data = snapshot(study, RUN_ID)
    assert data.ended is None and data.window[1] == data.generated_at
    page = build_report(data, prometheus_url="")
    assert "while the sweep runs" in page and "<td>running</td>" in page


def test_a_multi_objective_sweep_gets_its_pareto_front():
    trials = [_trial(n, "xgboost", TrialState.COMPLETE, n, 1, value=None) for n in range(5)]
    trials = [
        FrozenTrial(**{**_frozen_fields(t), "values": [5.0 - n, 0.8 + 0.02 * n]})
        for n, t in enumerate(trials)
    ]
    study = _study(trials, directions=("minimize", "maximize"))
    with warnings.catch_warnings():  # experimental since Optuna 3.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["fit_seconds", "accuracy"])
    study.set_user_attr("manifest", {"metric": "accuracy"})  # the primary metric
    data = snapshot(study, RUN_ID)
    assert [o.name for o in data.objectives] == ["fit_seconds", "accuracy"]
    assert data.primary == 1
    page = build_report(data, prometheus_url="")
    assert "Pareto front: fit_seconds / accuracy" in page
    assert "the primary metric only: accuracy" in _notes(page)
    assert len(_images(page)) == 5 and "not drawn" not in page


def _frozen_fields(trial: FrozenTrial) -> dict:
    return {
        "number": trial.number,
        "state": trial.state,
        "value": None,
        "datetime_start": trial.datetime_start,
        "datetime_complete": trial.datetime_complete,
        "params": trial.params,
        "distributions": trial.distributions,
        "user_attrs": trial.user_attrs,
        "system_attrs": {},
        "intermediate_values": {},
        "trial_id": trial.number,
    }


def test_a_failing_plot_or_section_leaves_a_note_and_the_rest():
    def broken() -> None:
        raise RuntimeError("boom")

    def empty() -> None:
        raise NotDrawn("nothing to show")

    assert render("x", broken) == Figure("x", note="not drawn: RuntimeError: boom")
    assert render("x", empty) == Figure("x", note="nothing to show")
    data = snapshot(_sweep(), RUN_ID)
    broken_data = SweepData(**{**data.__dict__, "config": {"models": 3}})  # not a list
    page = build_report(broken_data, prometheus_url="")
    assert "not built: TypeError" in page and "Trials over time" in page


def test_trials_of_one_worker_run_in_as_many_lanes_as_overlap():
    trials = [
        _trial(0, "xgboost", TrialState.COMPLETE, 0, 10, value=0.9),
        _trial(1, "xgboost", TrialState.COMPLETE, 1, 3, value=0.9),
        _trial(2, "xgboost", TrialState.COMPLETE, 5, 3, value=0.9),  # after 1 ends: lane 2
        _trial(3, "xgboost", TrialState.COMPLETE, 2, 1, value=0.9, worker="worker-cpu-2"),
    ]
    rows = lanes(snapshot(_study(trials), RUN_ID))
    assert list(rows) == ["cpu/worker-cpu", "cpu/worker-cpu-2"]
    assert [len(lane) for lane in rows["cpu/worker-cpu"]] == [1, 2]
    ((begin, end, state),) = rows["cpu/worker-cpu-2"][0]
    assert state == "complete" and end - begin == pytest.approx(1.0)


# --- Prometheus panels ------------------------------------------------------------------


def test_without_prometheus_the_report_says_so_in_one_line():
    data = snapshot(_sweep(), RUN_ID)
    figures, note = panel_figures(data, "http://127.0.0.1:9")  # discard port: refused
    assert figures == [] and note == (
        "Prometheus at http://127.0.0.1:9 is not reachable (ConnectError): no panels."
    )


class _FakePrometheus(BaseHTTPRequestHandler):
    """Answers Prometheus' API with one series per query; records the queries."""

    queries: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        params = parse_qs(url.query)
        if url.path == "/api/v1/query_range":
            _FakePrometheus.queries.append(params)
            start = float(params["start"][0])
            values = [[start + 15 * i, str(i % 4)] for i in range(10)]
            result = [{"metric": {"state": "complete", "model": "xgboost"}, "values": values}]
        elif url.path == "/api/v1/query":
            _FakePrometheus.queries.append(params)
            result = [
                {"metric": {"le": "1"}, "value": [0, "3"]},
                {"metric": {}, "value": [0, "NaN"]},
            ]
        else:
            result = {}
        body = json.dumps({"status": "success", "data": {"result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_prometheus() -> Iterator[str]:
    _FakePrometheus.queries = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_sweeps_dashboard_panel_is_drawn_over_the_sweep_window(fake_prometheus):
    data = snapshot(_sweep(), RUN_ID)
    figures, note = panel_figures(data, fake_prometheus)
    panels = load_panels(sweeps_dashboard())
    assert note is None and len(panels) >= 15
    assert [f.title for f in figures] == [p.title for p in panels]
    assert all(f.png and not f.note for f in figures), [f for f in figures if f.note]
    sent = [q["query"][0] for q in _FakePrometheus.queries]
    assert f'sweep=~"{sweep_id(STUDY)}"' in " ".join(sent)
    assert not [q for q in sent if "$" in q]
    start, end = data.window
    ranged = [q for q in _FakePrometheus.queries if "start" in q]
    assert float(ranged[0]["start"][0]) == pytest.approx(start - 60)
    assert float(ranged[0]["end"][0]) == pytest.approx(min(end + 60, data.generated_at))


def test_dashboard_variables_take_the_given_values():
    expr = (
        'sum(increase(x{sweep=~"$sweep", model=~"$model"}[$__range])) / rate(y[$__rate_interval])'
    )
    assert render_grafana_expr(expr, {"sweep": "hpo_sweep__a", "__range": "300s"}) == (
        'sum(increase(x{sweep=~"hpo_sweep__a", model=~".*"}[300s])) / rate(y[1m])'
    )


# --- writing it -------------------------------------------------------------------------


def _settings(tmp_path: Path, **overrides: str) -> Settings:
    env = {"AIRSWEEP_HOME": str(tmp_path), "AIRSWEEP_ARTIFACT_URI": (tmp_path / "a").as_uri()}
    return Settings.from_env({**env, **overrides})


def test_finalize_writes_the_report_best_effort(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    model = {
        "model": "xgboost",
        "metric": "accuracy",
        "cv_score": 0.9,
        "test_score": 0.91,
        "model_uri": "file:///m.joblib",
        "card_uri": "file:///card.json",
    }
    fields = report_fields(_sweep(), RUN_ID, model, settings)
    store = ArtifactStore(settings.artifact_uri)
    assert fields == {"report_uri": report_uri(store, RUN_ID)}
    assert fields["report_uri"].endswith(
        "/runs/manual__2026-11-30T10_00_00_00_00/report/report.html"
    )
    page = store.read_bytes(fields["report_uri"]).decode()
    assert "accuracy 0.9100 on the held-out split" in page and "file:///card.json" in page

    def fail(*args: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr("airsweep.sweep_report.build.build_report", fail)
    assert report_fields(_sweep(), RUN_ID, model, settings) == {
        "report_error": "OSError: disk full"
    }


def test_airsweep_sweep_report_writes_it_on_demand(tmp_path, monkeypatch, capsys):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=storage, study_name=STUDY, direction="maximize")
    study.add_trials(snapshot(_sweep(), RUN_ID).trials)
    home = tmp_path / "home"
    home.mkdir()
    artifacts = (tmp_path / "artifacts").as_uri()
    cluster = {"AIRSWEEP_OPTUNA_STORAGE": storage, "AIRSWEEP_ARTIFACT_URI": artifacts}
    write_env_file(home / "cluster.env", {"AIRSWEEP_API_URL": "http://127.0.0.1:9", **cluster})
    write_env_file(home / "secrets.env", {"AIRSWEEP_ADMIN_PASSWORD": "x"})
    monkeypatch.setenv("AIRSWEEP_HOME", str(home))
    monkeypatch.delenv("AIRSWEEP_API_URL", raising=False)
    assert main(["sweep", "report", RUN_ID, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["report_uri"] == report_uri(ArtifactStore(artifacts), RUN_ID)
    assert len(IMG_RE.findall(Path(document["path"]).read_text())) == 7
    assert main(["sweep", "report", RUN_ID]) == 0
    assert capsys.readouterr().out.strip() == document["path"]
    assert main(["sweep", "report", "manual__unknown"]) == 4
    assert "no sweep 'manual__unknown'" in capsys.readouterr().err


# --- in a browser -----------------------------------------------------------------------


def test_the_report_opens_in_headless_chromium_with_every_image_drawn(tmp_path):
    settings = _settings(tmp_path)
    drawn = ArtifactStore(settings.artifact_uri).local_path(
        write_report(_sweep(), RUN_ID, settings)
    )
    loaded = open_page(drawn, tmp_path)
    assert loaded.errors == []
    assert len(loaded.images) == 7
    assert all(i["complete"] and i["width"] > 100 and i["height"] > 100 for i in loaded.images)
    contrast = image_contrast(loaded)
    assert len(contrast) >= 2 and min(contrast.values()) > DRAWN, contrast
    # The measure tells a drawn image from a blank one.
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buffer, format="PNG")
    blank = tmp_path / "blank.html"
    figure = Figure("blank", png=buffer.getvalue())
    blank.write_text(render_page("blank", "", [Section("S", figures=(figure,))]))
    assert image_contrast(open_page(blank, tmp_path)) == {"blank": pytest.approx(0, abs=1)}
