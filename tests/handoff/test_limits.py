"""Bad input and bad days: rate limits, foreign origins, Rasa down or too slow."""
from __future__ import annotations

import asyncio

import pytest
import socketio

from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve


async def test_session_rate_limit(make_settings, fake_rasa):
    async with serve(make_settings(rate_session_messages=3, rate_window_s=30)) as server:
        visitor = Visitor(server.url)
        try:
            await visitor.start()
            acks = [await visitor.say(f"m{i}") for i in range(5)]
            assert [a["ok"] for a in acks] == [True, True, True, False, False]
            assert acks[3]["error"]["code"] == "rate_limited"
            assert (await visitor.next("error"))["code"] == "rate_limited"
            assert visitor.sio.connected
        finally:
            await visitor.close()


async def test_ip_rate_limit_spans_sessions(make_settings, fake_rasa):
    async with serve(make_settings(rate_ip_messages=4, rate_session_messages=100, rate_window_s=30)) as server:
        tabs = [Visitor(server.url) for _ in range(3)]
        try:
            results = []
            for tab in tabs:
                await tab.start()
                results += [(await tab.say("x"))["ok"] for _ in range(2)]
            assert results == [True, True, True, True, False, False]
        finally:
            for tab in tabs:
                await tab.close()


async def test_new_sessions_per_ip_limited(make_settings):
    async with serve(make_settings(rate_ip_sessions=2, rate_window_s=30)) as server:
        visitor = Visitor(server.url)
        try:
            await visitor.connect()
            answers = [await visitor.call("session_request", {"session_id": None}) for _ in range(3)]
            assert [a["ok"] for a in answers] == [True, True, False]
            assert answers[2]["error"]["code"] == "rate_limited"
        finally:
            await visitor.close()


async def test_foreign_origin_refused_on_socketio(make_settings):
    async with serve(make_settings(allowed_origins=["https://shop.example"])) as server:
        evil = Visitor(server.url)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await evil.connect(headers={"Origin": "https://evil.example"})
        await evil.close()
        good = Visitor(server.url)
        await good.connect(headers={"Origin": "https://shop.example"})
        assert isinstance(await good.start(), str)
        await good.close()
        # the long-polling handshake obeys the same list
        handshake = "/socket.io/?EIO=4&transport=polling"
        status, _ = await server.http("GET", handshake, headers={"Origin": "https://evil.example"})
        assert status == 403
        status, _ = await server.http("GET", handshake, headers={"Origin": "https://shop.example"})
        assert status == 200


async def test_same_origin_allowed_by_default(bridge):
    visitor = Visitor(bridge.url)
    try:
        await visitor.connect(headers={"Origin": bridge.url})
        assert isinstance(await visitor.start(), str)
    finally:
        await visitor.close()
    evil = Visitor(bridge.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await evil.connect(headers={"Origin": "https://evil.example"})
    await evil.close()


async def test_oversized_packet_drops_only_that_socket(make_settings):
    async with serve(make_settings(max_packet_bytes=50_000)) as server:
        big, other = Visitor(server.url), Visitor(server.url)
        try:
            await big.start()
            await other.start()
            await big.sio.emit("user_uttered", {"message": "z" * 100_000, "session_id": big.session_id})
            await asyncio.sleep(0.5)
            assert (await other.say("still fine"))["ok"] is True
            assert (await server.http("GET", "/healthz"))[0] == 200
        finally:
            await big.close()
            await other.close()


@pytest.mark.parametrize("trouble", ["down", "slow", "gone"])
async def test_rasa_trouble_queues_with_bot_unavailable(make_settings, fake_rasa, trouble):
    async with serve(make_settings(rasa_timeout_s=0.5)) as server:
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])
        visitor = Visitor(server.url)
        try:
            sid = await visitor.start()
            if trouble == "down":
                fake_rasa.down = True
            elif trouble == "slow":
                fake_rasa.delay = 1.5
            else:
                await fake_rasa.stop()
            ack = await visitor.say("hello?")
            assert ack["ok"] is True
            told = await visitor.bot_text(lambda m: m["sender"] == "system", timeout=5)
            assert "not available" in told["text"]
            state = await visitor.next("conversation_state", lambda s: s["state"] == "queued", timeout=5)
            assert state["reason"] == "bot_unavailable" and state["position"] == 1
            queue = await alice.next("queue", lambda q: q["queue"])
            assert queue["queue"][0]["reason"] == "bot_unavailable"
            # the agent still gets a packet (from the bridge's own log)
            fake_rasa.delay = 0
            assert (await alice.call("claim", {"conversation_id": sid}))["ok"]
            assigned = await alice.next("assigned", timeout=5)
            assert assigned["packet"]["reason"] == "bot_unavailable"
            assert any(t["text"] == "hello?" for t in assigned["packet"]["transcript"])
        finally:
            await visitor.close()
            await alice.close()


async def test_rasa_back_after_outage_is_paused_again(make_settings, fake_rasa):
    async with serve(make_settings(rasa_timeout_s=0.5)) as server:
        visitor = Visitor(server.url)
        try:
            sid = await visitor.start()
            fake_rasa.down = True
            await visitor.say("hello?")
            await visitor.next("conversation_state", lambda s: s["state"] == "queued", timeout=5)
            assert fake_rasa.tracker(sid)["paused"] is False     # the pause could not reach it
            fake_rasa.down = False
            await visitor.say("anyone?")
            for _ in range(50):
                if fake_rasa.tracker(sid)["paused"]:
                    break
                await asyncio.sleep(0.05)
            assert fake_rasa.tracker(sid)["paused"] is True
            await visitor.rec.quiet("bot_uttered", 0.3, lambda m: m["sender"] == "bot")
        finally:
            await visitor.close()
