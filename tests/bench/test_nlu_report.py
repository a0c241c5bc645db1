"""bench/nlu/report.py: the tables and the accuracy-against-training-time plot of
docs/benchmarks-nlu.md, from result files shaped like bench/nlu/run.py's."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def report(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("nlu_report", ROOT / "bench" / "nlu" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "PLOT", tmp_path / "img" / "plot.png")
    (tmp_path / "results").mkdir()
    return module


def write(report, name, **fields):
    base = {"status": "done", "smoke": False, "dev": False, "n_train": 100, "n_test": 20,
            "train_time_s": 100.0, "train_cpu_s": 150.0, "loadavg_start": [1.0], "loadavg_end": [1.0],
            "inference_ms": {"median": 10.0, "p99": 20.0}, "inference_cpu_ms_per_message": 9.0}
    (report.RESULTS / name).write_text(json.dumps({**base, **fields}))


def test_probe_runs_are_projected_to_100_epochs(report):
    # DIET: first epoch 30 s (graph building), then 10 s each; ResponseSelector: 2 s each
    probe = {"train_time_s": 60.0, "train_cpu_s": 90.0, "epoch_s": [[30.0, 10.0, 10.0], [2.0, 2.0, 2.0]]}
    wall, cpu = report.projected_training(probe)
    assert wall == pytest.approx(60 + 97 * 10 + 97 * 2)
    assert cpu == pytest.approx(wall * 1.5)  # the probe's CPU/wall ratio


def test_tables_keep_probes_apart_and_the_plot_is_drawn(report, capsys):
    write(report, "banking77-ours.json", dataset="banking77", pipeline="ours", accuracy=0.93)
    write(report, "banking77-rasa_default_probe.json", dataset="banking77", pipeline="rasa_default_probe",
          accuracy=0.2, epoch_s=[[30.0, 10.0, 10.0]])
    write(report, "banking77-ours-dev.json", dataset="banking77", pipeline="ours", accuracy=0.99, dev=True)
    report.main()
    out = capsys.readouterr().out
    accuracy_table, probe_table = out.split("pipeline (probe)")
    assert "93.00%" in accuracy_table and "rasa_default_probe" not in accuracy_table
    assert "99.00%" not in out  # dev runs are model selection, not results
    assert "rasa_default_probe" in probe_table and "18 min" in probe_table  # 100 s + 97 x 10 s = 17.8 min
    assert report.PLOT.stat().st_size > 10_000
