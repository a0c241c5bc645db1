"""The HTTP side of the bridge: API answers and errors, static files, health,
readiness, metrics, origins and body limits."""
from __future__ import annotations

import pytest

from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve
from tests.handoff.chats import escalate


async def auth_headers(server, name="alice"):
    return {"Authorization": f"Bearer {await server.login(name, PASSWORDS[name])}"}


async def test_healthz(bridge):
    assert await bridge.http("GET", "/healthz") == (200, {"ok": True})


async def test_readyz_checks_store_and_rasa(bridge, fake_rasa):
    status, body = await bridge.http("GET", "/readyz")
    assert status == 200 and body["store"] and body["rasa"] and body["store_kind"] == "embedded"
    fake_rasa.down = True
    status, body = await bridge.http("GET", "/readyz")
    assert status == 503 and body["rasa"] is False and body["store"] is True


@pytest.mark.parametrize("path", ["/api/queue", "/api/conversations/x", "/api/analytics", "/api/agents"])
async def test_agent_endpoints_need_a_token(bridge, path):
    status, body = await bridge.http("GET", path)
    assert status == 401 and body == {"error": {"code": "unauthorized", "message": "missing bearer token"}}
    status, body = await bridge.http("GET", path, headers={"Authorization": "Bearer nope"})
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_queue_and_conversation(bridge, fake_rasa):
    visitor = Visitor(bridge.url)
    try:
        sid = await visitor.start()
        await escalate(visitor, fake_rasa)
        headers = await auth_headers(bridge)
        status, body = await bridge.http("GET", "/api/queue", headers=headers)
        assert status == 200 and body["queue"][0]["conversation_id"] == sid
        assert set(body["queue"][0]) == {"conversation_id", "reason", "topic", "priority", "waiting_s",
                                         "summary", "position"}
        status, body = await bridge.http("GET", f"/api/conversations/{sid}", headers=headers)
        assert status == 200 and set(body) == {"conversation", "packet", "messages"}
        assert body["conversation"]["state"] == "queued" and body["packet"]["reason"] == "human_requested"
        status, body = await bridge.http("GET", "/api/conversations/nope", headers=headers)
        assert status == 404 and body["error"]["code"] == "not_found"
        status, body = await bridge.http("GET", "/api/agents", headers=headers)
        assert {a["id"] for a in body["agents"]} == {"alice", "bob", "carol"}
    finally:
        await visitor.close()


async def test_kb_search(bridge):
    status, body = await bridge.http("GET", "/api/kb/search", params={"q": "refund return", "limit": "2"})
    assert status == 200 and 1 <= len(body["results"]) <= 2
    assert set(body["results"][0]) >= {"id", "title", "snippet"}
    assert await bridge.http("GET", "/api/kb/search", params={"q": ""}) == (200, {"results": []})
    status, body = await bridge.http("GET", "/api/kb/search", params={"q": "x", "limit": "many"})
    assert status == 400


async def test_analytics(bridge, fake_rasa):
    alice = await Agent.login(bridge, "alice", PASSWORDS["alice"])
    visitor = Visitor(bridge.url)
    try:
        sid = await visitor.start()
        await escalate(visitor, fake_rasa, reason="frustration")
        await alice.call("claim", {"conversation_id": sid})
        await alice.call("message", {"conversation_id": sid, "text": "hi"})
        await alice.call("close", {"conversation_id": sid, "resolution": "resolved"})
        await visitor.next("conversation_state", lambda s: s["state"] == "closed")
        await visitor.call("rate", {"session_id": sid, "score": 4})
        bot_only = Visitor(bridge.url)
        await bot_only.start()
        await bot_only.close()
        status, body = await bridge.http("GET", "/api/analytics", headers=await auth_headers(bridge))
        assert status == 200
        assert body["conversations"] == 2 and body["resolved_by_bot"] == 1
        assert body["resolved_by_bot_share"] == 0.5
        assert body["handoffs_by_reason"] == {"frustration": 1}
        assert body["queue_wait"]["count"] == 1 and body["first_agent_response"]["count"] == 1
        assert body["ratings"]["average"] == 4 and body["ratings"]["by_score"]["4"] == 1
        status, body = await bridge.http("GET", "/api/analytics", headers=await auth_headers(bridge),
                                         params={"since": "10", "until": "5"})
        assert status == 400
    finally:
        await visitor.close()
        await alice.close()


