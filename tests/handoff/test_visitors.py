"""The visitor protocol (namespace /) against the real app and a fake Rasa:
Rasa-channel compatibility plus our additions (docs/protocol.md, section 2)."""
from __future__ import annotations

import asyncio

import pytest

from tests.handoff.clients import Visitor
from tests.handoff.conftest import serve


@pytest.fixture
async def visitor(bridge):
    v = Visitor(bridge.url)
    await v.connect()
    yield v
    await v.close()


async def test_session_request_confirms_a_new_bare_string_id(bridge, visitor):
    await visitor.sio.emit("session_request", {"session_id": None})
    confirmed = await visitor.next("session_confirm")
    assert isinstance(confirmed, str) and len(confirmed) >= 32


async def test_session_request_without_payload_gets_a_new_id(bridge, visitor):
    await visitor.sio.emit("session_request")
    assert isinstance(await visitor.next("session_confirm"), str)


async def test_unknown_session_id_gets_a_new_id(bridge, visitor):
    confirmed = await visitor.start("made-up-by-the-client")
    assert confirmed != "made-up-by-the-client"


async def test_text_reply_in_rasa_shape(bridge, visitor, fake_rasa):
    fake_rasa.replies["hello"] = [{"text": "Hi there!"}]
    await visitor.start()
    ack = await visitor.say("hello", client_id="c1")
    assert ack["ok"] is True and ack["duplicate"] is False and ack["id"]
    reply = await visitor.bot_text()
    assert reply["text"] == "Hi there!"
    assert reply["sender"] == "bot" and reply["id"] and isinstance(reply["ts"], float)
    assert "quick_replies" not in reply and "attachment" not in reply


async def test_buttons_become_quick_replies(bridge, visitor, fake_rasa):
    fake_rasa.replies["menu"] = [{"text": "Pick one", "buttons": [
        {"title": "Orders", "payload": "/order_status"}, {"title": "Returns", "payload": "/returns"}]}]
    await visitor.start()
    await visitor.say("menu")
    reply = await visitor.bot_text()
    assert reply["text"] == "Pick one"
    assert reply["quick_replies"] == [
        {"content_type": "text", "title": "Orders", "payload": "/order_status"},
        {"content_type": "text", "title": "Returns", "payload": "/returns"}]


async def test_image_becomes_attachment(bridge, visitor, fake_rasa):
    fake_rasa.replies["pic"] = [{"image": "https://example.com/a.png"}]
    await visitor.start()
    await visitor.say("pic")
    reply = await visitor.next("bot_uttered")
    assert reply["attachment"] == {"type": "image", "payload": {"src": "https://example.com/a.png"}}
    assert "text" not in reply


async def test_custom_payload_passed_as_rasa_does(bridge, visitor, fake_rasa):
    fake_rasa.replies["card"] = [{"custom": {"data": {"kind": "card", "title": "T"}}},
                                 {"custom": {"kind": "raw"}}]
    await visitor.start()
    await visitor.say("card")
    first = await visitor.next("bot_uttered")
    second = await visitor.next("bot_uttered")
    assert first["kind"] == "card" and first["title"] == "T"
    assert second["kind"] == "raw"


async def test_blank_line_splits_text_like_rasa(bridge, visitor, fake_rasa):
    fake_rasa.replies["two"] = [{"text": "First part.\n\nSecond part."}]
    await visitor.start()
    await visitor.say("two")
    assert (await visitor.bot_text())["text"] == "First part."
    assert (await visitor.bot_text())["text"] == "Second part."


async def test_bot_typing_shown_while_a_slow_turn_runs(bridge, visitor, fake_rasa):
    """Rasa slower than bot_typing_delay_s (0.3 s): typing on while it works, the
    reply, then typing off."""
    fake_rasa.delay = 0.8
    await visitor.start()
    await visitor.say("anything")
    assert await visitor.next("typing") == {"from": "bot", "on": True}
    await visitor.bot_text()
    assert (await visitor.next("typing")) == {"from": "bot", "on": False}
    kinds = [e for e, _ in visitor.rec.events if e in ("typing", "bot_uttered")]
    assert kinds == ["typing", "bot_uttered", "typing"]


async def test_a_quick_turn_has_no_typing_indicator(bridge, visitor, fake_rasa):
    """A reply sooner than bot_typing_delay_s comes without typing events, which would
    only make the indicator flicker."""
    await visitor.start()
    await visitor.say("anything")
    await visitor.bot_text()
    await visitor.rec.quiet("typing", 0.5)
    assert visitor.rec.all("typing") == []


