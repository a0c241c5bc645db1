"""The HTTP API under /api/ (docs/protocol.md section 3, details in docs/bridge.md):
agent login/logout, the queue, one conversation, article suggestions, analytics,
review candidates for the conversation designers.

Handlers parse and check input and call auth/routing; errors are raised as
errors.HandoffError and turned into JSON by handoff.http_errors.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web

from . import auth
from .analytics import analytics
from .context import BRIDGE, Bridge
from .errors import BadRequest, TooLarge, Unauthorized
from .net import request_ip
from .review import collect as collect_review
from .routing import AgentInfo

log = logging.getLogger(__name__)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise TooLarge("request body too large") from exc
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the body must be JSON") from exc
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()


async def require_agent(request: web.Request) -> AgentInfo:
    """The agent behind the request's bearer token (401 otherwise)."""
    bridge = request.app[BRIDGE]
    agent_id = await auth.verify_token(_bearer(request), bridge.settings.secret, bridge.store)
    agent = await bridge.directory.get(agent_id)
    if agent is None:
        raise Unauthorized("unknown agent")
    return agent


def _bridge(request: web.Request) -> Bridge:
    return request.app[BRIDGE]


async def login(request: web.Request) -> web.Response:
    bridge = _bridge(request)
    await bridge.limits.hit(f"login:{request_ip(request, bridge.settings.trust_proxy)}",
                            bridge.settings.rate_login_attempts)
    data = await _json_body(request)
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise BadRequest("username and password are required")
    if len(username) > 64 or len(password) > 1024:
        raise BadRequest("username or password too long")
    agent, token, expires_at = await auth.login(await bridge.directory.accounts(), username, password,
                                                secret=bridge.settings.secret,
                                                ttl_s=bridge.settings.token_ttl_s)
    return web.json_response({"token": token, "expires_at": expires_at, "agent": agent.public()})


async def logout(request: web.Request) -> web.Response:
    bridge = _bridge(request)
    token = _bearer(request)
    agent_id = await auth.verify_token(token, bridge.settings.secret, bridge.store)
    await auth.revoke(token, bridge.settings.secret, bridge.store)
    jti = auth.token_id(token, bridge.settings.secret)
    namespace = bridge.extra.get("agent_namespace")
    if jti and namespace is not None:
        # this process's sockets at once; the others' token watch within a second
        await namespace.drop_token(jti)
    agent = await bridge.directory.get(agent_id)
    if agent is not None:
        await bridge.router.agent_status(agent, "offline")
    log.info("agent %s logged out", agent_id)
    return web.json_response({"ok": True})


async def queue(request: web.Request) -> web.Response:
    await require_agent(request)
    return web.json_response(await _bridge(request).router.queue_payload())


async def conversation(request: web.Request) -> web.Response:
    await require_agent(request)
    conversation_id = request.match_info["conversation_id"]
    return web.json_response(await _bridge(request).router.assigned_payload(conversation_id))


async def agents(request: web.Request) -> web.Response:
    """Agents with presence and load (for the console's transfer dialog)."""
    await require_agent(request)
    bridge = _bridge(request)
    statuses = {s.agent_id: s for s in await bridge.store.agent_statuses()}
    out = []
    for agent in (await bridge.directory.accounts()).values():
        status = statuses.get(agent.id)
        out.append({**agent.public(), "status": status.status if status else "offline",
                    "active": status.active if status else 0})
    return web.json_response({"agents": out})


async def flags(request: web.Request) -> web.Response:
    """Visitor messages agents flagged for the conversation designers."""
    await require_agent(request)
    return web.json_response({"flags": await _bridge(request).store.flags()})


async def kb_search(request: web.Request) -> web.Response:
    bridge = _bridge(request)
    await bridge.limits.hit(f"ip:kb:{request_ip(request, bridge.settings.trust_proxy)}",
                            bridge.settings.rate_ip_messages * 3)
    q = request.query.get("q", "")
    if len(q) > 500:
        raise TooLarge("query too long")
    try:
        limit = int(request.query.get("limit", "3"))
    except ValueError as exc:
        raise BadRequest("limit must be a number") from exc
    limit = max(1, min(limit, 10))
    results = await bridge.kb.search(q, limit) if q.strip() else []
    return web.json_response({"results": results})


def _time_param(request: web.Request, name: str, default: float) -> float:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a Unix time in seconds") from exc


async def analytics_view(request: web.Request) -> web.Response:
    await require_agent(request)
    now = time.time()
    until = _time_param(request, "until", now + 1)
    since = _time_param(request, "since", now - 7 * 86400)
    if since >= until:
        raise BadRequest("since must be before until")
    conversations = await _bridge(request).store.list_conversations(limit=1_000_000)
    return web.json_response(analytics(conversations, since, until))


async def review_view(request: web.Request) -> web.Response:
    """Review candidates (handoff.review; texts masked) for ``python -m bot.designer.review``."""
    await require_agent(request)
    since = _time_param(request, "since", time.time() - 7 * 86400)
    candidates = await collect_review(_bridge(request).store, since=since,
                                      base_url=str(request.url.origin()))
    return web.json_response({"since": since, "candidates": [c.to_json() for c in candidates]})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/agent/login", login)
    app.router.add_post("/api/agent/logout", logout)
    app.router.add_get("/api/queue", queue)
    app.router.add_get("/api/conversations/{conversation_id}", conversation)
    app.router.add_get("/api/agents", agents)
    app.router.add_get("/api/flags", flags)
    app.router.add_get("/api/kb/search", kb_search)
    app.router.add_get("/api/analytics", analytics_view)
    app.router.add_get("/api/review", review_view)
