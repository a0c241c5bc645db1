"""The visitor namespace ``/``: Rasa's socketio-channel protocol plus our additions
(docs/protocol.md, section 2).

This module only checks and translates: sizes, rate limits, the binding of a socket
to its session, the shapes of payloads. What happens to a message is routing's job.
A socket is bound to the session id the bridge confirmed to it; anything naming
another session is refused, and the socket only ever joins its own session's room.
"""
from __future__ import annotations

import logging
from typing import Any

import socketio

from .context import Bridge
from .edge import socket_edge
from .errors import BadRequest, Forbidden
from .net import environ_ip
from .outbox import VISITOR_NS, session_room

log = logging.getLogger(__name__)

MAX_CLIENT_ID = 100


def _dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest("the payload must be a JSON object")
    return data


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a string")
    return value


class VisitorNamespace(socketio.AsyncNamespace):
    """Handlers of the visitor events (one instance per application)."""

    def __init__(self, bridge: Bridge):
        super().__init__(VISITOR_NS)
        self.bridge = bridge

    @property
    def metrics(self):  # used by socket_edge
        return self.bridge.metrics

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        ip = environ_ip(environ, self.bridge.settings.trust_proxy)
        await self.save_session(sid, {"ip": ip, "session_id": None,
                                      "user_agent": str(environ.get("HTTP_USER_AGENT", ""))[:500]})

    async def _bound(self, sid: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The session this socket is bound to; refuses any other session id."""
        session = await self.get_session(sid)
        bound = session.get("session_id")
        if not bound:
            raise BadRequest("no session yet: send session_request first")
        claimed = data.get("session_id")
        if claimed not in (None, "", bound):
            raise Forbidden("this socket belongs to another session")
        return bound, session

    async def _limit(self, session: dict[str, Any], bound: str | None, kind: str = "msg",
                     factor: int = 1) -> None:
        s = self.bridge.settings
        await self.bridge.limits.hit(f"ip:{kind}:{session.get('ip')}", s.rate_ip_messages * factor)
        if bound:
            await self.bridge.limits.hit(f"s:{kind}:{bound}", s.rate_session_messages * factor)

    @socket_edge
    async def on_session_request(self, sid: str, data: Any) -> dict[str, Any]:
        data = data if data is not None else {}
        self.bridge.limits.check_payload(data)
        data = _dict(data)
        requested = data.get("session_id")
        if requested is not None and not isinstance(requested, str):
            raise BadRequest("session_id must be a string or null")
        session = await self.get_session(sid)
        await self.bridge.limits.hit(f"ip:session:{session.get('ip')}", self.bridge.settings.rate_ip_sessions)
        router = self.bridge.router
        conversation, is_new = await router.open_session(requested or None)
        previous = session.get("session_id")
        if previous and previous != conversation.id:
            await self.leave_room(sid, session_room(previous))
        session["session_id"] = conversation.id
        await self.save_session(sid, session)
        await self.enter_room(sid, session_room(conversation.id))
        await self.emit("session_confirm", conversation.id, to=sid)
        if not is_new:
            messages = await router.history(conversation.id)
            state = await router.state_payload(conversation)
            if messages or conversation.state != "bot":
                await self.emit("history", {"session_id": conversation.id, "messages": messages,
                                            "state": state}, to=sid)
        log.info("socket %s bound to conversation %s (%s)", sid, conversation.id,
                 "new" if is_new else "continued")
        return {"ok": True, "session_id": conversation.id, "new": is_new}

    @socket_edge
    async def on_user_uttered(self, sid: str, data: Any) -> dict[str, Any]:
        self.bridge.limits.check_payload(data)
        data = _dict(data)
        bound, session = await self._bound(sid, data)
        await self._limit(session, bound)
        text = _text(data.get("message"), "message")
        if not text.strip():
            raise BadRequest("message is empty")
        self.bridge.limits.check_text(text)
        client_id = data.get("client_id")
        if client_id is not None:
            client_id = _text(client_id, "client_id")
            if not client_id or len(client_id) > MAX_CLIENT_ID:
                raise BadRequest("client_id must be 1 to 100 characters")
        metadata: dict[str, Any] = {}
        for key in ("customData", "metadata"):
            value = data.get(key)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise BadRequest(f"{key} must be an object")
            metadata.update(value)
        metadata.setdefault("user_agent", session.get("user_agent", ""))
        message, duplicate = await self.bridge.router.visitor_message(
            bound, text, client_id=client_id, metadata=metadata)
        return {"ok": True, "id": message.id, "duplicate": duplicate}

    @socket_edge
    async def on_typing(self, sid: str, data: Any) -> dict[str, Any]:
        self.bridge.limits.check_payload(data)
        data = _dict(data)
        bound, session = await self._bound(sid, data)
        await self._limit(session, bound, "typing", 5)
        on = data.get("on")
        if not isinstance(on, bool):
            raise BadRequest("on must be true or false")
        await self.bridge.router.visitor_typing(bound, on)
        return {"ok": True}

    @socket_edge
    async def on_leave_email(self, sid: str, data: Any) -> dict[str, Any]:
        self.bridge.limits.check_payload(data)
        data = _dict(data)
        bound, session = await self._bound(sid, data)
        await self._limit(session, bound)
        email = _text(data.get("email"), "email").strip()
        text = data.get("message")
        if text is not None:
            text = _text(text, "message")
            self.bridge.limits.check_text(text)
        ticket_id = await self.bridge.router.leave_email(bound, email, text)
        return {"ok": True, "ticket_id": ticket_id}

    @socket_edge
    async def on_rate(self, sid: str, data: Any) -> dict[str, Any]:
        self.bridge.limits.check_payload(data)
        data = _dict(data)
        bound, session = await self._bound(sid, data)
        await self._limit(session, bound)
        score = data.get("score")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise BadRequest("score must be a whole number from 1 to 5")
        comment = data.get("comment")
        if comment is not None:
            comment = _text(comment, "comment")
            self.bridge.limits.check_text(comment)
        await self.bridge.router.rate(bound, score, comment)
        return {"ok": True}