async def test_metrics(bridge, fake_rasa):
    alice = await Agent.login(bridge, "alice", PASSWORDS["alice"])
    visitor = Visitor(bridge.url)
    try:
        sid = await visitor.start()
        await escalate(visitor, fake_rasa, reason="policy_topic")
        await alice.call("claim", {"conversation_id": sid})
        status, text = await bridge.http("GET", "/metrics")
        assert status == 200
        for line in ['handoff_handoffs_total{reason="policy_topic"} 1.0',
                     'handoff_conversations{state="agent"} 1.0', "handoff_queue_length 0.0",
                     "handoff_queue_wait_seconds_count 1.0",
                     'handoff_messages_relayed_total{direction="bot_to_visitor"}',
                     'handoff_rasa_latency_seconds_count{endpoint="webhook"}',
                     "handoff_agents_online 1.0"]:
            assert line in text, line
    finally:
        await visitor.close()
        await alice.close()


async def test_body_too_large_is_413(bridge):
    status, body = await bridge.http("POST", "/api/agent/login",
                                     data=b"{" + b" " * (bridge.bridge.settings.max_http_body_bytes + 10) + b"}",
                                     headers={"Content-Type": "application/json"})
    assert status == 413 and body["error"]["code"] == "too_large"


async def test_unknown_path_is_json_404(bridge):
    status, body = await bridge.http("GET", "/api/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_login_rate_limited(make_settings):
    async with serve(make_settings(rate_login_attempts=3)) as server:
        statuses = [(await server.http("POST", "/api/agent/login", json={"username": "alice", "password": "bad"}))[0]
                    for _ in range(5)]
        assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]


async def test_foreign_origin_refused_on_http(make_settings):
    async with serve(make_settings(allowed_origins=["https://shop.example"])) as server:
        status, body = await server.http("GET", "/api/kb/search", params={"q": "refund"},
                                         headers={"Origin": "https://evil.example"})
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, _ = await server.http("GET", "/api/kb/search", params={"q": "refund"},
                                      headers={"Origin": "https://shop.example"})
        assert status == 200
        status, _ = await server.http("GET", "/api/kb/search", params={"q": "refund"},
                                      headers={"Origin": server.url})
        assert status == 200
        status, _ = await server.http("GET", "/widget.js", headers={"Origin": "https://evil.example"})
        assert status == 200     # static files are public (the widget is embedded elsewhere)


async def test_static_files(make_settings, tmp_path):
    root = tmp_path / "widget"
    (root / "demo").mkdir(parents=True)
    (root / "console").mkdir()
    (root / "vendor").mkdir()
    (root / "demo" / "index.html").write_text("<h1>shop</h1>")
    (root / "demo" / "shop.css").write_text("body{}")
    (root / "widget.js").write_text("console.log(1)")
    (root / "console" / "index.html").write_text("<h1>console</h1>")
    (root / "console" / "console.js").write_text("//")
    (root / "vendor" / "socket.io.min.js").write_text("//io")
    (tmp_path / "secret.txt").write_text("no")
    async with serve(make_settings(static_dir=str(root))) as server:
        assert await server.http("GET", "/") == (200, "<h1>shop</h1>")
        assert await server.http("GET", "/widget.js") == (200, "console.log(1)")
        assert await server.http("GET", "/console/") == (200, "<h1>console</h1>")
        assert await server.http("GET", "/console/console.js") == (200, "//")
        assert await server.http("GET", "/demo/shop.css") == (200, "body{}")
        assert await server.http("GET", "/vendor/socket.io.min.js") == (200, "//io")
        assert (await server.http("GET", "/console/missing.js"))[0] == 404
        assert (await server.http("GET", "/demo/../../secret.txt"))[0] == 404
        assert (await server.http("GET", "/demo/%2e%2e/%2e%2e/secret.txt"))[0] == 404


async def test_real_widget_files_are_served(bridge):
    status, _ = await bridge.http("GET", "/")
    assert status == 200
    assert (await bridge.http("GET", "/widget.js"))[0] == 200
    assert (await bridge.http("GET", "/console/"))[0] == 200