async def test_rasa_starts_before_the_echo_and_the_reply_waits_for_it(bridge, visitor, fake_rasa):
    """The echo does not hold up Rasa's turn (the webhook is called while it goes out),
    and the visitor still sees their message before the bot's answer, even when the echo
    is slower to go out than Rasa is to answer (as through a Redis fan-out)."""
    fake_rasa.replies["hello"] = [{"text": "Hi there!"}]
    outbox = bridge.bridge.outbox
    send = outbox.visitor
    webhook_called_before_echo: list[bool] = []

    async def slow_echo(session_id, event, data, **kw):
        if event == "visitor_uttered":
            await asyncio.sleep(0.3)
            webhook_called_before_echo.append(
                any(path == "/webhooks/rest/webhook" for _, path, _ in fake_rasa.calls))
        await send(session_id, event, data, **kw)

    outbox.visitor = slow_echo
    await visitor.start()
    await visitor.say("hello")
    assert (await visitor.bot_text())["text"] == "Hi there!"
    kinds = [e for e, _ in visitor.rec.events if e in ("visitor_uttered", "bot_uttered")]
    assert kinds == ["visitor_uttered", "bot_uttered"]
    assert webhook_called_before_echo == [True]


async def test_typing_is_switched_off_when_a_slow_rasa_fails(make_settings, fake_rasa):
    fake_rasa.delay = 5.0      # slower than rasa_timeout_s: the bot is unavailable
    async with serve(make_settings(rasa_timeout_s=1.0)) as server:
        v = Visitor(server.url)
        await v.connect()
        try:
            await v.start()
            await v.say("anything")
            assert await v.next("typing") == {"from": "bot", "on": True}
            assert await v.next("typing") == {"from": "bot", "on": False}
            await v.next("conversation_state", lambda s: s["state"] == "queued")
        finally:
            await v.close()


async def test_a_turn_rasa_answers_with_nothing_is_not_left_silent(bridge, visitor, fake_rasa):
    """Rasa's REST channel answers 200 [] when a turn fails inside Rasa (a lock not
    acquired, the action server's connection lost): the visitor is told so."""
    fake_rasa.replies["what about my order?"] = []
    await visitor.start()
    await visitor.say("what about my order?")
    notice = await visitor.bot_text()
    assert notice["sender"] == "system" and "could not answer" in notice["text"]
    assert (await bridge.bridge.store.get_conversation(visitor.session_id)).state == "bot"
    status, metrics = await bridge.http("GET", "/metrics")
    assert "handoff_bot_silent_turns_total 1.0" in metrics
    # a turn that only hands over (no text) is not a silent one
    fake_rasa.replies["a person please"] = [fake_rasa.handoff()]
    await visitor.say("a person please")
    await visitor.next("conversation_state", lambda s: s["state"] == "queued")
    assert not [m for m in visitor.rec.all("bot_uttered") if "could not answer" in m.get("text", "")][1:]


async def test_webhook_gets_sender_and_metadata(bridge, visitor, fake_rasa):
    sid = await visitor.start()
    await visitor.say("hello", metadata={"page_url": "https://shop/x", "visitor_id": "v-1"})
    await visitor.bot_text()
    method, path, body = [c for c in fake_rasa.calls if c[1] == "/webhooks/rest/webhook"][-1]
    assert body["sender"] == sid and body["message"] == "hello"
    assert body["metadata"]["page_url"] == "https://shop/x"
    assert body["metadata"]["message_id"]
    conversation = await bridge.bridge.store.get_conversation(sid)
    assert conversation.visitor_id == "v-1" and conversation.page_url == "https://shop/x"


async def test_second_tab_receives_everything(bridge, fake_rasa):
    fake_rasa.replies["hello"] = [{"text": "Hi!"}]
    tab1, tab2 = Visitor(bridge.url), Visitor(bridge.url)
    try:
        sid = await tab1.start()
        assert await tab2.start(sid) == sid
        ack = await tab1.say("hello", client_id="cid-1")
        echoed = await tab2.next("visitor_uttered")
        assert echoed["text"] == "hello" and echoed["client_id"] == "cid-1" and echoed["id"] == ack["id"]
        assert (await tab2.bot_text())["text"] == "Hi!"
        assert (await tab1.bot_text())["text"] == "Hi!"
    finally:
        await tab1.close()
        await tab2.close()


async def test_history_replayed_on_reconnect(bridge, fake_rasa):
    fake_rasa.replies["hello"] = [{"text": "Hi!", "buttons": [{"title": "A", "payload": "/a"}]}]
    first = Visitor(bridge.url)
    sid = await first.start()
    await first.say("hello", client_id="k1")
    await first.bot_text()
    await first.close()
    again = Visitor(bridge.url)
    try:
        assert await again.start(sid) == sid
        history = await again.next("history")
        assert history["session_id"] == sid
        assert history["state"]["state"] == "bot"
        senders = [(m["sender"], m.get("text")) for m in history["messages"]]
        assert senders == [("visitor", "hello"), ("bot", "Hi!")]
        assert history["messages"][0]["client_id"] == "k1"
        assert history["messages"][1]["quick_replies"][0]["title"] == "A"
    finally:
        await again.close()


async def test_no_history_for_a_new_session(bridge, visitor):
    await visitor.start()
    await visitor.rec.quiet("history", 0.2)


async def test_client_id_deduplicates(bridge, visitor, fake_rasa):
    fake_rasa.replies["once"] = [{"text": "only once"}]
    await visitor.start()
    first = await visitor.say("once", client_id="same")
    second = await visitor.say("once", client_id="same")
    assert second == {"ok": True, "id": first["id"], "duplicate": True}
    await visitor.bot_text()
    await visitor.rec.quiet("bot_uttered", 0.3)
    webhook_calls = [c for c in fake_rasa.calls if c[1] == "/webhooks/rest/webhook"]
    assert len(webhook_calls) == 1


