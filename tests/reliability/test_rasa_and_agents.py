"""Rasa failing, agents going away (docs/reliability.md).

- Rasa hangs or is killed: the visitor is told and queued for a person within the
  configured timeout (HANDOFF_RASA_TIMEOUT_S); once Rasa is back, new conversations go
  to the bot again. (The fake Rasa here; tests/reliability/test_rasa_cluster.py kills
  the real one.)
- An agent disconnects mid-chat, or the bridge process holding the agent's socket is
  killed: after the grace period the chat is back in the queue with priority and the
  visitor is told.
"""
from __future__ import annotations

import asyncio
import time

from handoff.auth import issue_token
from handoff.queueing import REQUEUE_BONUS, base_priority
from tests.reliability.conftest import SECRET
from tests.reliability.harness import ResilientAgent, ResilientVisitor, http, until

HUMAN = "I want a human please"
UNAVAILABLE = "Our assistant is not available right now"


async def test_rasa_hangs_or_dies_then_returns(fresh_redis, bridge_env, bridges, fake_rasa):
    timeout_s = 2.0
    (bridge,) = await bridges(bridge_env(fresh_redis.url, HANDOFF_RASA_TIMEOUT_S=str(timeout_s)))
    alice = await ResilientAgent(bridge.url, issue_token("alice", SECRET, 3600)[0], "alice").start()
    visitors = []
    try:
        figures = {}
        for how in ("hangs", "killed"):
            visitor = ResilientVisitor(bridge.url, how)
            visitors.append(visitor)
            await visitor.start()
            await visitor.send("hi")
            await until(lambda v=visitor: any(m.get("text") == "echo: hi" for m in v.shown.values()), 5, "bot answers")
            if how == "hangs":
                fake_rasa.delay = timeout_s + 2.5   # longer than the timeout
            else:
                await fake_rasa.stop()
            sent = time.monotonic()
            await visitor.send("are you there?")
            told = await until(lambda v=visitor: any(UNAVAILABLE in (m.get("text") or "")
                                                     for m in v.shown.values()), timeout_s + 5, "visitor told")
            await until(lambda v=visitor: any(s.get("state") == "queued" and s.get("reason") == "bot_unavailable"
                                              for s in v.states), 2, "queued")
            elapsed = time.monotonic() - sent
            assert elapsed < timeout_s + 1.5, (how, elapsed)
            figures[how] = elapsed
            await until(lambda v=visitor: v.session_id in [q["conversation_id"] for q in alice.queue.get("queue", [])],
                        3, "agent sees the chat in the queue")
            fake_rasa.delay = 0.0
            status, body = await http("GET", f"{bridge.url}/readyz")
            if how == "killed":
                assert status == 503 and body["rasa"] is False
        assert bridge.alive()

        await fake_rasa.start()             # Rasa is back, on the same port
        back = ResilientVisitor(bridge.url, "after")
        visitors.append(back)
        await back.start()
        await back.send("hello again")
        await until(lambda: any(m.get("text") == "echo: hello again" for m in back.shown.values()), 5,
                    "new conversation answered by the bot")
        assert not any(s.get("state") == "queued" for s in back.states)
        assert (await http("GET", f"{bridge.url}/readyz"))[0] == 200
        print(f"\nFIGURES rasa_down: queued_after_hang_s={figures['hangs']:.2f} "
              f"queued_after_kill_s={figures['killed']:.2f} (timeout {timeout_s}s)")
    finally:
        fake_rasa.delay = 0.0
        for client in (*visitors, alice):
            await client.close()


async def _chat_with(agent: ResilientAgent, visitor: ResilientVisitor) -> None:
    await visitor.start()
    await visitor.send(HUMAN)
    await until(lambda: any(s.get("state") == "queued" for s in visitor.states), 5, "queued")
    assert (await agent.call("claim", {"conversation_id": visitor.session_id}))["ok"]
    await agent.send(visitor.session_id, "Hello, Alice here")
    await until(lambda: any(s.get("state") == "agent" for s in visitor.states), 5, "with the agent")


