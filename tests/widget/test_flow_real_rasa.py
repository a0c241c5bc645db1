"""The main journey in real Chromium, through the real bridge, against the REAL trained
Rasa assistant and action server (tests/support/rasa_stack.py, model from
scripts/train.sh): an FAQ answer, frustration and the queue, an agent with the handoff
packet, typing and replies, hand back to the bot, closing and the rating.
A missing model or Rasa environment fails the test."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.rasa_stack import RasaStack
from tests.widget.harness import wait_until

BOT_TIMEOUT = 60_000  # the first answers of a fresh Rasa process can be slow


@pytest.fixture(scope="module")
def rasa():
    stack = RasaStack()
    with stack as (url, token):
        yield url, token, stack


def test_visitor_bot_agent_handback_close_rating_with_real_rasa(rasa, make_bridge, widget_page, console_page):
    url, token, stack = rasa
    bridge = make_bridge(url, token, rasa_timeout_s=60.0)
    widget = widget_page(bridge.url + "/").open()
    session = widget.wait_connected()

    widget.send("how long do I have to return something?")
    faq = widget.bubble("bot", "Returns and refund policy")
    expect(faq).to_be_visible(timeout=BOT_TIMEOUT)
    expect(widget.status).to_be_hidden()

    console = console_page(bridge.url)
    widget.send("what's the status of order 10024?")
    expect(widget.messages("bot")).to_have_count(3, timeout=BOT_TIMEOUT)  # greeting, FAQ, order answer
    widget.send("This is ridiculous, you are useless!!")
    expect(widget.bubble("bot", re.compile("sorry", re.I)).last).to_be_visible(timeout=BOT_TIMEOUT)
    expect(widget.status).to_contain_text("Connecting you to a person")
    expect(widget.status).to_contain_text("number 1 in line")
    expect(widget.system("number 1 in the queue")).to_be_visible()

    item = console.queue_item(session)
    expect(item).to_contain_text("Frustrated")
    expect(item).to_contain_text("10024")
    chat = console.claim(session)
    packet = chat.locator("details.packet")
    expect(packet.locator(".facts")).to_contain_text("Frustrated")
    expect(packet.locator(".facts")).to_contain_text("insult")
    expect(packet.locator(".summary")).to_contain_text("10024")
    expect(packet.locator(".transcript")).to_contain_text("how long do I have to return something?")
    expect(packet.locator(".transcript")).to_contain_text("This is ridiculous, you are useless!!")
    expect(packet.locator(".intents")).to_contain_text("returns_policy")
    expect(packet.locator(".slots")).to_contain_text("10024")
    expect(packet.locator(".chips")).to_contain_text("returns-policy")
    expect(packet).to_contain_text(bridge.url)

    expect(widget.status).to_contain_text("chatting with Alice")
    box = chat.locator(".composer textarea")
    box.fill("Let me look into order 10024")
    expect(widget.typing).to_contain_text("Alice is typing")
    box.press("Enter")
    reply = widget.messages("agent").filter(has_text="Let me look into order 10024")
    expect(reply).to_be_visible()
    expect(reply.locator(".who")).to_contain_text("Alice")
    expect(widget.typing).to_be_hidden()

    widget.send("ok thank you")
    expect(chat.locator(".live .from-visitor").filter(has_text="ok thank you")).to_be_visible()
    expect(widget.messages("bot")).to_have_count(4)  # the bot stays quiet while an agent has the chat

    chat.locator("[data-action=hand-back]").click()
    console.page.fill("#dlg-intent", "shipping_options")
    console.page.locator("dialog").get_by_role("button", name="Hand back").click()
    expect(chat.locator(".ended-banner")).to_contain_text("Handed back")
    expect(widget.system("back with our assistant")).to_be_visible()
    expect(widget.status).to_be_hidden()
    expect(widget.bubble("bot", "Shipping options and delivery times")).to_be_visible(timeout=BOT_TIMEOUT)
    widget.send("how long do I have to return something?")
    expect(widget.bubble("bot", "Returns and refund policy")).to_have_count(2, timeout=BOT_TIMEOUT)

    widget.send("I want to talk to a real person")
    expect(widget.status).to_contain_text("Connecting you to a person", timeout=BOT_TIMEOUT)
    item = console.queue_item(session)
    expect(item).to_contain_text("Asked for a person")
    chat = console.claim(session)
    console.reply(session, "Hi again, Alice here. Anything else?")
    expect(widget.messages("agent").filter(has_text="Anything else?")).to_be_visible()
    chat.locator("[data-action=close]").click()
    console.page.locator("dialog").get_by_role("button", name="Close chat").click()
    expect(chat.locator(".ended-banner")).to_contain_text("closed")

    rating = widget.host.locator('.card[data-card="rating"]')
    expect(rating).to_be_visible()
    rating.locator('label[for="sl-star-5"]').click()
    rating.get_by_role("button", name="Send rating").click()
    expect(widget.host.locator('.card[data-card="rating-done"]')).to_be_visible()
    conversation = wait_until(lambda: (c := bridge.conversation(session)) and c.rating and c)
    assert conversation.rating == 5 and conversation.state == "closed"

    visitor = [m.text for m in bridge.messages(session) if m.sender == "visitor"]
    assert visitor == ["how long do I have to return something?", "what's the status of order 10024?",
                       "This is ridiculous, you are useless!!", "ok thank you",
                       "how long do I have to return something?", "I want to talk to a real person"]
    assert widget.texts("visitor") == visitor
