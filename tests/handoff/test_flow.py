"""The main flow across the ownership state machine, on the embedded store AND a real
Redis: bot -> queued (escalation payload) -> agent (claim) -> messages both ways,
typing, notes -> hand back (resume + trigger_intent) -> bot again; and agent -> closed
-> rating. Rasa is the fake one; the tracker's contents are checked."""
from __future__ import annotations

import pytest

from tests.handoff.chats import claimed_chat, escalate
from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve


@pytest.fixture
async def server(make_settings, store_url):
    async with serve(make_settings(store_url=store_url, store_prefix="flow:")) as s:
        yield s


async def test_main_flow(server, fake_rasa):
    fake_rasa.slots = {"order_number": "10023", "email": "jane.doe@example.com",
                       "kb_articles_shown": ["shipping-times"]}
    fake_rasa.intents["where is my order"] = ("order_status", 0.93)
    fake_rasa.intent_replies["greet"] = [{"text": "Welcome back to the assistant!"}]
    alice = await Agent.login(server, "alice", PASSWORDS["alice"])
    visitor = Visitor(server.url)
    try:
        sid = await visitor.start()
        await visitor.say("where is my order", metadata={"page_url": "https://shop/orders",
                                                         "visitor_id": "v-42"})
        assert (await visitor.bot_text())["text"] == "echo: where is my order"

        state = await escalate(visitor, fake_rasa)
        assert state["reason"] == "human_requested" and state["position"] == 1
        assert state["agents_online"] is True and state["expected_wait_s"] > 0
        assert not [m for m in visitor.rec.all("bot_uttered") if "handoff" in m]
        assert fake_rasa.tracker(sid)["paused"] is True

        queue = await alice.next("queue", lambda q: q["queue"])
        item = queue["queue"][0]
        assert item["conversation_id"] == sid and item["reason"] == "human_requested"
        assert item["topic"] == "billing" and item["position"] == 1 and item["summary"] == "Order 10023 late"

        # queued: the visitor may keep writing; Rasa logs it, predicts nothing
        await visitor.say("are you there?")
        await visitor.rec.quiet("bot_uttered", 0.3, lambda m: m.get("sender") == "bot")
        assert fake_rasa.events(sid, "user")[-1]["text"] == "are you there?"

        assert await alice.call("claim", {"conversation_id": sid}) == {"ok": True}
        assigned = await alice.next("assigned")
        assert assigned["conversation"]["id"] == sid and assigned["conversation"]["state"] == "agent"
        packet = assigned["packet"]
        assert packet["reason"] == "human_requested" and packet["topic"] == "billing"
        assert packet["summary"] == "Order 10023 late"
        assert packet["slots"]["order_number"] == "10023"
        assert packet["slots"]["email"] == "j***@example.com"          # masked
        assert packet["articles_shown"] == ["shipping-times"]
        assert packet["page_url"] == "https://shop/orders"
        assert {"name": "order_status", "confidence": 0.93} in packet["intents"]
        texts = [m["text"] for m in packet["transcript"]]
        assert "where is my order" in texts and "are you there?" in texts
        assert any(m["text"] == "are you there?" for m in assigned["messages"])
        joined = await visitor.next("conversation_state", lambda s: s["state"] == "agent")
        assert joined["agent_name"] == "Alice"

        # agent -> visitor, as bot_uttered from the agent; written into Rasa's tracker
        ack = await alice.call("message", {"conversation_id": sid, "text": "Hi, I'm Alice."})
        assert ack["ok"] is True and ack["id"]
        said = await visitor.bot_text(lambda m: m.get("sender") == "agent")
        assert said == {"text": "Hi, I'm Alice.", "id": ack["id"], "ts": said["ts"],
                        "sender": "agent", "agent_name": "Alice"}
        # visitor -> agent only
        await visitor.say("My card is 4111 1111 1111 1111")
        got = await alice.next("visitor_message")
        assert got["conversation_id"] == sid and got["text"] == "My card is **** **** **** 1111"
        # typing both ways
        await visitor.call("typing", {"session_id": sid, "on": True})
        assert await alice.next("visitor_typing") == {"conversation_id": sid, "on": True}
        await alice.call("typing", {"conversation_id": sid, "on": True})
        assert await visitor.next("typing", lambda t: t["from"] == "agent") == \
            {"from": "agent", "on": True, "agent_name": "Alice"}
        # notes stay internal
        note = await alice.call("note", {"conversation_id": sid, "text": "VIP customer"})
        assert note["ok"] is True
        flagged = await alice.call("flag", {"conversation_id": sid, "message_id": "x1", "note": "misread"})
        assert flagged == {"ok": True}
        assert (await server.bridge.store.flags())[0]["message_id"] == "x1"

        # hand back with an intent: the bot resumes and its answer reaches the visitor
        assert await alice.call("hand_back", {"conversation_id": sid, "intent": "greet"}) == {"ok": True}
        await visitor.next("conversation_state", lambda s: s["state"] == "bot")
        assert (await visitor.bot_text(lambda m: m.get("sender") == "bot"))["text"] == \
            "Welcome back to the assistant!"
        update = await alice.next("conversation_update")
        assert update == {"conversation_id": sid, "state": "bot"}
        assert fake_rasa.tracker(sid)["paused"] is False

        await visitor.say("one more question")
        assert (await visitor.bot_text(lambda m: m["text"].startswith("echo")))["text"] == \
            "echo: one more question"

        # the tracker holds the whole transcript, agent's words included
        agent_events = [e for e in fake_rasa.events(sid, "bot") if e.get("metadata", {}).get("agent_id")]
        assert agent_events[0]["text"] == "Hi, I'm Alice." and agent_events[0]["metadata"]["agent_name"] == "Alice"
        kinds = [e["event"] for e in fake_rasa.events(sid)]
        assert "pause" in kinds and "resume" in kinds

        # a reload replays everything but the note
        reload = Visitor(server.url)
        try:
            await reload.start(sid)
            history = await reload.next("history")
            senders = {m["sender"] for m in history["messages"]}
            assert "note" not in senders and {"visitor", "bot", "agent", "system"} <= senders
            assert all("VIP" not in (m.get("text") or "") for m in history["messages"])
        finally:
            await reload.close()
    finally:
        await visitor.close()
        await alice.close()


