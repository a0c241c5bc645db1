"""Smoke run of both NLU benchmarks on a tiny slice (5 intents x 10 training examples,
5 test examples each; CLINC150 also 5 out-of-scope), with our pipeline, in one process
(TensorFlow and the MiniLM weights load once). Writes <outdir>/<dataset>.json.

  .venv-nlu/bin/python bench/nlu/smoke.py /tmp/nlu-smoke [config]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/nlu-smoke")
    config = sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).resolve().parent / "configs" / "ours.yml")
    out.mkdir(parents=True, exist_ok=True)
    run.main(["--dataset", "banking77", "--config", config, "--smoke", "--out", str(out / "banking77.json")])
    run.main(["--dataset", "clinc150", "--config", config, "--smoke", "--oos-class",
              "--out", str(out / "clinc150.json")])
