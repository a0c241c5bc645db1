"""Issue #7 end to end through the real bridge and the fake Rasa, on both stores: fallback
reports and escalations with intents and articles (docs/protocol.md section 1) become
the exact numbers of GET /api/analytics, the fallback payload never reaches the visitor,
the other meta keys survive, and the review export uses the recorded best guess."""
from __future__ import annotations

import pytest

from handoff import bot_reports
from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve

CLARIFY = "Sorry, I'm not sure I understood. Did you mean one of these?"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
async def server(make_settings, store_url):
    async with serve(make_settings(store_url=store_url, store_prefix="analytics:")) as s:
        yield s


def clarify(fake, intent, confidence):
    """action_clarify's two messages: the question, then the fallback report."""
    return [{"text": CLARIFY, "buttons": [{"title": "Talk to a person", "payload": "/request_human"}]},
            fake.fallback(intent, confidence)]


async def turn(visitor: Visitor, text: str, server) -> str:
    """Say something, wait for the bot's text and for the bridge's background work; the
    visitor message's id."""
    before = len(visitor.rec.all("bot_uttered"))
    ack = await visitor.say(text)
    assert ack["ok"], ack
    await visitor.bot_text(lambda m: visitor.rec.all("bot_uttered").index(m) >= before)
    await server.bridge.router.drain()
    return ack["id"]


