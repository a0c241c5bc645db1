"""Cost of a bot turn: our config.yml against Rasa's default config (the one `rasa init`
writes: DIET, TED and UnexpecTED, 100 epochs each; bench/configs/rasa_default.yml),
both trained on the same data/ and domain.yml, measured in the same run.

  .venv-bridge/bin/python bench/turn_cost.py            # full: two Rasa servers, REST
  .venv-bridge/bin/python bench/turn_cost.py --quick    # seconds: ours only, in-process

Full run:
  models      trained with `rasa train` into a temporary directory and cached under
              var/bench/models/<label>-<hash of data/, domain.yml, config, Rasa version>
              (bench/common.py cached_model), so reruns do not train
  servers     one Rasa server + action server per model (tests/support/rasa_stack.py,
              SQLite tracker store), both up during the whole run
  throughput  C closed-loop conversations (C = 1 and 10) over the REST channel, fresh
              conversations of 10 turns (so turns 0-10), rounds alternating ours /
              default: turns/s, p50/p99
  curve       per-turn time of long conversations (2 per model, 200 turns, the two models
              interleaved turn by turn), median per window of turns 0-10, 50-60, 100-110,
              150-160, 190-200
  accuracy    intent accuracy on tests/bot/heldout_nlu.yml (never trained on; a fallback
              is a miss), in the Rasa environment (bench/rasa_helper.py)
  profile     cProfile of 20 turns of one conversation at turns 50-70, inside a process
              that loads the Agent with the project's endpoints (SQLite tracker store, the
              running action server): own time by component, processor stages

--quick loads our model once in the Rasa environment and does a little of each
(in-process turns instead of REST, no default model: it takes minutes to train and to
load). Writes bench/results/turn_cost.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (DEFAULT_CONFIG, MESSAGES, OUR_CONFIG, OUR_MODEL, PROJECT_ROOT, RASA_VENV,  # noqa: E402
                          Run, median, print_table, ratio, summary, write_result)

GOAL_THROUGHPUT_RATIO = 2.0
LABELS = {"ours": "ours (config.yml)", "rasa_default": "Rasa default (rasa init)"}


def helper(what: str, model: Path, *extra: str, timeout: float = 1800) -> dict[str, Any]:
    """Run bench/rasa_helper.py in the Rasa environment; its JSON answer."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false",
           "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([str(RASA_VENV / "bin" / "python"), str(PROJECT_ROOT / "bench" / "rasa_helper.py"),
                           what, "--model", str(model), *extra], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"rasa_helper {what} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def windows_of(n: int, quick: bool) -> list[tuple[int, int]]:
    if quick:
        return [(0, 4), (4, 8), (8, 12)]
    return [(a, a + 10) for a in (0, 50, 100, 150, 190) if a + 10 <= n]


def window_medians(per_turn: list[list[float]], windows: list[tuple[int, int]]) -> dict[str, Any]:
    """Median (and p90) per window over every conversation's turns in that window."""
    out = {}
    for a, b in windows:
        vals = [x for conv in per_turn for x in conv[a:b]]
        s = summary(vals)
        out[f"{a}-{b}"] = {"p50": s["p50"], "p90": s["p90"], "n": s["n"]}
    return out


# ----------------------------------------------------------------------------- full run

