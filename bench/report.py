"""Render docs/benchmarks.md and the plots in docs/img/ from bench/results/*.json.

  .venv-bridge/bin/python bench/report.py            # after bash bench/run.sh
  .venv-bridge/bin/python bench/report.py --results DIR --doc FILE --img DIR   (tests)

Every figure in the page comes from a result file; the page says which command made
it, on what machine, under what load, and whether each goal was met. The NLU accuracy
benchmarks (bench/nlu/, docs/benchmarks-nlu.md) belong to their own page; this one links
to it and lists their result files' headline figures.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PROJECT_ROOT, RESULTS_DIR, fmt, median  # noqa: E402

DOC = PROJECT_ROOT / "docs" / "benchmarks.md"
IMG = PROJECT_ROOT / "docs" / "img"
NLU_RESULTS = PROJECT_ROOT / "bench" / "nlu" / "results"
NLU_DOC = PROJECT_ROOT / "docs" / "benchmarks-nlu.md"
LABELS = {"ours": "ours (config.yml)", "rasa_default": "Rasa default (`rasa init`)"}


def load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def met(value: Any) -> str:
    return {True: "**met**", False: "**missed**", None: "not measured"}.get(value, str(value))


def load_line(r: dict[str, Any]) -> str:
    return (f"{r['started_utc']} to {r['finished_utc']} ({r['duration_s']:.0f} s); load average "
            f"{'/'.join(str(x) for x in r['load_start'])} at the start, "
            f"{'/'.join(str(x) for x in r['load_end'])} at the end")


def img_rel(doc: Path, img: Path) -> str:
    try:
        return str(img.relative_to(doc.parent))
    except ValueError:
        return str(img)


# ---------------------------------------------------------------------------- plots

def plot_latency(r: dict[str, Any], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    levels = sorted(r["results"], key=int)
    x = [int(v) for v in levels]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for arm, color in (("direct", "tab:blue"), ("bridge", "tab:orange")):
        a1.plot(x, [r["results"][k][arm]["latency_ms"]["p50"] for k in levels], "o-", color=color, label=f"{arm} p50")
        a1.plot(x, [r["results"][k][arm]["latency_ms"]["p99"] for k in levels], "s--", color=color, label=f"{arm} p99")
        a2.plot(x, [r["results"][k][arm]["throughput_per_s"] for k in levels], "o-", color=color, label=arm)
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel("concurrent conversations")
    a1.set_ylabel("bot reply latency, ms")
    a1.set_xticks(x, [str(v) for v in x])
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    a2.set_xscale("log")
    a2.set_xticks(x, [str(v) for v in x])
    a2.set_xlabel("concurrent conversations")
    a2.set_ylabel("turns per second")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    fig.suptitle(f"Bot reply: bridge vs Rasa REST ({r['rasa']} Rasa, {r['machine']['cores']} cores)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def plot_curve(r: dict[str, Any], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, c in r["curve"].items():
        convs = c["per_turn_ms"]
        n = min(len(s) for s in convs)
        per_turn = [median([s[i] for s in convs]) for i in range(n)]
        w = 5
        smooth = [median(per_turn[max(0, i - w):i + w + 1]) for i in range(n)]
        ax.plot(range(n), per_turn, ".", alpha=0.25)
        ax.plot(range(n), smooth, "-", label=LABELS[label].replace("`", ""), color=ax.lines[-1].get_color())
    ax.set_xlabel("turn of the conversation")
    ax.set_ylabel("time per turn, ms (REST round trip)" if r["mode"] == "rest" else "time per turn, ms")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Cost of a bot turn against conversation length (dots: turns; line: running median)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def plot_memory(r: dict[str, Any], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = r["connections"]["steps"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([s["connections"] for s in steps], [s["rss_mb"] for s in steps], "o-", label="bridge RSS")
    ax.axhline(1024, color="tab:red", linestyle="--", label="goal: 1 GB")
    ax.set_xlabel("connected widgets (WebSocket, one session each)")
    ax.set_ylabel("RSS of the bridge process, MB")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Memory of one bridge process against connections")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def plot_scale(r: dict[str, Any], out: Path) -> None:
    """Bot-turn throughput (median of rounds, each round a dot) and p50/p99 against
    concurrency, one Rasa server against two."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    res = r["rasa_servers"]["results"]
    levels = sorted(res, key=int)
    x = [int(v) for v in levels]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for arm, color, label, shift in (("1", "tab:blue", "1 Rasa server", 0.97),
                                     ("2", "tab:green", "2 Rasa servers", 1.03)):
        a1.plot(x, [res[k][arm]["throughput_per_s"] for k in levels], "o-", color=color, label=label)
        for k in levels:
            rounds = [rd["throughput"] for rd in res[k][arm]["rounds"]]
            a1.plot([int(k) * shift] * len(rounds), rounds, ".", color=color, alpha=0.5)
        a2.plot(x, [res[k][arm]["latency_ms"]["p50"] for k in levels], "o-", color=color, label=f"{label}, p50")
        a2.plot(x, [res[k][arm]["latency_ms"]["p99"] for k in levels], "s--", color=color, label=f"{label}, p99")
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x])
        ax.minorticks_off()
        ax.set_xlabel("concurrent conversations")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    a1.set_ylim(bottom=0)
    a1.set_ylabel("bot turns per second (line: median; dots: rounds)")
    a2.set_ylim(bottom=0)
    a2.set_ylabel("bot reply latency through the bridge, ms")
    fig.suptitle(f"Bot turns through the bridge: one Rasa server against two ({r['machine']['cores']} cores, shared)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------------------- sections

def section_machine(found: dict[str, dict[str, Any]]) -> str:
    any_r = next(iter(found.values()))
    m = any_r["machine"]
    lines = ["## Machine and method", "",
             f"- Machine: {m['cpu'] or 'unknown CPU'}, **{m['cores']} cores, shared** with other engineers' "
             f"test runs, {m['memory_gb']} GB RAM, Linux {m['kernel']}. Everything (clients, bridge, Rasa, "
             "action server, Redis) runs on this one machine over 127.0.0.1, so clients and servers compete "
             "for the same two cores.",
             "- Noisy by nature: figures are medians and ratios of arms measured side by side in the same "
             "run, interleaved round by round; read absolute milliseconds with the load average next to them.",
             "- Runs behind these figures:"]
    for name, r in found.items():
        lines.append(f"  - `{name}`: `{r['command']}`{' (quick)' if r['quick'] else ''}, {load_line(r)}; "
                     f"code at {r.get('git', 'unknown')}")
    lines += ["- All benchmarks at once: `make bench` (= `bash bench/run.sh`), which also re-renders this page "
              "(`.venv-bridge/bin/python bench/report.py`). Raw results: `bench/results/*.json`.", ""]
    return "\n".join(lines)


def section_goals(lat, tc, cap) -> str:
    rows = []
    if lat:
        for level, v in sorted(lat["results"].items(), key=lambda kv: int(kv[0])):
            c = v["comparison"]
            rows.append([f"bridge adds <= 2 ms at p50 ({level} conversations)", f"{fmt(c['overhead_p50_ms'], 1)} ms",
                         met(c["goal_overhead_met"]) + (" (the difference is below the noise)"
                                                        if (c["overhead_p50_ms"] or 0) < 0 else "")])
        for level, v in sorted(lat["results"].items(), key=lambda kv: int(kv[0])):
            c = v["comparison"]
            rows.append([f"bridge keeps >= 95% of direct throughput ({level} conversations)",
                         f"{fmt(c['throughput_ratio'] * 100 if c['throughput_ratio'] else None, 0)}%",
                         met(c["goal_throughput_met"])])
    if tc:
        g = tc["goals"]
        vals = ", ".join(f"x{v} at {k}" for k, v in g["throughput_ratio"]["value"].items() if v)
        rows.append(["our config >= 2x the default's throughput", vals or "-", met(g["throughput_ratio"]["met"])])
        acc = g["accuracy_not_worse"]["value"]
        rows.append(["with equal or better intent accuracy",
                     ", ".join(f"{LABELS[k]} {v:.3f}" for k, v in acc.items()), met(g["accuracy_not_worse"]["met"])])
    if cap:
        g = cap["goals"]
        rows.append(["10,000 connected widgets on one bridge process", f"{g['connections']['value']:,}",
                     met(g["connections"]["met"])])
        rows.append(["with RSS <= 1 GB", f"{g['rss_mb']['value']} MB", met(g["rss_mb"]["met"])])
        rows.append(["agent -> visitor relay p99 <= 50 ms",
                     ", ".join(f"{v} ms at {int(k):,}" for k, v in g["relay_p99_ms"]["value"].items()),
                     met(g["relay_p99_ms"]["met"])])
        rows.append(["escalation -> console notification p99 <= 20 ms",
                     ", ".join(f"{v} ms at {int(k):,}" for k, v in g["escalation_p99_ms"]["value"].items()),
                     met(g["escalation_p99_ms"]["met"])])
        rows.append(["no double assignment in the claims race", f"{g['no_double_assignment']['value']} found",
                     met(g["no_double_assignment"]["met"])])
    rows += nlu_goal_rows()
    return "## Goals at a glance\n\n" + table(["goal", "measured", ""], rows) + "\n"


def nlu_results() -> list[tuple[Path, dict[str, Any]]]:
    """The finished NLU benchmark results (smoke runs left out), with their files."""
    found = []
    for path in sorted(NLU_RESULTS.glob("*.json")) if NLU_RESULTS.is_dir() else []:
        try:
            d = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("status") == "done" and not d.get("smoke"):
            found.append((path, d))
    return found


def nlu_goal_rows() -> list[list[str]]:
    """The NLU goals against the best test result of our pipelines (bench/nlu/results)."""
    found = [d for _, d in nlu_results() if not d.get("dev") and str(d.get("pipeline", "")).startswith("ours")]
    rows = []
    banking = [d for d in found if d["dataset"] == "banking77" and "accuracy" in d]
    if banking:
        best = max(banking, key=lambda d: d["accuracy"])
        rows.append(["BANKING77 test accuracy >= 93.7%", f"{100 * best['accuracy']:.2f}% ({best['pipeline']})",
                     met(best["accuracy"] >= 0.937)])
    clinc = [d for d in found if d["dataset"] == "clinc150" and "inscope_accuracy" in d]
    if clinc:
        def score(d):
            return (d["inscope_accuracy"] >= 0.969 and d["oos_recall"] >= 0.66, d["inscope_accuracy"])
        best = max(clinc, key=score)
        rows.append(["CLINC150 in-scope >= 96.9% with out-of-scope recall >= 66%",
                     f"{100 * best['inscope_accuracy']:.2f}% / {100 * best['oos_recall']:.1f}% ({best['pipeline']})",
                     met(score(best)[0])])
    return rows


def section_latency_floor(r: dict[str, Any] | None) -> str:
    if r is None:
        return ""
    rows = []
    for level, v in sorted(r["results"].items(), key=lambda kv: int(kv[0])):
        d, b, c = v["direct"], v["bridge"], v["comparison"]
        rows.append([level, d["latency_ms"]["p50"], b["latency_ms"]["p50"], c["overhead_p50_ms"], d["latency_ms"]["p99"],
                     b["latency_ms"]["p99"], d["throughput_per_s"], b["throughput_per_s"],
                     b["cpu_ms_per_turn"].get("bridge")])
    return "\n".join([
        "### The bridge's own floor: the same against an instant fake Rasa", "",
        f"Command: `{r['command']}` ({load_line(r)}). The fake Rasa (`tests/support/fake_rasa.py` in its own "
        "process) answers at once, so this is what the bridge itself costs per turn when Rasa costs nothing:", "",
        table(["conversations", "direct p50 ms", "bridge p50 ms", "bridge - direct p50 ms", "direct p99 ms",
               "bridge p99 ms", "direct turns/s", "bridge turns/s", "bridge CPU ms/turn"], rows), ""])


def section_latency(r: dict[str, Any] | None, doc: Path, img: Path, notes: dict[str, str],
                    floor: dict[str, Any] | None = None) -> str:
    head = "## 1. Bot reply through the bridge against Rasa's REST channel\n\n"
    if r is None:
        return head + "Not run yet: `.venv-bridge/bin/python bench/latency.py`.\n"
    png = img / "latency_vs_concurrency.png"
    plot_latency(r, png)
    rows = []
    for level, v in sorted(r["results"].items(), key=lambda kv: int(kv[0])):
        for arm in ("direct", "bridge"):
            a = v[arm]
            rows.append([level, "Rasa REST directly" if arm == "direct" else "through the bridge (Socket.IO)",
                         a["turns"], a["latency_ms"]["p50"], a["latency_ms"]["p99"], a["latency_ms"]["mean"],
                         a.get("webhook_mean_ms_seen_by_bridge"), a.get("bridge_own_mean_ms"), a["throughput_per_s"],
                         a["cpu_ms_per_turn"].get("rasa"), a["cpu_ms_per_turn"].get("actions"),
                         a["cpu_ms_per_turn"].get("bridge"), a["errors"]])
        c = v["comparison"]
        rows.append([level, "**bridge - direct**", "", c["overhead_p50_ms"], c["overhead_p99_ms"], "", "", "",
                     f"x{c['throughput_ratio']}", "", "", "", ""])
    text = [head,
            f"Command: `{r['command']}` ({r['rasa']} Rasa{', model ' + r['model'] if r.get('model') else ''}). "
            f"{len(r['levels'])} concurrency levels x {r['rounds']} rounds x {r['round_seconds']:.0f} s per path, "
            "the two paths alternating round by round (the order flips every round). One Rasa server + action "
            "server (SQLite tracker store), one bridge process (`python -m handoff`, embedded store, rate limits "
            "lifted because every client is 127.0.0.1) in front of the same Rasa server, and one load-generating "
            "process. Every conversation is a closed loop (no think time) over a fixed cycle of 10 messages with 10 "
            "intents, one reply each (greetings and small talk from responses, knowledge-base answers and a "
            "product question from the action server); after 10 turns it starts a new conversation, so every "
            "turn is one of turns 0-10. Latency: direct = the webhook POST round trip; bridge = `user_uttered` "
            "sent to the bot's `bot_uttered` received. CPU columns: CPU milliseconds each process spent per "
            "completed turn (psutil, whole rounds).",
            "Two more columns split the bridge's latency: the mean of the webhook calls as the bridge itself "
            "timed them (its `/metrics` histogram `handoff_rasa_latency_seconds`, read before and after every "
            "round), and what is left of the visitor's mean latency after that call: the bridge's own part "
            "(Socket.IO in and out, the store, the emits: `visitor_uttered` and `bot_uttered`, plus `typing` on "
            "and off in turns where Rasa takes longer than `HANDOFF_BOT_TYPING_DELAY_S`, 0.3 s) plus the time "
            "the processes wait for a core.",
            "", table(["conversations", "path", "turns", "p50 ms", "p99 ms", "mean ms", "webhook mean ms (bridge's view)",
                       "bridge's own mean ms", "turns/s", "Rasa CPU ms/turn",
                       "actions CPU ms/turn", "bridge CPU ms/turn", "errors"], rows), "",
            f"![latency and throughput against concurrency]({img_rel(doc, png)})", ""]
    cores = r["machine"]["cores"] or 2
    rows = []
    for level, v in sorted(r["results"].items(), key=lambda kv: int(kv[0])):
        cells = [level]
        for arm in ("direct", "bridge"):
            cpu = v[arm]["cpu_ms_per_turn"]
            total = sum(x for x in cpu.values() if x)
            cells += [f"{total:.1f}", f"{cores * 1000 / total:.0f}" if total else "-", v[arm]["throughput_per_s"]]
        rows.append(cells)
    text += ["CPU per turn of all processes together (Rasa, action server, bridge, load generator) and the "
             f"throughput that would fill all {cores} cores with it, against what was measured:", "",
             table(["conversations", "direct: CPU ms/turn", "direct: CPU-bound turns/s", "direct: measured turns/s",
                    "bridge: CPU ms/turn", "bridge: CPU-bound turns/s", "bridge: measured turns/s"], rows), ""]
    floor_text = section_latency_floor(floor)
    if floor_text:
        text += [floor_text]
    if notes.get("latency"):
        text += [notes["latency"], ""]
    return "\n".join(text)


def section_turn_cost(r: dict[str, Any] | None, doc: Path, img: Path, notes: dict[str, str]) -> str:
    head = "## 2. Cost of a bot turn: our config against Rasa's default\n\n"
    if r is None:
        return head + "Not run yet: `.venv-bridge/bin/python bench/turn_cost.py`.\n"
    png = img / "turn_cost_curve.png"
    plot_curve(r, png)
    models = r.get("models", {})
    text = [head, f"Command: `{r['command']}` (mode: {r['mode']}). "
            "Both models are trained on the same `data/` and `domain.yml`; ours with `config.yml`, the default with "
            "`bench/configs/rasa_default.yml` (exactly what `rasa init` writes: no pipeline or policies given, so "
            "Rasa 3.6 uses its defaults: DIET 100 epochs, ResponseSelector, FallbackClassifier 0.3; "
            "MemoizationPolicy, RulePolicy, UnexpecTEDIntentPolicy and TEDPolicy, 100 epochs each). Our config "
            "also runs `bot.policy.EscalationPolicy` (the escalation detector with VADER on every turn); the "
            "default does not, so the comparison does not flatter ours. Both Rasa servers (each with its own "
            "action server and SQLite tracker store) are up during the whole run and measured in alternating "
            "rounds.", ""]
    if models:
        text += [table(["model", "cache file", "training time", "cached this run"],
                       [[LABELS[k], f"`{v.get('path')}`", f"{v.get('train_time_s')} s" if v.get("train_time_s") else "-",
                         v.get("cached")] for k, v in models.items()]),
                 "", "Models are cached by a hash of data/, domain.yml, the config and the Rasa version "
                 "(`var/bench/models/`), so reruns do not train; training times were measured when the cache was "
                 "filled, on the same shared machine.", ""]
    rows = []
    for level, v in sorted(r["throughput"].items(), key=lambda kv: int(kv[0])):
        for label in ("ours", "rasa_default"):
            if label in v:
                a = v[label]
                rows.append([level, LABELS[label], a["turns"], a["latency_ms"]["p50"], a["latency_ms"]["p99"],
                             a["throughput_per_s"], a.get("rasa_cpu_ms_per_turn")])
        if v.get("throughput_ratio"):
            rows.append([level, "**ours / default**", "", "", "", f"x{v['throughput_ratio']}", ""])
    text += ["### Throughput and latency (turns 0-10 of fresh conversations, REST channel)", "",
             table(["conversations", "config", "turns", "p50 ms", "p99 ms", "turns/s", "Rasa CPU ms/turn"], rows), ""]
    if r["curve"]:
        windows = list(next(iter(r["curve"].values()))["windows"])
        rows = [[LABELS[label], *[c["windows"][w]["p50"] for w in windows]] for label, c in r["curve"].items()]
        if "ours" in r["curve"] and "rasa_default" in r["curve"]:
            rows.append(["default / ours", *[
                fmt(r["curve"]["rasa_default"]["windows"][w]["p50"] / r["curve"]["ours"]["windows"][w]["p50"], 2)
                if r["curve"]["ours"]["windows"][w]["p50"] else "-" for w in windows]])
        n_conv = len(next(iter(r["curve"].values()))["per_turn_ms"])
        text += ["### Turn cost against conversation length", "",
                 f"{n_conv} conversation(s) per config, one turn at a time (no concurrency), the two configs "
                 "interleaved turn by turn; median time of a turn (REST round trip) per window of turns:", "",
                 table(["config", *[f"turns {w}, p50 ms" for w in windows]], rows), "",
                 f"![turn cost against conversation length]({img_rel(doc, png)})", ""]
    if r["accuracy"]:
        rows = [[LABELS[k], a["n"], a["intents"], f"{a['accuracy']:.3f}", f"{a['accuracy_top_intent_ignoring_fallback']:.3f}",
                 a["parse_ms"]["p50"]] for k, a in r["accuracy"].items()]
        text += ["### Intent accuracy on the held-out set", "",
                 "`tests/bot/heldout_nlu.yml` (never trained on; a `nlu_fallback` counts as a miss), parsed in "
                 "process by `bench/rasa_helper.py accuracy`:", "",
                 table(["config", "examples", "intents", "accuracy", "top intent ignoring the fallback",
                        "parse p50 ms"], rows), ""]
    if r["profile"]:
        labels = list(r["profile"])
        comps: list[str] = []
        for label in labels:
            for k in r["profile"][label]["own_ms_per_turn"]:
                if k not in comps:
                    comps.append(k)
        rows = [[k, *[f"{r['profile'][lb]['own_ms_per_turn'].get(k, 0):.1f} ({r['profile'][lb]['own_time_share'].get(k, 0) * 100:.0f}%)"
                      for lb in labels]] for k in comps]
        rows.append(["**total (wall, per turn, under cProfile)**",
                     *[f"{r['profile'][lb]['wall_ms_per_turn']:.1f}" for lb in labels]])
        if all("unprofiled_wall_ms_per_turn" in r["profile"][lb] for lb in labels):
            rows.append(["same turns without cProfile: wall ms / CPU ms of the process",
                         *[f"{r['profile'][lb]['unprofiled_wall_ms_per_turn']:.1f} / "
                           f"{r['profile'][lb]['unprofiled_cpu_ms_per_turn']:.1f}" for lb in labels]])
        stages = list(next(iter(r["profile"].values()))["cumulative_ms_per_turn"])
        rows2 = [[s, *[r["profile"][lb]["cumulative_ms_per_turn"].get(s) for lb in labels]] for s in stages]
        prof0 = next(iter(r["profile"].values()))
        text += ["### Where a turn's time goes (profile)", "",
                 f"`bench/rasa_helper.py profile`: the Agent loaded with the project's endpoints (SQLite tracker "
                 f"store in a file, the running action server) in the Rasa environment; one conversation, "
                 f"turns {prof0['conversation_turns']} under cProfile (the turns before it unprofiled). Own time "
                 "of every function, grouped by where its code lives (ms per turn and share):", "",
                 table(["component", *[LABELS[lb] for lb in labels]], rows), "",
                 "Cumulative time of the processor's stages (ms per turn; they nest, so they do not add up):", "",
                 table(["stage", *[LABELS[lb] for lb in labels]], rows2), ""]
    if notes.get("turn_cost"):
        text += [notes["turn_cost"], ""]
    return "\n".join(text)


def section_bridge_profile(r: dict[str, Any] | None) -> str:
    if r is None:
        return ""
    rows = [[k, f"{v * 100:.1f}%"] for k, v in r["busy_share_by_component"].items()]
    rows2 = [[f"`{k}`", v["calls"], f"{(v['share_of_busy'] or 0) * 100:.1f}%"] for k, v in r["routing_cumulative"].items()]
    w = r["work"]
    return "\n".join([
        "### Where the bridge's CPU goes (profile)", "",
        f"Command: `{r['command']}`. The bridge process under cProfile counting its CPU time (not wall time), Redis "
        f"store, fake Rasa, while the clients above do {w.get('escalations')} escalations, {w.get('relays')} relays "
        f"and a claims race ({w.get('claim_attempts')} attempts by {w.get('agents')} agents for {w.get('claims')} "
        "conversations). "
        f"CPU time profiled: {r['busy_s']} s. Own time by component:", "",
        table(["component", "share of the bridge's CPU time"], rows), "",
        "Cumulative CPU time of the routing functions (nested: they do not add up):", "",
        table(["function", "calls", "share of the bridge's CPU time"], rows2), ""])


def section_capacity(r: dict[str, Any] | None, doc: Path, img: Path, notes: dict[str, str],
                     prof: dict[str, Any] | None = None) -> str:
    head = "## 3. Bridge capacity\n\n"
    if r is None:
        return head + "Not run yet: `.venv-bridge/bin/python bench/capacity.py`.\n"
    png = img / "memory_vs_connections.png"
    plot_memory(r, png)
    s = r["settings"]
    conn = r["connections"]
    rows = [[f"{x['connections']:,}", x["rss_mb"], x["fds"], x["connect_seconds"], x["failed"]] for x in conn["steps"]]
    text = [head, f"Command: `{r['command']}`. A fake Rasa process (`bench/fake_rasa_server.py`, i.e. "
            "`tests/support/fake_rasa.py`: echoes, and answers \"human please\" with a reply plus the handoff "
            "payload), so **Rasa's own time is not counted** (its HTTP round trips are); the bridge as "
            "`python -m handoff` with auto-assignment off and rate limits lifted (every client is 127.0.0.1); "
            f"{s['workers']} client processes holding the idle widgets, raw WebSocket clients speaking Socket.IO v5 / "
            "Engine.IO v4 text frames (`bench/eio.py`): each connects, sends `session_request` (so it has a "
            "conversation in the store), and stays connected answering pings. The open-files limit is raised "
            f"to the hard limit in every process (soft limit here: {r['nofile_soft_limit']:,}).", "",
            "### Connected widgets and memory (one bridge process, embedded store)", "",
            table(["connections", "bridge RSS MB", "open fds", "seconds to connect this step", "failed"], rows), "",
            f"About **{conn['rss_kb_per_connection']} KB of bridge RSS per connected widget** "
            f"(RSS growth / connections at {conn['max_connected']:,}).", "",
            f"![memory against connections]({img_rel(doc, png)})", ""]
    def fake_calls(v: dict[str, Any]) -> str:
        c = v.get("fake_rasa_calls_seen_by_bridge") or {}
        return ", ".join(f"{k} {c[k]['mean_ms']}" for k in ("webhook", "events") if k in c) or "-"

    rows = [[f"{int(k):,}", v["escalation_ms"]["n"], v["escalation_ms"]["p50"], v["escalation_ms"]["p99"],
             v.get("escalation_under_relay_load_ms", {}).get("p50"), v.get("escalation_under_relay_load_ms", {}).get("p99"),
             v["relay_ms"]["n"], v["relay_ms"]["p50"], v["relay_ms"]["p99"], fake_calls(v), v["errors"]]
            for k, v in sorted(r["latency"].items(), key=lambda kv: int(kv[0]))]
    text += ["### Escalation and relay latency while holding the connections", "",
             "Measured from this process while the workers hold the idle widgets, with 5 agent consoles connected "
             f"(embedded store). Escalation: {s.get('escalations')} times one after the other, a visitor sends "
             "\"human please\" and the time runs until the first agent console gets the `queue` event naming the "
             "conversation (bridge -> fake Rasa webhook -> handoff payload -> queued -> fake Rasa `pause` -> queue "
             "pushed to the agents); an agent then claims and closes it (untimed). Relay: "
             f"{s['conversations']} visitors in parallel, each {s['rounds']} times: escalate (timed too: "
             "\"among relays\"), be claimed, receive "
             f"{s['relays']} agent messages one after the other, each timed from the agent's `message` emit to the "
             "visitor's `bot_uttered`, be closed: a stress load of back-to-back agent messages in "
             f"{s['conversations']} chats at once.", "",
             table(["connections", "escalations", "escalation p50 ms", "escalation p99 ms",
                    "escalation among relays p50 ms", "among relays p99 ms", "relayed messages",
                    "relay p50 ms", "relay p99 ms", "fake Rasa calls, mean ms (bridge's view)", "errors"], rows), "",
             "An escalation makes two fake-Rasa calls on its path (the webhook, then `pause` through the tracker "
             "events endpoint); their mean duration as the bridge timed them is in the last but one column. An "
             "agent message is written into Rasa's tracker after it has been sent to the visitor, so the relay "
             "time holds no Rasa call.", ""]
    rows = []
    for k, v in r["claims"].items():
        rel = r["two_bridges"]["relay"][k]
        rows.append([k, v["agents"], v["conversations"], v["claimed"], v["claims_per_s"], v["attempts_per_s"],
                     v["refused"], v["double_assignments"], v["store_mismatches"],
                     rel["relay_ms"]["p50"], rel["relay_ms"]["p99"], rel["escalation_ms"]["p50"], rel["escalation_ms"]["p99"]])
    text += ["### Claims on Redis with agents racing; two bridge processes against one", "",
             "A throwaway `redis-server` (`tests/support/processes.RedisServer`) as the store and Socket.IO "
             "manager. The queue is filled straight through the store API with conversations waiting for an agent; "
             f"then {next(iter(r['claims'].values()))['agents']} agent consoles, all at once, claim every queued "
             "conversation **in the same order** (the worst race: every agent goes for the same chat), one claim at "
             "a time each. Counted: claims acknowledged as won per conversation (double assignment = more than "
             "one), and afterwards the owner in the store against the winner's ack (store mismatch). claims/s = "
             "conversations won / time of the race; attempts/s counts refused claims too. With two bridges the "
             "agents alternate between them. The relay and escalation columns repeat the measurement above on "
             "Redis (visitors on the first bridge, agents on the last, so with two bridges every relay crosses "
             "processes through Redis pub/sub).", "",
             table(["bridges on one Redis", "agents", "queued", "claimed", "claims/s", "claim attempts/s", "refused",
                    "double assignments", "store mismatches", "relay p50 ms", "relay p99 ms", "escalation p50 ms",
                    "escalation p99 ms"], rows), ""]
    prof_text = section_bridge_profile(prof)
    if prof_text:
        text += [prof_text]
    if notes.get("capacity"):
        text += [notes["capacity"], ""]
    return "\n".join(text)


def section_nlu(doc: Path) -> str:
    lines = ["## 4. NLU accuracy on public data sets (BANKING77, CLINC150)", "",
             "Owned by the NLU benchmark (`bench/nlu/`); the full write-up, method and rules are in "
             + (f"[benchmarks-nlu.md]({img_rel(doc, NLU_DOC)})" if NLU_DOC.is_file() else
                "`docs/benchmarks-nlu.md` (not written yet)") +
             ". `bash bench/run.sh` runs its smoke entry (`bench/nlu/smoke.py`) only: its full runs train for "
             "up to an hour each and are run separately. Headline figures from `bench/nlu/results/` at the time "
             "this page was rendered:", ""]
    rows = []
    for path, d in nlu_results():
        if str(d.get("pipeline", "")).endswith("_probe"):
            epochs = ", ".join(str(len(run)) for run in d.get("epoch_s") or [])
            figure = (f"timing probe ({epochs} epochs; its accuracy is not a result): inference "
                      f"{d['inference_ms']['median']} ms median")
        else:
            figure = (f"accuracy {d['accuracy']:.4f}" if "accuracy" in d else
                      f"in-scope {d.get('inscope_accuracy')}, out-of-scope recall {d.get('oos_recall')}"
                      if "inscope_accuracy" in d else "-")
        rows.append([f"`{path.name}`", d.get("dataset"), d.get("pipeline"), d.get("evaluated_on", "test"), figure,
                     d.get("train_time_s")])
    if rows:
        lines += [table(["file", "data set", "pipeline", "evaluated on", "result", "training s"], rows), ""]
    else:
        lines += ["(no finished result files yet)", ""]
    return "\n".join(lines)


def section_designer_loop(r: dict[str, Any] | None) -> str:
    lines = ["## 5. Designer loop: from an edit to the new model answering", "",
             "`.venv-bridge/bin/python bench/designer_loop.py`: a response is reworded in a copy of the training "
             "files, then what `make ship` does: `rasa train` (reusing Rasa's cache of unchanged components), "
             "`PUT /model` into the running Rasa server, and a message until the new wording comes back. A "
             "conversation started before the edits continues on the new model.", ""]
    if not r:
        return "\n".join(lines + ["(not run yet)", ""])
    med = r["median_s"]
    lines += [load_line(r), "",
              table(["step", "median s"], [["train", f"{med['train_s']:.1f}"], ["load (PUT /model)", f"{med['load_s']:.1f}"],
                                           ["first new answer", f"{med['first_answer_s']:.1f}"],
                                           ["edit to live", f"{med['edit_to_live_s']:.1f}"]]),
              "", f"Rounds: {len(r['rounds'])}; the earlier conversation kept its history: "
              f"{'yes' if r.get('conversation_kept') else 'NO'}. Training dominates: Rasa retrains the NLU "
              "pipeline and the policies whenever the domain changes; loading the model takes well under a second.", ""]
    return "\n".join(lines)


def _busy(cpu: dict[str, Any]) -> str:
    share = cpu.get("machine_busy_share")
    return "-" if share is None else f"{share * 100:.0f}%"


def _cores(cpu: dict[str, Any], *procs: str) -> float:
    return sum(cpu["cores_used"].get(p) or 0.0 for p in procs)


def _ms(cpu: dict[str, Any], *procs: str) -> float | None:
    vals = [cpu["ms_per_unit"].get(p) for p in procs if cpu["ms_per_unit"].get(p) is not None]
    return round(sum(vals), 1) if vals else None


def _span(values: list[float], scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    vals = sorted(v * scale for v in values if v is not None)
    if not vals:
        return "-"
    lo, hi = f"{vals[0]:.{digits}f}", f"{vals[-1]:.{digits}f}"
    return (lo if lo == hi else f"{lo}-{hi}") + unit


def section_scale(r: dict[str, Any] | None, doc: Path, img: Path, notes: dict[str, str]) -> str:
    head = "## 6. Scale-out: a second Rasa server, a second bridge\n\n"
    if r is None:
        return head + "Not run yet: `.venv-bridge/bin/python bench/scale.py`.\n"
    cores = r["machine"]["cores"] or 2
    text = [head.rstrip("\n"), "", f"Command: `{r['command']}` ({'quick run, ' if r['quick'] else ''}{load_line(r)}). "
            "Both comparisons "
            "were measured side by side in this one run: the two arms of each alternate round by round, the order "
            "flipping every round, so the machine's drifting load hits both alike. The CPU columns come from psutil, "
            "per process and per round; \"others\" is the whole machine's busy time (every process, other "
            "engineers' test runs included) minus ours.", ""]
    rs = r.get("rasa_servers")
    if rs:
        res = rs["results"]
        png = img / "scale_throughput.png"
        plot_scale(r, png)
        rows = []
        for level, v in sorted(res.items(), key=lambda kv: int(kv[0])):
            for arm in ("1", "2"):
                a = v[arm]
                rows.append([level, arm, a["turns"], a["throughput_per_s"], a["latency_ms"]["p50"],
                             a["latency_ms"]["p99"], " / ".join(f"{n}" for n in a["turns_per_server"].values()),
                             a["errors"]])
            c = v["comparison"]
            rows.append([level, "**2 / 1**", "", f"x{c['throughput_ratio']} (rounds paired: "
                         f"x{fmt(c['throughput_ratio_paired_median'], 2)})", f"x{c['p50_ratio']}", f"x{c['p99_ratio']}",
                         "", ""])
        setup = rs["setup"]
        text += ["### Bot turns: one Rasa server against two", "",
                 "Two Rasa servers with the trained model (`models/supportline.tar.gz`), each with its action server "
                 "(`tests/support/rasa_stack.py`), on one PostgreSQL tracker store (a fresh database per run, dropped "
                 "afterwards; Rasa's tables made once before both servers start) and one Redis lock store (a "
                 "throwaway `redis-server`; `bot.lock_store.AtomicRedisLockStore`). Both servers run for the whole "
                 "part; two bridge processes (embedded store) sit in front of them: one with `HANDOFF_RASA_URL` "
                 "naming the first server only, one naming both (each conversation sticks to one server, chosen by "
                 "rendezvous hashing of its id). So the arms share model, stores and processes, and differ only in "
                 "the number of Rasa servers the bridge spreads conversations over. Load: bench/latency.py's "
                 "closed-loop Socket.IO visitors (no think time, the fixed cycle of 10 messages with 10 intents, a "
                 f"new conversation every 10 turns), {len(rs['levels'])} concurrency level(s) x {rs['rounds']} "
                 f"rounds x {rs['round_seconds']:.0f} s per arm. turns/s: median of the rounds; p50/p99: all turns "
                 "of the arm pooled; turns per server: as the bridge's rendezvous order sends them "
                 f"(the two Rasa servers took {setup.get('rasa_start_s')} s to load their models side by side).", "",
                 table(["conversations", "Rasa servers", "turns", "turns/s", "p50 ms", "p99 ms", "turns per server",
                        "errors"], rows), "",
                 f"![throughput and latency against concurrency, one and two Rasa servers]({img_rel(doc, png)})", ""]
        rows = []
        busy, ours, others = [], [], []
        for level, v in sorted(res.items(), key=lambda kv: int(kv[0])):
            for arm in ("1", "2"):
                cpu = v[arm]["cpu"]
                busy.append(cpu["machine_busy_share"])
                ours.append(cpu["ours_cores_used"])
                others.append(cpu["others_cores_used"])
                all_ms = _ms(cpu, *cpu["ms_per_unit"])
                rows.append([level, arm, _ms(cpu, "rasa1", "rasa2"), _ms(cpu, "actions1", "actions2"),
                             _ms(cpu, "bridge_1rasa", "bridge_2rasa"), _ms(cpu, "postgres"), _ms(cpu, "redis"),
                             _ms(cpu, "client"), all_ms, f"{cores * 1000 / all_ms:.0f}" if all_ms else "-",
                             v[arm]["throughput_per_s"], f"{_cores(cpu, 'rasa1'):.2f} / {_cores(cpu, 'rasa2'):.2f}",
                             fmt(cpu["ours_cores_used"], 2), fmt(cpu["others_cores_used"], 2), _busy(cpu)])
        text += ["CPU during those rounds: milliseconds per turn by process (Rasa servers together, action servers "
                 "together, the bridges, the PostgreSQL backends of the database, the lock store's Redis, the load "
                 f"generator) and all together; the turns per second that would fill all {cores} cores at that cost, "
                 "against the measured ones; then cores in use (CPU seconds per second, median of the rounds):", "",
                 table(["conversations", "Rasa servers", "Rasa ms/turn", "actions ms/turn", "bridge ms/turn",
                        "PostgreSQL ms/turn", "Redis ms/turn", "load generator ms/turn", "all ms/turn",
                        f"CPU-bound turns/s ({cores} cores)", "measured turns/s", "cores: Rasa 1 / Rasa 2",
                        "cores: all ours", "cores: others", "machine busy"], rows), "",
                 f"Over these rounds the machine's {cores} cores were {_span(busy, 100, 0, '%')} busy; the benchmark's "
                 f"processes used {_span(ours)} cores and everything else on the machine {_span(others)}.", ""]
    br = r.get("bridges")
    if br:
        res = br["results"]
        rows = []
        for arm in ("1", "2"):
            a = res[arm]
            cpu = a["cpu"]
            bridge_cores = (f"{_cores(cpu, 'bridge_single'):.2f}" if arm == "1" else
                            f"{_cores(cpu, 'bridge_pair1'):.2f} + {_cores(cpu, 'bridge_pair2'):.2f}")
            bridge_ms = _ms(cpu, "bridge_single") if arm == "1" else _ms(cpu, "bridge_pair1", "bridge_pair2")
            rows.append([arm, f"{a['widgets']:,}", a["relays"], a["relay_p50_ms"], a["relay_p99_ms"],
                         a["relay_mean_ms"], a["escalation_p50_ms"], bridge_ms, bridge_cores,
                         fmt(cpu["ours_cores_used"], 2), fmt(cpu["others_cores_used"], 2), _busy(cpu), a["errors"]])
        c = res["comparison"]
        rows.append(["**2 / 1**", "", "", f"x{c['p50_ratio']}", f"x{c['p99_ratio']}", "", "", "", "", "", "", "", ""])
        text += ["### Agent -> visitor relay: one bridge against two on one Redis", "",
                 "A fake Rasa (`bench/fake_rasa_server.py`): no Rasa call is on the relay path (an agent's message "
                 "goes to the visitor first and into Rasa's tracker afterwards, in the background), and escalating "
                 "needs a handoff answer at once. One `redis-server` holds the store and the Socket.IO pub/sub of "
                 "three bridge processes: one alone (its own key prefix and channel) and a pair sharing theirs; all "
                 f"three run for the whole part. Idle widgets (`bench/capacity.py`'s worker processes) hold "
                 f"{br['widgets']:,} connections on each arm: all on the single bridge, half on each bridge of the "
                 f"pair. Each of {br['rounds']} rounds per arm is `bench/capacity.handoff_round_trips`: {br['chats']} "
                 f"chats at once, each {'once' if br['chat_rounds'] == 1 else str(br['chat_rounds']) + ' times'}: "
                 "escalate, be claimed, receive "
                 f"{br['relays_per_chat']} agent messages one after the other (each timed from the agent's emit to "
                 "the visitor's `bot_uttered`), be closed. On the pair the visitors are on one bridge and the agents "
                 "(5 consoles) on the other, alternating which, so every message crosses processes through Redis; on "
                 "the single bridge both are on it. Figures are medians of the rounds' p50, p99 and mean.", "",
                 table(["bridges", "idle widgets", "relays", "relay p50 ms", "relay p99 ms", "relay mean ms",
                        "escalation p50 ms", "bridge CPU ms/relay", "bridge cores", "cores: all ours", "cores: others",
                        "machine busy", "errors"], rows), "",
                 "Bridge CPU per relay counts everything the bridges did in the round (escalations, claims, closes, "
                 "pings of the idle widgets), divided by the relayed messages.", ""]
    if notes.get("scale"):
        text += [notes["scale"], ""]
    return "\n".join(text)


def section_event_loop(r: dict[str, Any] | None, notes: dict[str, str]) -> str:
    head = "## 7. Event loop: uvloop against asyncio\n\n"
    if not r:
        return head + "Not run yet: `.venv-bridge/bin/python bench/event_loop.py`.\n"
    text = [head.rstrip(), "",
            f"Command: `{r['command']}`. {load_line(r)}. Two bridge processes that differ only in "
            "`HANDOFF_EVENT_LOOP`, each on the embedded store holding the same idle widgets, one fake Rasa; "
            "rounds alternate the arms. Each round: escalations one at a time, then visitors in parallel "
            "escalating, being claimed and receiving agent messages back to back (as in section 3). The CPU "
            "column is the bridge's CPU time over the whole round divided by the messages relayed in it.", "",
            r["table"].split("\n", 1)[1] if r["table"].startswith("Bridge on") else r["table"], ""]
    if notes.get("event_loop"):
        text += [notes["event_loop"], ""]
    return "\n".join(text)


def section_smoke() -> str:
    return "\n".join([
        "## Smoke test", "",
        "`tests/bench/test_perf_smoke.py` (bridge environment, part of the full test suite) runs each benchmark "
        "with `--quick` into a temporary directory and checks that it finishes and writes its JSON with the "
        "expected fields; it asserts no timings. Quick modes: latency against the fake Rasa (levels 1 and 5, "
        "1-second rounds); turn cost with our model only, in process (a load of the model, 12 turns, 20 held-out "
        "examples, a 4-turn profile); capacity with 60 connections, 6 agents racing for 6 conversations, one "
        "and two bridges on Redis; the bridge profile with 3 chats and 6 claims. The report renderer runs on "
        "those files too. About 40 s on a quiet machine, 2-3 minutes under load. "
        "`tests/bench/test_scale_smoke.py` does the same for `bench/scale.py --quick` (4 conversations, two 3-second "
        "rounds per arm; 50 widgets, two relay rounds per arm) and checks that every arm produced answers: a few "
        "minutes, most of it the two Rasa servers loading their models. The same file runs "
        "`bench/event_loop.py --quick` (40 widgets per bridge, two rounds per arm).", ""])


def render(results: Path, doc: Path, img: Path, notes_file: Path | None) -> str:
    img.mkdir(parents=True, exist_ok=True)
    lat, tc, cap = load(results, "latency"), load(results, "turn_cost"), load(results, "capacity")
    bprof = load(results, "bridge_profile")
    lat_floor = load(results, "latency_fake_rasa")
    scale = load(results, "scale")
    event_loop = load(results, "event_loop")
    found = {k: v for k, v in (("latency", lat), ("latency_fake_rasa", lat_floor), ("turn_cost", tc),
                               ("capacity", cap), ("bridge_profile", bprof), ("scale", scale),
                               ("event_loop", event_loop)) if v}
    notes: dict[str, str] = {}
    if notes_file and notes_file.is_file():
        current = None
        for line in notes_file.read_text().splitlines():
            if line.startswith("<!-- section: ") and line.endswith(" -->"):
                current = line[len("<!-- section: "):-4].strip()
                notes[current] = ""
            elif current:
                notes[current] += line + "\n"
        notes = {k: v.strip() for k, v in notes.items()}
    parts = ["# Performance benchmarks", "",
             "<!-- Generated by bench/report.py from bench/results/*.json and bench/notes.md; edit those, "
             "not this file. -->", "",
             "What the support front line costs and how far it goes on one small machine: the bridge's overhead "
             "on a bot reply, the cost of a bot turn with our Rasa config against Rasa's default, and how many "
             "widgets one bridge process holds. Each benchmark prints a table and writes a JSON file; this page "
             "is rendered from those files.", ""]
    if notes.get("summary"):
        parts += [notes["summary"], ""]
    if found:
        parts += [section_machine(found), section_goals(lat, tc, cap)]
    parts += [section_latency(lat, doc, img, notes, lat_floor), section_turn_cost(tc, doc, img, notes),
              section_capacity(cap, doc, img, notes, bprof), section_nlu(doc),
              section_designer_loop(load(results, "designer_loop")), section_scale(scale, doc, img, notes),
              section_event_loop(event_loop, notes), section_smoke()]
    if notes.get("not_done"):
        parts += ["## Not measured", "", notes["not_done"], ""]
    text = "\n".join(parts).rstrip() + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=str(RESULTS_DIR))
    p.add_argument("--doc", default=str(DOC))
    p.add_argument("--img", default=str(IMG))
    p.add_argument("--notes", default=str(PROJECT_ROOT / "bench" / "notes.md"))
    a = p.parse_args(argv)
    render(Path(a.results), Path(a.doc), Path(a.img), Path(a.notes))
    print(f"wrote {a.doc}")


if __name__ == "__main__":
    main()
