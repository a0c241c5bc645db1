"""The agent side: authentication of the /agent namespace, presence, the queue,
auto-assignment by skill and load, transfers, and taking chats back from agents who
do not answer or stay disconnected."""
from __future__ import annotations

import asyncio

import pytest
import socketio

from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve
from tests.handoff.chats import claimed_chat, escalate


async def connect_agent(server, auth, errors=None):
    """Connect to /agent; the refusal's data (connect_error) goes into errors."""
    client = socketio.AsyncClient(reconnection=False)

    @client.on("connect_error", namespace="/agent")
    async def refused(data):
        if errors is not None:
            errors.append(data)

    try:
        await client.connect(server.url, namespaces=["/agent"], auth=auth, transports=["websocket"],
                             wait_timeout=5)
    finally:
        if client.connected:
            await client.disconnect()
        http = getattr(client.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()


@pytest.mark.parametrize("auth", [None, {}, {"token": ""}, {"token": "garbage"},
                                  {"token": "eyJhbGciOiJIUzI1NiJ9.e30.invalid"}])
async def test_agent_namespace_refuses_without_a_valid_token(bridge, auth):
    errors = []
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect_agent(bridge, auth, errors)
    assert errors and errors[0]["data"]["code"] == "unauthorized"
    assert errors[0]["message"].startswith("unauthorized")


async def test_token_signed_with_another_secret_is_refused(bridge):
    from handoff.auth import issue_token
    token, _ = issue_token("alice", "another-secret-" + "y" * 30, 600)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect_agent(bridge, {"token": token})


async def test_logout_revokes_the_token(bridge):
    token = await bridge.login("alice", PASSWORDS["alice"])
    status, body = await bridge.http("POST", "/api/agent/logout", headers={"Authorization": f"Bearer {token}"})
    assert (status, body) == (200, {"ok": True})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect_agent(bridge, {"token": token})
    status, body = await bridge.http("GET", "/api/queue", headers={"Authorization": f"Bearer {token}"})
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_login_answers(bridge):
    status, body = await bridge.http("POST", "/api/agent/login",
                                     json={"username": "alice", "password": PASSWORDS["alice"]})
    assert status == 200 and body["token"] and body["expires_at"] > 0
    assert body["agent"] == {"id": "alice", "name": "Alice", "teams": ["billing", "orders", "general"],
                             "capacity": 3}
    for creds in ({"username": "alice", "password": "wrong"}, {"username": "nobody", "password": "x"}):
        status, body = await bridge.http("POST", "/api/agent/login", json=creds)
        assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await bridge.http("POST", "/api/agent/login", data=b"not json")
    assert status == 400 and body["error"]["code"] == "bad_request"


async def test_connect_sends_queue_and_brings_chats_back(bridge, fake_rasa):
    async with claimed_chat(bridge, fake_rasa) as (alice, visitor, sid):
        await alice.next("assigned")
        await alice.close()
        again = Agent(bridge, alice.token)
        await again.sio.connect(bridge.url, namespaces=["/agent"], auth={"token": alice.token},
                                transports=["websocket"], wait_timeout=5)
        assert "queue" in (await again.next("queue"))
        assigned = await again.next("assigned")
        assert assigned["conversation"]["id"] == sid
        await again.close()


async def test_malformed_agent_events(bridge):
    alice = await Agent.login(bridge, "alice", PASSWORDS["alice"])
    try:
        for event, payload in [("claim", "x"), ("claim", {}), ("message", {"conversation_id": "c"}),
                               ("presence", {"status": "dancing"}), ("typing", {"conversation_id": "c", "on": 1}),
                               ("transfer", {"conversation_id": "c"}), ("flag", {"conversation_id": "c"})]:
            ack = await alice.call(event, payload)
            assert ack["ok"] is False and ack["error"]["code"] == "bad_request", (event, ack)
        ack = await alice.call("claim", {"conversation_id": "no-such"})
        assert ack["ok"] is False and ack["error"]["code"] == "not_found"
        ack = await alice.call("message", {"conversation_id": "c", "text": "x" * 100_000})
        assert ack["ok"] is False and ack["error"]["code"] == "too_large"
    finally:
        await alice.close()


async def test_auto_assignment_by_skill_and_load(make_settings, fake_rasa):
    async with serve(make_settings(auto_assign=True)) as server:
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])   # billing, orders, general
        bob = await Agent.login(server, "bob", PASSWORDS["bob"])         # technical, account
        visitors = [Visitor(server.url) for _ in range(3)]
        try:
            tech = visitors[0]
            sid_tech = await tech.start()
            await escalate(tech, fake_rasa, "broken app", "frustration", "technical")
            assigned = await bob.next("assigned")
            assert assigned["conversation"]["id"] == sid_tech
            await tech.next("conversation_state", lambda s: s["state"] == "agent" and s["agent_name"] == "Bob")

            bill = visitors[1]
            sid_bill = await bill.start()
            await escalate(bill, fake_rasa, "refund now", "policy_topic", "billing")
            assert (await alice.next("assigned"))["conversation"]["id"] == sid_bill
        finally:
            for v in visitors:
                await v.close()
            await alice.close()
            await bob.close()


