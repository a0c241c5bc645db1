"""Redis goes away and comes back (persistence on: append-only file, fsync always).

Promised (docs/reliability.md, "Redis restart"): while Redis is down every bridge
process keeps running and answers with a clear `unavailable` error (Socket.IO acks,
HTTP 503, agent connections refused with code `unavailable`); the queue, the
assignments and the conversation logs survive the restart; within 5 s of Redis
answering again, messages flow again, across bridge processes too.
"""
from __future__ import annotations

import asyncio
import time

import socketio

from handoff.auth import issue_token
from tests.reliability.conftest import SECRET
from tests.reliability.harness import ResilientAgent, ResilientVisitor, http, until

HUMAN = "I want a human please"
RECOVERY_LIMIT_S = 5.0


async def snapshot(url: str, token: str, ids: list[str]) -> dict:
    auth = {"Authorization": f"Bearer {token}"}
    status, queue = await http("GET", f"{url}/api/queue", headers=auth)
    assert status == 200, queue
    out = {"queue": [q["conversation_id"] for q in queue["queue"]]}
    for cid in ids:
        status, body = await http("GET", f"{url}/api/conversations/{cid}", headers=auth)
        assert status == 200, body
        out[cid] = (body["conversation"]["state"], body["conversation"]["agent_id"],
                    [(m["id"], m["sender"], m.get("text")) for m in body["messages"]])
    return out


async def test_redis_restart(fresh_redis, bridge_env, bridges, fake_rasa):
    fake_rasa.replies[HUMAN] = [{"text": "Let me get a colleague."}, fake_rasa.handoff("human_requested", "general")]
    a, b = await bridges(bridge_env(fresh_redis.url), 2)
    token, _ = issue_token("alice", SECRET, 3600)
    alice = await ResilientAgent(b.url, token, "alice").start()
    waiting, chatting = ResilientVisitor(a.url, "waiting"), ResilientVisitor(a.url, "chatting")
    try:
        for visitor in (waiting, chatting):
            await visitor.start()
            await visitor.send("hello")
            await visitor.send(HUMAN)
        await until(lambda: len(alice.queue.get("queue", [])) == 2, 5, "two queued")
        assert (await alice.call("claim", {"conversation_id": chatting.session_id}))["ok"]
        await alice.send(chatting.session_id, "Hi, I am Alice")
        await chatting.send("thanks")
        await until(lambda: any(m["text"] == "thanks" for m in alice.visitor_messages), 5, "relayed")
        before = await snapshot(b.url, token, [waiting.session_id, chatting.session_id])
        assert before["queue"] == [waiting.session_id]

        fresh_redis.stop(kill=True)
        down_at = time.monotonic()
        # clear errors, no crash, while Redis is down
        started = time.monotonic()
        ack = await chatting.sio.call("user_uttered", {"message": "anyone?", "session_id": chatting.session_id,
                                                       "client_id": "during-outage"}, timeout=10)
        assert ack["ok"] is False and ack["error"]["code"] == "unavailable", ack
        assert time.monotonic() - started < 6
        ack = await alice.call("message", {"conversation_id": chatting.session_id, "text": "x"}, timeout=10)
        assert ack["ok"] is False and ack["error"]["code"] == "unavailable", ack
        for url in (a.url, b.url):
            status, body = await http("GET", f"{url}/api/queue", headers={"Authorization": f"Bearer {token}"})
            assert status == 503 and body["error"]["code"] == "unavailable", body
            assert (await http("GET", f"{url}/healthz"))[0] == 200
            status, body = await http("GET", f"{url}/readyz")
            assert status == 503 and body["store"] is False
        newcomer = socketio.AsyncClient(reconnection=False)
        await newcomer.connect(a.url, transports=["websocket"], wait_timeout=5)
        ack = await newcomer.call("session_request", {}, timeout=10)
        assert ack["ok"] is False and ack["error"]["code"] == "unavailable"
        await newcomer.disconnect()
        refused = []
        console = socketio.AsyncClient(reconnection=False)
        console.on("connect_error", lambda data: refused.append(data), namespace="/agent")
        try:
            await console.connect(b.url, namespaces=["/agent"], auth={"token": token},
                                  transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            pass
        assert refused and refused[0]["data"]["code"] == "unavailable", refused
        await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - down_at)))
        assert a.alive() and b.alive()
        assert chatting.sio.connected and alice.sio.connected

        fresh_redis.start()
        up_at = time.monotonic()
        # recovered: a visitor message is accepted on A and reaches alice on B, and her
        # reply crosses back (both directions of the Socket.IO Redis manager)
        probe = 0
        while True:
            probe += 1
            text = f"probe {probe}"
            ack = await chatting.sio.call("user_uttered", {"message": text, "session_id": chatting.session_id,
                                                           "client_id": f"probe-{probe}"}, timeout=5)
            reply = await alice.call("message", {"conversation_id": chatting.session_id, "text": f"re {text}",
                                                 "client_id": f"re-{probe}"}, timeout=5)
            await asyncio.sleep(0.1)
            if ack.get("ok") and reply.get("ok") and \
                    any(m["text"] == text for m in alice.visitor_messages) and \
                    any(m.get("text") == f"re {text}" for m in chatting.shown.values()):
                break
            assert time.monotonic() - up_at < RECOVERY_LIMIT_S + 5, "no recovery"
        recovered_s = time.monotonic() - up_at
        assert recovered_s < RECOVERY_LIMIT_S, recovered_s

        after = await snapshot(a.url, token, [waiting.session_id, chatting.session_id])
        assert after["queue"] == before["queue"]
        assert after[waiting.session_id] == before[waiting.session_id]
        state, agent_id, log = after[chatting.session_id]
        assert (state, agent_id) == ("agent", "alice")
        assert log[:len(before[chatting.session_id][2])] == before[chatting.session_id][2]
        assert "anyone?" not in [m[2] for m in log]     # refused, so not logged
        # and the waiting visitor can still be served
        assert (await alice.call("claim", {"conversation_id": waiting.session_id}))["ok"]
        print(f"\nFIGURES redis_restart: outage_s={up_at - down_at:.2f} recovered_after_s={recovered_s:.2f}")
    finally:
        for client in (waiting, chatting, alice):
            await client.close()
