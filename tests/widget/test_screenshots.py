"""Screenshots for docs/screenshots/: the widget (bot chat, queued, agent joined) and the
console (queue, chat with handoff packet, dashboard), from a scripted conversation on
the real bridge. Each shot is also checked for what it must show.

The shots go to a temporary folder unless SUPPORTLINE_SCREENSHOTS names one
(`make screenshots` sets it to docs/screenshots), so a test run leaves the tree clean."""
from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

from playwright.sync_api import expect

from handoff.store.base import Conversation

SHOTS = Path(os.environ.get("SUPPORTLINE_SCREENSHOTS") or tempfile.mkdtemp(prefix="screenshots-"))


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.wait_for_timeout(400)
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    return path


def _seed_history(bridge, days: int = 7) -> None:
    """A week of finished conversations in the bridge's store, so the dashboard has data."""
    rng = random.Random(7)
    reasons = ["human_requested", "frustration", "bot_failure", "policy_topic", "bot_unavailable"]
    intents = {"human_requested": ["request_human"], "frustration": ["order_status", "refund_status", "complaint"],
               "bot_failure": ["nlu_fallback"], "policy_topic": ["payment_failed", "account_locked"],
               "bot_unavailable": [None]}
    guesses = ["refund_status", "returns_policy", "shipping_options", "order_status", "discounts", "warranty"]
    articles = ["shipping-options", "returns-policy", "refund-status", "failed-payment", "warranty"]
    now = time.time()
    conversations = []
    for day in range(days):
        for n in range(rng.randint(8, 22)):
            created = now - (day + 0.1) * 86400 + rng.uniform(0, 80_000) - 80_000 * (day == 0)
            created = min(created, now - 600)
            fallbacks = [{"message_id": f"m{k}", "intent": rng.choices(guesses, [5, 4, 2, 2, 1, 1])[0],
                          "confidence": 0.2, "ts": created} for k in range(rng.choices([0, 1, 2], [6, 3, 1])[0])]
            if rng.random() < 0.62:
                conversations.append(Conversation(id=f"seed-{day}-{n}", state="closed", created_at=created,
                                                  closed_at=created + 120, resolution="bot",
                                                  meta={"fallbacks": fallbacks}))
                continue
            queued = created + rng.uniform(30, 300)
            assigned = queued + rng.uniform(15, 400)
            reason = rng.choices(reasons, [5, 4, 3, 1, 1])[0]
            meta = {"fallbacks": fallbacks, "escalation_intent": rng.choice(intents[reason]),
                    "articles_shown": rng.sample(articles, rng.choices([0, 1, 2], [3, 4, 2])[0])}
            conversations.append(Conversation(
                id=f"seed-{day}-{n}", state="closed", created_at=created, reason=reason, meta=meta,
                topic="orders", queued_at=queued, assigned_at=assigned,
                first_agent_reply_at=assigned + rng.uniform(5, 90), closed_at=assigned + 600,
                resolution=rng.choice(["resolved", "resolved", "follow_up"]),
                rating=rng.choices([5, 4, 3, 2, 1], [6, 3, 1, 1, 1])[0] if rng.random() < 0.7 else None,
                ticket=rng.random() < 0.08))

    async def seed() -> None:
        for conversation in conversations:
            await bridge.bridge.store.create_conversation(conversation)
    bridge.loop.run(seed())


def test_screenshots(bridge, fake_rasa, widget_page, console_page):
    q1 = "Hi! How long does shipping to Canada take?"
    fake_rasa.intents[q1] = ("shipping_options", 0.94)
    fake_rasa.replies[q1] = [{"text": "We ship to the US, Canada and the EU. International orders take "
                                      "7-12 business days, and you get a tracking link by email as soon as "
                                      "your parcel leaves our warehouse.\n\nMore: https://trailhead.example/help/shipping",
                              "buttons": [{"title": "Track my order", "payload": "/order_status"},
                                          {"title": "Returns", "payload": "/returns_policy"}]}]
    q2 = "My order #10023 still hasn't arrived after 3 weeks"
    fake_rasa.intents[q2] = ("order_status", 0.71)
    fake_rasa.replies[q2] = [{"text": "Order #10023 shipped on Oct 28 with Canada Post. The latest "
                                      "tracking event is \"In transit\"."}]
    q3 = "This is ridiculous, nobody is helping me!"
    fake_rasa.intents[q3] = ("complain", 0.64)
    fake_rasa.replies[q3] = [
        {"text": "I'm really sorry: three weeks is far too long, and I understand why you're upset. "
                 "I'm bringing in a person from our team who can trace the parcel right now."},
        fake_rasa.handoff("frustration", "orders", "negative sentiment -0.81; 2 complaints",
                          "Order #10023 to Canada not arrived after 3 weeks; visitor upset after 2 bot answers")]
    fake_rasa.slots = {"order_number": "10023", "email": "j***@example.com", "kb_articles_shown": ["shipping-options"]}

    widget = widget_page(bridge.url + "/", viewport={"width": 1280, "height": 800}).open()
    session = widget.wait_connected()
    widget.send(q1)
    expect(widget.bubble("bot", "International orders")).to_be_visible()
    widget.input.fill("return pol")
    expect(widget.suggestions).to_be_visible()
    _shot(widget.page, "widget-bot-chat")
    widget.input.fill("")

    console = console_page(bridge.url)
    widget.send(q2)
    expect(widget.bubble("bot", "Canada Post")).to_be_visible()
    widget.send(q3)
    expect(widget.status).to_contain_text("number 1 in line")
    _shot(widget.page, "widget-queued")

    expect(console.queue_item(session)).to_be_visible()
    _shot(console.page, "console-queue")

    chat = console.claim(session)
    console.reply(session, "Hi, I'm Alice from Trailhead. I'm sorry about the wait — I've opened a trace "
                           "with Canada Post and I'm sending you a replacement by express today.")
    expect(widget.messages("agent")).to_have_count(1)
    chat.locator(".composer textarea").fill("I'll also refund the shipping")
    expect(widget.typing).to_be_visible()
    _shot(widget.page, "widget-agent-joined")

    widget.send("Thank you, that's great!")
    expect(chat.locator(".live .from-visitor").filter(has_text="Thank you")).to_be_visible()
    expect(chat.locator("details.packet")).to_contain_text("order_status")
    chat.locator(".chat-scroll").evaluate("node => { node.style.scrollBehavior = 'auto'; node.scrollTop = 0; }")
    _shot(console.page, "console-chat-packet")

    _seed_history(bridge)
    console.page.goto(bridge.url + "/console/dashboard.html")
    expect(console.page.locator("#cards .card").first).to_be_visible()
    expect(console.page.locator("#chart-daily svg")).to_be_visible()
    for chart in ("#chart-handoff-intents", "#chart-fallback-intents", "#chart-articles"):
        expect(console.page.locator(f"{chart} svg")).to_be_visible()
    _shot(console.page, "console-dashboard")

    mobile = widget_page(bridge.url + "/", viewport={"width": 360, "height": 740}, is_mobile=True,
                         has_touch=True)
    mobile.open()
    mobile.wait_connected()
    mobile.send(q1)
    expect(mobile.bubble("bot", "International orders")).to_be_visible()
    _shot(mobile.page, "widget-mobile-360")
