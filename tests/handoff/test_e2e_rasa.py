"""End to end with the REAL trained Rasa assistant and action server
(tests/support/rasa_stack.py, models/supportline.tar.gz): an FAQ answered by the bot,
a message it did not understand (its fallback report recorded, never shown),
frustration queued with its reason, intent and the articles shown, an agent claims,
messages both ways, hand back, the bot answers again, and Rasa's tracker holds the
whole transcript, agent included.
Fails (never skips) when the model or the Rasa environment is missing."""
from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from handoff import bot_reports
from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve
from tests.support.rasa_stack import RasaStack

FRUSTRATED = [
    "This is useless!! My order still hasn't arrived, this is ridiculous",
    "I am FURIOUS, this is the worst service ever, you are all incompetent",
    "Still nothing. Unacceptable. Useless garbage!!!",
]


@pytest.fixture(scope="module")
def rasa():
    stack = RasaStack()
    with stack as (url, token):
        yield url, token, stack


def tracker(url: str, token: str, conversation_id: str) -> dict:
    with urllib.request.urlopen(f"{url}/conversations/{conversation_id}/tracker?token={token}",
                                timeout=30) as response:
        return json.load(response)


async def test_real_assistant_end_to_end(make_settings, rasa):
    url, token, stack = rasa
    async with serve(make_settings(rasa_url=url, rasa_token=token, rasa_timeout_s=60)) as server:
        visitor = Visitor(server.url)
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])
        try:
            sid = await visitor.start()
            # an FAQ: the bot answers, nobody else is involved
            await visitor.say("What is your return policy?", metadata={"page_url": "https://shop/returns",
                                                                      "visitor_id": "e2e-visitor"})
            answer = await visitor.bot_text(lambda m: m["sender"] == "bot", timeout=60)
            assert answer["text"].strip()
            await asyncio.sleep(0.5)
            assert (await server.bridge.store.get_conversation(sid)).state == "bot", stack.log()

            # not understood: the clarifying question; action_clarify's fallback report
            # (its best guess) is recorded for the message and never shown
            ack = await visitor.say("xqzt vlorp glimmerstack")
            await visitor.bot_text(lambda m: m["sender"] == "bot" and
                                   m["text"].startswith("Sorry, I'm not sure I understood"), timeout=60)
            await server.bridge.router.drain()
            [fallback] = bot_reports.fallbacks(await server.bridge.store.get_conversation(sid))
            assert fallback["message_id"] == ack["id"], stack.log()
            assert fallback["intent"] and fallback["intent"] != "nlu_fallback"
            assert 0 < fallback["confidence"] < 1

            # frustration: queued with the reason
            state = None
            for text in FRUSTRATED:
                await visitor.say(text)
                try:
                    state = await visitor.next("conversation_state", lambda s: s["state"] == "queued",
                                               timeout=30)
                    break
                except AssertionError:
                    continue
            assert state is not None, f"never escalated; bot said {visitor.rec.all('bot_uttered')}"
            assert state["reason"] == "frustration" and state["position"] == 1
            assert not [m for m in visitor.rec.all("bot_uttered") if "handoff" in m or "fallback" in m]
            # the real action's payload named the last message's intent and the article shown
            escalated = await server.bridge.store.get_conversation(sid)
            last_intent = tracker(url, token, sid)["latest_message"]["intent"]["name"]
            assert escalated.meta["escalation_intent"] == last_intent
            assert escalated.meta["articles_shown"][0] == "returns-policy"

            # an agent claims and sees the packet
            assert (await alice.call("claim", {"conversation_id": sid}))["ok"]
            assigned = await alice.next("assigned", timeout=30)
            packet = assigned["packet"]
            assert packet["reason"] == "frustration"
            assert any(t["text"] == "What is your return policy?" and t.get("intent") for t in packet["transcript"])
            assert packet["page_url"] == "https://shop/returns"

            # messages both ways
            ack = await alice.call("message", {"conversation_id": sid, "text": "Hi, I'm Alice. Let me check that order."})
            assert ack["ok"]
            said = await visitor.bot_text(lambda m: m["sender"] == "agent", timeout=10)
            assert said["agent_name"] == "Alice"
            await visitor.say("Thank you Alice")
            assert (await alice.next("visitor_message", timeout=10))["text"] == "Thank you Alice"
            await asyncio.sleep(1.0)   # the agent's words and the visitor's reach the tracker

            # hand back: the bot answers again
            assert await alice.call("hand_back", {"conversation_id": sid}) == {"ok": True}
            await visitor.next("conversation_state", lambda s: s["state"] == "bot", timeout=10)
            before = len(visitor.rec.all("bot_uttered"))
            await visitor.say("How long does shipping take?")
            reply = await visitor.bot_text(lambda m: m["sender"] == "bot" and
                                           visitor.rec.all("bot_uttered").index(m) >= before, timeout=60)
            assert reply["text"].strip()

            # Rasa's tracker holds the whole transcript
            await asyncio.sleep(1.0)
            events = tracker(url, token, sid)["events"]
            kinds = [e["event"] for e in events]
            assert "pause" in kinds and "resume" in kinds
            user_texts = [e.get("text") for e in events if e["event"] == "user"]
            for text in ("What is your return policy?", "Thank you Alice", "How long does shipping take?"):
                assert text in user_texts
            agent_events = [e for e in events if e["event"] == "bot" and
                            (e.get("metadata") or {}).get("agent_name") == "Alice"]
            assert [e["text"] for e in agent_events] == ["Hi, I'm Alice. Let me check that order."]
            last_pause = max(i for i, k in enumerate(kinds) if k == "pause")
            last_resume = max(i for i, k in enumerate(kinds) if k == "resume")
            assert last_pause < kinds.index("bot", last_pause) < last_resume
        finally:
            await visitor.close()
            await alice.close()
