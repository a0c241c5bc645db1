"""Soak: many conversations over a long time with random disconnects, on two real bridge
processes sharing a real Redis (fake Rasa). Checks at the end, per conversation, that no
acknowledged message (visitor or agent) was lost or logged twice and that the order was
kept, that every screen showed each message once, and how much the bridges' memory grew.

    .venv-bridge/bin/python -m tests.reliability.soak --conversations 200 --seconds 600
    .venv-bridge/bin/python -m tests.reliability.soak --conversations 30 --seconds 30 --json out.json

tests/reliability/test_soak.py runs a short version in the test suite; the figures of a
full run are in docs/reliability.md. Exit status 1 when a check fails.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from handoff.agents import add_agent
from handoff.auth import issue_token
from handoff.shapes import to_wire
from handoff.store.redis import RedisStore
from tests.reliability.harness import (QUIET_LIMITS, BridgeProcess, ResilientAgent, ResilientVisitor,
                                       until)
from tests.support.fake_rasa import FakeRasa
from tests.support.processes import RedisServer

SECRET = "soak-secret-" + "s" * 32
HUMAN = "please let me talk to a person"


@dataclass
class SoakResult:
    conversations: int
    seconds: float
    bridges: int
    visitor_messages: int = 0
    agent_messages: int = 0
    bot_replies: int = 0
    visitor_disconnects: int = 0
    agent_disconnects: int = 0
    ack_latency_ms_p50: float = 0.0
    ack_latency_ms_p99: float = 0.0
    rss_start_mb: list[float] = field(default_factory=list)
    rss_end_mb: list[float] = field(default_factory=list)
    rss_growth_mb: float = 0.0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    shown_wrong: int = 0
    unanswered_bot: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def full_log(store: RedisStore, conversation_id: str) -> list[dict[str, Any]]:
    """The whole log as stored (history replays only the newest 1000 messages)."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page = await store.messages(conversation_id, after_id=after, limit=1000)
        out += [to_wire(m) for m in page if m.sender != "note"]
        if len(page) < 1000:
            return out
        after = page[-1].id


async def _drop(client) -> None:
    """A network drop: the transport is closed under the client, which reconnects itself."""
    eio = client.sio.eio
    ws = getattr(eio, "ws", None)
    if ws is not None and not ws.closed:
        await ws.close()


