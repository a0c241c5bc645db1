"""Bridge capacity: connected widgets on one bridge process and its memory; agent ->
visitor relay and escalation -> console notification latency while it holds 1,000 and
10,000 connections; claims per second on Redis with 50 agents racing (double
assignments counted); two bridge processes on one Redis against one.

  .venv-bridge/bin/python bench/capacity.py            # full (about 3-5 minutes)
  .venv-bridge/bin/python bench/capacity.py --quick    # seconds, tiny sizes

Everything runs on 127.0.0.1: a fake Rasa process (tests/support/fake_rasa.py via
bench/fake_rasa_server.py: echo, and "human please" -> reply + handoff payload, so Rasa's
own time is not counted; its HTTP round trips are), the bridge as `python -m handoff`
(rate limits lifted: all clients share one IP), a throwaway redis-server
(tests/support/processes.RedisServer) for the Redis parts.

Widgets are raw WebSocket clients speaking Socket.IO v5 / Engine.IO v4 text frames
(bench/eio.py), spread over several worker processes (`--worker`, driven over
stdin/stdout); each connects, sends session_request (a conversation in the store), gets
session_confirm and then stays connected, answering pings. The measuring clients (agents
and a few visitors) run in this process. Timestamps are time.perf_counter()
(CLOCK_MONOTONIC: one clock for every process of the machine).

Parts (each writes into bench/results/capacity.json):
  connections  RSS and open files of the bridge at each step up to --max-connections
  latency      at each of --measure-at: escalation -> agent `queue` event; agent
               `message` -> visitor `bot_uttered` (embedded store, one bridge)
  claims       50 agents claim the same queued conversations in the same order (the
               worst race): claims/s, refusals, and double assignments (acks and store)
  two_bridges  the claims race and the relay with agents and visitors split over two
               bridge processes on one Redis, against one bridge on the same Redis
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from bench.common import PROJECT_ROOT, Run, print_table, raise_nofile, summary  # noqa: E402
from bench.eio import SioSocket, Waiter  # noqa: E402

GOAL_CONNECTIONS = 10_000
GOAL_RSS_MB = 1024
GOAL_RELAY_P99_MS = 50.0
GOAL_ESCALATION_P99_MS = 20.0
HANDOFF_TEXT = "human please"
AGENT_PASSWORD = "bench-agent-password"


# ============================================================================ worker

async def worker_main(url: str, connect_parallel: int) -> None:
    """Holds idle widget connections; stdin: a target count per line, or 'quit'."""
    raise_nofile()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False))
    sockets: list[SioSocket] = []
    failed = 0
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    sem = asyncio.Semaphore(connect_parallel)

    async def one() -> None:
        nonlocal failed
        async with sem:
            confirm = loop.create_future()

            def on_event(event: str, data: Any, t: float) -> None:
                if event == "session_confirm" and not confirm.done():
                    confirm.set_result(data)

            sock = SioSocket(session, url, "/", on_event)
            try:
                await sock.connect(timeout=60)
                await sock.emit("session_request", {"session_id": None})
                await asyncio.wait_for(confirm, 60)
                sockets.append(sock)
            except Exception:  # noqa: BLE001 - counted, reported
                failed += 1
                await sock.close()

    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":
            break
        target = int(line)
        t0 = time.perf_counter()
        need = target - len(sockets)
        if need > 0:
            await asyncio.gather(*(one() for _ in range(need)))
        alive = sum(1 for s in sockets if not s.closed)
        print(json.dumps({"connected": alive, "failed": failed,
                          "seconds": round(time.perf_counter() - t0, 3)}), flush=True)
    for s in sockets:
        await s.close()
    await session.close()


class Workers:
    """Client processes holding idle connections."""

    def __init__(self, url: str, n: int, connect_parallel: int):
        self.procs = []
        for _ in range(n):
            self.procs.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", "--url", url,
                 "--connect-parallel", str(connect_parallel)],
                cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                start_new_session=True))

    async def grow(self, total: int) -> dict[str, Any]:
        """Every worker to total/n connections; returns connected, failed, seconds."""
        n = len(self.procs)
        shares = [total // n + (1 if i < total % n else 0) for i in range(n)]
        t0 = time.perf_counter()
        for proc, share in zip(self.procs, shares):
            proc.stdin.write(f"{share}\n")
            proc.stdin.flush()
        replies = await asyncio.gather(*(asyncio.to_thread(proc.stdout.readline) for proc in self.procs))
        elapsed = time.perf_counter() - t0
        parsed = [json.loads(r) for r in replies if r.strip()]
        if len(parsed) != n:
            raise RuntimeError(f"a client worker died: {replies!r}")
        return {"connected": sum(p["connected"] for p in parsed), "failed": sum(p["failed"] for p in parsed),
                "seconds": round(elapsed, 2)}

    def close(self) -> None:
        for proc in self.procs:
            try:
                proc.stdin.write("quit\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ============================================================================ clients

class Agent:
    """An agent console on /agent (raw socket), recording queue events."""

    def __init__(self, http: aiohttp.ClientSession, url: str, agent_id: str):
        self.http, self.url, self.id = http, url, agent_id
        self.waiter = Waiter()
        self.sock = SioSocket(http, url, "/agent", self.waiter)

    async def connect(self) -> "Agent":
        async with self.http.post(self.url + "/api/agent/login",
                                  json={"username": self.id, "password": AGENT_PASSWORD}) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"login {self.id}: {resp.status} {body}")
        queue_seen = self.waiter.expect(lambda e, d: e == "queue")
        await self.sock.connect(auth={"token": body["token"]})
        await asyncio.wait_for(queue_seen, 30)
        return self

    async def close(self) -> None:
        self.waiter.cancel_all()
        await self.sock.close()


class Visitor:
    def __init__(self, http: aiohttp.ClientSession, url: str):
        self.waiter = Waiter()
        self.sock = SioSocket(http, url, "/", self.waiter)
        self.session_id: str | None = None

    async def connect(self) -> "Visitor":
        await self.sock.connect()
        return self

    async def new_session(self) -> str:
        fut = self.waiter.expect(lambda e, d: e == "session_confirm")
        await self.sock.emit("session_request", {"session_id": None})
        self.session_id, _ = await asyncio.wait_for(fut, 30)
        return self.session_id

    async def close(self) -> None:
        self.waiter.cancel_all()
        await self.sock.close()


def _in_queue(conversation_id: str):
    def match(event: str, data: Any) -> bool:
        return event == "queue" and isinstance(data, dict) and any(
            item.get("conversation_id") == conversation_id for item in data.get("queue") or [])
    return match


async def handoff_round_trips(visitor_url: str, agent_url: str, agent_ids: list[str], *,
                              conversations: int, rounds: int, relays: int,
                              sequential_escalations: int = 0) -> dict[str, Any]:
    """First `sequential_escalations` escalations one at a time (each: a new session sends
    "human please"; timed until the first agent's console gets the `queue` event naming
    it; then claimed and closed, untimed). Then `conversations` visitors in parallel, each
    `rounds` times: escalate (timed the same way, now among the others' traffic), be
    claimed, get `relays` agent messages one after the other (each timed from the agent's
    emit to the visitor's bot_uttered), be closed."""
    from bench.procs import rasa_call_means, rasa_call_totals
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    agents = [await Agent(http, agent_url, a).connect() for a in agent_ids]
    visitors = [await Visitor(http, visitor_url).connect() for _ in range(max(1, conversations))]
    calls0 = await asyncio.to_thread(rasa_call_totals, visitor_url)
    escalation: list[float] = []
    escalation_busy: list[float] = []
    relay: list[float] = []
    errors: list[str] = []

    async def escalate(v: Visitor, agent: Agent, into: list[float]) -> str:
        cid = await v.new_session()
        noticed = agents[0].waiter.expect(_in_queue(cid))
        queued = v.waiter.expect(lambda e, d: e == "conversation_state" and d.get("state") == "queued")
        t0 = time.perf_counter()
        await v.sock.emit("user_uttered", {"message": HANDOFF_TEXT, "session_id": cid})
        _, t1 = await asyncio.wait_for(noticed, 30)
        into.append((t1 - t0) * 1000)
        await asyncio.wait_for(queued, 30)
        ack = await agent.sock.call("claim", {"conversation_id": cid})
        if not ack or not ack.get("ok"):
            raise RuntimeError(f"claim refused: {ack}")
        return cid

    async def close(agent: Agent, cid: str) -> None:
        ack = await agent.sock.call("close", {"conversation_id": cid, "resolution": "bench"})
        if not ack or not ack.get("ok"):
            raise RuntimeError(f"close refused: {ack}")

    async def loop(i: int) -> None:
        v = visitors[i]
        agent = agents[i % len(agents)]
        for _ in range(rounds):
            try:
                cid = await escalate(v, agent, escalation_busy)
                for k in range(relays):
                    text = f"relay {i} {k}"
                    got = v.waiter.expect(lambda e, d, text=text: e == "bot_uttered" and d.get("text") == text)
                    t0 = time.perf_counter()
                    await agent.sock.emit("message", {"conversation_id": cid, "text": text})
                    _, t1 = await asyncio.wait_for(got, 30)
                    relay.append((t1 - t0) * 1000)
                await close(agent, cid)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(f"{exc.__class__.__name__}: {exc}")
                if len(errors) > 20:
                    raise

    t0 = time.perf_counter()
    try:
        for k in range(sequential_escalations):
            try:
                cid = await escalate(visitors[0], agents[k % len(agents)], escalation)
                await close(agents[k % len(agents)], cid)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{exc.__class__.__name__}: {exc}")
                if len(errors) > 20:
                    raise
        calls_seq = rasa_call_means(calls0, await asyncio.to_thread(rasa_call_totals, visitor_url))
        calls1 = await asyncio.to_thread(rasa_call_totals, visitor_url)
        if conversations and rounds:
            await asyncio.gather(*(loop(i) for i in range(conversations)))
    finally:
        elapsed = time.perf_counter() - t0
        calls = rasa_call_means(calls1, await asyncio.to_thread(rasa_call_totals, visitor_url))
        for c in [*visitors, *agents]:
            await c.close()
        await http.close()
    if not sequential_escalations:   # the escalations among the relays are all there is
        escalation = escalation_busy
        calls_seq = calls
    return {"escalation_ms": summary(escalation), "escalation_under_relay_load_ms": summary(escalation_busy),
            "relay_ms": summary(relay), "errors": len(errors), "error_examples": errors[:5],
            "seconds": round(elapsed, 2), "sequential_escalations": sequential_escalations,
            "fake_rasa_calls_seen_by_bridge": calls_seq, "fake_rasa_calls_under_relay_load": calls,
            "conversations_in_parallel": conversations, "agents": len(agent_ids)}


# ============================================================================ claims race

async def seed_queue(redis_url: str, n: int) -> list[str]:
    """n queued conversations written straight into the Redis store (FIFO, equal priority)."""
    from handoff.store import Conversation, open_store
    store = open_store(redis_url)
    await store.start()
    ids = []
    try:
        now = time.time()
        for i in range(n):
            cid = f"bench-claim-{i:05d}-{os.urandom(4).hex()}"
            t = now + i * 1e-3
            await store.create_conversation(Conversation(
                id=cid, state="queued", created_at=t, updated_at=t, reason="human_requested",
                topic="general", priority=20, queued_at=t, summary="bench"))
            await store.enqueue(cid, 20, t)
            ids.append(cid)
    finally:
        await store.close()
    return ids


async def store_owners(redis_url: str, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    from handoff.store import open_store
    store = open_store(redis_url)
    await store.start()
    try:
        out = {}
        for cid in ids:
            c = await store.get_conversation(cid)
            out[cid] = (c.state, c.agent_id) if c else ("missing", None)
        return out
    finally:
        await store.close()


async def claims_race(redis_url: str, bridge_urls: list[str], agent_ids: list[str],
                      n_conversations: int) -> dict[str, Any]:
    """Every agent claims every conversation in the same order, one claim at a time,
    all agents at once. Agents are spread round-robin over the bridges."""
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    agents = [await Agent(http, bridge_urls[i % len(bridge_urls)], a).connect()
              for i, a in enumerate(agent_ids)]
    ids = await seed_queue(redis_url, n_conversations)
    wins: dict[str, list[str]] = {cid: [] for cid in ids}
    refusals: dict[str, int] = {}
    failures = 0
    start = asyncio.Event()

    async def race(agent: Agent) -> None:
        nonlocal failures
        await start.wait()
        for cid in ids:
            if wins[cid]:
                # the queue event may not have arrived yet; a real console would still try
                pass
            try:
                ack = await agent.sock.call("claim", {"conversation_id": cid}, timeout=60)
            except Exception:  # noqa: BLE001
                failures += 1
                continue
            if ack and ack.get("ok"):
                wins[cid].append(agent.id)
            else:
                code = ((ack or {}).get("error") or {}).get("message", "?")
                refusals[code] = refusals.get(code, 0) + 1

    tasks = [asyncio.create_task(race(a)) for a in agents]
    await asyncio.sleep(0.2)
    t0 = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    owners = await store_owners(redis_url, ids)
    for a in agents:
        await a.close()
    await http.close()
    claimed = sum(1 for w in wins.values() if w)
    double_acks = sum(1 for w in wins.values() if len(w) > 1)
    store_mismatch = sum(1 for cid, w in wins.items()
                         if (len(w) == 1 and owners[cid] != ("agent", w[0])) or
                         (not w and owners[cid][0] == "agent"))
    attempts = len(agents) * len(ids)
    return {"agents": len(agents), "bridges": len(bridge_urls), "conversations": len(ids),
            "claimed": claimed, "unclaimed": len(ids) - claimed,
            "double_assignments": double_acks, "store_mismatches": store_mismatch,
            "attempts": attempts, "refused": sum(refusals.values()), "refusal_reasons": refusals,
            "ack_failures": failures, "seconds": round(elapsed, 3),
            "claims_per_s": round(claimed / elapsed, 2) if elapsed else None,
            "attempts_per_s": round(attempts / elapsed, 2) if elapsed else None}


def flush_redis(url: str) -> None:
    import redis
    client = redis.Redis.from_url(url)
    client.flushall()
    client.close()


# ============================================================================ main

def make_agents_file(path: Path, n: int) -> list[str]:
    from argon2 import PasswordHasher

    from handoff.agents import add_agent
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    ids = [f"agent{i:02d}" for i in range(n)]
    for a in ids:
        add_agent(str(path), a, name=a.title(), teams=["general", "billing", "orders"], capacity=50,
                  password=AGENT_PASSWORD, hasher=fast)
    return ids


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--connect-parallel", type=int, default=100)
    p.add_argument("--max-connections", type=int, default=None)
    p.add_argument("--steps", default=None, help="connection counts to stop at, e.g. 1000,2500,5000")
    p.add_argument("--measure-at", default=None, help="connection counts to measure latency at")
    p.add_argument("--workers", type=int, default=None, help="client processes")
    p.add_argument("--conversations", type=int, default=None, help="measured conversations in parallel")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--relays", type=int, default=None)
    p.add_argument("--escalations", type=int, default=None, help="escalations one at a time per measurement")
    p.add_argument("--claim-agents", type=int, default=50)
    p.add_argument("--claim-conversations", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.worker:
        asyncio.run(worker_main(args.url, args.connect_parallel))
        return {}
    q = args.quick
    args.max_connections = args.max_connections or (60 if q else GOAL_CONNECTIONS)
    args.steps = args.steps or ("30,60" if q else "1000,2500,5000,7500,10000")
    args.measure_at = args.measure_at or ("60" if q else "1000,10000")
    args.workers = args.workers or (1 if q else 4)
    args.conversations = args.conversations or (3 if q else 20)
    args.rounds = args.rounds or (1 if q else 10)
    args.relays = args.relays or (3 if q else 10)
    args.escalations = args.escalations or (5 if q else 200)
    if q and args.claim_agents == 50:
        args.claim_agents = 6
    args.claim_conversations = args.claim_conversations or (6 if q else 100)
    steps = sorted({int(x) for x in args.steps.split(",") if int(x) <= args.max_connections})
    measure_at = {int(x) for x in args.measure_at.split(",")}
    run = Run("capacity", q, ["bench/capacity.py", *(argv if argv is not None else sys.argv[1:])])
    nofile = raise_nofile()

    from bench.procs import start_bridge, start_fake_rasa, tempdir
    from tests.support.processes import RedisServer

    logdir = tempdir("bench-capacity-")
    agents_file = logdir / "agents.yml"
    agent_ids = make_agents_file(agents_file, max(args.claim_agents, 5))
    measure_agents = agent_ids[:5]
    result: dict[str, Any] = {**run.meta(), "nofile_soft_limit": nofile, "settings": vars(args).copy()}
    fake = start_fake_rasa(logdir)
    rasa_url, token = f"http://127.0.0.1:{fake.port}", "bench-fake-token"
    common = dict(rasa_url=rasa_url, rasa_token=token, agents_file=str(agents_file),
                  extra={"HANDOFF_AUTO_ASSIGN": "false"})
    try:
        # ---------------------------------------------------------------- connections
        bridge = start_bridge(logdir, **common)
        url = f"http://127.0.0.1:{bridge.port}"
        workers = None
        connections: list[dict[str, Any]] = []
        latency: dict[str, Any] = {}
        try:
            time.sleep(0.5)
            base = {"connections": 0, "rss_mb": round(bridge.rss_mb(), 1), "fds": bridge.num_fds(),
                    "connect_seconds": 0.0, "failed": 0}
            connections.append(base)
            print(f"capacity: bridge RSS at start {base['rss_mb']} MB", flush=True)
            workers = Workers(url, args.workers, args.connect_parallel)
            for step in steps:
                grown = asyncio.run(workers.grow(step))
                time.sleep(1.0)
                row = {"connections": grown["connected"], "target": step,
                       "rss_mb": round(bridge.rss_mb(), 1), "fds": bridge.num_fds(),
                       "connect_seconds": grown["seconds"], "failed": grown["failed"],
                       "bridge_cpu_s": round(bridge.cpu_s(), 1)}
                connections.append(row)
                print(f"  {row['connections']:>6} connected ({row['failed']} failed) in "
                      f"{row['connect_seconds']} s; bridge RSS {row['rss_mb']} MB, {row['fds']} fds", flush=True)
                if step in measure_at:
                    m = asyncio.run(handoff_round_trips(url, url, measure_agents, conversations=args.conversations,
                                                        rounds=args.rounds, relays=args.relays,
                                                        sequential_escalations=args.escalations))
                    m["connections"] = row["connections"]
                    m["rss_mb_after"] = round(bridge.rss_mb(), 1)
                    latency[str(step)] = m
                    print(f"  at {step}: escalation p50/p99 {m['escalation_ms']['p50']}/{m['escalation_ms']['p99']} ms, "
                          f"relay p50/p99 {m['relay_ms']['p50']}/{m['relay_ms']['p99']} ms, errors {m['errors']}",
                          flush=True)
        finally:
            if workers is not None:
                workers.close()
            bridge.stop()
        top = connections[-1]
        per_conn_kb = ((top["rss_mb"] - base["rss_mb"]) * 1024 / top["connections"]) if top["connections"] else None
        result["connections"] = {"steps": connections, "max_connected": top["connections"],
                                 "rss_mb_at_max": top["rss_mb"],
                                 "rss_kb_per_connection": round(per_conn_kb, 1) if per_conn_kb else None,
                                 "store": "embedded"}
        result["latency"] = latency
        # ---------------------------------------------------------------- Redis: claims, two bridges
        with RedisServer() as redis_server:
            redis_common = {**common, "store_url": redis_server.url}
            claims: dict[str, Any] = {}
            relay2: dict[str, Any] = {}
            for n_bridges in (1, 2):
                flush_redis(redis_server.url)
                bridges = [start_bridge(logdir, name=f"bridge-redis-{n_bridges}-{i}", **redis_common)
                           for i in range(n_bridges)]
                urls = [f"http://127.0.0.1:{b.port}" for b in bridges]
                try:
                    race = asyncio.run(claims_race(redis_server.url, urls, agent_ids[:args.claim_agents],
                                                   args.claim_conversations))
                    claims[str(n_bridges)] = race
                    print(f"  claims race, {n_bridges} bridge(s): {race['claimed']}/{race['conversations']} "
                          f"claimed, {race['claims_per_s']}/s, double assignments {race['double_assignments']}, "
                          f"store mismatches {race['store_mismatches']}", flush=True)
                    flush_redis(redis_server.url)
                    # relay with visitors on the first bridge, agents on the last one
                    m = asyncio.run(handoff_round_trips(urls[0], urls[-1], measure_agents,
                                                        conversations=max(2, args.conversations // 2),
                                                        rounds=max(1, args.rounds // 2), relays=args.relays,
                                                        sequential_escalations=max(5, args.escalations // 2)))
                    relay2[str(n_bridges)] = m
                    print(f"  relay on Redis, {n_bridges} bridge(s): p50/p99 {m['relay_ms']['p50']}/"
                          f"{m['relay_ms']['p99']} ms; escalation p50/p99 {m['escalation_ms']['p50']}/"
                          f"{m['escalation_ms']['p99']} ms", flush=True)
                finally:
                    for b in bridges:
                        b.stop()
            result["claims"] = claims
            result["two_bridges"] = {"relay": relay2,
                                     "claims_per_s": {k: v["claims_per_s"] for k, v in claims.items()}}
    finally:
        fake.stop()

    levels = sorted(result["latency"], key=int)
    top_latency = result["latency"].get(str(max(measure_at & set(steps)))) if measure_at & set(steps) else None
    result["goals"] = {
        "connections": {"goal": GOAL_CONNECTIONS, "value": result["connections"]["max_connected"],
                        "met": result["connections"]["max_connected"] >= GOAL_CONNECTIONS},
        "rss_mb": {"goal": GOAL_RSS_MB, "value": result["connections"]["rss_mb_at_max"],
                   "met": result["connections"]["rss_mb_at_max"] <= GOAL_RSS_MB},
        "relay_p99_ms": {"goal": GOAL_RELAY_P99_MS,
                         "value": {k: result["latency"][k]["relay_ms"]["p99"] for k in levels},
                         "met": all((result["latency"][k]["relay_ms"]["p99"] or 1e9) <= GOAL_RELAY_P99_MS
                                    for k in levels)},
        "escalation_p99_ms": {"goal": GOAL_ESCALATION_P99_MS,
                              "value": {k: result["latency"][k]["escalation_ms"]["p99"] for k in levels},
                              "met": all((result["latency"][k]["escalation_ms"]["p99"] or 1e9) <= GOAL_ESCALATION_P99_MS
                                         for k in levels)},
        "no_double_assignment": {"goal": 0, "value": sum(c["double_assignments"] + c["store_mismatches"]
                                                          for c in result["claims"].values()),
                                 "met": all(c["double_assignments"] == 0 and c["store_mismatches"] == 0
                                            for c in result["claims"].values())},
    }
    del top_latency
    rows = [[r["connections"], r["rss_mb"], r["fds"], r["connect_seconds"], r["failed"]]
            for r in result["connections"]["steps"]]
    t1 = print_table(["connections", "bridge RSS MB", "open fds", "connect s", "failed"], rows,
                     title="Connected widgets on one bridge process (embedded store)")
    rows = [[k, v["escalation_ms"]["n"], v["escalation_ms"]["p50"], v["escalation_ms"]["p99"],
             v["escalation_under_relay_load_ms"]["p50"], v["escalation_under_relay_load_ms"]["p99"],
             v["relay_ms"]["n"], v["relay_ms"]["p50"], v["relay_ms"]["p99"], v["errors"]]
            for k, v in sorted(result["latency"].items(), key=lambda kv: int(kv[0]))]
    t2 = print_table(["connections", "escalations", "escalation p50 ms", "escalation p99 ms",
                      "among relays p50", "among relays p99", "relays",
                      "relay p50 ms", "relay p99 ms", "errors"], rows,
                     title="Escalation -> console and agent -> visitor relay (fake Rasa)")
    rows = [[k, v["agents"], v["conversations"], v["claimed"], v["claims_per_s"], v["attempts_per_s"],
             v["double_assignments"], v["store_mismatches"],
             result["two_bridges"]["relay"][k]["relay_ms"]["p50"], result["two_bridges"]["relay"][k]["relay_ms"]["p99"]]
            for k, v in result["claims"].items()]
    t3 = print_table(["bridges on one Redis", "agents", "queued", "claimed", "claims/s", "claim attempts/s",
                      "double assignments", "store mismatches", "relay p50 ms", "relay p99 ms"], rows,
                     title="Claims race and relay on Redis: one bridge against two")
    result["table"] = "\n".join([t1, t2, t3])
    path = run.finish(result, args.out)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