async def test_away_agents_get_nothing_automatically(make_settings, fake_rasa):
    async with serve(make_settings(auto_assign=True)) as server:
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])
        visitor = Visitor(server.url)
        try:
            assert await alice.call("presence", {"status": "away"}) == {"ok": True}
            sid = await visitor.start()
            state = await escalate(visitor, fake_rasa)
            assert state["agents_online"] is True
            await alice.rec.quiet("assigned", 0.5)
            assert await alice.call("presence", {"status": "online"}) == {"ok": True}
            assert (await alice.next("assigned"))["conversation"]["id"] == sid
        finally:
            await visitor.close()
            await alice.close()


async def test_capacity_limits_claims(bridge, fake_rasa):
    carol = await Agent.login(bridge, "carol", PASSWORDS["carol"])          # capacity 1
    first, second = Visitor(bridge.url), Visitor(bridge.url)
    try:
        sid1 = await first.start()
        await escalate(first, fake_rasa, "help 1")
        sid2 = await second.start()
        state = await escalate(second, fake_rasa, "help 2")
        assert state["position"] == 2
        assert (await carol.call("claim", {"conversation_id": sid1}))["ok"]
        full = await carol.call("claim", {"conversation_id": sid2})
        assert full["ok"] is False and "capacity" in full["error"]["message"]
        moved = await second.next("conversation_state", lambda s: s["state"] == "queued" and s["position"] == 1)
        assert moved["position"] == 1
    finally:
        await first.close()
        await second.close()
        await carol.close()


async def test_racing_claims_have_one_winner(bridge, fake_rasa):
    agents = [await Agent.login(bridge, name, PASSWORDS[name]) for name in ("alice", "bob")]
    visitor = Visitor(bridge.url)
    try:
        sid = await visitor.start()
        await escalate(visitor, fake_rasa)
        acks = await asyncio.gather(*[a.call("claim", {"conversation_id": sid}) for a in agents])
        assert sorted(a["ok"] for a in acks) == [False, True]
    finally:
        await visitor.close()
        for a in agents:
            await a.close()


async def test_transfer_to_an_agent(bridge, fake_rasa):
    bob = await Agent.login(bridge, "bob", PASSWORDS["bob"])
    try:
        async with claimed_chat(bridge, fake_rasa) as (alice, visitor, sid):
            await alice.next("assigned")
            await alice.call("message", {"conversation_id": sid, "text": "Passing you to Bob."})
            assert await alice.call("transfer", {"conversation_id": sid, "agent_id": "bob"}) == {"ok": True}
            assigned = await bob.next("assigned")
            assert assigned["conversation"]["id"] == sid and assigned["conversation"]["agent_id"] == "bob"
            assert any(m.get("text") == "Passing you to Bob." for m in assigned["messages"])
            assert (await alice.next("conversation_update"))["transferred"] is True
            await visitor.next("conversation_state", lambda s: s.get("agent_name") == "Bob")
            await visitor.say("hi bob")
            assert (await bob.next("visitor_message"))["text"] == "hi bob"
            await alice.rec.quiet("visitor_message", 0.2)
            bad = await bob.call("transfer", {"conversation_id": sid, "agent_id": "nobody"})
            assert bad["ok"] is False and bad["error"]["code"] == "not_found"
    finally:
        await bob.close()


async def test_transfer_to_a_team_requeues_with_priority(make_settings, fake_rasa):
    async with serve(make_settings(auto_assign=True)) as server:
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])
        visitor = Visitor(server.url)
        try:
            sid = await visitor.start()
            await escalate(visitor, fake_rasa)
            await alice.next("assigned")
            assert await alice.call("transfer", {"conversation_id": sid, "team": "technical"}) == {"ok": True}
            state = await visitor.next("conversation_state", lambda s: s["state"] == "queued" and s.get("position"))
            assert state["position"] == 1
            conversation = await server.bridge.store.get_conversation(sid)
            assert conversation.topic == "technical" and conversation.priority >= 50
            bob = await Agent.login(server, "bob", PASSWORDS["bob"])
            try:
                assert (await bob.next("assigned"))["conversation"]["id"] == sid
            finally:
                await bob.close()
        finally:
            await visitor.close()
            await alice.close()


