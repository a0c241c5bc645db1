"""Smoke run of the performance benchmarks (bench/latency.py, bench/turn_cost.py,
bench/capacity.py, bench/profile_bridge.py, bench/report.py): each runs with --quick into a temporary directory
and must finish and write its JSON result with the expected fields. No timing is
asserted (the machine is shared and small); the full runs are `bash bench/run.sh`.

Runs in the bridge environment. Needs the trained model (bash scripts/train.sh), the Rasa
environment (.venv-rasa) and redis-server, like the rest of the suite: missing ones
fail the test, they do not skip it.
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


def run_quick(script: str, out: Path, timeout: float) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| " in proc.stdout  # the printed table
    name = {"profile_bridge.py": "bridge_profile"}.get(script, script.removesuffix(".py"))
    data = json.loads((out / f"{name}.json").read_text())
    for key in META:
        assert key in data, key
    assert data["benchmark"] == name and data["quick"] is True
    assert data["machine"]["cores"] >= 1
    return data


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("perf-smoke")


@pytest.mark.timeout(240)
def test_latency_quick(out):
    r = run_quick("latency.py", out, 200)
    assert r["rasa"] == "fake" and r["levels"] == [1, 5]
    for level in ("1", "5"):
        v = r["results"][level]
        for arm in ("direct", "bridge"):
            assert v[arm]["turns"] > 0 and v[arm]["errors"] == 0
            assert set(v[arm]["latency_ms"]) >= {"n", "p50", "p99"}
            assert v[arm]["throughput_per_s"] > 0
            assert "bridge" in v[arm]["cpu_ms_per_turn"]
        assert set(v["comparison"]) >= {"overhead_p50_ms", "overhead_p99_ms", "throughput_ratio",
                                        "goal_overhead_met", "goal_throughput_met"}


@pytest.mark.timeout(400)
def test_turn_cost_quick(out):
    r = run_quick("turn_cost.py", out, 380)
    assert r["mode"] == "in-process" and "ours" in r["models"]
    ours = r["throughput"]["1"]["ours"]
    assert ours["turns"] == 12 and ours["latency_ms"]["p50"] > 0
    assert set(r["curve"]["ours"]["windows"]) == {"0-4", "4-8", "8-12"}
    acc = r["accuracy"]["ours"]
    assert acc["n"] == 20 and 0.0 <= acc["accuracy"] <= 1.0
    prof = r["profile"]["ours"]
    assert prof["turns"] >= 3 and prof["own_ms_per_turn"] and prof["cumulative_ms_per_turn"]
    assert abs(sum(prof["own_time_share"].values()) - 1.0) < 0.01
    assert set(r["goals"]) == {"throughput_ratio", "accuracy_not_worse"}


@pytest.mark.timeout(240)
def test_capacity_quick(out):
    r = run_quick("capacity.py", out, 220)
    assert r["connections"]["max_connected"] == 60
    assert all(s["failed"] == 0 for s in r["connections"]["steps"])
    assert r["connections"]["rss_mb_at_max"] > 0
    lat = r["latency"]["60"]
    assert lat["errors"] == 0 and lat["relay_ms"]["n"] > 0 and lat["escalation_ms"]["n"] > 0
    for bridges in ("1", "2"):
        c = r["claims"][bridges]
        assert c["claimed"] == c["conversations"]          # every conversation went to someone
        assert c["double_assignments"] == 0 and c["store_mismatches"] == 0
        assert r["two_bridges"]["relay"][bridges]["relay_ms"]["n"] > 0
    assert set(r["goals"]) >= {"connections", "rss_mb", "relay_p99_ms", "escalation_p99_ms", "no_double_assignment"}


@pytest.mark.timeout(200)
def test_bridge_profile_quick(out):
    r = run_quick("profile_bridge.py", out, 180)
    assert r["work"]["claims"] == 6 and r["work"]["relays"] > 0
    assert r["busy_s"] > 0 and abs(sum(r["busy_share_by_component"].values()) - 1.0) < 0.01
    assert "push_queue" in r["routing_cumulative"]


@pytest.mark.timeout(200)
def test_event_loop_quick(out):
    r = run_quick("event_loop.py", out, 180)
    for loop in ("uvloop", "asyncio"):
        arm = r["summary"][loop]
        assert arm["relayed"] > 0 and arm["errors"] == 0, (loop, arm)
        assert arm["relay_p50_ms"] is not None and arm["bridge_cpu_ms_per_relay"] is not None
        assert len(r["rounds"][loop]) == r["settings"]["rounds"]


def test_report_renders(out):
    """The page and the three plots from the quick results (run after the ones above)."""
    needed = [out / f"{n}.json" for n in ("latency", "turn_cost", "capacity")]
    missing = [p.name for p in needed if not p.exists()]
    assert not missing, f"quick results missing (an earlier smoke test failed): {missing}"
    doc, img = out / "benchmarks.md", out / "img"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "report.py"), "--results", str(out),
                           "--doc", str(doc), "--img", str(img)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = doc.read_text()
    for heading in ("## 1. Bot reply", "## 2. Cost of a bot turn", "## 3. Bridge capacity", "## 4. NLU accuracy",
                    "## Goals at a glance", "## 7. Event loop"):
        assert heading in text
    for png in ("latency_vs_concurrency.png", "turn_cost_curve.png", "memory_vs_connections.png"):
        assert (img / png).stat().st_size > 1000