async def analytics(server, **params) -> dict:
    token = await server.login("alice", PASSWORDS["alice"])
    status, body = await server.http("GET", "/api/analytics", params=params,
                                     headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    return body


async def test_fallbacks_escalations_and_articles_are_counted_exactly(server, fake_rasa):
    fake = fake_rasa
    fake.replies["wibble"] = clarify(fake, "refund_status", 0.21)
    fake.replies["wobble"] = clarify(fake, "returns_policy", 0.18)
    fake.replies["huh"] = clarify(fake, "refund_status", 0.3)
    # a damaged report: counted as a fallback of unknown intent
    fake.replies["what"] = clarify(fake, None, None)
    fake.replies["what"][1]["custom"]["fallback"].update(intent=12, confidence="high")
    fake.replies["a person please"] = [
        {"text": "Of course."},
        fake.handoff("human_requested", "orders", intent="request_human",
                     articles=["returns-policy", "refund-status"])]
    fake.replies["shipping?"] = [{"text": "We ship everywhere."}]
    fake.replies["this is useless!!"] = [
        {"text": "I'm sorry."},
        fake.handoff("frustration", "orders", intent="order_status",
                     articles=["returns-policy", 5, "", "x" * 500, "returns-policy", HOSTILE])]
    alice = await Agent.login(server, "alice", PASSWORDS["alice"])
    a, b, c, d = (Visitor(server.url) for _ in range(4))
    try:
        # A: two fallbacks, then a request for a person, claimed by alice
        sid_a = await a.start()
        wibble = await turn(a, "wibble", server)
        wobble = await turn(a, "wobble", server)
        await turn(a, "a person please", server)
        await a.next("conversation_state", lambda s: s["state"] == "queued")
        assert (await alice.call("claim", {"conversation_id": sid_a}))["ok"]
        # B: an answer, then frustration; junk in the article list is dropped
        sid_b = await b.start()
        await turn(b, "shipping?", server)
        await turn(b, "this is useless!!", server)
        await b.next("conversation_state", lambda s: s["state"] == "queued")
        # C: two fallbacks (one report damaged), then a ticket: the bot resolved nothing
        sid_c = await c.start()
        huh = await turn(c, "huh", server)
        await turn(c, "what", server)
        ack = await c.call("leave_email", {"session_id": sid_c, "email": "c@example.com"})
        assert ack["ok"]
        # D: Rasa is down -> the bridge escalates (bot_unavailable): no intent, no articles
        sid_d = await d.start()
        fake.down = True
        await d.say("hello?")
        await d.next("conversation_state", lambda s: s["state"] == "queued")
        fake.down = False
        await server.bridge.router.drain()

        body = await analytics(server)
        assert body["conversations"] == 4 and body["handoffs"] == 3
        assert body["handoffs_by_reason"] == {"human_requested": 1, "frustration": 1, "bot_unavailable": 1}
        assert body["handoffs_by_intent"] == {"order_status": 1, "request_human": 1, "unknown": 1}
        assert list(body["handoffs_by_intent"]) == ["order_status", "request_human", "unknown"]
        assert body["fallbacks"] == 4
        assert body["fallbacks_by_intent"] == {"refund_status": 2, "returns_policy": 1, "unknown": 1}
        assert list(body["fallbacks_by_intent"])[0] == "refund_status"
        assert body["articles_before_handoff"] == {"returns-policy": 2, "refund-status": 1, HOSTILE: 1}
        assert list(body["articles_before_handoff"])[0] == "returns-policy"
        # the existing keys are all still there
        assert {"since", "until", "by_state", "resolved_by_bot", "resolved_by_bot_share", "queue_wait",
                "first_agent_response", "ratings", "tickets", "resolutions"} <= set(body)
        assert body["tickets"] == 1 and body["by_state"] == {"agent": 1, "queued": 2, "closed": 1}

        # a period before all of it: nothing
        empty = await analytics(server, since="0", until="1")
        assert (empty["handoffs_by_intent"], empty["fallbacks"], empty["fallbacks_by_intent"],
                empty["articles_before_handoff"]) == ({}, 0, {}, {})

        # what is stored: entries per visitor message, the other meta keys kept
        store = server.bridge.store
        conv_a = await store.get_conversation(sid_a)
        assert [(f["message_id"], f["intent"], f["confidence"]) for f in bot_reports.fallbacks(conv_a)] == [
            (wibble, "refund_status", 0.21), (wobble, "returns_policy", 0.18)]
        assert conv_a.meta["escalation_intent"] == "request_human"
        assert conv_a.meta["articles_shown"] == ["returns-policy", "refund-status"]
        assert conv_a.meta["assigned_how"] == "claim"
        conv_c = await store.get_conversation(sid_c)
        assert conv_c.meta["ticket_id"] == ack["ticket_id"]
        assert [(f["message_id"], f["intent"]) for f in bot_reports.fallbacks(conv_c)][0] == (huh, "refund_status")
        assert (await store.get_conversation(sid_d)).meta["escalation_intent"] is None
        assert (await store.get_conversation(sid_b)).meta["articles_shown"] == ["returns-policy", HOSTILE]

        # the visitor never saw a report: not live, not in the history replay
        for visitor in (a, b, c):
            for shown in visitor.rec.all("bot_uttered"):
                assert "fallback" not in shown and "handoff" not in shown and "custom" not in shown
        assert [m["text"] for m in a.rec.all("bot_uttered") if m.get("sender") == "bot"] == \
            [CLARIFY, CLARIFY, "Of course."]
        again = Visitor(server.url)
        try:
            await again.start(sid_a)
            history = await again.next("history")
            assert not [m for m in history["messages"] if "fallback" in m or "custom" in m]
        finally:
            await again.close()
        # nor did the agent's view of the log
        assigned = await alice.next("assigned")
        assert not [m for m in assigned["messages"] if "fallback" in m or "custom" in m]
    finally:
        for visitor in (a, b, c, d):
            await visitor.close()
        await alice.close()


async def test_a_fallback_after_a_hand_back_is_recorded_without_a_message(server, fake_rasa):
    """trigger_intent replies go through the same path: the report is hidden and recorded
    (no visitor message led to it), and a later escalation replaces intent and articles."""
    fake_rasa.replies["a person please"] = [fake_rasa.handoff("human_requested", intent="request_human",
                                                             articles=["warranty"])]
    fake_rasa.intent_replies["confused"] = clarify(fake_rasa, "warranty", 0.4)
    fake_rasa.replies["again"] = [fake_rasa.handoff("frustration", intent="complain")]
    alice = await Agent.login(server, "alice", PASSWORDS["alice"])
    visitor = Visitor(server.url)
    try:
        sid = await visitor.start()
        await visitor.say("a person please")
        await visitor.next("conversation_state", lambda s: s["state"] == "queued")
        assert (await alice.call("claim", {"conversation_id": sid}))["ok"]
        assert await alice.call("hand_back", {"conversation_id": sid, "intent": "confused"}) == {"ok": True}
        await visitor.bot_text(lambda m: m.get("text") == CLARIFY)
        await server.bridge.router.drain()
        conversation = await server.bridge.store.get_conversation(sid)
        assert [(f["message_id"], f["intent"]) for f in bot_reports.fallbacks(conversation)] == [(None, "warranty")]
        await visitor.say("again")
        await visitor.next("conversation_state", lambda s: s["state"] == "queued" and s["reason"] == "frustration")
        body = await analytics(server)
        assert body["handoffs_by_intent"] == {"complain": 1}
        assert body["articles_before_handoff"] == {}
        assert body["fallbacks_by_intent"] == {"warranty": 1}
        assert not [m for m in visitor.rec.all("bot_uttered") if "fallback" in m or "handoff" in m]
    finally:
        await visitor.close()
        await alice.close()


async def test_fallbacks_kept_per_conversation_are_capped(server, fake_rasa):
    fake_rasa.replies = {f"q{i}": clarify(fake_rasa, "greet", 0.5) for i in range(3)}
    visitor = Visitor(server.url)
    try:
        sid = await visitor.start()
        store = server.bridge.store
        await store.update_conversation(sid, meta={"fallbacks": [
            {"message_id": f"old{i}", "intent": "old", "confidence": 0.1, "ts": 1.0}
            for i in range(bot_reports.MAX_FALLBACKS)], "keep": "me"})
        for i in range(3):
            await turn(visitor, f"q{i}", server)
        conversation = await store.get_conversation(sid)
        kept = bot_reports.fallbacks(conversation)
        assert len(kept) == bot_reports.MAX_FALLBACKS
        assert [f["intent"] for f in kept[-3:]] == ["greet"] * 3 and kept[0]["message_id"] == "old3"
        assert conversation.meta["keep"] == "me"
    finally:
        await visitor.close()


async def test_review_uses_the_recorded_best_guess(server, fake_rasa):
    from handoff.review import collect

    fake_rasa.replies["flibber"] = clarify(fake_rasa, "refund_status", 0.2)
    visitor = Visitor(server.url)
    try:
        await visitor.start()
        message_id = await turn(visitor, "flibber", server)
        [cand] = await collect(server.bridge.store, since=0, base_url="http://x",
                               guess=lambda cid, text: "a_worse_guess")
        assert (cand.message_id, cand.source, cand.intent) == (message_id, "fallback", "refund_status")
    finally:
        await visitor.close()
