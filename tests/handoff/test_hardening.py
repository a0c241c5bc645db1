"""Fixes reported by the other engineers (reliability issue, part A):

1. leaving an agent is one atomic store step (release_to), claims check capacity in the
   same step (claim_if_room): no chat is left in 'agent' without an agent, no agent is
   pushed over capacity by racing bridges;
2. refused agent connections carry {code, message} as connect_error data (see also
   test_console.test_agent_namespace_refuses_without_a_valid_token);
3. logout or expiry disconnects the sockets opened with that token, in every process;
4. an agent's own replies reach every console tab of that agent.
"""
from __future__ import annotations

import asyncio
import time

import pytest
import socketio

from handoff.store.base import Store
from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve
from tests.handoff.chats import claimed_chat, escalate


def forbid_non_atomic(store: Store) -> list[str]:
    """Make the two-step store calls fail loudly: the router must not use them to leave
    or take an assignment. Returns the list of offending calls (should stay empty)."""
    used: list[str] = []

    async def release(*args, **kwargs):
        used.append("release")
        raise AssertionError("non-atomic release used")

    async def claim(*args, **kwargs):
        used.append("claim")
        raise AssertionError("claim without the capacity check used")

    store.release = release            # type: ignore[method-assign]
    store.claim = claim                # type: ignore[method-assign]
    return used


async def assert_consistent(store: Store) -> None:
    """No conversation in 'agent' without an agent, none with an agent outside 'agent',
    active counts equal to what agents hold."""
    held: dict[str, int] = {}
    for c in await store.list_conversations(limit=100_000):
        assert (c.state == "agent") == bool(c.agent_id), c
        if c.agent_id:
            held[c.agent_id] = held.get(c.agent_id, 0) + 1
    for status in await store.agent_statuses():
        assert status.active == held.get(status.agent_id, 0), (status, held)


async def test_hand_back_close_transfer_requeue_are_atomic(make_settings, store_url, fake_rasa):
    settings = make_settings(store_url=store_url, store_prefix="atomic:",
                             agent_answer_timeout_s=3.0)
    async with serve(settings) as server:
        store = server.bridge.store
        used = forbid_non_atomic(store)
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])
        bob = await Agent.login(server, "bob", PASSWORDS["bob"])
        visitors = [Visitor(server.url) for _ in range(4)]
        try:
            sids = []
            for visitor in visitors:
                sids.append(await visitor.start())
                await escalate(visitor, fake_rasa, topic="general")
            one, two, three, four = sids
            for sid, agent in ((one, alice), (two, alice), (three, alice), (four, bob)):
                assert (await agent.call("claim", {"conversation_id": sid}))["ok"]
                await agent.next("assigned", lambda a: a["conversation"]["id"] == sid)
            await alice.call("message", {"conversation_id": one, "text": "hi"})
            assert (await alice.call("hand_back", {"conversation_id": one}))["ok"]
            assert (await alice.call("close", {"conversation_id": two, "resolution": "done"}))["ok"]
            assert (await alice.call("transfer", {"conversation_id": three, "agent_id": "bob"}))["ok"]
            await bob.next("assigned", lambda a: a["conversation"]["id"] == three)
            await bob.call("message", {"conversation_id": three, "text": "hello"})
            # four: bob never answers -> taken back after agent_answer_timeout_s
            await bob.next("conversation_update",
                           lambda u: u["conversation_id"] == four and u.get("reason") == "agent_no_answer",
                           timeout=8)
            states = {sid: (await store.get_conversation(sid)).state for sid in sids}
            assert states[one] == "bot" and states[two] == "closed" and states[three] == "agent"
            assert states[four] == "queued" and four in await store.queue()
            assert used == []
            await assert_consistent(store)
            assert (await store.get_agent_status("alice")).active == 0
            assert (await store.get_agent_status("bob")).active == 1
        finally:
            for client in (*visitors, alice, bob):
                await client.close()


