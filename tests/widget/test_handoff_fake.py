"""The whole visitor/agent round trip in real Chromium against the real bridge, with the
fake Rasa scripted (fast and deterministic). The same journey against the real trained
bot is test_flow_real_rasa.py."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.widget.harness import wait_until


def test_bot_answer_queue_agent_handback_close_and_rating(bridge, fake_rasa, widget_page, console_page):
    fake_rasa.replies["Do you ship to Canada?"] = [
        {"text": "Yes! We ship to Canada in 7-12 business days. Details: https://trailhead.example/help/shipping"}]
    fake_rasa.intents["Do you ship to Canada?"] = ("shipping_options", 0.93)
    fake_rasa.replies["this is useless, I want a human"] = [
        {"text": "I'm sorry this has been frustrating. I'm bringing in a person from our team."},
        fake_rasa.handoff("frustration", "orders", "negative sentiment -0.8",
                          "Visitor asks about shipping to Canada and is upset")]
    fake_rasa.intents["this is useless, I want a human"] = ("human_handoff", 0.88)
    fake_rasa.slots = {"order_number": "10023"}
    fake_rasa.intent_replies["order_status"] = [
        {"text": "Anything else about your order?",
         "buttons": [{"title": "Track my order", "payload": "/order_status"}]}]

    widget = widget_page(bridge.url + "/").open()
    session = widget.wait_connected()

    widget.send("Do you ship to Canada?")
    expect(widget.bubble("visitor", "Do you ship to Canada?")).to_have_count(1)
    answer = widget.bubble("bot", "We ship to Canada")
    expect(answer).to_be_visible()
    link = answer.locator("a")
    expect(link).to_have_attribute("href", "https://trailhead.example/help/shipping")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")

    console = console_page(bridge.url)
    widget.send("this is useless, I want a human")
    expect(widget.status).to_contain_text("Connecting you to a person")
    expect(widget.status).to_contain_text("number 1 in line")
    expect(widget.status).to_contain_text("Expected wait")

    item = console.queue_item(session)
    expect(item).to_contain_text("Frustrated")
    expect(item).to_contain_text("Visitor asks about shipping to Canada")
    chat = console.claim(session)

    packet = chat.locator("details.packet")
    expect(packet).to_contain_text("Frustrated")
    expect(packet).to_contain_text("negative sentiment -0.8")
    expect(packet.locator(".intents")).to_contain_text("shipping_options")
    expect(packet.locator(".intents")).to_contain_text("93%")
    expect(packet.locator(".slots")).to_contain_text("10023")
    expect(packet.locator(".transcript")).to_contain_text("Do you ship to Canada?")
    expect(packet).to_contain_text(bridge.url)

    expect(widget.status).to_contain_text("chatting with Alice")
    expect(widget.system("Alice has joined the chat")).to_be_visible()

    box = chat.locator(".composer textarea")
    box.fill("Let me check")
    expect(widget.typing).to_be_visible()
    expect(widget.typing).to_contain_text("Alice is typing")
    console.reply(session, "Hi, I'm Alice. Your parcel to Canada left our warehouse today.")
    agent_msg = widget.messages("agent").filter(has_text="Your parcel to Canada left")
    expect(agent_msg).to_be_visible()
    expect(agent_msg.locator(".who")).to_contain_text("Alice")
    expect(widget.typing).to_be_hidden()

    widget.send("Great, thanks!")
    expect(chat.locator(".live .from-visitor").filter(has_text="Great, thanks!")).to_be_visible()

    chat.locator("[data-action=hand-back]").click()
    console.page.fill("#dlg-intent", "order_status")
    console.page.locator("dialog").get_by_role("button", name="Hand back").click()
    expect(chat.locator(".ended-banner")).to_contain_text("Handed back")
    expect(widget.system("back with our assistant")).to_be_visible()
    expect(widget.bubble("bot", "Anything else about your order?")).to_be_visible()
    expect(widget.status).to_be_hidden()
    expect(widget.host.locator(".reply", has_text="Track my order")).to_be_visible()

    widget.send("I still want a human")
    fake_rasa.replies["again"] = [fake_rasa.handoff("human_requested", "orders")]
    widget.send("again")
    expect(widget.status).to_contain_text("Connecting you to a person")
    chat = console.claim(session)
    chat.locator("[data-action=close]").click()
    console.page.select_option("#dlg-resolution", "resolved")
    console.page.locator("dialog").get_by_role("button", name="Close chat").click()
    expect(chat.locator(".ended-banner")).to_contain_text("closed")

    expect(widget.status).to_contain_text("closed")
    rating = widget.host.locator('.card[data-card="rating"]')
    expect(rating).to_be_visible()
    expect(widget.input).to_be_disabled()
    rating.locator('label[for="sl-star-4"]').click()
    rating.locator("textarea").fill("Quick and friendly")
    rating.get_by_role("button", name="Send rating").click()
    expect(widget.host.locator('.card[data-card="rating-done"]')).to_contain_text("Thanks for your feedback")
    conversation = wait_until(lambda: (c := bridge.conversation(session)) and c.rating and c)
    assert (conversation.rating, conversation.rating_comment) == (4, "Quick and friendly")
    assert conversation.resolution == "resolved"
    texts = [m.text for m in bridge.messages(session) if m.sender == "visitor"]
    assert texts.count("Do you ship to Canada?") == 1
    assert texts.count("Great, thanks!") == 1

    widget.host.get_by_role("button", name="Start a new chat").click()
    new_session = wait_until(lambda: widget.session_id != session and widget.session_id)
    assert new_session != session
    expect(widget.input).to_be_enabled()
    expect(widget.messages("visitor")).to_have_count(0)

    widget.send("one more thing, human please")
    fake_rasa.replies["one more thing, human please"] = [fake_rasa.handoff("human_requested", "orders")]
    widget.send("one more thing, human please")
    chat = console.claim(new_session)
    earlier = chat.locator("details.packet .earlier")
    expect(earlier.locator("li")).to_have_count(1)
    expect(earlier).to_contain_text("closed")
    expect(earlier).to_contain_text("Asked for a person")
    call = next(c[2] for c in fake_rasa.calls if c[2] and c[2].get("message") == "Great, thanks!")
    assert call["metadata"]["page_url"] == bridge.url + "/"
    assert call["metadata"]["title"].startswith("Trailhead Supply Co.")
    assert call["metadata"]["visitor_id"] == bridge.conversation(new_session).visitor_id


def test_quick_reply_sends_payload_and_shows_title(bridge, fake_rasa, widget_page):
    fake_rasa.replies["menu"] = [{"text": "What can I help with?", "buttons": [
        {"title": "Where is my order?", "payload": "/order_status"},
        {"title": "Returns", "payload": "/returns_policy"}]}]
    fake_rasa.replies["/order_status"] = [{"text": "Please give me your order number."}]
    widget = widget_page(bridge.url + "/").open()
    widget.wait_connected()
    widget.send("menu")
    replies = widget.host.locator(".replies .reply")
    expect(replies).to_have_count(2)
    replies.filter(has_text="Where is my order?").click()
    expect(widget.bubble("bot", "Please give me your order number.")).to_be_visible()
    expect(widget.bubble("visitor", "Where is my order?")).to_be_visible()
    expect(widget.host.locator(".replies:visible")).to_have_count(0)
    assert any(call[2] and call[2].get("message") == "/order_status" for call in fake_rasa.calls)
    widget.page.reload()
    widget.open()
    expect(widget.bubble("visitor", "Where is my order?")).to_have_count(1)
    expect(widget.bubble("visitor", "/order_status")).to_have_count(0)


def test_images_and_unsafe_urls(bridge, fake_rasa, widget_page):
    fake_rasa.replies["pic"] = [
        {"text": "Here is the tent:", "image": bridge.url + "/demo/tent.png"},
        {"attachment": {"type": "image", "payload": {"src": "javascript:alert(1)"}}},
        {"text": "[manual](https://trailhead.example/manual.pdf) and [bad](javascript:alert(1))"}]
    widget = widget_page(bridge.url + "/").open()
    widget.wait_connected()
    widget.send("pic")
    img = widget.log.locator("img")
    expect(img).to_have_count(1)
    expect(img).to_have_attribute("src", bridge.url + "/demo/tent.png")
    expect(widget.bubble("bot", "manual").locator("a")).to_have_count(1)
    expect(widget.bubble("bot", "manual").locator("a")).to_have_attribute("href", "https://trailhead.example/manual.pdf")
    expect(widget.bubble("bot", "[bad](javascript:alert(1))")).to_be_visible()


def test_no_agent_online_offers_email_form(bridge, fake_rasa, widget_page):
    fake_rasa.replies["human please"] = [fake_rasa.handoff("human_requested", "billing")]
    widget = widget_page(bridge.url + "/").open()
    session = widget.wait_connected()
    widget.send("human please")
    expect(widget.status).to_contain_text("No one from our team is available")
    form = widget.host.locator('.card[data-card="email"]')
    expect(form).to_be_visible()
    form.locator("input[type=email]").fill("not-an-email")
    form.get_by_role("button", name="Send").click()
    expect(form.locator(".error")).to_contain_text("valid email")
    form.locator("input[type=email]").fill("jo@example.com")
    form.locator("textarea").fill("Please call me back about my invoice")
    form.get_by_role("button", name="Send").click()
    expect(widget.system("We will answer by email")).to_be_visible()
    conversation = wait_until(lambda: (c := bridge.conversation(session)) and c.ticket and c)
    assert conversation.email == "jo@example.com"
    expect(widget.host.locator('.card[data-card="rating"]')).to_have_count(0)


def test_after_hours_message(make_bridge, fake_rasa, widget_page):
    bridge = make_bridge(fake_rasa.url, fake_rasa.token, business_hours="mon-sun 00:00-00:00")
    fake_rasa.replies["agent"] = [fake_rasa.handoff("human_requested", "general")]
    widget = widget_page(bridge.url + "/").open()
    widget.wait_connected()
    widget.send("agent")
    expect(widget.status).to_contain_text("outside our business hours")
    expect(widget.host.locator('.card[data-card="email"]')).to_be_visible()
