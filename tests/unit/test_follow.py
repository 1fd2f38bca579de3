from airsweep.follow import (
    data_changes,
    objectives_lines,
    progress_line,
    report_line,
    warm_start_line,
)


def test_progress_line_shows_budget_runners_lost_trials_and_best():
    prog = {
        "done": 30,
        "total": 64,
        "by_state": {"complete": 28, "fail": 2, "lost": 1, "running": 4},
        "budget_left": 30,
        "running_by_worker": {"cpu/worker-cpu": 2, "cpu/worker-cpu-2": 2},
        "best_value": 0.9712,
        "best_model": "xgboost",
    }
    line = progress_line(42.3, "running", prog)
    assert line == (
        "[   42s] running  trials 30/64 (complete 28, fail 2, lost 1, running 4; left 30)  "
        "running on cpu/worker-cpu 2, cpu/worker-cpu-2 2  best 0.9712 (xgboost)"
    )
    assert "preparing" in progress_line(1.0, "queued", None)


def test_data_changes_name_what_was_dropped_or_treated():
    summary = {
        "dropped_rows": {"missing_target": 20},
        "dropped_columns": {"duplicate": ["island"], "all_missing": ["comments", "notes"]},
        "infinite_values": {"bill_length": 3, "mass": 1},
    }
    assert data_changes(summary) == (
        "dropped 20 row(s) before the split (20 missing_target); "
        "dropped 3 column(s): island (duplicate), comments (all_missing), notes (all_missing); "
        "4 infinite value(s) treated as missing (bill_length 3, mass 1)"
    )
    clean = {"dropped_rows": {"missing_target": 0}, "dropped_columns": {"duplicate": []}}
    assert data_changes(clean) == data_changes({}) == "nothing dropped or treated"


def test_a_warm_started_sweep_has_a_warm_start_line():
    record = {"from": "manual__1", "copied": 5, "skipped": 2, "reasons": {"x": 2}}
    assert warm_start_line({"warm_start": record}) == [
        "Warm start : 5 trial(s) from manual__1 (2 skipped; they do not count against n_trials)"
    ]
    assert warm_start_line({"warm_start": None}) == warm_start_line({}) == []


def test_a_multi_objective_summary_says_what_was_chosen_and_how():
    summary = {
        "objectives": [
            {"name": "roc_auc", "direction": "maximize", "value": 0.98765},
            {"name": "fit_seconds", "direction": "minimize", "value": 1.25},
        ],
        "selection": {
            "rule": "best roc_auc where fit_seconds <= 2",
            "note": None,
            "pareto_front": [1, 4, 7],
        },
    }
    assert objectives_lines(summary) == [
        "Objectives : roc_auc 0.9877 (maximize), fit_seconds 1.25 (minimize)",
        "Chosen by  : best roc_auc where fit_seconds <= 2, of a Pareto front of 3 trial(s)",
    ]
    assert objectives_lines({"objectives": summary["objectives"][:1]}) == []


def test_the_report_line_gives_the_reports_uri_or_why_there_is_none():
    assert report_line({"report_uri": "file:///r/report.html"}) == [
        "Report     : file:///r/report.html"
    ]
    assert report_line({"report_error": "OSError: disk full"}) == [
        "Report     : not written (OSError: disk full)"
    ]
    assert report_line({}) == []
