"""Smoke run of the NLU benchmarks (bench/nlu): trains our pipeline on a tiny slice of
BANKING77 and CLINC150, evaluates, and checks the JSON result files' fields.

Runs in the NLU environment (bash bench/nlu/setup.sh makes .venv-nlu); fails when it
or the benchmark data (../shared/benchmarks) is missing.
"""
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / ".venv-nlu" / "bin" / "python"
DATA = ROOT.parent / "shared" / "benchmarks"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if not PY.exists():
        pytest.fail("no .venv-nlu: run bash bench/nlu/setup.sh")
    if not (DATA / "banking77").is_dir() or not (DATA / "clinc150").is_dir():
        pytest.fail(f"benchmark data not found at {DATA}")
    out = tmp_path_factory.mktemp("nlu-smoke")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "RASA_TELEMETRY_ENABLED": "false", "SUPPORTLINE_BENCHMARKS": str(DATA)}
    t = time.time()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([str(PY), str(ROOT / "bench" / "nlu" / "smoke.py"), str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=240)
    elapsed = time.time() - t
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return out, p.stdout, elapsed, cpu


COMMON = ["dataset", "pipeline", "n_train", "n_intents", "n_test", "train_time_s", "train_cpu_s",
          "inference_ms", "machine", "versions", "status", "started_utc", "finished_utc"]


def test_banking77_smoke(smoke):
    out, stdout = smoke[:2]
    r = json.loads((out / "banking77.json").read_text())
    for k in COMMON + ["accuracy"]:
        assert k in r, k
    assert r["status"] == "done" and r["smoke"] is True
    assert r["n_intents"] == 5 and r["n_train"] == 50 and r["n_test"] == 25
    assert 0.0 <= r["accuracy"] <= 1.0
    assert r["accuracy"] >= 0.6  # 5 easy intents: a broken featurizer would be near 0.2
    assert r["inference_ms"]["n"] == 25 and r["inference_ms"]["median"] > 0
    assert "| banking77" in stdout  # the printed table


def test_clinc150_smoke(smoke):
    out, stdout = smoke[:2]
    r = json.loads((out / "clinc150.json").read_text())
    for k in COMMON + ["inscope_accuracy", "oos_recall", "threshold", "val_curve", "oos_handling",
                       "inscope_accuracy_no_threshold"]:
        assert k in r, k
    assert r["status"] == "done"
    assert r["n_intents"] == 6  # 5 in-scope + oos as a class
    thr = r["threshold"]
    assert 0.0 <= thr["value"] < 1.0 and "rule" in thr and "val_inscope_accuracy" in thr
    assert 0.0 <= r["inscope_accuracy"] <= 1.0 and 0.0 <= r["oos_recall"] <= 1.0
    assert "| clinc150" in stdout


def test_smoke_is_short(smoke):
    # About 30 s of CPU (both data sets, TensorFlow and the MiniLM weights loaded once);
    # wall time depends on what else the machine runs, so the bound is on CPU time.
    _, _, elapsed, cpu = smoke
    print(f"NLU smoke: {elapsed:.0f} s wall, {cpu:.0f} s CPU")
    assert cpu < 90, f"smoke run used {cpu:.0f} s of CPU ({elapsed:.0f} s wall)"


def test_featurizer_sequence_features(smoke):
    f = json.loads((smoke[0] / "featurizer.json").read_text())
    assert f["sequence_shape"] == [f["n_tokens"], 384]
    assert f["sentence_shape"] == [1, 384]
    assert abs(f["sentence_norm"] - 1.0) < 1e-4
    assert f["zero_token_rows"] == 0  # every token got its word pieces


@pytest.mark.parametrize("model, dim", [("all-MiniLM-L6-v2", 384), ("all-mpnet-base-v2", 768)])
def test_each_encoder_embeds_meaningfully_and_independently_of_padding(smoke, model, dim):
    e = json.loads((smoke[0] / "featurizer.json").read_text())["encoders"][model]
    assert e["dim"] == dim
    assert all(abs(n - 1.0) < 1e-4 for n in e["norms"])
    assert e["paraphrase_cos"] > e["unrelated_cos"] + 0.3
    # the longer text in the batch pads this one to 32 word pieces: none of it may leak into the mean
    assert e["batch_vs_alone_max_diff"] < 1e-4