async def test_a_failure_after_release_cannot_strand_a_chat(make_settings, fake_rasa):
    """The old code released, then transitioned: if the transition failed, the chat
    stayed in 'agent' with no agent. Now the only store call is release_to; when it
    fails nothing changed, and the agent can simply try again."""
    async with serve(make_settings()) as server:
        store = server.bridge.store
        async with claimed_chat(server, fake_rasa) as (alice, visitor, sid):
            real = store.release_to
            calls = []

            async def failing(*args, **kwargs):
                calls.append(args)
                raise RuntimeError("process died here")

            store.release_to = failing          # type: ignore[method-assign]
            ack = await alice.call("close", {"conversation_id": sid, "resolution": "x"})
            assert ack["ok"] is False and ack["error"]["code"] == "unavailable" and calls
            conversation = await store.get_conversation(sid)
            assert conversation.state == "agent" and conversation.agent_id == "alice"
            store.release_to = real             # type: ignore[method-assign]
            assert (await alice.call("close", {"conversation_id": sid, "resolution": "x"}))["ok"]
            await assert_consistent(store)


async def test_racing_bridges_cannot_push_an_agent_over_capacity(make_settings, redis_url, fake_rasa):
    """carol has capacity 1; she claims two chats at once through two bridge processes."""
    settings = make_settings(store_url=redis_url, store_prefix="cap:")
    async with serve(settings) as one, serve(settings) as two:
        store = one.bridge.store
        visitors = [Visitor(one.url), Visitor(two.url)]
        carol_one = await Agent.login(one, "carol", PASSWORDS["carol"])
        carol_two = Agent(two, carol_one.token)
        await carol_two.sio.connect(two.url, namespaces=["/agent"], auth={"token": carol_two.token},
                                    transports=["websocket"], wait_timeout=5)
        try:
            sids = []
            for visitor in visitors:
                sids.append(await visitor.start())
                await escalate(visitor, fake_rasa)
            for _ in range(5):
                acks = await asyncio.gather(carol_one.call("claim", {"conversation_id": sids[0]}),
                                            carol_two.call("claim", {"conversation_id": sids[1]}))
                assert sorted(a["ok"] for a in acks) == [False, True], acks
                loser = next(a for a in acks if not a["ok"])
                assert loser["error"]["message"] == "you are at capacity"
                assert (await store.get_agent_status("carol")).active == 1
                won = sids[0] if acks[0]["ok"] else sids[1]
                assert (await (carol_one if acks[0]["ok"] else carol_two).call(
                    "transfer", {"conversation_id": won, "team": "billing"}))["ok"]
                await assert_consistent(store)
                await store.update_conversation(won, meta={})   # carol may take it again
        finally:
            for client in (*visitors, carol_one, carol_two):
                await client.close()


async def connected(agent: Agent, server) -> Agent:
    await agent.sio.connect(server.url, namespaces=["/agent"], auth={"token": agent.token},
                            transports=["websocket"], wait_timeout=5)
    await agent.rec.next("queue")
    return agent


