"""Bot reply latency and throughput: through the bridge (a Socket.IO visitor,
user_uttered -> bot_uttered) against Rasa's REST channel directly, same model, same
Rasa server, same run, interleaved.

  .venv-bridge/bin/python bench/latency.py            # full: real Rasa, 1/10/50 conversations
  .venv-bridge/bin/python bench/latency.py --quick    # seconds: fake Rasa, 1/5 conversations

Setup: one Rasa server + action server (tests/support/rasa_stack.py, the trained model
models/supportline.tar.gz, SQLite tracker store), one bridge process (`python -m
handoff`, embedded store) in front of it, and this process as the load generator.
At each concurrency level C, C closed-loop conversations (no think time) each send a
fixed cycle of 10 messages with 10 different intents (greetings, knowledge-base answers
from the action server, a product question; one reply each; no escalation), then start
a new conversation. Rounds of `--seconds` alternate direct / bridge (the order flips
each round), so drift in the machine's load hits both arms alike.

Latency: direct = the webhook POST's round trip; bridge = from sending user_uttered to
the first bot_uttered of the bot after the echo of that message (Rasa's REST answer holds
every reply of a turn, and the bridge emits them back to back). Throughput = completed
turns / round time. CPU seconds of every process are read per round (psutil), so the
cost per turn of the bridge and of Rasa is known. Writes bench/results/latency.json.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from bench.common import MESSAGES, OUR_MODEL, Run, median, print_table, ratio, summary, write_result  # noqa: E402
from bench.eio import SioSocket  # noqa: E402
from bench.procs import CpuMeter, rasa_call_means, rasa_call_totals, start_bridge, start_fake_rasa, tempdir  # noqa: E402

TURNS_PER_CONVERSATION = len(MESSAGES)
GOAL_OVERHEAD_P50_MS = 2.0
GOAL_THROUGHPUT_RATIO = 0.95


class Direct:
    """Conversations over Rasa's REST channel."""

    name = "direct"

    def __init__(self, rasa_url: str, token: str):
        self.url = f"{rasa_url}/webhooks/rest/webhook?token={token}"
        self.http: aiohttp.ClientSession | None = None

    async def open(self, workers: int) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def close(self) -> None:
        if self.http:
            await self.http.close()

    async def conversation(self, worker: int) -> Any:
        return f"d-{uuid.uuid4().hex[:16]}"

    async def turn(self, worker: int, conv: Any, text: str) -> float:
        assert self.http is not None
        t0 = time.perf_counter()
        async with self.http.post(self.url, json={"sender": conv, "message": text}) as resp:
            body = await resp.json(content_type=None)
        t1 = time.perf_counter()
        if resp.status != 200 or not isinstance(body, list) or not body:
            raise RuntimeError(f"direct turn failed: {resp.status} {body!r}")
        return (t1 - t0) * 1000


class ViaBridge:
    """Conversations of Socket.IO visitors through the bridge (one socket per worker)."""

    name = "bridge"

    def __init__(self, bridge_url: str):
        self.base = bridge_url
        self.http: aiohttp.ClientSession | None = None
        self.sockets: dict[int, SioSocket] = {}
        self.state: dict[int, dict[str, Any]] = {}

    async def open(self, workers: int) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        for w in range(workers):
            st: dict[str, Any] = {"client_id": None, "echo": False, "fut": None, "confirm": None}
            self.state[w] = st

            def on_event(event: str, data: Any, t: float, st=st) -> None:
                if event == "session_confirm":
                    if st["confirm"] is not None and not st["confirm"].done():
                        st["confirm"].set_result(data)
                elif event == "visitor_uttered":
                    if isinstance(data, dict) and data.get("client_id") == st["client_id"]:
                        st["echo"] = True
                elif event == "bot_uttered":
                    if st["echo"] and st["fut"] is not None and not st["fut"].done():
                        st["fut"].set_result((data, t))
                elif event == "error":
                    if st["fut"] is not None and not st["fut"].done():
                        st["fut"].set_exception(RuntimeError(f"bridge error: {data}"))

            sock = SioSocket(self.http, self.base, "/", on_event)
            await sock.connect()
            self.sockets[w] = sock

    async def close(self) -> None:
        for sock in self.sockets.values():
            await sock.close()
        if self.http:
            await self.http.close()

    async def conversation(self, worker: int) -> Any:
        st = self.state[worker]
        st["confirm"] = asyncio.get_running_loop().create_future()
        await self.sockets[worker].emit("session_request", {"session_id": None})
        return await asyncio.wait_for(st["confirm"], 30)

    async def turn(self, worker: int, conv: Any, text: str) -> float:
        st = self.state[worker]
        st["client_id"] = uuid.uuid4().hex
        st["echo"] = False
        st["fut"] = asyncio.get_running_loop().create_future()
        t0 = time.perf_counter()
        await self.sockets[worker].emit("user_uttered", {"message": text, "session_id": conv,
                                                         "client_id": st["client_id"]})
        data, t1 = await asyncio.wait_for(st["fut"], 120)
        if data.get("sender") not in (None, "bot"):
            raise RuntimeError(f"unexpected reply {data!r}")
        return (t1 - t0) * 1000


