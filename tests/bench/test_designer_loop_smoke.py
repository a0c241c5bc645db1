"""Smoke run of bench/designer_loop.py: one round against the real Rasa stack, into a
temporary result file; checks the figures are there, not how large they are."""
import json
import subprocess
import sys

from tests.support.processes import PROJECT_ROOT


def test_designer_loop_one_round(tmp_path):
    out = tmp_path / "designer_loop.json"
    run = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "designer_loop.py"), "--rounds", "1",
                          "--out", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["conversation_kept"] is True
    assert len(result["rounds"]) == 1
    assert set(result["median_s"]) == {"train_s", "load_s", "first_answer_s", "edit_to_live_s"}
    assert result["median_s"]["edit_to_live_s"] >= result["median_s"]["train_s"] > 0
    assert "Designer loop" in run.stdout