async def test_close_and_rate(server, fake_rasa):
    async with claimed_chat(server, fake_rasa) as (alice, visitor, sid):
        await alice.next("assigned")
        assert await alice.call("close", {"conversation_id": sid, "resolution": "resolved"}) == {"ok": True}
        closed = await visitor.next("conversation_state", lambda s: s["state"] == "closed")
        assert closed["rating_requested"] is True
        assert "rate" in (await visitor.bot_text(lambda m: m["sender"] == "system" and "rate" in m["text"]))["text"]
        assert await visitor.call("rate", {"session_id": sid, "score": 5, "comment": "great"}) == {"ok": True}
        conversation = await server.bridge.store.get_conversation(sid)
        assert (conversation.state, conversation.rating, conversation.rating_comment,
                conversation.resolution) == ("closed", 5, "great", "resolved")
        again = await visitor.call("rate", {"session_id": sid, "score": 1})
        assert again["ok"] is False
        # a closed conversation takes no more messages; its id is not reused
        late = await visitor.say("hello?")
        assert late["ok"] is False and late["error"]["code"] == "forbidden"
        other = Visitor(server.url)
        try:
            assert await other.start(sid) != sid
        finally:
            await other.close()


async def test_only_the_owner_may_act(server, fake_rasa):
    bob = await Agent.login(server, "bob", PASSWORDS["bob"])
    try:
        async with claimed_chat(server, fake_rasa) as (alice, visitor, sid):
            taken = await bob.call("claim", {"conversation_id": sid})
            assert taken["ok"] is False and taken["error"]["code"] == "forbidden"
            for event, extra in [("message", {"text": "hi"}), ("hand_back", {}),
                                 ("close", {"resolution": "x"}), ("typing", {"on": True}),
                                 ("transfer", {"team": "technical"})]:
                ack = await bob.call(event, {"conversation_id": sid, **extra})
                assert ack["ok"] is False and ack["error"]["code"] == "forbidden", event
            await visitor.say("only for alice")
            await alice.next("visitor_message")
            await bob.rec.quiet("visitor_message", 0.2)
    finally:
        await bob.close()
