"""NLU quality benchmark: train a Rasa 3.6 NLU pipeline on a public data set, evaluate
it on test once, time training and per-message inference, print a table, write JSON.

  .venv-nlu/bin/python bench/nlu/run.py --dataset banking77 --config bench/nlu/configs/ours.yml
  .venv-nlu/bin/python bench/nlu/run.py --dataset clinc150 --config bench/nlu/configs/ours.yml --oos-class
  ... --smoke            tiny slice (5 intents x 10 examples), for the test run

BANKING77: train on train.csv, accuracy on test.csv.
CLINC150: train on the 150 in-scope intents of train (+ oos_train as an "oos" class with
--oos-class); parse val + oos_val to choose a confidence threshold (rule below), then
parse test + oos_test once and report in-scope accuracy (a rejected in-scope query counts
as wrong) and out-of-scope recall at that threshold. Nothing is chosen on test.

Threshold rule (fixed before any CLINC150 test run), thresholds 0.00, 0.01, ... 0.99 on
val + oos_val: if some meet both goals (in-scope accuracy >= --inscope-goal 0.969 and OOS
recall >= --oos-goal 0.66), the one of those with the largest sum; else the highest
in-scope accuracy among those with OOS recall >= 0.66; else the largest sum.

Accuracy is the classifier's top intent (the first in intent_ranking that is not
nlu_fallback); for pipelines with a FallbackClassifier the figures "as configured"
(nlu_fallback = rejected) are reported too.

Inference: every test message is parsed one at a time through the loaded model
(rasa.core.agent.Agent.parse_message), the first parse (graph warm-up) excluded from the
latency figures. Times are wall-clock on a shared machine: the JSON records the load
average and CPU time, read them with that in mind.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # custom components: bot.embeddings, bot.sklearn_intent
sys.path.insert(0, str(HERE))
import data as bdata  # noqa: E402

import numpy as np  # noqa: E402

FALLBACK = "nlu_fallback"


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def machine() -> Dict:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "platform": platform.platform(),
            "python": platform.python_version()}


def versions() -> Dict:
    out = {}
    for mod in ("rasa", "tensorflow", "transformers", "sklearn", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            pass
    return out


def git_commit() -> Optional[str]:
    try:
        return subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        return None


def latency_stats(ms: List[float]) -> Dict:
    a = np.asarray(ms)
    if len(a) == 0:
        return {"n": 0}
    return {"n": int(len(a)), "median": round(float(np.median(a)), 2), "mean": round(float(a.mean()), 2),
            "p90": round(float(np.percentile(a, 90)), 2), "p99": round(float(np.percentile(a, 99)), 2),
            "max": round(float(a.max()), 2)}


def top_intent(result: Dict):
    """(classifier's top intent, its confidence, intent as configured)."""
    configured = (result.get("intent") or {}).get("name")
    for r in result.get("intent_ranking") or []:
        if r.get("name") != FALLBACK:
            return r["name"], float(r["confidence"]), configured
    i = result.get("intent") or {}
    return i.get("name"), float(i.get("confidence") or 0.0), configured


def oos_figures(preds, confs, gold, thr: float, oos_label=bdata.OOS):
    pred = [oos_label if (c < thr or p == oos_label) else p for p, c in zip(preds, confs)]
    ins = [i for i, g in enumerate(gold) if g != oos_label]
    oos = [i for i, g in enumerate(gold) if g == oos_label]
    ia = sum(pred[i] == gold[i] for i in ins) / max(1, len(ins))
    rec = sum(pred[i] == oos_label for i in oos) / max(1, len(oos))
    return ia, rec


def choose_threshold(preds, confs, gold, goal: float, oos_goal: float = 0.66):
    """The threshold rule, on val only (see the module docstring)."""
    curve = []
    for k in range(100):
        thr = k / 100
        ia, rec = oos_figures(preds, confs, gold, thr)
        curve.append({"threshold": thr, "inscope_accuracy": round(ia, 4), "oos_recall": round(rec, 4)})
    both = [c for c in curve if c["inscope_accuracy"] >= goal and c["oos_recall"] >= oos_goal]
    recall_ok = [c for c in curve if c["oos_recall"] >= oos_goal]
    if both:
        best = max(both, key=lambda c: (c["inscope_accuracy"] + c["oos_recall"], -c["threshold"]))
        rule = f"val meets both goals (in-scope >= {goal}, OOS recall >= {oos_goal}): max of their sum"
    elif recall_ok:
        best = max(recall_ok, key=lambda c: (c["inscope_accuracy"], c["oos_recall"], -c["threshold"]))
        rule = f"highest val in-scope accuracy with val OOS recall >= {oos_goal}"
    else:
        best = max(curve, key=lambda c: (c["inscope_accuracy"] + c["oos_recall"], -c["threshold"]))
        rule = "max of val in-scope accuracy + OOS recall"
    return best, rule, curve


class Parser:
    def __init__(self, model_path: str):
        from rasa.core.agent import Agent
        self.loop = asyncio.new_event_loop()
        t = time.perf_counter()
        self.agent = Agent.load(model_path)
        self.load_s = time.perf_counter() - t
        t = time.perf_counter()
        self.parse("hello there")  # warm-up (graph tracing etc.), not counted
        self.first_parse_ms = (time.perf_counter() - t) * 1000

    def parse(self, text: str) -> Dict:
        return self.loop.run_until_complete(self.agent.parse_message(text))

    def parse_all(self, texts: List[str], timed: List[float]):
        out = []
        for text in texts:
            t = time.perf_counter()
            r = self.parse(text)
            timed.append((time.perf_counter() - t) * 1000)
            out.append(top_intent(r))
        return out


class ComponentTimes(logging.Handler):
    """Training time of each pipeline component, read from the messages of Rasa's training
    hooks ("Starting to train component 'X'" / "Finished training component 'X'")."""

    PATTERN = re.compile(r"(Starting to train|Finished training) component '([^']+)'")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started: Dict[str, float] = {}
        self.seconds: Dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.search(record.getMessage())
        if not match:
            return
        what, component = match.groups()
        if what.startswith("Starting"):
            self.started[component] = record.created
        elif component in self.started:
            key = component
            while key in self.seconds:  # a second CountVectorsFeaturizer
                key += "'"
            self.seconds[key] = round(record.created - self.started.pop(component), 2)

    def attach(self, quiet: bool) -> None:
        hooks = logging.getLogger("rasa.engine.training.hooks")
        hooks.addHandler(self)
        hooks.setLevel(logging.INFO)
        hooks.propagate = not quiet  # below Rasa's chosen log level: recorded, not printed


def record_epoch_times() -> List[List[float]]:
    """Seconds of every training epoch of Rasa's TensorFlow components (DIET,
    ResponseSelector, ...), one list per training run, in the order they trained: their
    progress-bar callback is wrapped to note the time at each epoch's start and end."""
    from rasa.utils.tensorflow.callback import RasaTrainingLogger

    runs: List[List[float]] = []
    started: List[float] = []

    def on_train_begin(self, logs=None):
        runs.append([])

    def on_epoch_begin(self, epoch, logs=None):
        started[:] = [time.perf_counter()]

    original_end = RasaTrainingLogger.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if started and runs:
            runs[-1].append(round(time.perf_counter() - started[0], 2))
        original_end(self, epoch, logs)

    RasaTrainingLogger.on_train_begin = on_train_begin
    RasaTrainingLogger.on_epoch_begin = on_epoch_begin
    RasaTrainingLogger.on_epoch_end = on_epoch_end
    return runs


def print_table(res: Dict) -> None:
    cols = ["dataset", "pipeline", "metric", "train s", "infer ms median", "p99", "n test"]
    if res["dataset"] == "banking77":
        metric = f"acc {100 * res['accuracy']:.2f}%"
    else:
        t = res["threshold"]
        metric = (f"in-scope {100 * t['test_inscope_accuracy']:.2f}% / OOS recall {100 * t['test_oos_recall']:.2f}%"
                  f" @thr {t['value']:.2f} (no thr: {100 * res['inscope_accuracy_no_threshold']:.2f}%)")
    lat = res["inference_ms"]
    row = [res["dataset"], res["pipeline"], metric, f"{res['train_time_s']:.1f}", f"{lat.get('median')}",
           f"{lat.get('p99')}", str(res["n_test"])]
    w = [max(len(a), len(b)) for a, b in zip(cols, row)]
    print("| " + " | ".join(c.ljust(x) for c, x in zip(cols, w)) + " |")
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    print("| " + " | ".join(c.ljust(x) for c, x in zip(row, w)) + " |")


def main(argv=None) -> Dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=["banking77", "clinc150"])
    ap.add_argument("--config", required=True, type=Path)
    ap.add_argument("--name", help="pipeline name in the results (default: config file stem)")
    ap.add_argument("--oos-class", action="store_true", help="CLINC150: train oos_train as an 'oos' intent")
    ap.add_argument("--inscope-goal", type=float, default=0.969)
    ap.add_argument("--oos-goal", type=float, default=0.66)
    ap.add_argument("--out", type=Path, help="JSON result file (default: bench/nlu/results/<dataset>-<name>.json)")
    ap.add_argument("--smoke", action="store_true", help="tiny slice: 5 intents x 10 train examples, 5 test each")
    ap.add_argument("--dev", action="store_true",
                    help="model selection only: BANKING77 trains on 90%% of train and scores the held-out 10%%; "
                         "CLINC150 scores val + oos_val (test is not read)")
    ap.add_argument("--log-level", default="WARNING", help="Rasa's log level (INFO shows DIET's epochs)")
    ap.add_argument("--keep-model", type=Path, help="copy the trained model here")
    args = ap.parse_args(argv)
    args.config = args.config.resolve()
    if args.out:
        args.out = args.out.resolve()
    if args.keep_model:
        args.keep_model = args.keep_model.resolve()

    name = args.name or args.config.stem
    suffix = ("-smoke" if args.smoke else "") + ("-dev" if args.dev else "")
    out = args.out or HERE / "results" / f"{args.dataset}-{name}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    config_text = args.config.read_text()
    d = bdata.load(args.dataset)

    if args.dataset == "banking77":
        train, test, val = (d["fit"], d["dev"], []) if args.dev else (d["train"], d["test"], [])
    else:
        train = d["train"] + (d["oos_train"] if args.oos_class else [])
        val = d["val"] + d["oos_val"]
        test = val if args.dev else d["test"] + d["oos_test"]
    if args.smoke:
        intents = sorted({l for _, l in train if l != bdata.OOS})[:5]
        pick = lambda xs, n: bdata.subsample(xs, None, n, intents=intents + ([bdata.OOS] if any(l == bdata.OOS for _, l in xs) else []))
        train, test, val = pick(train, 10), pick(test, 5), pick(val, 5)

    res: Dict = {
        "dataset": args.dataset, "pipeline": name, "config_file": str(args.config),
        "config_sha256": hashlib.sha256(config_text.encode()).hexdigest()[:12],
        "smoke": args.smoke, "dev": args.dev,
        "evaluated_on": ("held-out 10% of train" if args.dataset == "banking77" else "val + oos_val") if args.dev else "test",
        "started_utc": utcnow(), "git_commit": git_commit(),
        "machine": machine(), "versions": versions(), "loadavg_start": os.getloadavg(),
        "n_train": len(train), "n_intents": len({l for _, l in train}), "n_test": len(test),
    }
    if args.dataset == "clinc150":
        res["oos_handling"] = ("oos_train (100) trained as an 'oos' intent + confidence threshold chosen on val"
                               if args.oos_class else "150 in-scope intents only + confidence threshold chosen on val")
        res["n_val"] = len(val)

    def save(status: str):
        res["status"] = status
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(res, indent=1) + "\n")
        tmp.replace(out)

    work = Path(tempfile.mkdtemp(prefix=f"nlu-bench-{args.dataset}-"))
    old_cwd = os.getcwd()
    try:
        os.environ["RASA_CACHE_DIRECTORY"] = str(work / "cache")  # no reuse between runs
        os.chdir(work)
        nlu = bdata.write_rasa_nlu(train, work / "data" / "nlu.json")
        shutil.copy(args.config, work / "config.yml")
        from rasa.utils.common import configure_logging_and_warnings
        from rasa.utils.log_utils import configure_structlog
        level = logging.getLevelName(args.log_level.upper())
        configure_logging_and_warnings(level)
        configure_structlog(level)

        component_times = ComponentTimes()
        component_times.attach(quiet=level > logging.INFO)
        epoch_times = record_epoch_times()
        from rasa.model_training import train_nlu
        print(f"[{utcnow()}] training {name} on {args.dataset}: {len(train)} examples", flush=True)
        c0, t0 = cpu_seconds(), time.perf_counter()
        model = train_nlu(config=str(work / "config.yml"), nlu_data=str(nlu), output=str(work / "models"),
                          fixed_model_name="nlu")
        res["train_time_s"] = round(time.perf_counter() - t0, 2)
        res["train_cpu_s"] = round(cpu_seconds() - c0, 2)
        res["component_train_s"] = component_times.seconds
        if epoch_times:
            res["epoch_s"] = epoch_times  # per TensorFlow component, in training order
        res["loadavg_after_train"] = os.getloadavg()
        if not model:
            raise RuntimeError("training produced no model")
        res["model_size_mb"] = round(Path(model).stat().st_size / 2**20, 1)
        if args.keep_model:
            shutil.copy(model, args.keep_model)
        print(f"[{utcnow()}] trained in {res['train_time_s']} s", flush=True)
        save("trained")

        p = Parser(model)
        res["model_load_s"] = round(p.load_s, 2)
        res["first_parse_ms"] = round(p.first_parse_ms, 1)
        timed: List[float] = []
        if val:
            vp = p.parse_all([t for t, _ in val], [])
            best, rule, curve = choose_threshold([a for a, _, _ in vp], [b for _, b, _ in vp],
                                                 [l for _, l in val], args.inscope_goal, args.oos_goal)
            res["threshold"] = {"value": best["threshold"], "rule": rule,
                                "val_inscope_accuracy": best["inscope_accuracy"], "val_oos_recall": best["oos_recall"]}
            res["val_curve"] = curve[::5]
            save("threshold chosen on val")

        c0 = cpu_seconds()
        tp = p.parse_all([t for t, _ in test], timed)
        res["inference_cpu_ms_per_message"] = round((cpu_seconds() - c0) * 1000 / max(1, len(test)), 2)
        gold = [l for _, l in test]
        preds, confs, configured = [a for a, _, _ in tp], [b for _, b, _ in tp], [c for _, _, c in tp]
        if args.dataset == "banking77":
            res["accuracy"] = round(sum(a == g for a, g in zip(preds, gold)) / len(gold), 4)
            # the intent as the pipeline returns it (nlu_fallback = wrong); equal to
            # "accuracy" for a pipeline without a FallbackClassifier
            res["accuracy_as_configured"] = round(sum(a == g for a, g in zip(configured, gold)) / len(gold), 4)
            res["fallback_rate"] = round(sum(c == FALLBACK for c in configured) / len(gold), 4)
        else:
            thr = res["threshold"]["value"]
            ia, rec = oos_figures(preds, confs, gold, thr)
            res["threshold"].update(test_inscope_accuracy=round(ia, 4), test_oos_recall=round(rec, 4))
            res["inscope_accuracy_no_threshold"] = round(oos_figures(preds, confs, gold, 0.0)[0], 4)
            res["oos_recall_no_threshold"] = round(oos_figures(preds, confs, gold, 0.0)[1], 4)
            res["inscope_accuracy"], res["oos_recall"] = res["threshold"]["test_inscope_accuracy"], res["threshold"]["test_oos_recall"]
            cf = [bdata.OOS if c == FALLBACK else c for c in configured]
            a2, r2 = oos_figures(cf, [1.0] * len(cf), gold, 0.0)
            res["as_configured"] = {"inscope_accuracy": round(a2, 4), "oos_recall": round(r2, 4),
                                    "fallback_rate": round(sum(c == FALLBACK for c in configured) / len(gold), 4),
                                    "note": "the intent as the pipeline returns it, no threshold of ours "
                                            "(nlu_fallback from a FallbackClassifier = out of scope)"}
        res["inference_ms"] = latency_stats(timed)
        res["loadavg_end"] = os.getloadavg()
        res["finished_utc"] = utcnow()
        save("done")
    finally:
        os.chdir(old_cwd)
        shutil.rmtree(work, ignore_errors=True)
    print_table(res)
    print(f"wrote {out}")
    return res


if __name__ == "__main__":
    main()