async def run_round(arm: Any, concurrency: int, seconds: float, max_turns: int) -> dict[str, Any]:
    """C closed-loop workers for `seconds` (or max_turns in total); latencies and rate."""
    latencies: list[float] = []
    errors = 0
    turns_left = itertools.count()
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            conv = await arm.conversation(w)
            for text in MESSAGES:
                if time.perf_counter() >= deadline or next(turns_left) >= max_turns:
                    return
                try:
                    latencies.append(await arm.turn(w, conv, text))
                except (RuntimeError, asyncio.TimeoutError, aiohttp.ClientError):
                    errors += 1      # counted and reported; the conversation is abandoned
                    if errors > 1000:
                        raise
                    break

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {"latencies": latencies, "turns": len(latencies), "elapsed_s": elapsed,
            "throughput": len(latencies) / elapsed if elapsed else 0.0, "errors": errors}


async def measure(args: argparse.Namespace, rasa_url: str, token: str, bridge_url: str,
                  procs: dict[str, Any]) -> dict[str, Any]:
    levels = [int(x) for x in args.levels.split(",")]
    arms = {"direct": Direct(rasa_url, token), "bridge": ViaBridge(bridge_url)}
    warmup_workers = 2
    max_workers = max(levels + [warmup_workers])
    for arm in arms.values():
        await arm.open(max_workers)
    results: dict[str, Any] = {}
    try:
        # warm-up: every message once on both arms (graph, caches, connections)
        for arm in arms.values():
            await run_round(arm, warmup_workers, 60, 2 * len(MESSAGES))
        for level in levels:
            per_arm: dict[str, Any] = {name: {"rounds": [], "latencies": [], "cpu": []} for name in arms}
            for r in range(args.rounds):
                order = ["direct", "bridge"] if r % 2 == 0 else ["bridge", "direct"]
                for name in order:
                    calls0 = await asyncio.to_thread(rasa_call_totals, bridge_url)
                    meter = CpuMeter(procs).start()
                    res = await run_round(arms[name], level, args.seconds, args.max_turns)
                    cpu = meter.stop()
                    calls = rasa_call_means(calls0, await asyncio.to_thread(rasa_call_totals, bridge_url))
                    per_arm[name]["latencies"] += res["latencies"]
                    per_arm[name]["rounds"].append({
                        "round": r, "turns": res["turns"], "elapsed_s": round(res["elapsed_s"], 3),
                        "throughput": round(res["throughput"], 2), "errors": res["errors"],
                        "p50": summary(res["latencies"])["p50"], "mean": summary(res["latencies"])["mean"],
                        "cpu_s": cpu, "bridge_rasa_calls": calls})
                    print(f"  C={level:<3} round {r} {name:<6} {res['turns']:>5} turns "
                          f"{res['throughput']:7.1f}/s p50 {summary(res['latencies'])['p50']} ms "
                          f"errors {res['errors']}", flush=True)
            level_result: dict[str, Any] = {}
            for name, d in per_arm.items():
                rounds = d["rounds"]
                turns = sum(x["turns"] for x in rounds)
                cpu_per_turn = {}
                for proc in procs:
                    used = sum(x["cpu_s"].get(proc, 0.0) for x in rounds)
                    cpu_per_turn[proc] = round(used / turns * 1000, 3) if turns else None
                level_result[name] = {
                    "latency_ms": summary(d["latencies"]),
                    "throughput_per_s": round(median([x["throughput"] for x in rounds]) or 0.0, 2),
                    "throughput_per_s_pooled": round(turns / sum(x["elapsed_s"] for x in rounds), 2),
                    "turns": turns, "errors": sum(x["errors"] for x in rounds),
                    "cpu_ms_per_turn": cpu_per_turn, "rounds": rounds}
                if name == "bridge":
                    # the webhook call as the bridge timed it (its /metrics): what is left of the
                    # visitor's latency is the bridge's own part (Socket.IO in and out, store, emits)
                    n = sum(x["bridge_rasa_calls"].get("webhook", {}).get("calls", 0) for x in rounds)
                    tot = sum(x["bridge_rasa_calls"].get("webhook", {}).get("calls", 0)
                              * x["bridge_rasa_calls"].get("webhook", {}).get("mean_ms", 0.0) for x in rounds)
                    mean_webhook = tot / n if n else None
                    level_result[name]["webhook_mean_ms_seen_by_bridge"] = round(mean_webhook, 3) if n else None
                    level_result[name]["bridge_own_mean_ms"] = (
                        round(level_result[name]["latency_ms"]["mean"] - mean_webhook, 3) if n else None)
            d50, b50 = level_result["direct"]["latency_ms"]["p50"], level_result["bridge"]["latency_ms"]["p50"]
            paired = [b["p50"] - d["p50"] for d, b in zip(per_arm["direct"]["rounds"], per_arm["bridge"]["rounds"])
                      if b["p50"] is not None and d["p50"] is not None]
            tput = ratio(level_result["bridge"]["throughput_per_s"], level_result["direct"]["throughput_per_s"])
            overhead = round(b50 - d50, 3) if b50 is not None and d50 is not None else None
            level_result["comparison"] = {
                "overhead_p50_ms": overhead,
                "overhead_p50_ms_paired_median": round(median(paired), 3) if paired else None,
                "overhead_p99_ms": round(level_result["bridge"]["latency_ms"]["p99"]
                                         - level_result["direct"]["latency_ms"]["p99"], 3),
                "throughput_ratio": tput,
                "goal_overhead_met": overhead is not None and overhead <= GOAL_OVERHEAD_P50_MS,
                "goal_throughput_met": tput is not None and tput >= GOAL_THROUGHPUT_RATIO}
            results[str(level)] = level_result
    finally:
        for arm in arms.values():
            await arm.close()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="seconds: fake Rasa, levels 1,5, one round")
    p.add_argument("--rasa", choices=["real", "fake"], default=None,
                   help="real: the trained model (default); fake: tests/support/fake_rasa.py (default with --quick)")
    p.add_argument("--model", default=str(OUR_MODEL))
    p.add_argument("--levels", default=None, help="concurrent conversations, e.g. 1,10,50")
    p.add_argument("--rounds", type=int, default=None, help="rounds per arm and level (alternating)")
    p.add_argument("--seconds", type=float, default=None, help="length of one round")
    p.add_argument("--max-turns", type=int, default=1_000_000, help="upper bound of turns per round")
    p.add_argument("--name", default="latency", help="result name (bench/results/<name>.json)")
    p.add_argument("--out", default=None, help="result file or directory (default bench/results/<name>.json)")
    args = p.parse_args(argv)
    if args.quick:
        args.rasa = args.rasa or "fake"
        args.levels = args.levels or "1,5"
        args.rounds = args.rounds or 2
        args.seconds = args.seconds or 1.0
    args.rasa = args.rasa or "real"
    args.levels = args.levels or "1,10,50"
    args.rounds = args.rounds or 3
    args.seconds = args.seconds or 10.0
    run = Run(args.name, args.quick, ["bench/latency.py", *(argv if argv is not None else sys.argv[1:])])
    logdir = tempdir("bench-latency-")
    stack = fake = bridge = None
    try:
        if args.rasa == "real":
            from tests.support.rasa_stack import RasaStack
            stack = RasaStack(model=args.model, start_timeout=600)
            stack.start()
            rasa_url, token = stack.url, stack.token
            procs: dict[str, Any] = {"rasa": psutil.Process(stack.rasa_proc.pid),
                                     "actions": psutil.Process(stack.action_proc.pid)}
        else:
            fake = start_fake_rasa(logdir)
            rasa_url, token = f"http://127.0.0.1:{fake.port}", "bench-fake-token"
            procs = {"rasa": fake}
        # Rasa's answer may take seconds at 50 conversations on 2 cores (queueing): the bridge's
        # "bot unavailable" timeout (10 s by default) is raised so that it measures, not escalates
        bridge = start_bridge(logdir, rasa_url=rasa_url, rasa_token=token,
                              extra={"HANDOFF_RASA_TIMEOUT_S": "120"})
        procs["bridge"] = bridge
        procs["client"] = psutil.Process()
        print(f"latency: rasa={args.rasa} levels={args.levels} rounds={args.rounds} x {args.seconds}s", flush=True)
        levels = asyncio.run(measure(args, rasa_url, token, f"http://127.0.0.1:{bridge.port}", procs))
    finally:
        for proc in (bridge, fake, stack):
            if proc is not None:
                proc.stop()
    rows = []
    for level, r in levels.items():
        for name in ("direct", "bridge"):
            lat = r[name]["latency_ms"]
            rows.append([level, name, lat["n"], lat["p50"], lat["p99"], lat["mean"], r[name].get("bridge_own_mean_ms"),
                         r[name]["throughput_per_s"],
                         r[name]["cpu_ms_per_turn"].get("rasa"), r[name]["cpu_ms_per_turn"].get("bridge"),
                         r[name]["errors"]])
        c = r["comparison"]
        rows.append([level, "bridge - direct", "", c["overhead_p50_ms"], c["overhead_p99_ms"], "", "",
                     f"x{c['throughput_ratio']}", "", "", ""])
    table = print_table(["conversations", "path", "turns", "p50 ms", "p99 ms", "mean ms",
                         "bridge's own mean ms", "turns/s",
                         "Rasa CPU ms/turn", "bridge CPU ms/turn", "errors"], rows,
                        title=f"Bot reply latency, bridge vs Rasa REST (rasa={args.rasa})")
    result = {**run.meta(), "rasa": args.rasa, "model": Path(args.model).name if args.rasa == "real" else None,
              "levels": [int(x) for x in args.levels.split(",")], "rounds": args.rounds,
              "round_seconds": args.seconds, "messages": MESSAGES,
              "goals": {"overhead_p50_ms": GOAL_OVERHEAD_P50_MS, "throughput_ratio": GOAL_THROUGHPUT_RATIO},
              "results": levels, "table": table}
    path = write_result(args.name, result, args.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