async def test_silent_agent_loses_the_chat(make_settings, fake_rasa):
    async with serve(make_settings(agent_answer_timeout_s=0.5)) as server:
        async with claimed_chat(server, fake_rasa) as (alice, visitor, sid):
            update = await alice.next("conversation_update", timeout=5)
            assert update == {"conversation_id": sid, "state": "queued", "reason": "agent_no_answer"}
            state = await visitor.next("conversation_state",
                                       lambda s: s["state"] == "queued" and s.get("position") == 1, timeout=5)
            assert state["reason"] == "human_requested"
            conversation = await server.bridge.store.get_conversation(sid)
            assert conversation.priority >= 50 and conversation.agent_id is None
            assert (await server.bridge.store.get_agent_status("alice")).active == 0


async def test_answering_agent_keeps_the_chat(make_settings, fake_rasa):
    async with serve(make_settings(agent_answer_timeout_s=0.5)) as server:
        async with claimed_chat(server, fake_rasa) as (alice, visitor, sid):
            assert (await alice.call("message", {"conversation_id": sid, "text": "Hello!"}))["ok"]
            await alice.rec.quiet("conversation_update", 1.0)
            assert (await server.bridge.store.get_conversation(sid)).state == "agent"


async def test_disconnected_agent_loses_chats_after_grace(make_settings, fake_rasa):
    async with serve(make_settings(agent_disconnect_grace_s=0.6)) as server:
        async with claimed_chat(server, fake_rasa) as (alice, visitor, sid):
            await alice.call("message", {"conversation_id": sid, "text": "brb"})
            await alice.close()
            state = await visitor.next("conversation_state", lambda s: s["state"] == "queued" and
                                       s.get("position") == 1, timeout=5)
            assert state["agents_online"] is False
            conversation = await server.bridge.store.get_conversation(sid)
            assert conversation.meta["requeued"] == "agent_disconnected"


async def test_reconnect_within_grace_keeps_chats(make_settings, fake_rasa):
    async with serve(make_settings(agent_disconnect_grace_s=2.0)) as server:
        async with claimed_chat(server, fake_rasa) as (alice, visitor, sid):
            await alice.call("message", {"conversation_id": sid, "text": "one sec"})
            await alice.close()
            await asyncio.sleep(0.3)
            back = Agent(server, alice.token)
            await back.sio.connect(server.url, namespaces=["/agent"], auth={"token": alice.token},
                                   transports=["websocket"], wait_timeout=5)
            assert (await back.next("assigned"))["conversation"]["id"] == sid
            await asyncio.sleep(2.2)
            assert (await server.bridge.store.get_conversation(sid)).agent_id == "alice"
            await back.close()


async def test_no_agent_online_visitor_is_told(bridge, fake_rasa):
    visitor = Visitor(bridge.url)
    try:
        await visitor.start()
        state = await escalate(visitor, fake_rasa)
        assert state["agents_online"] is False and state["expected_wait_s"] is None
        told = await visitor.bot_text(lambda m: m["sender"] == "system")
        assert "email" in told["text"]
    finally:
        await visitor.close()


async def test_outside_business_hours_visitor_is_told(make_settings, fake_rasa):
    import datetime as dt
    tomorrow = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).strftime("%a").lower()
    async with serve(make_settings(business_hours=f"{tomorrow} 09:00-10:00")) as server:
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])
        visitor = Visitor(server.url)
        try:
            await visitor.start()
            state = await escalate(visitor, fake_rasa)
            assert state["in_business_hours"] is False and state["agents_online"] is False
            told = await visitor.bot_text(lambda m: m["sender"] == "system")
            assert "business hours" in told["text"]
            sid = visitor.session_id
            ack = await visitor.call("leave_email", {"session_id": sid, "email": "a@b.example"})
            assert ack["ok"]
            queue = await alice.next("queue", lambda q: not q["queue"])
            assert queue == {"queue": [], "total": 0}
        finally:
            await visitor.close()
            await alice.close()


async def test_packet_lists_the_visitors_earlier_conversations(bridge, fake_rasa):
    alice = await Agent.login(bridge, "alice", PASSWORDS["alice"])
    first, second = Visitor(bridge.url), Visitor(bridge.url)
    try:
        old = await first.start()
        await first.say("hello", metadata={"visitor_id": "browser-7"})
        await first.bot_text()
        await first.call("leave_email", {"session_id": old, "email": "v@example.com"})
        new = await second.start()
        await second.say("hi again", customData={"visitor_id": "browser-7"})
        await second.bot_text()
        await escalate(second, fake_rasa)
        assert (await alice.call("claim", {"conversation_id": new}))["ok"]
        packet = (await alice.next("assigned"))["packet"]
        assert [e["conversation_id"] for e in packet["earlier_conversations"]] == [old]
        assert packet["earlier_conversations"][0]["state"] == "closed"
    finally:
        await first.close()
        await second.close()
        await alice.close()
