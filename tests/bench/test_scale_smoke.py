"""Smoke run of bench/scale.py (one Rasa server against two, one bridge against two): it
runs with --quick into a temporary directory and must finish and write scale.json with the
expected fields, every arm having produced bot answers and relayed messages; then the
report renders its section from that file. No timing is asserted (the machine is shared
and small); the full run is `bash bench/run.sh`.

Runs in the bridge environment. Needs what the benchmark needs: the trained model, the
Rasa environment (.venv-rasa), redis-server and PostgreSQL (psql as postgres over
127.0.0.1); missing ones fail the test, they do not skip it. Takes a few minutes, most of
it the two Rasa servers loading their models.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
META = ["benchmark", "quick", "started_utc", "finished_utc", "duration_s", "load_start", "load_end",
        "machine", "command", "table"]


@pytest.mark.timeout(900)
def test_scale_quick(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--quick", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| " in proc.stdout  # the printed tables
    r = json.loads((tmp_path / "scale.json").read_text())
    for key in META:
        assert key in r, key
    assert r["benchmark"] == "scale" and r["quick"] is True and r["machine"]["cores"] >= 1

    rasa = r["rasa_servers"]
    assert rasa["levels"] == [4] and rasa["setup"]["rasa_start_s"] > 0
    level = rasa["results"]["4"]
    for arm in ("1", "2"):
        a = level[arm]
        assert a["turns"] > 0 and a["errors"] == 0 and a["throughput_per_s"] > 0
        assert set(a["latency_ms"]) >= {"n", "p50", "p99"}
        assert len(a["rounds"]) == rasa["rounds"] == 2
        assert sum(a["turns_per_server"].values()) == a["turns"]
        assert a["cpu"]["cores"] >= 1 and a["cpu"]["machine_busy_share"] is not None
        assert {"rasa1", "rasa2", "actions1", "postgres", "redis", "client"} <= set(a["cpu"]["ms_per_unit"])
    assert set(level["1"]["turns_per_server"]) == {"rasa1"}           # the one-server arm used one server
    assert level["1"]["cpu"]["ms_per_unit"]["rasa1"] > 0
    assert set(level["comparison"]) >= {"throughput_ratio", "p50_ratio", "p99_ratio"}

    bridges = r["bridges"]
    for arm in ("1", "2"):
        b = bridges["results"][arm]
        assert b["widgets"] == 50 and b["relays"] > 0 and b["errors"] == 0
        assert b["relay_p50_ms"] is not None and b["relay_p99_ms"] is not None
        assert len(b["rounds"]) == 2
    assert {x["visitors_on"] for x in bridges["results"]["1"]["rounds"]} == {"single"}
    assert all(x["visitors_on"] != x["agents_on"] for x in bridges["results"]["2"]["rounds"])  # across Redis
    assert set(bridges["results"]["comparison"]) == {"p50_ratio", "p99_ratio"}

    doc, img = tmp_path / "benchmarks.md", tmp_path / "img"
    rendered = subprocess.run([sys.executable, str(ROOT / "bench" / "report.py"), "--results", str(tmp_path),
                               "--doc", str(doc), "--img", str(img)], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert "## 6. Scale-out" in doc.read_text()
    assert (img / "scale_throughput.png").stat().st_size > 1000
