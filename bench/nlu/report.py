"""Markdown tables of all NLU benchmark results (bench/nlu/results/*.json, smoke and
dev runs left out), for docs/benchmarks-nlu.md.

  python3 bench/nlu/report.py
"""
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load():
    rows = []
    for f in sorted(RESULTS.glob("*.json")):
        r = json.loads(f.read_text())
        if isinstance(r, dict) and r.get("status") == "done" and not r.get("smoke") and not r.get("dev"):
            r["_file"] = f"bench/nlu/results/{f.name}"
            rows.append(r)
    return rows


def pct(x):
    return "n/a" if x is None else f"{100 * x:.2f}%"


def lat(r):
    i = r["inference_ms"]
    return f"{i['median']:.1f} / {i['p99']:.1f} ms ({r.get('inference_cpu_ms_per_message', 'n/a')} ms CPU)"


def load_s(r):
    a, b = r.get("loadavg_start", [None])[0], r.get("loadavg_end", [None])[0]
    return f"{a:.1f} → {b:.1f}" if a is not None and b is not None else "n/a"


def main():
    rows = load()
    out = sys.stdout
    b = [r for r in rows if r["dataset"] == "banking77"]
    c = [r for r in rows if r["dataset"] == "clinc150"]
    if b:
        out.write("| data set | pipeline | test accuracy | training time (wall; CPU) | inference per message: median / p99 wall (mean CPU) | load avg (1 min) | result file |\n")
        out.write("|---|---|---|---|---|---|---|\n")
        for r in b:
            acc = pct(r["accuracy"])
            if r.get("fallback_rate"):
                acc += f" (as configured, fallback = wrong: {pct(r['accuracy_as_configured'])})"
            out.write(f"| BANKING77 ({r['n_train']} train / {r['n_test']} test) | {r['pipeline']} | {acc} | "
                      f"{r['train_time_s']:.0f} s; {r['train_cpu_s']:.0f} s | {lat(r)} | {load_s(r)} | `{r['_file']}` |\n")
        out.write("\n")
    if c:
        out.write("| data set | pipeline | OOS handling | threshold (val: in-scope / OOS recall) | test in-scope accuracy | test OOS recall | no threshold: in-scope / OOS recall | training time (wall; CPU) | inference per message: median / p99 wall (mean CPU) | load avg (1 min) | result file |\n")
        out.write("|---|---|---|---|---|---|---|---|---|---|---|\n")
        for r in c:
            t = r["threshold"]
            out.write(f"| CLINC150 ({r['n_train']} train / {r['n_test']} test) | {r['pipeline']} | {r['oos_handling']} | "
                      f"{t['value']:.2f} ({pct(t['val_inscope_accuracy'])} / {pct(t['val_oos_recall'])}) | "
                      f"{pct(r['inscope_accuracy'])} | {pct(r['oos_recall'])} | "
                      f"{pct(r['inscope_accuracy_no_threshold'])} / {pct(r['oos_recall_no_threshold'])} | "
                      f"{r['train_time_s']:.0f} s; {r['train_cpu_s']:.0f} s | {lat(r)} | {load_s(r)} | `{r['_file']}` |\n")
            if (r.get("as_configured") or {}).get("fallback_rate"):
                a = r["as_configured"]
                out.write(f"|  | {r['pipeline']}, as configured | its FallbackClassifier | (config) | {pct(a['inscope_accuracy'])} | {pct(a['oos_recall'])} | | | | | |\n")


if __name__ == "__main__":
    main()
