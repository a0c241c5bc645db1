"""The bridge on uvloop against the bridge on asyncio's own event loop, side by side.

    .venv-bridge/bin/python bench/event_loop.py [--quick] [--widgets 1000] [--rounds 6] [--out DIR]

Two bridge processes that differ only in HANDOFF_EVENT_LOOP (uvloop, the default, and
asyncio), each on the embedded store, each holding the same number of idle widgets
(client processes of bench/capacity.py), one fake Rasa behind both. Rounds alternate
the arms (the order flipped every round); each round is bench/capacity.py's stress
measurement (visitors in parallel escalate, get claimed, receive agent messages back to
back). Reported per arm: medians over rounds of relay p50/p99 and escalation p50/p99,
and the bridge's CPU milliseconds per relayed message (less sensitive to the machine's
load than wall times). Writes event_loop.json.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.capacity import Workers, handoff_round_trips, make_agents_file  # noqa: E402
from bench.common import Run, print_table, raise_nofile, ratio  # noqa: E402

LOOPS = ("uvloop", "asyncio")


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--widgets", type=int, default=None, help="idle widgets held by each bridge")
    p.add_argument("--rounds", type=int, default=None, help="rounds per arm")
    p.add_argument("--conversations", type=int, default=None, help="visitors in parallel per round")
    p.add_argument("--relays", type=int, default=None, help="agent messages per visitor per round")
    p.add_argument("--escalations", type=int, default=None, help="escalations one at a time per round")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    q = args.quick
    args.widgets = args.widgets if args.widgets is not None else (40 if q else 1000)
    args.rounds = args.rounds or (2 if q else 6)
    args.conversations = args.conversations or (3 if q else 20)
    args.relays = args.relays or (3 if q else 10)
    args.escalations = args.escalations or (3 if q else 30)
    run = Run("event_loop", q, ["bench/event_loop.py", *(argv if argv is not None else sys.argv[1:])])
    raise_nofile()

    from bench.procs import start_bridge, start_fake_rasa, tempdir

    logdir = tempdir("bench-event-loop-")
    agents_file = logdir / "agents.yml"
    agents = make_agents_file(agents_file, 5)
    fake = start_fake_rasa(logdir)
    result: dict[str, Any] = {**run.meta(), "settings": {k: v for k, v in vars(args).items() if k != "out"}}
    bridges, workers = {}, []
    per_arm: dict[str, list[dict[str, Any]]] = {loop: [] for loop in LOOPS}
    try:
        for loop in LOOPS:
            bridges[loop] = start_bridge(logdir, rasa_url=f"http://127.0.0.1:{fake.port}",
                                         rasa_token="bench-fake-token", agents_file=str(agents_file),
                                         name=f"bridge-{loop}", extra={"HANDOFF_AUTO_ASSIGN": "false",
                                                                       "HANDOFF_EVENT_LOOP": loop})
            if args.widgets:
                pool = Workers(f"http://127.0.0.1:{bridges[loop].port}", 1 if q else 2, 100)
                workers.append(pool)
                grown = asyncio.run(pool.grow(args.widgets))
                print(f"event_loop: {loop} bridge holds {grown['connected']} widgets "
                      f"({grown['failed']} failed)", flush=True)
        for r in range(args.rounds):
            for loop in (LOOPS if r % 2 == 0 else tuple(reversed(LOOPS))):
                bridge = bridges[loop]
                url = f"http://127.0.0.1:{bridge.port}"
                cpu_before = bridge.cpu_s()
                m = asyncio.run(handoff_round_trips(url, url, agents, conversations=args.conversations,
                                                    rounds=1, relays=args.relays,
                                                    sequential_escalations=args.escalations))
                cpu_ms = (bridge.cpu_s() - cpu_before) * 1000
                relayed = m["relay_ms"]["n"] or 0
                per_arm[loop].append({"round": r, "relay_ms": m["relay_ms"], "escalation_ms": m["escalation_ms"],
                                      "errors": m["errors"], "bridge_cpu_ms": round(cpu_ms, 1),
                                      "bridge_cpu_ms_per_relay": round(cpu_ms / relayed, 3) if relayed else None})
                print(f"  round {r} {loop:<7} relay p50/p99 {m['relay_ms']['p50']}/{m['relay_ms']['p99']} ms "
                      f"({relayed}), escalation p50/p99 {m['escalation_ms']['p50']}/{m['escalation_ms']['p99']} ms, "
                      f"bridge CPU {cpu_ms:.0f} ms, errors {m['errors']}", flush=True)
    finally:
        for pool in workers:
            pool.close()
        for bridge in bridges.values():
            bridge.stop()
        fake.stop()

    summary: dict[str, dict[str, Any]] = {}
    for loop, rounds in per_arm.items():
        summary[loop] = {
            "relay_p50_ms": _median([x["relay_ms"]["p50"] for x in rounds]),
            "relay_p99_ms": _median([x["relay_ms"]["p99"] for x in rounds]),
            "escalation_p50_ms": _median([x["escalation_ms"]["p50"] for x in rounds]),
            "escalation_p99_ms": _median([x["escalation_ms"]["p99"] for x in rounds]),
            "bridge_cpu_ms_per_relay": _median([x["bridge_cpu_ms_per_relay"] for x in rounds]),
            "relayed": sum(x["relay_ms"]["n"] or 0 for x in rounds),
            "errors": sum(x["errors"] for x in rounds),
        }
    result.update({"rounds": per_arm, "summary": summary})
    keys = ("relay_p50_ms", "relay_p99_ms", "escalation_p50_ms", "escalation_p99_ms", "bridge_cpu_ms_per_relay")
    rows = [[loop, args.widgets, *(summary[loop][k] for k in keys), summary[loop]["relayed"], summary[loop]["errors"]]
            for loop in LOOPS]
    rows.append(["uvloop / asyncio", "", *(ratio(summary["uvloop"][k], summary["asyncio"][k]) for k in keys), "", ""])
    result["table"] = print_table(
        ["event loop", "idle widgets", "relay p50 ms", "relay p99 ms", "escalation p50 ms", "escalation p99 ms",
         "bridge CPU ms per relayed message", "relayed", "errors"], rows,
        title=f"Bridge on uvloop vs asyncio (medians of {args.rounds} rounds each, interleaved)")
    path = run.finish(result, args.out)
    print(f"wrote {path}; logs in {logdir}")
    return result


if __name__ == "__main__":
    main()
