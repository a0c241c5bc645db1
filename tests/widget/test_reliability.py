"""Reloads, second tabs, network loss and lost acknowledgements: the conversation goes
on, and no message is lost or shown twice."""
from __future__ import annotations

import re
import threading

from playwright.sync_api import expect

from tests.widget.conftest import Widget
from tests.widget.harness import wait_until


def _visitor_texts(bridge, session):
    return [m.text for m in bridge.messages(session) if m.sender == "visitor"]


def test_reload_and_second_tab_continue_the_conversation(bridge, fake_rasa, new_context):
    context = new_context()
    first = Widget(context.new_page()).goto(bridge.url + "/").open()
    session = first.wait_connected()
    first.send("hello there")
    expect(first.bubble("bot", "echo: hello there")).to_be_visible()
    first.send("second question")
    expect(first.bubble("bot", "echo: second question")).to_be_visible()

    first.page.reload()
    expect(first.panel).to_be_visible()  # the panel stays open across reloads
    assert first.wait_connected() == session
    expect(first.bubble("visitor", "hello there")).to_have_count(1)
    expect(first.bubble("bot", "echo: second question")).to_have_count(1)
    expect(first.messages("visitor")).to_have_count(2)
    expect(first.messages("bot")).to_have_count(3)  # greeting + two answers

    second = Widget(context.new_page()).goto(bridge.url + "/").open()
    assert second.wait_connected() == session
    expect(second.bubble("visitor", "hello there")).to_have_count(1)
    second.send("from the second tab")
    expect(second.bubble("bot", "echo: from the second tab")).to_have_count(1)
    expect(first.bubble("visitor", "from the second tab")).to_have_count(1)
    expect(first.bubble("bot", "echo: from the second tab")).to_have_count(1)
    assert _visitor_texts(bridge, session) == ["hello there", "second question", "from the second tab"]


def test_offline_messages_are_delivered_once_and_agent_messages_are_not_lost(
        bridge, fake_rasa, new_context, console_page):
    fake_rasa.replies["person please"] = [fake_rasa.handoff("human_requested", "orders")]
    context = new_context()
    widget = Widget(context.new_page()).goto(bridge.url + "/").open()
    session = widget.wait_connected()
    console = console_page(bridge.url)
    widget.send("person please")
    expect(console.queue_item(session)).to_be_visible()
    chat = console.claim(session)
    expect(widget.status).to_contain_text("Alice")

    context.set_offline(True)
    expect(widget.conn).to_contain_text("offline")
    console.reply(session, "Are you still there?")
    expect(chat.locator(".live .from-agent").filter(has_text="Are you still there?")).not_to_have_class(re.compile("pending"))
    widget.send("typed while offline 1")
    widget.send("typed while offline 2")
    pending = widget.messages("visitor").filter(has_text="typed while offline")
    expect(pending).to_have_count(2)
    expect(pending.first).to_contain_text("Waiting for connection")
    expect(widget.messages("agent")).to_have_count(0)

    widget.page.wait_for_timeout(1500)
    context.set_offline(False)
    expect(widget.conn).to_contain_text("back online")
    expect(widget.messages("agent").filter(has_text="Are you still there?")).to_have_count(1)
    expect(widget.host.locator(".msg[data-pending]")).to_have_count(0)
    expect(widget.bubble("visitor", "typed while offline 1")).to_have_count(1)
    expect(widget.bubble("visitor", "typed while offline 2")).to_have_count(1)
    live = chat.locator(".live .from-visitor")
    expect(live.filter(has_text="typed while offline 1")).to_have_count(1)
    expect(live.filter(has_text="typed while offline 2")).to_have_count(1)
    texts = _visitor_texts(bridge, session)
    assert texts == ["person please", "typed while offline 1", "typed while offline 2"]
    order = widget.texts("visitor")
    assert order == ["person please", "typed while offline 1", "typed while offline 2"]


def test_lost_acknowledgement_is_retried_with_the_same_client_id(bridge, fake_rasa, new_context):
    """The server takes a message but its ack never arrives and the socket drops: the
    widget sends it again after reconnecting; the bridge and the widget keep it once."""
    context = new_context()
    page = context.new_page()
    lock = threading.Lock()
    state = {"drop_ack": False, "dropped": None, "seen_ws_events": 0, "sockets": []}

    def route(ws):
        server = ws.connect_to_server()
        state["sockets"].append(ws)

        def from_page(message):
            if isinstance(message, str) and message.startswith("42"):
                with lock:
                    state["seen_ws_events"] += 1
            server.send(message)

        def from_server(message):
            with lock:
                drop = state["drop_ack"] and isinstance(message, str) and message.startswith("43")
                if drop:
                    state["drop_ack"] = False
                    state["dropped"] = message
            if drop:
                ws.close()
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r".*/socket\.io/.*"), route)
    widget = Widget(page).goto(bridge.url + "/").open()
    session = widget.wait_connected()

    def warm(n):
        widget.send(f"warm-up {n}")
        expect(widget.bubble("bot", f"echo: warm-up {n}")).to_be_visible()
    warm(1)
    for n in range(2, 10):  # Engine.IO starts on long-polling; wait for the WebSocket upgrade
        if state["seen_ws_events"]:
            break
        page.wait_for_timeout(300)
        warm(n)
    assert state["seen_ws_events"], "the widget never used the WebSocket"

    state["drop_ack"] = True
    widget.send("only once please")
    for _ in range(100):  # the route's callbacks only run while Playwright is being called
        if state["dropped"]:
            break
        page.wait_for_timeout(100)
    assert state["dropped"], "the ack was never dropped"
    expect(widget.bubble("bot", "echo: only once please")).to_have_count(1)
    expect(widget.host.locator(".msg[data-pending]")).to_have_count(0, timeout=20_000)
    expect(widget.bubble("visitor", "only once please")).to_have_count(1)
    page.wait_for_timeout(500)
    expect(widget.bubble("bot", "echo: only once please")).to_have_count(1)
    assert _visitor_texts(bridge, session).count("only once please") == 1
    webhook_texts = [c[2].get("message") for c in fake_rasa.calls if c[1] == "/webhooks/rest/webhook"]
    assert webhook_texts.count("only once please") == 1
    assert widget.page.evaluate("() => localStorage.length") >= 1
    assert widget.page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.endsWith(':outbox')).length") == 0


def test_server_disconnect_shows_reconnecting_and_recovers(bridge, fake_rasa, new_context, loop):
    context = new_context()
    widget = Widget(context.new_page()).goto(bridge.url + "/").open()
    session = widget.wait_connected()
    widget.send("before the drop")
    expect(widget.bubble("bot", "echo: before the drop")).to_be_visible()

    async def kick():
        sio = bridge.bridge.sio
        for sid in list(sio.manager.get_participants("/", f"s:{session}")):
            await sio.disconnect(sid[0] if isinstance(sid, tuple) else sid, namespace="/")
    loop.run(kick())
    expect(widget.conn).to_contain_text(re.compile("Reconnecting|back online"))
    expect(widget.conn).to_contain_text("back online")
    widget.send("after the drop")
    expect(widget.bubble("bot", "echo: after the drop")).to_have_count(1)
    expect(widget.bubble("visitor", "before the drop")).to_have_count(1)
    assert widget.session_id == session
