"""Scale-out on one machine: bot-turn throughput through the bridge with one Rasa server
against two, and agent -> visitor relay latency with one bridge against two, each pair
measured side by side in the same run, in interleaved rounds.

  .venv-bridge/bin/python bench/scale.py            # full (about 10 minutes on 2 cores)
  .venv-bridge/bin/python bench/scale.py --quick    # a few minutes (the Rasa model loads dominate)

Part 1, Rasa servers (the real trained model, models/supportline.tar.gz): two Rasa
servers, each with its action server (tests/support/rasa_stack.py), on one PostgreSQL
tracker store (a fresh database, dropped afterwards; Rasa's tables made once before the
servers start, as scripts/cluster-services.sh does) and one Redis lock store (a throwaway
redis-server; bot/endpoints.py makes it bot.lock_store.AtomicRedisLockStore). Both
servers run for the whole part, and two bridge processes sit in front of them: one with
HANDOFF_RASA_URL = the first server only (the one-server arm), one with both (the
two-server arm: each conversation sticks to one server by rendezvous hashing). So both
arms have the same model, stores and processes, and only the number of Rasa servers the
bridge spreads conversations over differs. The load is bench/latency.py's: C closed-loop
Socket.IO visitors (ViaBridge, run_round), each cycling through the same 10 messages.
Rounds alternate between the arms (the order flips every round).

Part 2, bridges (a fake Rasa: bench/fake_rasa_server.py; no Rasa call is on the relay
path): one Redis store for three bridge processes: one alone (its own key prefix and
Socket.IO channel) and a pair sharing theirs. Idle widgets (bench/capacity.py's worker
processes) hold --widgets connections on each arm: all on the single bridge, half on each
bridge of the pair. Each round, agents claim escalated chats and send messages to their
visitors (bench/capacity.handoff_round_trips), timed from the agent's emit to the
visitor's bot_uttered; on the pair, visitors are on one bridge and agents on the other
(alternating which), so every message crosses processes through Redis pub/sub. Rounds
alternate between the arms.

Per round, the CPU seconds of every process involved (psutil: Rasa servers, action
servers, bridges, the PostgreSQL backends of the database, Redis, the load generators)
and of the whole machine (all processes, other engineers' included) are recorded, so the
page can say whether the two cores were saturated and by whom; a failed bot turn is kept
with its time, server and error. Writes bench/results/scale.json; the processes' logs
(bridges, Rasa and action servers) stay in a temporary directory, printed at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from bench.capacity import Workers, handoff_round_trips, make_agents_file  # noqa: E402
from bench.common import (OUR_MODEL, PROJECT_ROOT, RASA_VENV, Run, loadavg, median, print_table,  # noqa: E402
                          raise_nofile, ratio, summary, utcnow)
from bench.latency import Direct, ViaBridge, run_round  # noqa: E402
from bench.procs import CpuMeter, start_bridge, start_fake_rasa, tempdir  # noqa: E402
from handoff.rasa import rendezvous_order  # noqa: E402
from tests.support.processes import RedisServer  # noqa: E402

PG = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
ARMS = ("1", "2")

# Rasa's tables in the fresh database, made once (the SQL tracker store creates them when
# it is built): two servers starting at the same time would race to create them.
MAKE_TABLES = """
import os
from bot.endpoints import tracker_store_settings
from rasa.core.tracker_store import SQLTrackerStore
s = tracker_store_settings(os.environ["TRACKER_STORE_URL"])
SQLTrackerStore(dialect="postgresql", host=s["url"], port=s["port"], db=s["db"],
                username=s.get("username"), password=s.get("password"))