async def _back_in_queue(visitor: ResilientVisitor, watcher: ResilientAgent, since: float, grace: float) -> float:
    await until(lambda: any("finding another agent" in (m.get("text") or "") for m in visitor.shown.values()),
                grace + 6, "visitor told")
    elapsed = time.monotonic() - since
    await until(lambda: any(s.get("state") == "queued" for s in visitor.states[-3:]), 2, "visitor state queued")
    await until(lambda: any(q["conversation_id"] == visitor.session_id for q in watcher.queue.get("queue", [])),
                3, "in the queue")
    entry = next(q for q in watcher.queue["queue"] if q["conversation_id"] == visitor.session_id)
    assert entry["priority"] >= base_priority("human_requested") + REQUEUE_BONUS, entry
    return elapsed


async def test_agent_disconnects_mid_chat(fresh_redis, bridge_env, bridges, fake_rasa):
    fake_rasa.replies[HUMAN] = [{"text": "One moment."}, fake_rasa.handoff("human_requested", "general")]
    grace = 2.0
    (bridge,) = await bridges(bridge_env(fresh_redis.url, HANDOFF_AGENT_DISCONNECT_GRACE_S=str(grace)))
    alice = await ResilientAgent(bridge.url, issue_token("alice", SECRET, 3600)[0], "alice").start()
    bob = await ResilientAgent(bridge.url, issue_token("bob", SECRET, 3600)[0], "bob").start()
    visitor = ResilientVisitor(bridge.url, "visitor")
    try:
        await _chat_with(alice, visitor)
        await alice.close()
        gone_at = time.monotonic()
        elapsed = await _back_in_queue(visitor, bob, gone_at, grace)
        assert grace - 0.3 <= elapsed <= grace + 3, elapsed
        # bob takes over and the conversation carries on
        assert (await bob.call("claim", {"conversation_id": visitor.session_id}))["ok"]
        await bob.send(visitor.session_id, "Bob here")
        await until(lambda: any(m.get("text") == "Bob here" for m in visitor.shown.values()), 3, "bob's reply")
        print(f"\nFIGURES agent_disconnect: requeued_after_s={elapsed:.2f} (grace {grace}s)")
    finally:
        for client in (visitor, alice, bob):
            await client.close()


async def test_bridge_holding_the_agent_dies_for_good(fresh_redis, bridge_env, bridges, fake_rasa):
    """The agent's bridge process is killed and nobody restarts it: no process will ever
    mark her offline, yet her chats go back to the queue after the grace period."""
    fake_rasa.replies[HUMAN] = [{"text": "One moment."}, fake_rasa.handoff("human_requested", "general")]
    grace = 2.0
    a, b = await bridges(bridge_env(fresh_redis.url, HANDOFF_AGENT_DISCONNECT_GRACE_S=str(grace)), 2)
    alice = await ResilientAgent(b.url, issue_token("alice", SECRET, 3600)[0], "alice").start()
    bob = await ResilientAgent(a.url, issue_token("bob", SECRET, 3600)[0], "bob").start()
    visitor = ResilientVisitor(a.url, "visitor")
    try:
        await _chat_with(alice, visitor)
        alice.sio.reconnection = False
        b.kill9()
        killed_at = time.monotonic()
        elapsed = await _back_in_queue(visitor, bob, killed_at, grace)
        assert elapsed <= grace + 4, elapsed
        status, agents = await http("GET", f"{a.url}/api/agents", headers={"Authorization": f"Bearer {bob.token}"})
        assert status == 200
        assert next(x for x in agents["agents"] if x["id"] == "alice")["active"] == 0
        print(f"\nFIGURES agent_bridge_killed: requeued_after_s={elapsed:.2f} (grace {grace}s)")
    finally:
        for client in (visitor, alice, bob):
            await client.close()
