"""The bring-your-own build bench: a small generated flights database builds in a child process, and the JSON
carries, per case, CPU and wall time beside the raw-sqlite3 floor measured in the same child, peak memory,
tasks per family and rejection reasons; a case past its time limit is reported as unfinished, not hidden."""
from __future__ import annotations

import json
import sqlite3

from env_server.tools import bench_byo


def test_flights_database_has_the_features_real_data_has(tmp_path):
    path = tmp_path / "f.sqlite"
    bench_byo.flights_database(path, 2_000)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM flights").fetchone()[0] == 2_000
    assert conn.execute("SELECT COUNT(DISTINCT year) FROM flights").fetchone()[0] == 1  # a constant first column
    assert conn.execute("SELECT COUNT(*) FROM flights WHERE dep_time IS NULL").fetchone()[0] > 0  # cancelled
    assert conn.execute("SELECT MAX(dep_time % 100) FROM flights").fetchone()[0] < 60  # HHMM clock times
    orphans = conn.execute("SELECT COUNT(*) FROM flights WHERE dest NOT IN (SELECT code FROM airports)").fetchone()[0]
    assert 0.1 < orphans / 2_000 < 0.2
    assert conn.execute("SELECT time_hour FROM flights LIMIT 1").fetchone()[0].endswith("Z")
    assert conn.execute("SELECT time_hour FROM weather LIMIT 1").fetchone()[0].endswith("+00")


def test_a_small_case_runs_and_reports_against_its_floor(tmp_path):
    out = tmp_path / "byo.json"
    payload = bench_byo.main(("flights-500",), 600, out)
    case = json.loads(out.read_text())["cases"]["flights-500"]
    assert payload["provenance"]["config"]["cases"] == ["flights-500"]
    assert case["finished"] and case["floor_rows"] == case["rows"]
    assert case["build_cpu_s"] > 0 and case["cpu_ratio_to_floor"] > 1 and case["peak_rss_gb"] > 0.05
    assert set(case["tasks"]) == {"debug", "analyst", "repair"} and case["tasks"]["debug"] > 0


def test_a_case_past_its_time_limit_is_reported_unfinished(tmp_path):
    case = bench_byo.main(("flights-500",), 0.5, tmp_path / "byo.json")["cases"]["flights-500"]
    assert case["finished"] is False and "stopped after" in case["note"]