"""


# ---------------------------------------------------------------------------- CPU readings

class Tree:
    """A process and its descendants, read as one (cpu_times() for bench.procs.CpuMeter)."""

    def __init__(self, pid: int):
        self.ps = psutil.Process(pid)
        self.last: dict[int, float] = {}

    def cpu_times(self) -> SimpleNamespace:
        procs = [self.ps]
        try:
            procs += self.ps.children(recursive=True)
        except psutil.Error:
            pass
        for p in procs:
            try:
                t = p.cpu_times()
                self.last[p.pid] = t.user + t.system
            except psutil.Error:
                pass            # gone: its last reading stays counted
        return SimpleNamespace(user=sum(self.last.values()), system=0.0)


class DbBackends:
    """The PostgreSQL server processes serving one database (their process titles name it);
    backends that closed keep their last reading, new ones count from zero."""

    def __init__(self, database: str):
        self.needle = f" {database} "
        self.last: dict[int, float] = {}

    def cpu_times(self) -> SimpleNamespace:
        for p in psutil.process_iter(["cmdline"]):
            try:
                if self.needle in " ".join(p.info["cmdline"] or []) + " ":
                    t = p.cpu_times()
                    self.last[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        return SimpleNamespace(user=sum(self.last.values()), system=0.0)


def machine_busy_s() -> float:
    """CPU seconds all cores of the machine spent busy so far (every process, anyone's)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)


class Meter:
    """bench.procs.CpuMeter over our processes, plus the whole machine's busy time and
    the load average, for one round."""

    def __init__(self, procs: dict[str, Any]):
        self.cpu = CpuMeter(procs)

    def start(self) -> "Meter":
        self.t0 = time.monotonic()
        self.started = utcnow()
        self.busy0 = machine_busy_s()
        self.cpu.start()
        return self

    def stop(self) -> dict[str, Any]:
        used = self.cpu.stop()
        wall = used.pop("wall_s")
        ours = sum(used.values())
        cores = psutil.cpu_count() or 1
        machine = machine_busy_s() - self.busy0
        machine_wall = time.monotonic() - self.t0
        return {"started_utc": self.started, "wall_s": wall, "cpu_s": used, "ours_cpu_s": round(ours, 3),
                "machine_busy_s": round(machine, 3),
                "ours_cores_used": round(ours / wall, 3) if wall else None,
                "others_cores_used": round((machine - ours) / wall, 3) if wall else None,
                "machine_busy_share": round(machine / (machine_wall * cores), 3) if machine_wall else None,
                "loadavg": loadavg()}


def cpu_summary(rounds: list[dict[str, Any]], work: int, cores: int) -> dict[str, Any]:
    """CPU of an arm over its rounds: ms per unit of work by process (all rounds pooled);
    cores used by each process, by all our processes and by everything else on the machine,
    and the machine's busy share (medians of the rounds, so that a round stretched by a
    stalled turn does not dilute them)."""
    procs = sorted({k for r in rounds for k in r["cpu"]["cpu_s"]})
    total = {p: sum(r["cpu"]["cpu_s"].get(p, 0.0) for r in rounds) for p in procs}
    return {"ms_per_unit": {p: round(v / work * 1000, 3) if work else None for p, v in total.items()},
            "cores_used": {p: median([round(r["cpu"]["cpu_s"].get(p, 0.0) / r["cpu"]["wall_s"], 3)
                                      for r in rounds if r["cpu"]["wall_s"]]) for p in procs},
            "ours_cores_used": median([r["cpu"]["ours_cores_used"] for r in rounds
                                       if r["cpu"]["ours_cores_used"] is not None]),
            "others_cores_used": median([r["cpu"]["others_cores_used"] for r in rounds
                                         if r["cpu"]["others_cores_used"] is not None]),
            "machine_busy_share": median([r["cpu"]["machine_busy_share"] for r in rounds
                                          if r["cpu"]["machine_busy_share"] is not None]),
            "cores": cores}


# ---------------------------------------------------------------------------- part 1: Rasa servers

class CountedBridge(ViaBridge):
    """bench.latency.ViaBridge that also counts the turns each Rasa server got (the bridge's
    own rendezvous order of the conversation over its servers) and keeps what went wrong
    in failed turns (run_round only counts them)."""

    def __init__(self, bridge_url: str, rasa_urls: list[str]):
        super().__init__(bridge_url)
        self.rasa_urls = rasa_urls
        self.per_server: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []

    def server(self, conv: Any) -> str:
        return f"rasa{self.rasa_urls.index(rendezvous_order(conv, self.rasa_urls)[0]) + 1}"

    async def turn(self, worker: int, conv: Any, text: str) -> float:
        t0 = utcnow()
        try:
            ms = await super().turn(worker, conv, text)
        except Exception as exc:
            self.failures.append(f"{t0} {self.server(conv)} conversation {conv} {text!r}: "
                                 f"{exc.__class__.__name__} {exc}")
            raise
        self.per_server[self.server(conv)] += 1
        return ms


def psql(sql: str) -> None:
    subprocess.run([*PG, "-c", sql], check=True, capture_output=True, timeout=120)


def make_tables(database_url: str) -> float:
    t0 = time.monotonic()
    env = {**os.environ, "TRACKER_STORE_URL": database_url, "TF_CPP_MIN_LOG_LEVEL": "2",
           "RASA_TELEMETRY_ENABLED": "false"}
    proc = subprocess.run([str(RASA_VENV / "bin" / "python"), "-c", MAKE_TABLES], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"making Rasa's tables failed:\n{proc.stderr[-3000:]}")
    return round(time.monotonic() - t0, 1)


async def measure_rasa(args: argparse.Namespace, arms: dict[str, CountedBridge], rasa_urls: list[str], token: str,
                       procs: dict[str, Any]) -> dict[str, Any]:
    levels = [int(x) for x in args.levels.split(",")]
    cores = psutil.cpu_count() or 1
    for arm in arms.values():
        await arm.open(max(levels))
    results: dict[str, Any] = {}
    try:
        # warm-up: every message once on each server directly (graph, caches, the action
        # server's connection), then on each bridge
        for url in rasa_urls:
            direct = Direct(url, token)
            await direct.open(2)
            try:
                await run_round(direct, 2, 120, 2 * 10)
            finally:
                await direct.close()
        for arm in arms.values():
            await run_round(arm, 4, 120, 4 * 10)
        for level in levels:
            per_arm: dict[str, Any] = {a: {"rounds": [], "latencies": []} for a in ARMS}
            for r in range(args.rounds):
                for name in (ARMS if r % 2 == 0 else ARMS[::-1]):
                    arm = arms[name]
                    arm.per_server.clear()
                    arm.failures.clear()
                    meter = Meter(procs).start()
                    res = await run_round(arm, level, args.seconds, args.max_turns)
                    cpu = meter.stop()
                    lat = summary(res["latencies"])
                    per_arm[name]["latencies"] += res["latencies"]
                    per_arm[name]["rounds"].append({
                        "round": r, "turns": res["turns"], "elapsed_s": round(res["elapsed_s"], 3),
                        "throughput": round(res["throughput"], 2), "errors": res["errors"],
                        "p50": lat["p50"], "p99": lat["p99"], "mean": lat["mean"],
                        "turns_per_server": dict(arm.per_server), "failures": list(arm.failures[:10]),
                        "cpu": cpu})
                    print(f"  C={level:<3} round {r} {name} Rasa server(s) {res['turns']:>5} turns "
                          f"{res['throughput']:7.1f}/s p50 {lat['p50']} ms p99 {lat['p99']} ms errors {res['errors']}; "
                          f"ours {cpu['ours_cores_used']} cores, machine busy {cpu['machine_busy_share']}, "
                          f"load {cpu['loadavg'][0] if cpu['loadavg'] else '-'}", flush=True)
            level_result: dict[str, Any] = {}
            for name, d in per_arm.items():
                rounds = d["rounds"]
                turns = sum(x["turns"] for x in rounds)
                split: collections.Counter[str] = collections.Counter()
                for x in rounds:
                    split.update(x["turns_per_server"])
                level_result[name] = {
                    "latency_ms": summary(d["latencies"]),
                    "p50_ms_median_of_rounds": median([x["p50"] for x in rounds if x["p50"] is not None]),
                    "throughput_per_s": round(median([x["throughput"] for x in rounds]) or 0.0, 2),
                    "throughput_per_s_pooled": round(turns / sum(x["elapsed_s"] for x in rounds), 2),
                    "turns": turns, "errors": sum(x["errors"] for x in rounds),
                    "turns_per_server": dict(sorted(split.items())),
                    "cpu": cpu_summary(rounds, turns, cores), "rounds": rounds}
            one, two = level_result["1"], level_result["2"]
            paired = [ratio(b["throughput"], a["throughput"]) for a, b in zip(one["rounds"], two["rounds"])]
            level_result["comparison"] = {
                "throughput_ratio": ratio(two["throughput_per_s"], one["throughput_per_s"]),
                "throughput_ratio_paired_median": median([p for p in paired if p is not None]),
                "p50_ratio": ratio(two["latency_ms"]["p50"], one["latency_ms"]["p50"]),
                "p99_ratio": ratio(two["latency_ms"]["p99"], one["latency_ms"]["p99"])}
            results[str(level)] = level_result
    finally:
        for arm in arms.values():
            await arm.close()
    return results


def rasa_part(args: argparse.Namespace, logdir: Path, redis: RedisServer) -> dict[str, Any]:
    """Two Rasa servers on PostgreSQL + Redis lock, two bridges; the interleaved rounds."""
    from tests.support.rasa_stack import RasaStack

    database = f"bench_scale_{uuid.uuid4().hex[:12]}"
    database_url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    psql(f'CREATE DATABASE "{database}"')
    stacks: list[RasaStack] = []
    bridges = []
    setup: dict[str, Any] = {"database": "PostgreSQL (fresh database, dropped afterwards)",
                             "lock_store": "Redis (bot.lock_store.AtomicRedisLockStore)"}
    try:
        setup["make_tables_s"] = make_tables(database_url)
        token = uuid.uuid4().hex
        env = {"TRACKER_STORE_URL": database_url, "LOCK_STORE_URL": redis.url, "RASA_TELEMETRY_ENABLED": "false"}
        stacks = [RasaStack(model=args.model, token=token, endpoints_env=env, start_timeout=900) for _ in range(2)]
        t0 = time.monotonic()
        with ThreadPoolExecutor(2) as pool:       # load both models at the same time
            for future in [pool.submit(stack.start) for stack in stacks]:
                future.result()
        setup["rasa_start_s"] = round(time.monotonic() - t0, 1)
        rasa_urls = [s.url for s in stacks]
        print(f"scale: two Rasa servers up in {setup['rasa_start_s']} s (tables {setup['make_tables_s']} s)",
              flush=True)
        # a turn may queue for seconds at 50 conversations on one server: the bridges' "bot
        # unavailable" timeout is raised so that they measure, not escalate
        extra = {"HANDOFF_RASA_TIMEOUT_S": "120"}
        bridges = [start_bridge(logdir, rasa_url=",".join(rasa_urls[:n]), rasa_token=token, name=f"bridge-{n}rasa",
                                extra=extra) for n in (1, 2)]
        arms = {str(n): CountedBridge(f"http://127.0.0.1:{b.port}", rasa_urls[:n]) for n, b in zip((1, 2), bridges)}
        procs: dict[str, Any] = {}
        for i, s in enumerate(stacks, 1):
            procs[f"rasa{i}"] = Tree(s.rasa_proc.pid)
            procs[f"actions{i}"] = Tree(s.action_proc.pid)
        procs.update({"bridge_1rasa": bridges[0], "bridge_2rasa": bridges[1], "postgres": DbBackends(database),
                      "redis": psutil.Process(redis.proc.pid), "client": psutil.Process()})
        levels = asyncio.run(measure_rasa(args, arms, rasa_urls, token, procs))
    finally:
        for b in bridges:
            b.stop()
        for i, s in enumerate(stacks, 1):
            s.stop()
            for name in ("rasa.log", "actions.log"):       # kept with the other logs of the run
                if (s.dir / name).exists():
                    shutil.copy(s.dir / name, logdir / f"{name.split('.')[0]}{i}.log")
            shutil.rmtree(s.dir, ignore_errors=True)
        try:
            psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            print(f"scale: could not drop database {database}: {exc}", flush=True)
    return {"setup": setup, "levels": [int(x) for x in args.levels.split(",")], "rounds": args.rounds,
            "round_seconds": args.seconds, "results": levels}


# ---------------------------------------------------------------------------- part 2: bridges

def relay_part(args: argparse.Namespace, logdir: Path, redis: RedisServer) -> dict[str, Any]:
    """One bridge against two on one Redis, idle widgets on each, interleaved relay rounds."""
    agents_file = logdir / "agents.yml"
    agent_ids = make_agents_file(agents_file, 5)
    fake = start_fake_rasa(logdir)
    bridges: dict[str, Any] = {}
    workers: list[Workers] = []
    try:
        common = dict(rasa_url=f"http://127.0.0.1:{fake.port}", rasa_token="bench-fake-token",
                      agents_file=str(agents_file), store_url=redis.url)
        for name, prefix in (("single", "scale1"), ("pair1", "scale2"), ("pair2", "scale2")):
            bridges[name] = start_bridge(logdir, name=f"bridge-{name}", **common, extra={
                "HANDOFF_AUTO_ASSIGN": "false", "HANDOFF_STORE_PREFIX": f"{prefix}:",
                "HANDOFF_SOCKETIO_CHANNEL": f"{prefix}-socketio"})
        url = {k: f"http://127.0.0.1:{b.port}" for k, b in bridges.items()}
        half = args.widgets // 2
        held: dict[str, int] = {}
        t0 = time.monotonic()
        for name, n in (("single", args.widgets), ("pair1", half), ("pair2", args.widgets - half)):
            w = Workers(url[name], 1, 100)
            workers.append(w)
            grown = asyncio.run(w.grow(n))
            held[name] = grown["connected"]
            if grown["failed"]:
                raise RuntimeError(f"{grown['failed']} widgets failed to connect to {name}")
        print(f"scale: idle widgets connected in {time.monotonic() - t0:.1f} s: {held}", flush=True)
        procs: dict[str, Any] = {f"bridge_{k}": b for k, b in bridges.items()}
        procs.update({"fake_rasa": fake, "redis": psutil.Process(redis.proc.pid), "client": psutil.Process()})
        for i, w in enumerate(workers):
            procs[f"widgets{i + 1}"] = psutil.Process(w.procs[0].pid)
        per_arm: dict[str, list[dict[str, Any]]] = {a: [] for a in ARMS}
        crossings = 0
        for r in range(args.relay_rounds):
            for arm in (ARMS if r % 2 == 0 else ARMS[::-1]):
                if arm == "1":
                    visitors_on, agents_on = "single", "single"
                else:
                    visitors_on, agents_on = ("pair1", "pair2") if crossings % 2 == 0 else ("pair2", "pair1")
                    crossings += 1
                meter = Meter(procs).start()
                m = asyncio.run(handoff_round_trips(url[visitors_on], url[agents_on], agent_ids,
                                                    conversations=args.chats, rounds=args.chat_rounds,
                                                    relays=args.relays))
                cpu = meter.stop()
                per_arm[arm].append({"round": r, "visitors_on": visitors_on, "agents_on": agents_on,
                                     "relay_ms": m["relay_ms"], "escalation_ms": m["escalation_ms"],
                                     "errors": m["errors"], "error_examples": m["error_examples"],
                                     "seconds": m["seconds"], "cpu": cpu})
                print(f"  round {r} {arm} bridge(s) ({visitors_on} -> {agents_on}): relay p50/p99 "
                      f"{m['relay_ms']['p50']}/{m['relay_ms']['p99']} ms ({m['relay_ms']['n']}), errors {m['errors']}; "
                      f"ours {cpu['ours_cores_used']} cores, machine busy {cpu['machine_busy_share']}", flush=True)
    finally:
        for w in workers:
            w.close()
        for b in bridges.values():
            b.stop()
        fake.stop()
    cores = psutil.cpu_count() or 1
    results: dict[str, Any] = {}
    for arm, rounds in per_arm.items():
        relays = sum(x["relay_ms"]["n"] for x in rounds)
        results[arm] = {
            "widgets": held["single"] if arm == "1" else held["pair1"] + held["pair2"],
            "relays": relays, "errors": sum(x["errors"] for x in rounds),
            "relay_p50_ms": median([x["relay_ms"]["p50"] for x in rounds if x["relay_ms"]["p50"] is not None]),
            "relay_p99_ms": median([x["relay_ms"]["p99"] for x in rounds if x["relay_ms"]["p99"] is not None]),
            "relay_mean_ms": median([x["relay_ms"]["mean"] for x in rounds if x["relay_ms"]["mean"] is not None]),
            "escalation_p50_ms": median([x["escalation_ms"]["p50"] for x in rounds
                                         if x["escalation_ms"]["p50"] is not None]),
            "cpu": cpu_summary(rounds, relays, cores), "rounds": rounds}
    one, two = results["1"], results["2"]
    results["comparison"] = {"p50_ratio": ratio(two["relay_p50_ms"], one["relay_p50_ms"]),
                             "p99_ratio": ratio(two["relay_p99_ms"], one["relay_p99_ms"])}
    return {"widgets": args.widgets, "rounds": args.relay_rounds, "chats": args.chats, "chat_rounds": args.chat_rounds,
            "relays_per_chat": args.relays, "results": results}


# ---------------------------------------------------------------------------- main

def cores_cell(cpu: dict[str, Any]) -> str:
    """"ours / others" cores used, and the machine's busy share."""
    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.2f}"
    busy = cpu.get("machine_busy_share")
    share = "-" if busy is None else f"{busy * 100:.0f}%"
    return f"{f(cpu.get('ours_cores_used'))} / {f(cpu.get('others_cores_used'))} ({share})"