def start_stacks(models: dict[str, Path]) -> dict[str, Any]:
    """Both Rasa stacks, started in parallel threads."""
    from tests.support.rasa_stack import RasaStack
    stacks = {label: RasaStack(model=path, start_timeout=600) for label, path in models.items()}
    errors: dict[str, BaseException] = {}

    def start(label: str) -> None:
        try:
            stacks[label].start()
        except BaseException as exc:  # noqa: BLE001
            errors[label] = exc

    threads = [threading.Thread(target=start, args=(label,)) for label in stacks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for s in stacks.values():
            s.stop()
        raise RuntimeError(f"Rasa did not start: {errors}")
    return stacks


async def rest_measurements(stacks: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    from bench.latency import Direct, run_round
    from bench.procs import CpuMeter
    arms = {label: Direct(s.url, s.token) for label, s in stacks.items()}
    for arm in arms.values():
        await arm.open(max(args.levels))
    out: dict[str, Any] = {"throughput": {}, "curve": {}}
    try:
        for arm in arms.values():
            await run_round(arm, 2, 60, 2 * len(MESSAGES))  # warm-up
        for level in args.levels:
            per: dict[str, Any] = {label: {"lat": [], "rounds": []} for label in arms}
            for r in range(args.rounds):
                order = list(arms) if r % 2 == 0 else list(reversed(arms))
                for label in order:
                    s = stacks[label]
                    meter = CpuMeter({"rasa": psutil.Process(s.rasa_proc.pid),
                                      "actions": psutil.Process(s.action_proc.pid)}).start()
                    res = await run_round(arms[label], level, args.seconds, 1_000_000)
                    cpu = meter.stop()
                    per[label]["lat"] += res["latencies"]
                    per[label]["rounds"].append({"round": r, "turns": res["turns"],
                                                 "throughput": round(res["throughput"], 2),
                                                 "p50": summary(res["latencies"])["p50"],
                                                 "errors": res["errors"], "cpu_s": cpu})
                    print(f"  C={level:<3} round {r} {label:<12} {res['turns']:>5} turns "
                          f"{res['throughput']:7.1f}/s p50 {summary(res['latencies'])['p50']} ms", flush=True)
            lvl: dict[str, Any] = {}
            for label, d in per.items():
                turns = sum(x["turns"] for x in d["rounds"])
                lvl[label] = {"latency_ms": summary(d["lat"]),
                              "throughput_per_s": round(median([x["throughput"] for x in d["rounds"]]) or 0, 2),
                              "turns": turns, "errors": sum(x["errors"] for x in d["rounds"]),
                              "rasa_cpu_ms_per_turn": round(sum(x["cpu_s"]["rasa"] for x in d["rounds"]) / turns * 1000, 2)
                              if turns else None,
                              "rounds": d["rounds"]}
            lvl["throughput_ratio"] = ratio(lvl["ours"]["throughput_per_s"], lvl["rasa_default"]["throughput_per_s"])
            out["throughput"][str(level)] = lvl
        # the curve: long conversations, the models interleaved turn by turn
        per_turn: dict[str, list[list[float]]] = {label: [] for label in arms}
        for c in range(args.curve_conversations):
            convs = {label: f"curve-{c}-{os.urandom(6).hex()}" for label in arms}
            series: dict[str, list[float]] = {label: [] for label in arms}
            for k in range(args.curve_turns):
                order = list(arms) if k % 2 == 0 else list(reversed(arms))
                for label in order:
                    series[label].append(round(await arms[label].turn(0, convs[label], MESSAGES[k % len(MESSAGES)]), 3))
            for label in arms:
                per_turn[label].append(series[label])
            print(f"  curve conversation {c}: " + ", ".join(
                f"{label} turns 0-10 {median(series[label][:10]):.1f} ms, last 10 {median(series[label][-10:]):.1f} ms"
                for label in arms), flush=True)
        windows = windows_of(args.curve_turns, False)
        for label in arms:
            out["curve"][label] = {"per_turn_ms": per_turn[label], "windows": window_medians(per_turn[label], windows)}
    finally:
        for arm in arms.values():
            await arm.close()
    return out


def full(args: argparse.Namespace, result: dict[str, Any]) -> None:
    from bench.common import cached_model
    models: dict[str, Path] = {}
    for label, cfg in (("ours", OUR_CONFIG), ("rasa_default", DEFAULT_CONFIG)):
        path, info = cached_model(cfg, label)
        models[label] = path
        result["models"][label] = info
        print(f"model {label}: {info['path']} ({'cached' if info['cached'] else 'trained now'}, "
              f"training took {info.get('train_time_s')} s)", flush=True)
    t0 = time.monotonic()
    stacks = start_stacks(models)
    result["server_start_s"] = round(time.monotonic() - t0, 1)
    try:
        rest = asyncio.run(rest_measurements(stacks, args))
        result["throughput"] = rest["throughput"]
        result["curve"] = rest["curve"]
        for label, path in models.items():
            print(f"  accuracy and profile of {label} (Rasa environment) ...", flush=True)
            both = helper("accuracy+profile", path, "--warm", str(args.profile_warm), "--turns",
                          str(args.profile_turns), "--action-url",
                          f"http://127.0.0.1:{stacks[label].action_port}/webhook")
            result["accuracy"][label] = both["accuracy"]
            result["profile"][label] = both["profile"]
    finally:
        for s in stacks.values():
            s.stop()


def quick(args: argparse.Namespace, result: dict[str, Any]) -> None:
    from bench.common import CACHE_DIR, training_hash
    cached = CACHE_DIR / "models" / f"ours-{training_hash(OUR_CONFIG)}.tar.gz"
    model = cached if cached.is_file() else OUR_MODEL
    if not model.is_file():
        raise RuntimeError(f"no trained model at {OUR_MODEL}: run 'bash scripts/train.sh'")
    result["models"]["ours"] = {"path": str(model.relative_to(PROJECT_ROOT)), "cached": True,
                                "hash": training_hash(OUR_CONFIG)}
    out = helper("quick", model, "--turns", "12", "--warm", "3", "--limit", "20", timeout=600)
    per_turn = out["turns"]["per_turn_ms"]
    result["throughput"]["1"] = {"ours": {"latency_ms": out["turns"]["latency_ms"],
                                          "throughput_per_s": round(1000 / (sum(per_turn) / len(per_turn)), 2),
                                          "turns": len(per_turn)},
                                 "throughput_ratio": None}
    result["curve"]["ours"] = {"per_turn_ms": [per_turn], "windows": window_medians([per_turn], windows_of(12, True))}
    result["accuracy"]["ours"] = out["accuracy"]
    result["profile"]["ours"] = out["profile"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--levels", default="1,10")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--curve-turns", type=int, default=200)
    p.add_argument("--curve-conversations", type=int, default=2)
    p.add_argument("--profile-warm", type=int, default=50)
    p.add_argument("--profile-turns", type=int, default=20)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    args.levels = [int(x) for x in args.levels.split(",")]
    run = Run("turn_cost", args.quick, ["bench/turn_cost.py", *(argv if argv is not None else sys.argv[1:])])
    result: dict[str, Any] = {"mode": "in-process" if args.quick else "rest", "models": {}, "throughput": {},
                              "curve": {}, "accuracy": {}, "profile": {}}
    if args.quick:
        quick(args, result)
    else:
        full(args, result)
    result = {**run.meta(), **result, "messages": MESSAGES,
              "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    # goals
    ratios = [v.get("throughput_ratio") for v in result["throughput"].values() if v.get("throughput_ratio")]
    acc = result["accuracy"]
    acc_ok = None
    if "ours" in acc and "rasa_default" in acc:
        acc_ok = acc["ours"]["accuracy"] >= acc["rasa_default"]["accuracy"]
    result["goals"] = {
        "throughput_ratio": {"goal": GOAL_THROUGHPUT_RATIO, "value": {k: v.get("throughput_ratio")
                                                                      for k, v in result["throughput"].items()},
                             "met": (min(ratios) >= GOAL_THROUGHPUT_RATIO) if ratios else None},
        "accuracy_not_worse": {"value": {k: v["accuracy"] for k, v in acc.items()}, "met": acc_ok}}
    # tables
    rows = []
    for level, v in result["throughput"].items():
        for label in ("ours", "rasa_default"):
            if label in v:
                rows.append([level, LABELS[label], v[label]["turns"], v[label]["latency_ms"]["p50"],
                             v[label]["latency_ms"]["p99"], v[label]["throughput_per_s"],
                             v[label].get("rasa_cpu_ms_per_turn")])
        if v.get("throughput_ratio"):
            rows.append([level, "ours / default", "", "", "", f"x{v['throughput_ratio']}", ""])
    tables = [print_table(["conversations", "config", "turns", "p50 ms", "p99 ms", "turns/s", "Rasa CPU ms/turn"],
                          rows, title=f"Cost of a bot turn ({result['mode']}; turns 0-10 of fresh conversations)")]
    windows = list(next(iter(result["curve"].values()))["windows"]) if result["curve"] else []
    rows = [[LABELS[label], *[c["windows"][w]["p50"] for w in windows]] for label, c in result["curve"].items()]
    tables.append(print_table(["config", *[f"turns {w} p50 ms" for w in windows]], rows,
                              title="Turn time against conversation length (one conversation at a time)"))
    rows = [[LABELS[label], a["n"], f"{a['accuracy']:.3f}", f"{a['accuracy_top_intent_ignoring_fallback']:.3f}",
             a["parse_ms"]["p50"]] for label, a in acc.items()]
    tables.append(print_table(["config", "held-out examples", "intent accuracy", "top intent ignoring fallback",
                               "parse p50 ms"], rows, title="Intent accuracy on tests/bot/heldout_nlu.yml"))
    for label, prof in result["profile"].items():
        rows = [[k, v, round(prof["own_time_share"][k] * 100, 1)] for k, v in list(prof["own_ms_per_turn"].items())[:8]]
        tables.append(print_table(["component (own time)", "ms per turn", "%"], rows,
                                  title=f"Profile of {LABELS[label]}, turns {prof['conversation_turns']}: "
                                        f"{prof['wall_ms_per_turn']} ms wall per turn under cProfile"))
    result["table"] = "\n".join(tables)
    path = write_result("turn_cost", result, args.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
