"""Two bridge applications on one real Redis (store + python-socketio's Redis manager):
a visitor connected to one, an agent to the other; everything crosses over."""
from __future__ import annotations

import asyncio

from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve
from tests.handoff.test_flow import escalate


async def test_visitor_and_agent_on_different_bridges(make_settings, redis_url, fake_rasa):
    settings = make_settings(store_url=redis_url, store_prefix="multi:", auto_assign=True)
    async with serve(settings) as one, serve(settings) as two:
        visitor = Visitor(one.url)
        sid = await visitor.start()
        alice = await Agent.login(two, "alice", PASSWORDS["alice"])
        await asyncio.sleep(0.5)   # both Redis listeners subscribed
        try:
            await escalate(visitor, fake_rasa)
            assigned = await alice.next("assigned", timeout=5)
            assert assigned["conversation"]["id"] == sid
            await visitor.next("conversation_state", lambda s: s["state"] == "agent", timeout=5)

            ack = await alice.call("message", {"conversation_id": sid, "text": "Hello from bridge two"})
            assert ack["ok"]
            said = await visitor.bot_text(lambda m: m["sender"] == "agent")
            assert said["text"] == "Hello from bridge two" and said["agent_name"] == "Alice"

            await visitor.say("Hello from bridge one")
            got = await alice.next("visitor_message")
            assert got["text"] == "Hello from bridge one"

            # a second tab on the other bridge continues the same conversation
            tab = Visitor(two.url)
            try:
                assert await tab.start(sid) == sid
                history = await tab.next("history")
                assert [m["text"] for m in history["messages"] if m["sender"] in ("visitor", "agent")][-2:] == \
                    ["Hello from bridge two", "Hello from bridge one"]
                await alice.call("message", {"conversation_id": sid, "text": "both tabs?"})
                assert (await tab.bot_text(lambda m: m["text"] == "both tabs?"))["sender"] == "agent"
                assert (await visitor.bot_text(lambda m: m["text"] == "both tabs?"))["sender"] == "agent"
            finally:
                await tab.close()

            # the token works on both bridges (shared secret); logout on one revokes on both
            status, _ = await one.http("GET", "/api/queue", headers={"Authorization": f"Bearer {alice.token}"})
            assert status == 200
            status, _ = await two.http("POST", "/api/agent/logout", headers={"Authorization": f"Bearer {alice.token}"})
            assert status == 200
            status, _ = await one.http("GET", "/api/queue", headers={"Authorization": f"Bearer {alice.token}"})
            assert status == 401
        finally:
            await visitor.close()
            await alice.close()


async def test_racing_claims_across_bridges(make_settings, redis_url, fake_rasa):
    settings = make_settings(store_url=redis_url, store_prefix="race:")
    async with serve(settings) as one, serve(settings) as two:
        visitor = Visitor(one.url)
        await visitor.start()
        alice = await Agent.login(one, "alice", PASSWORDS["alice"])
        bob = await Agent.login(two, "bob", PASSWORDS["bob"])
        try:
            await escalate(visitor, fake_rasa, topic="general")
            acks = await asyncio.gather(alice.call("claim", {"conversation_id": visitor.session_id}),
                                        bob.call("claim", {"conversation_id": visitor.session_id}))
            assert sorted(a["ok"] for a in acks) == [False, True]
        finally:
            await visitor.close()
            await alice.close()
            await bob.close()