def tables(result: dict[str, Any]) -> str:
    out = []
    rasa = result.get("rasa_servers")
    if rasa:
        rows = []
        for level, v in sorted(rasa["results"].items(), key=lambda kv: int(kv[0])):
            for arm in ARMS:
                a = v[arm]
                rows.append([level, arm, a["turns"], a["throughput_per_s"], a["latency_ms"]["p50"],
                             a["latency_ms"]["p99"], " / ".join(str(n) for n in a["turns_per_server"].values()),
                             cores_cell(a["cpu"]), a["errors"]])
            c = v["comparison"]
            rows.append([level, "2 / 1", "", f"x{c['throughput_ratio']}", f"x{c['p50_ratio']}", f"x{c['p99_ratio']}",
                         "", "", ""])
        out.append(print_table(["conversations", "Rasa servers", "turns", "turns/s (median)", "p50 ms", "p99 ms",
                                "turns per server", "cores: ours / others (machine busy)", "errors"], rows,
                               title="Bot turns through the bridge: one Rasa server against two (real model)"))
    relay = result.get("bridges")
    if relay:
        rows = []
        for arm in ARMS:
            a = relay["results"][arm]
            rows.append([arm, a["widgets"], a["relays"], a["relay_p50_ms"], a["relay_p99_ms"], a["escalation_p50_ms"],
                         cores_cell(a["cpu"]), a["errors"]])
        c = relay["results"]["comparison"]
        rows.append(["2 / 1", "", "", f"x{c['p50_ratio']}", f"x{c['p99_ratio']}", "", "", ""])
        out.append(print_table(["bridges on one Redis", "idle widgets", "relays", "relay p50 ms", "relay p99 ms",
                                "escalation p50 ms", "cores: ours / others (machine busy)", "errors"], rows,
                               title="Agent -> visitor relay: one bridge against two (fake Rasa; medians of rounds)"))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few minutes: small levels, short rounds, 50 widgets")
    p.add_argument("--parts", default="rasa,relay", help="rasa, relay or both (default)")
    p.add_argument("--model", default=str(OUR_MODEL))
    p.add_argument("--levels", default=None, help="concurrent conversations, e.g. 10,50")
    p.add_argument("--rounds", type=int, default=None, help="rounds per Rasa arm and level (alternating)")
    p.add_argument("--seconds", type=float, default=None, help="length of one Rasa round")
    p.add_argument("--max-turns", type=int, default=1_000_000, help="upper bound of turns per round")
    p.add_argument("--widgets", type=int, default=None, help="idle widgets connected in each bridge arm")
    p.add_argument("--relay-rounds", type=int, default=None, help="rounds per bridge arm (alternating)")
    p.add_argument("--chats", type=int, default=None, help="chats receiving agent messages at once, per round")
    p.add_argument("--chat-rounds", type=int, default=None, help="escalate-claim-relay-close cycles per chat and round")
    p.add_argument("--relays", type=int, default=None, help="agent messages per chat and cycle")
    p.add_argument("--out", default=None, help="result file or directory (default bench/results/scale.json)")
    args = p.parse_args(argv)
    q = args.quick
    args.levels = args.levels or ("4" if q else "10,50")
    args.rounds = args.rounds or (2 if q else 4)
    args.seconds = args.seconds or (3.0 if q else 15.0)
    args.widgets = args.widgets or (50 if q else 1000)
    args.relay_rounds = args.relay_rounds or (2 if q else 6)
    args.chats = args.chats or (2 if q else 10)
    args.chat_rounds = args.chat_rounds or (1 if q else 3)
    args.relays = args.relays or (3 if q else 10)
    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    run = Run("scale", q, ["bench/scale.py", *(argv if argv is not None else sys.argv[1:])])
    raise_nofile()
    logdir = tempdir("bench-scale-")
    result: dict[str, Any] = {**run.meta(), "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    print(f"scale: parts={sorted(parts)} levels={args.levels} rounds={args.rounds} x {args.seconds}s, "
          f"widgets={args.widgets} relay rounds={args.relay_rounds}; logs in {logdir}", flush=True)
    with RedisServer() as redis:
        if "rasa" in parts:
            result["rasa_servers"] = rasa_part(args, logdir, redis)
        if "relay" in parts:
            result["bridges"] = relay_part(args, logdir, redis)
    result["table"] = tables(result)
    path = run.finish(result, args.out)
    print(f"wrote {path}; the processes' logs are in {logdir}")
    return result


if __name__ == "__main__":
    main()
