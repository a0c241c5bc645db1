"""Two bridge applications on one real Redis (store + python-socketio's Redis manager):
a visitor connected to one, an agent to the other; everything crosses over."""
from __future__ import annotations

import asyncio

from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve
from tests.handoff.chats import escalate


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


async def test_two_bridge_processes_on_one_redis(redis_url, fake_rasa, agents_file, tmp_path):
    """The same, with two real `python -m handoff` processes."""
    import os
    import subprocess
    import sys

    from tests.handoff.clients import BridgeServer
    from tests.support.processes import PROJECT_ROOT, free_port, stop, wait_for_port

    env = {**os.environ, "HANDOFF_STORE_URL": redis_url, "HANDOFF_STORE_PREFIX": "procs:",
           "HANDOFF_SECRET": "shared-secret-" + "z" * 30, "HANDOFF_AGENTS_FILE": agents_file,
           "HANDOFF_RASA_URL": fake_rasa.url, "HANDOFF_RASA_TOKEN": fake_rasa.token,
           "HANDOFF_AUTO_ASSIGN": "false", "HANDOFF_LOG_LEVEL": "WARNING"}
    procs, servers = [], []
    try:
        for n in range(2):
            port = free_port()
            log = open(tmp_path / f"bridge{n}.log", "wb")
            procs.append(subprocess.Popen([sys.executable, "-m", "handoff"], cwd=PROJECT_ROOT,
                                          env={**env, "HANDOFF_PORT": str(port)}, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))
            log.close()
            await asyncio.to_thread(wait_for_port, port, 30, procs[-1])
            server = BridgeServer.__new__(BridgeServer)
            server.port = port
            servers.append(server)
        one, two = servers
        visitor = Visitor(one.url)
        sid = await visitor.start()
        alice = await Agent.login(two, "alice", PASSWORDS["alice"])
        await asyncio.sleep(0.5)
        try:
            await escalate(visitor, fake_rasa)
            queue = await alice.next("queue", lambda q: q["queue"], timeout=5)
            assert queue["queue"][0]["conversation_id"] == sid
            assert (await alice.call("claim", {"conversation_id": sid}))["ok"]
            await alice.next("assigned")
            await alice.call("message", {"conversation_id": sid, "text": "from process two"})
            assert (await visitor.bot_text(lambda m: m["sender"] == "agent"))["text"] == "from process two"
            await visitor.say("from process one")
            assert (await alice.next("visitor_message"))["text"] == "from process one"
        finally:
            await visitor.close()
            await alice.close()
    finally:
        for proc in procs:
            stop(proc)
