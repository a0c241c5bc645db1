"""Where the bridge's time goes in escalations, relays and claims: the bridge process
under cProfile (Redis store, fake Rasa) while bench/capacity.py's measuring clients
escalate, relay and race for claims; then its profile by component and by function.

  .venv-bridge/bin/python bench/profile_bridge.py [--quick]

The profile counts the bridge's CPU time (time.process_time), not wall time; cProfile
slows the profiled process down, so no latency is reported here: only shares of the
bridge's CPU time. Writes bench/results/bridge_profile.json.
"""
from __future__ import annotations

import argparse
import asyncio
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Run, print_table, write_result  # noqa: E402

GROUPS = [
    ("handoff: routing (state machine, queue pushes)", ("handoff/routing.py", "handoff/queueing.py")),
    ("handoff: store (Redis client side)", ("handoff/store/",)),
    ("handoff: other (namespaces, packet, shapes, limits)", ("handoff/",)),
    ("redis-py", ("redis/",)),
    ("python-socketio / engineio", ("socketio/", "engineio/")),
    ("aiohttp (server, WebSocket, client to Rasa)", ("aiohttp/", "multidict", "yarl/")),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
    ("JSON", ("json/",)),
]
FUNCS = ["push_queue", "push_positions", "queue_payload", "queued_in_order", "queue_view", "state_payload",
         "escalate", "_announce_queued", "claim", "_on_assigned", "assigned_payload", "agent_message",
         "visitor_message", "_process_visitor_message", "_ask_bot", "tick"]


def group_of(filename: str, func: str) -> str:
    f = filename.replace("\\", "/")
    for name, needles in GROUPS:
        if any(n in f for n in needles):
            return name
    if filename == "~":
        if "epoll" in func or "select" in func:
            return "waiting in epoll (idle or I/O)"
        if "json" in func or "dumps" in func or "loads" in func:
            return "JSON"
        return "built-ins (C functions: sockets, copies ...)"
    return "other Python"


def analyse(path: Path) -> dict[str, Any]:
    raw = pstats.Stats(str(path)).stats
    total = sum(v[2] for v in raw.values())
    busy = total - sum(v[2] for (f, _l, fn), v in raw.items() if f == "~" and ("epoll" in fn or "select" in fn))
    groups: dict[str, float] = {}
    for (f, _l, fn), v in raw.items():
        g = group_of(f, fn)
        groups[g] = groups.get(g, 0.0) + v[2]
    routing = {}
    for name in FUNCS:
        ct = max((v[3] for (f, _l, fn), v in raw.items() if f.replace("\\", "/").endswith("handoff/routing.py")
                  and fn == name), default=0.0)
        calls = max((v[1] for (f, _l, fn), v in raw.items() if f.replace("\\", "/").endswith("handoff/routing.py")
                     and fn == name), default=0)
        if ct:
            routing[name] = {"cumulative_s": round(ct, 3), "calls": calls,
                             "share_of_busy": round(ct / busy, 4) if busy else None}
    top = sorted(raw.items(), key=lambda kv: -kv[1][2])[:20]
    return {"profiled_s": round(total, 2), "busy_s": round(busy, 2),
            "busy_share_by_component": {k: round(v / busy, 4) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])
                                        if not k.startswith("waiting")} if busy else {},
            "routing_cumulative": routing,
            "top_own_time": [{"function": (f"{'/'.join(Path(f).parts[-2:])}:{line}:{fn}" if f != "~" else fn),
                              "calls": v[1], "own_s": round(v[2], 3)} for (f, line, fn), v in top]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    from bench.capacity import claims_race, flush_redis, handoff_round_trips, make_agents_file
    from bench.procs import start_bridge, start_fake_rasa, tempdir
    from tests.support.processes import RedisServer
    run = Run("bridge_profile", a.quick, ["bench/profile_bridge.py", *(argv if argv is not None else sys.argv[1:])])
    logdir = tempdir("bench-profile-bridge-")
    agents = make_agents_file(logdir / "agents.yml", 20)
    prof_path = logdir / "bridge.prof"
    fake = start_fake_rasa(logdir)
    work: dict[str, Any] = {}
    try:
        with RedisServer() as redis_server:
            flush_redis(redis_server.url)
            bridge = start_bridge(logdir, rasa_url=f"http://127.0.0.1:{fake.port}", rasa_token="bench-fake-token",
                                  store_url=redis_server.url, agents_file=str(logdir / "agents.yml"),
                                  extra={"HANDOFF_AUTO_ASSIGN": "false"}, profile_to=prof_path)
            url = f"http://127.0.0.1:{bridge.port}"
            try:
                m = asyncio.run(handoff_round_trips(url, url, agents[:5], conversations=3 if a.quick else 10,
                                                    rounds=1 if a.quick else 5, relays=3 if a.quick else 10))
                work["escalations"], work["relays"] = m["escalation_ms"]["n"], m["relay_ms"]["n"]
                flush_redis(redis_server.url)
                race = asyncio.run(claims_race(redis_server.url, [url], agents[:6 if a.quick else 20],
                                               6 if a.quick else 50))
                work["claims"], work["claim_attempts"], work["agents"] = race["claimed"], race["attempts"], race["agents"]
            finally:
                import os
                import signal
                os.kill(bridge.popen.pid, signal.SIGUSR1)   # write the profile and exit
                deadline = time.monotonic() + 120
                while not prof_path.is_file() and time.monotonic() < deadline:
                    time.sleep(0.2)
                bridge.stop()
    finally:
        fake.stop()
    if not prof_path.is_file():
        raise RuntimeError(f"the bridge wrote no profile:\n{bridge.log()}")
    result = {**run.meta(), "work": work, "store": "redis", **analyse(prof_path)}
    rows = [[k, round(v * 100, 1)] for k, v in result["busy_share_by_component"].items()]
    t1 = print_table(["component (own time)", "% of the bridge's CPU time"], rows,
                     title=f"Bridge profile: {work}")
    rows = [[k, v["calls"], v["cumulative_s"], round((v["share_of_busy"] or 0) * 100, 1)]
            for k, v in result["routing_cumulative"].items()]
    t2 = print_table(["routing function", "calls", "cumulative s", "% of CPU time"], rows)
    result["table"] = t1 + "\n" + t2
    path = write_result("bridge_profile", result, a.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