async def test_another_sessions_id_is_refused(bridge, fake_rasa):
    owner, intruder = Visitor(bridge.url), Visitor(bridge.url)
    try:
        victim = await owner.start()
        await intruder.start()
        ack = await intruder.call("user_uttered", {"message": "hi", "session_id": victim})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
        assert (await intruder.next("error"))["code"] == "forbidden"
        await owner.rec.quiet("visitor_uttered", 0.2)
        assert await bridge.bridge.store.messages(victim) == []
    finally:
        await owner.close()
        await intruder.close()


async def test_message_before_session_request_is_refused(bridge, visitor):
    ack = await visitor.call("user_uttered", {"message": "hi", "session_id": "x"})
    assert ack["ok"] is False and ack["error"]["code"] == "bad_request"


async def test_closed_session_id_gets_a_new_one(bridge, visitor):
    sid = await visitor.start()
    await bridge.bridge.store.update_conversation(sid, state="closed")
    other = Visitor(bridge.url)
    try:
        assert await other.start(sid) != sid
    finally:
        await other.close()


@pytest.mark.parametrize("payload", [
    "just a string", 42, ["list"], {"session_id": None},
    {"message": 12, "session_id": None}, {"message": "   "},
    {"message": "x", "metadata": "not an object"}, {"message": "x", "client_id": 5},
    {"message": "x", "client_id": "c" * 101},
])
async def test_malformed_user_uttered_is_refused(bridge, visitor, payload):
    sid = await visitor.start()
    if isinstance(payload, dict) and "session_id" not in payload:
        payload = {**payload, "session_id": sid}
    ack = await visitor.call("user_uttered", payload)
    assert ack["ok"] is False and ack["error"]["code"] == "bad_request"
    assert (await visitor.next("error"))["code"] == "bad_request"
    # the connection still works
    assert (await visitor.say("still here"))["ok"] is True


async def test_user_uttered_without_data(bridge, visitor):
    await visitor.start()
    ack = await visitor.call("user_uttered", None)
    assert ack["ok"] is False and ack["error"]["code"] == "bad_request"


async def test_too_long_message_is_refused(bridge, visitor):
    await visitor.start()
    ack = await visitor.say("x" * (bridge.bridge.settings.max_message_chars + 1))
    assert ack["ok"] is False and ack["error"]["code"] == "too_large"
    assert (await visitor.next("error"))["code"] == "too_large"


async def test_too_large_payload_is_refused(bridge, visitor):
    await visitor.start()
    ack = await visitor.say("hi", metadata={"junk": "y" * (bridge.bridge.settings.max_payload_bytes + 10)})
    assert ack["ok"] is False and ack["error"]["code"] == "too_large"
    assert (await visitor.say("small again"))["ok"] is True


async def test_text_is_kept_as_text(bridge, visitor, fake_rasa):
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    await visitor.start()
    await visitor.say(hostile)
    echoed = await visitor.next("visitor_uttered")
    assert echoed["text"] == hostile
    assert (await visitor.bot_text())["text"] == "echo: " + hostile


async def test_typing_needs_a_boolean(bridge, visitor):
    sid = await visitor.start()
    assert (await visitor.call("typing", {"session_id": sid, "on": True}))["ok"] is True
    bad = await visitor.call("typing", {"session_id": sid, "on": "yes"})
    assert bad["ok"] is False and bad["error"]["code"] == "bad_request"


async def test_rate_only_after_close(bridge, visitor):
    sid = await visitor.start()
    ack = await visitor.call("rate", {"session_id": sid, "score": 5})
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden"


async def test_leave_email_makes_a_ticket(bridge, visitor):
    sid = await visitor.start()
    bad = await visitor.call("leave_email", {"session_id": sid, "email": "not-an-email"})
    assert bad["ok"] is False and bad["error"]["code"] == "bad_request"
    ack = await visitor.call("leave_email", {"session_id": sid, "email": "jane@example.com",
                                             "message": "Please call back"})
    assert ack["ok"] is True and ack["ticket_id"].startswith("T-")
    state = await visitor.next("conversation_state", lambda s: s["state"] == "closed")
    assert state["ticket_id"] == ack["ticket_id"] and state["rating_requested"] is True
    conversation = await bridge.bridge.store.get_conversation(sid)
    assert conversation.ticket and conversation.email == "jane@example.com"
    rated = await visitor.call("rate", {"session_id": sid, "score": 4, "comment": "ok"})
    assert rated == {"ok": True}
    twice = await visitor.call("rate", {"session_id": sid, "score": 4})
    assert twice["ok"] is False


@pytest.mark.parametrize("score", [0, 6, "5", 2.5, True, None])
async def test_rate_score_must_be_1_to_5(bridge, visitor, score):
    sid = await visitor.start()
    ack = await visitor.call("rate", {"session_id": sid, "score": score})
    assert ack["ok"] is False and ack["error"]["code"] == "bad_request"
