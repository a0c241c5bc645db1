"""The real Rasa (3.6.21, trained model) as a cluster, and killed under the bridge.

1. Two Rasa servers share a PostgreSQL tracker store (a fresh database) and a Redis lock
   store (a real redis-server). Messages of one conversation, fired at both servers
   alternately while earlier ones are still being processed, are each processed exactly
   once, in turns that do not interleave (every turn ends with action_listen before the
   next user message starts), in the order they arrived.

   What Rasa's lock store guarantees (rasa/core/lock_store.py, lock.py): each message
   takes a ticket (last issued + 1) for its conversation and waits (polling every 1 s)
   until every lower ticket is served, so turns are serialized in ticket order. Issuing
   a ticket is a read-modify-write of the lock in Redis (GET, then SET), not atomic: two
   messages of one conversation reaching two servers within the same millisecond or so
   could draw the same number. The test sends 25 ms apart, the case the lock store is
   made for; the bridge itself never sends two messages of one conversation at once
   from one process (per-conversation lock in routing.py).

2. A bridge on one of these Rasa servers: the Rasa process is killed (SIGKILL); the next
   visitor message is answered with the notice and the conversation is queued for a
   person within the bridge's Rasa timeout.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest

from tests.handoff.clients import Visitor
from tests.handoff.conftest import serve
from tests.support.processes import RedisServer
from tests.support.rasa_stack import RasaStack

pytestmark = pytest.mark.timeout(600)

MESSAGES = 10
STAGGER_S = 0.025


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                    "-c", sql], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def rasa_cluster():
    """Two Rasa servers (each with its action server) on one PostgreSQL tracker store and
    one Redis lock store."""
    database = f"reliability_{uuid.uuid4().hex[:12]}"
    _psql(f'CREATE DATABASE "{database}"')
    redis = RedisServer().start()
    token = uuid.uuid4().hex
    env = {"TRACKER_STORE_URL": f"postgresql://postgres@127.0.0.1:5432/{database}",
           "LOCK_STORE_URL": redis.url}
    stacks = [RasaStack(token=token, endpoints_env=env, start_timeout=400) for _ in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:       # load both models at the same time
            for future in [pool.submit(stack.start) for stack in stacks]:
                future.result()
        yield stacks, token
    finally:
        for stack in stacks:
            stack.stop()
        redis.stop()
        try:
            _psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        except subprocess.CalledProcessError:
            pass


async def test_one_conversation_on_two_rasa_servers_is_serialized(rasa_cluster):
    stacks, token = rasa_cluster
    sender = f"cluster-{uuid.uuid4().hex[:8]}"
    texts = [f"hello number {i}" for i in range(MESSAGES)]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as session:
        async def send(i: int) -> list:
            await asyncio.sleep(i * STAGGER_S)
            url = f"{stacks[i % 2].url}/webhooks/rest/webhook?token={token}"
            async with session.post(url, json={"sender": sender, "message": texts[i]}) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        started = time.monotonic()
        replies = await asyncio.gather(*(send(i) for i in range(MESSAGES)))
        elapsed = time.monotonic() - started
        assert all(isinstance(r, list) and r for r in replies), replies
        async with session.get(f"{stacks[0].url}/conversations/{sender}/tracker?token={token}") as response:
            tracker = await response.json()
    events = tracker["events"]
    users = [e["text"] for e in events if e["event"] == "user"]
    assert sorted(users) == sorted(texts) and len(users) == MESSAGES, users   # each exactly once
    assert users == texts, users                                               # in arrival order
    # turns do not interleave: between two user messages the earlier turn ended (action_listen)
    positions = [i for i, e in enumerate(events) if e["event"] == "user"]
    for start, end in zip(positions, positions[1:] + [len(events)]):
        turn = events[start + 1:end]
        names = [e.get("name") for e in turn if e["event"] == "action"]
        assert names and names[-1] == "action_listen", (events[start]["text"], names)
        assert any(e["event"] == "bot" for e in turn), events[start]["text"]
    print(f"\nFIGURES rasa_cluster: messages={MESSAGES} stagger_ms={STAGGER_S * 1000:.0f} "
          f"all_handled_s={elapsed:.1f}")


async def test_real_rasa_killed_under_the_bridge(rasa_cluster, make_settings):
    stacks, token = rasa_cluster
    stack = stacks[1]
    timeout_s = 5.0
    async with serve(make_settings(rasa_url=stack.url, rasa_token=token, rasa_timeout_s=timeout_s)) as server:
        visitor = Visitor(server.url)
        try:
            await visitor.start()
            await visitor.say("hi")
            first = await visitor.bot_text(lambda m: m["sender"] == "bot", timeout=60)
            assert first["text"]
            os.killpg(stack.rasa_proc.pid, signal.SIGKILL)
            stack.rasa_proc.wait()
            sent = time.monotonic()
            await visitor.say("where is my order?")
            told = await visitor.bot_text(lambda m: m["sender"] == "system", timeout=timeout_s + 5)
            assert "not available" in told["text"]
            state = await visitor.next("conversation_state", lambda s: s["state"] == "queued", timeout=5)
            elapsed = time.monotonic() - sent
            assert state["reason"] == "bot_unavailable"
            assert elapsed < timeout_s + 1.5, elapsed
            print(f"\nFIGURES real_rasa_killed: queued_after_s={elapsed:.2f}")
        finally:
            await visitor.close()
