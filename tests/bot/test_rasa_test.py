"""Runs `rasa test core` on tests/bot/test_stories.yml against the trained model
and fails on any failed story (every FAQ family and every escalation path)."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.processes import PROJECT_ROOT
from tests.support.rasa_stack import MODEL_PATH, RASA_VENV

pytestmark = pytest.mark.timeout(900)

STORIES = PROJECT_ROOT / "tests" / "bot" / "test_stories.yml"


def test_all_test_stories_pass(tmp_path):
    assert MODEL_PATH.is_file(), f"no trained model at {MODEL_PATH}: run 'bash scripts/train.sh'"
    result = subprocess.run(
        [str(RASA_VENV / "bin" / "rasa"), "test", "core", "--stories", str(STORIES),
         "-m", str(MODEL_PATH), "--out", str(tmp_path), "--no-plot"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=840)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    failed = (tmp_path / "failed_test_stories.yml").read_text()
    assert "- story:" not in failed, f"failed test stories:\n{failed}"
    report = json.loads((tmp_path / "story_report.json").read_text())
    print(f"\nrasa test core: {report['conversation_accuracy']}")
    accuracy = report["conversation_accuracy"]
    assert accuracy["correct"] == accuracy["total"] > 0