async def run_soak(conversations: int = 30, seconds: float = 30.0, *, bridges: int = 2,
                   disconnect_every_s: float = 8.0, human_share: float = 0.3, agents: int = 5,
                   workdir: Path | None = None, seed: int = 7, log=print) -> SoakResult:
    rng = random.Random(seed)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="soak-"))
    result = SoakResult(conversations=conversations, seconds=seconds, bridges=bridges)
    agents_file = str(workdir / "agents.yml")
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    agent_names = [f"soak{i}" for i in range(agents)]
    for name in agent_names:
        add_agent(agents_file, name, name=name.title(), teams=["general"], capacity=50,
                  password="unused-" + name, hasher=hasher)
    latencies: list[float] = []
    with RedisServer() as redis:
        async with FakeRasa() as fake:
            fake.replies[HUMAN] = [{"text": "Connecting you."}, fake.handoff("human_requested", "general")]
            env = {"HANDOFF_STORE_URL": redis.url, "HANDOFF_STORE_PREFIX": "soak:", "HANDOFF_SECRET": SECRET,
                   "HANDOFF_AGENTS_FILE": agents_file, "HANDOFF_RASA_URL": fake.url,
                   "HANDOFF_RASA_TOKEN": fake.token, "HANDOFF_AUTO_ASSIGN": "true",
                   "HANDOFF_ASSIGN_INTERVAL_S": "0.5", "HANDOFF_AGENT_DISCONNECT_GRACE_S": "30",
                   "HANDOFF_AGENT_ANSWER_TIMEOUT_S": "600", "HANDOFF_LOG_LEVEL": "WARNING", **QUIET_LIMITS}
            procs = [BridgeProcess(env, workdir) for _ in range(bridges)]
            for proc in procs:
                await proc.astart()
            consoles = [ResilientAgent(procs[i % bridges].url, issue_token(name, SECRET, 24 * 3600)[0], name)
                        for i, name in enumerate(agent_names)]
            visitors = [ResilientVisitor(procs[i % bridges].url, f"v{i}") for i in range(conversations)]
            agent_sent: dict[str, list[str]] = {}
            stop = asyncio.Event()
            try:
                for console in consoles:
                    await console.start()
                for i in range(0, conversations, 20):
                    await asyncio.gather(*(v.start() for v in visitors[i:i + 20]))
                humans = visitors[: int(conversations * human_share)]
                for v in humans:
                    await v.send(HUMAN)
                await until(lambda: sum(len({a["conversation"]["id"] for a in c.assigned}) for c in consoles)
                            >= len(humans), 30, "escalated chats assigned")
                owner = {a["conversation"]["id"]: c for c in consoles for a in c.assigned}
                await asyncio.sleep(1.0)
                result.rss_start_mb = [round(p.rss() / 2**20, 1) for p in procs]
                started = time.monotonic()

                async def visitor_loop(v: ResilientVisitor) -> None:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        t0 = time.monotonic()
                        await v.send(f"{v.name} says {n}", deadline_s=120)
                        latencies.append(time.monotonic() - t0)
                        await asyncio.sleep(rng.uniform(0.3, 1.5))

                async def agent_loop(console: ResilientAgent) -> None:
                    seen = 0
                    while not stop.is_set():
                        fresh = console.visitor_messages[seen:]
                        seen += len(fresh)
                        for message in fresh:
                            cid = message["conversation_id"]
                            if owner.get(cid) is not console:
                                continue
                            text = f"{console.name} re {message['text']}"
                            await console.send(cid, text, deadline_s=120)
                            agent_sent.setdefault(cid, []).append(text)
                        await asyncio.sleep(0.2)

                async def chaos() -> None:
                    clients: list[Any] = [*visitors, *consoles]
                    while not stop.is_set():
                        await asyncio.sleep(rng.expovariate(1.0 / disconnect_every_s) / max(1, len(clients) / 10))
                        # every fifth drop is an agent's, so agents are dropped in short runs too
                        drops = result.visitor_disconnects + result.agent_disconnects
                        victim = rng.choice(consoles if drops % 5 == 4 else visitors)
                        if isinstance(victim, ResilientAgent):
                            result.agent_disconnects += 1
                        else:
                            result.visitor_disconnects += 1
                        await _drop(victim)

                tasks = [asyncio.create_task(visitor_loop(v)) for v in visitors]
                tasks += [asyncio.create_task(agent_loop(c)) for c in consoles]
                tasks.append(asyncio.create_task(chaos()))
                last_report = started
                while time.monotonic() - started < seconds:
                    await asyncio.sleep(1.0)
                    for task in tasks:
                        if task.done() and task.exception():
                            raise task.exception()
                    if time.monotonic() - last_report >= 60:
                        last_report = time.monotonic()
                        log(f"soak: {last_report - started:.0f}s, {sum(len(v.acked) for v in visitors)} visitor "
                            f"messages, rss {[round(p.rss() / 2**20, 1) for p in procs]} MB")
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 180)
                await asyncio.sleep(2.0)     # last replies land
                await until(lambda: all(v.bound.is_set() for v in visitors), 30, "visitors bound")
                result.rss_end_mb = [round(p.rss() / 2**20, 1) for p in procs]
                result.rss_growth_mb = round(max(e - s for s, e in zip(result.rss_start_mb, result.rss_end_mb)), 1)
                for proc in procs:
                    if not proc.alive():
                        result.problems.append(f"{proc.name} died:\n{proc.log()}")
                # the checks
                store = RedisStore(redis.url, prefix="soak:")
                await store.start()
                for v in visitors:
                    log_ = await full_log(store, v.session_id)
                    sent_ids = [mid for _, _, mid in v.acked]
                    logged = [m for m in log_ if m["sender"] == "visitor"]
                    logged_ids = [m["id"] for m in logged]
                    lost = [mid for mid in sent_ids if mid not in set(logged_ids)]
                    dup_clients = len(logged) - len({m.get("client_id") for m in logged})
                    result.lost += len(lost)
                    result.duplicated += dup_clients + (len(log_) - len({m["id"] for m in log_}))
                    if [i for i in logged_ids if i in set(sent_ids)] != sent_ids:
                        result.out_of_order += 1
                    expected_agent = agent_sent.get(v.session_id, [])
                    logged_agent = [m["text"] for m in log_ if m["sender"] == "agent"]
                    if logged_agent != expected_agent:
                        missing = [t for t in expected_agent if t not in logged_agent]
                        result.lost += len(missing)
                        result.duplicated += len(logged_agent) - len(set(logged_agent))
                        if not missing and len(set(logged_agent)) == len(logged_agent):
                            result.out_of_order += 1
                    shown = [m.get("text") for m in v.shown.values() if m.get("sender") in ("visitor", "agent")]
                    if len(shown) != len(set(shown)) or \
                            set(shown) != {t for _, t, _ in v.acked} | set(expected_agent):
                        result.shown_wrong += 1
                    if v not in humans:
                        answered = {m.get("text") for m in log_ if m["sender"] == "bot"}
                        result.bot_replies += len(answered)
                        result.unanswered_bot += sum(1 for _, t, _ in v.acked if f"echo: {t}" not in answered)
                await store.close()
                result.visitor_messages = sum(len(v.acked) for v in visitors)
                result.agent_messages = sum(map(len, agent_sent.values()))
                if latencies:
                    ordered = sorted(latencies)
                    result.ack_latency_ms_p50 = round(statistics.median(ordered) * 1000, 1)
                    result.ack_latency_ms_p99 = round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1)
                for name in ("lost", "duplicated", "out_of_order", "shown_wrong"):
                    if getattr(result, name):
                        result.problems.append(f"{name}: {getattr(result, name)}")
            finally:
                stop.set()
                await asyncio.gather(*(c.close() for c in (*visitors, *consoles)), return_exceptions=True)
                for proc in procs:
                    proc.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--bridges", type=int, default=2)
    parser.add_argument("--disconnect-every", type=float, default=8.0,
                        help="mean seconds between random disconnects per 10 clients")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    result = asyncio.run(run_soak(args.conversations, args.seconds, bridges=args.bridges,
                                  disconnect_every_s=args.disconnect_every))
    figures = {**asdict(result), "ok": result.ok}
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
