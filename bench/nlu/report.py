"""Markdown tables of all NLU benchmark results (bench/nlu/results/*.json, smoke and
dev runs left out), for docs/benchmarks-nlu.md, and the plot of accuracy against
training time (docs/img/nlu_accuracy_vs_training.png, when matplotlib is installed).

  .venv-bridge/bin/python bench/nlu/report.py
"""
import json
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PLOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "nlu_accuracy_vs_training.png"
PROBE_SUFFIX = "_probe"  # a pipeline run with a few epochs to time it, not to score it


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


def projected_training(r):
    """For a probe run (a few epochs of DIET and ResponseSelector): the training time, wall
    and CPU seconds, that the same pipeline would take with `epochs` epochs, from the
    median of its epochs after the first (the first also builds the TensorFlow graph)."""
    epochs = r.get("epoch_s") or []
    extra_wall = 0.0
    for run in epochs:
        steady = run[1:] or run
        extra_wall += statistics.median(steady) * (r.get("full_epochs", 100) - len(run))
    wall = r["train_time_s"] + extra_wall
    return wall, r["train_cpu_s"] * wall / r["train_time_s"]


def plot(rows, path=None):
    """Accuracy against training CPU time, one point per data set and pipeline."""
    path = path or PLOT
    try:
        import matplotlib
        import matplotlib.ticker
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib not installed: {path.name} not drawn", file=sys.stderr)
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    measured = {(r["dataset"], r["pipeline"]) for r in rows if not r["pipeline"].endswith(PROBE_SUFFIX)}
    for r in rows:
        if r["pipeline"].endswith(PROBE_SUFFIX):
            if (r["dataset"], r["pipeline"][:-len(PROBE_SUFFIX)]) in measured:
                continue    # the full run is drawn; its projection is superseded
            wall, cpu = projected_training(r)
            for ax in (a1,) if r["dataset"] == "banking77" else (a2,):
                ax.axvline(cpu, color="grey", linestyle=":")
                ax.annotate(f"{r['pipeline'][:-len(PROBE_SUFFIX)]}: 100 epochs\n(projected, accuracy not run)",
                            (cpu, 0.5), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                            ha="right", va="center", color="grey")
            continue
        if r["dataset"] == "banking77":
            a1.plot(r["train_cpu_s"], 100 * r["accuracy"], "o", color="C0")
            a1.annotate(r["pipeline"], (r["train_cpu_s"], 100 * r["accuracy"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        else:
            a2.plot(r["train_cpu_s"], 100 * r["inscope_accuracy"], "o", color="C0")
            a2.plot(r["train_cpu_s"], 100 * r["oos_recall"], "s", color="C1")
            a2.annotate(r["pipeline"], (r["train_cpu_s"], 100 * r["inscope_accuracy"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
    a1.axhline(93.7, color="C2", linestyle="--", label="goal 93.7%")
    a1.set_title("BANKING77: test accuracy")
    a2.axhline(96.9, color="C0", linestyle="--", label="goal in-scope 96.9%")
    a2.axhline(66.0, color="C1", linestyle="--", label="goal OOS recall 66%")
    a2.plot([], [], "o", color="C0", label="in-scope accuracy")
    a2.plot([], [], "s", color="C1", label="out-of-scope recall")
    a2.set_title("CLINC150: test, threshold chosen on val")
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("training CPU seconds (log)")
        ax.set_ylabel("%")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="center left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    rows = load()
    out = sys.stdout
    probes = [r for r in rows if r["pipeline"].endswith(PROBE_SUFFIX)]
    rows = [r for r in rows if not r["pipeline"].endswith(PROBE_SUFFIX)]
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
        out.write("\n")
    if probes:
        out.write("| data set | pipeline (probe) | epochs run | epoch s (first; median of the rest) | training, probe (wall; CPU) | training, 100 epochs projected (wall; CPU) | inference per message: median / p99 wall (mean CPU) | load avg (1 min) | result file |\n")
        out.write("|---|---|---|---|---|---|---|---|---|\n")
        for r in probes:
            wall, cpu = projected_training(r)
            runs = r.get("epoch_s") or []
            epochs = "; ".join(f"{run[0]:.0f}; {statistics.median(run[1:] or run):.0f}" for run in runs if run)
            out.write(f"| {r['dataset']} ({r['n_train']} train / {r['n_test']} test) | {r['pipeline']} | "
                      f"{', '.join(str(len(run)) for run in runs)} | {epochs} | "
                      f"{r['train_time_s']:.0f} s; {r['train_cpu_s']:.0f} s | {wall / 60:.0f} min; {cpu / 60:.0f} min | "
                      f"{lat(r)} | {load_s(r)} | `{r['_file']}` |\n")
    drawn = plot(rows + probes)
    if drawn:
        print(f"wrote {drawn}", file=sys.stderr)


if __name__ == "__main__":
    main()