async def wait_disconnected(agent: Agent, timeout: float) -> float:
    start = time.monotonic()
    while agent.sio.connected:
        if time.monotonic() - start > timeout:
            raise AssertionError(f"agent socket still connected after {timeout}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_logout_disconnects_open_sockets_on_every_bridge(make_settings, redis_url, fake_rasa):
    settings = make_settings(store_url=redis_url, store_prefix="logout:")
    async with serve(settings) as one, serve(settings) as two:
        alice = await Agent.login(one, "alice", PASSWORDS["alice"])
        same_token_elsewhere = await connected(Agent(two, alice.token), two)
        other_login = await Agent.login(one, "alice", PASSWORDS["alice"])   # another token
        try:
            status, _ = await one.http("POST", "/api/agent/logout",
                                       headers={"Authorization": f"Bearer {alice.token}"})
            assert status == 200
            assert await wait_disconnected(alice, 1.0) < 1.0                 # same process: at once
            assert await wait_disconnected(same_token_elsewhere, 2.5) < 2.5   # other process: next tick
            err = await alice.next("error", timeout=1)
            assert err["code"] == "unauthorized"
            # a reconnect with the revoked token is refused
            with pytest.raises(socketio.exceptions.ConnectionError):
                await connected(Agent(one, alice.token), one)
            # the session opened with another token is untouched
            assert other_login.sio.connected
            assert await other_login.call("presence", {"status": "online"}) == {"ok": True}
        finally:
            for client in (alice, same_token_elsewhere, other_login):
                await client.close()


async def test_expired_token_disconnects_and_refuses_events(make_settings):
    async with serve(make_settings(token_ttl_s=2)) as server:
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])
        try:
            assert await alice.call("presence", {"status": "online"}) == {"ok": True}
            waited = await wait_disconnected(alice, 5.0)
            assert waited < 5.0
            with pytest.raises(socketio.exceptions.ConnectionError):
                await connected(Agent(server, alice.token), server)
        finally:
            await alice.close()


async def test_revoked_socket_events_are_refused_before_the_disconnect(make_settings, fake_rasa):
    async with serve(make_settings(assign_interval_s=30)) as server:   # no token watch tick
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])
        try:
            from handoff import auth
            bridge = server.bridge
            await auth.revoke(alice.token, bridge.settings.secret, bridge.store)   # as another process would
            ack = await alice.call("presence", {"status": "online"})
            assert ack["ok"] is False and ack["error"]["code"] == "unauthorized"
            await wait_disconnected(alice, 2.0)
        finally:
            await alice.close()


async def test_agent_replies_reach_every_tab_of_that_agent(bridge, fake_rasa):
    tab1 = await Agent.login(bridge, "alice", PASSWORDS["alice"])
    tab2 = await connected(Agent(bridge, tab1.token), bridge)
    bob = await Agent.login(bridge, "bob", PASSWORDS["bob"])
    visitor = Visitor(bridge.url)
    try:
        sid = await visitor.start()
        await escalate(visitor, fake_rasa)
        assert (await tab1.call("claim", {"conversation_id": sid}))["ok"]
        await tab2.next("assigned")
        ack = await tab1.call("message", {"conversation_id": sid, "text": "on my way", "client_id": "c-1"})
        for tab in (tab1, tab2):
            got = await tab.next("agent_message")
            assert got == {"conversation_id": sid, "id": ack["id"], "client_id": "c-1", "text": "on my way",
                           "ts": got["ts"], "agent_id": "alice", "agent_name": "Alice"}
        # a resend (same client_id) is not announced twice; other agents see nothing
        again = await tab1.call("message", {"conversation_id": sid, "text": "on my way", "client_id": "c-1"})
        assert again["id"] == ack["id"]
        await tab2.rec.quiet("agent_message", 0.3)
        assert bob.rec.all("agent_message") == []
    finally:
        for client in (visitor, tab1, tab2, bob):
            await client.close()


async def test_history_replays_the_newest_messages_of_a_long_conversation(bridge):
    """A reconnecting tab must get what it missed, also after more than 1000 messages."""
    from handoff.routing import HISTORY_LIMIT
    from handoff.store.base import Message
    visitor = Visitor(bridge.url)
    tab = Visitor(bridge.url)
    try:
        sid = await visitor.start()
        store = bridge.bridge.store
        for i in range(HISTORY_LIMIT + 50):
            await store.append_message(Message(id=f"m{i:05d}", conversation_id=sid, ts=float(i),
                                               sender="visitor", text=f"n{i}", client_id=f"c{i}"))
        await tab.start(sid)
        history = await tab.next("history")
        texts = [m["text"] for m in history["messages"]]
        assert len(texts) == HISTORY_LIMIT and texts[-1] == f"n{HISTORY_LIMIT + 49}" and texts[0] == "n50"
    finally:
        await visitor.close()
        await tab.close()
