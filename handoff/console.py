"""The agent namespace ``/agent`` (docs/protocol.md, section 3), used by the console.

A connection needs a valid, unrevoked token in its connect auth (``{"token": ...}``)
for an account that still exists; otherwise it is refused. The token keeps being
checked: every event of a socket whose token was revoked (logout, in any bridge
process) or has expired is refused, and such sockets are disconnected (at once in the
process that handled the logout, within one watchdog interval in the others). Once connected the agent
is online, gets the queue and, again, every chat it owns (so a reconnect or a reload
brings the chats back). Handlers check shapes and ownership inputs, then call routing.
Every event answers in its ack; only `presence` and `typing` (sent without an ack by the
console) also report failures as an `error` event.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import socketio

from . import auth
from .context import Bridge
from .edge import socket_edge
from .errors import BadRequest, Unauthorized
from .store.base import StoreError
from .outbox import AGENT_NS, AGENTS_ROOM, agent_room
from .routing import QUEUE_PUSH_LIMIT, AgentInfo

log = logging.getLogger(__name__)


def _dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest("the payload must be a JSON object")
    return data


def _str(data: dict[str, Any], key: str, *, required: bool = True, max_len: int = 200) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} must be a non-empty string")
    if len(value) > max_len:
        raise BadRequest(f"{key} is too long")
    return value


def _refused(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """connect_error for the client: message "code: text", data {"code", "message"}."""
    return socketio.exceptions.ConnectionRefusedError(f"{code}: {message}", {"code": code, "message": message})


class AgentNamespace(socketio.AsyncNamespace):
    """Handlers of the agent events (one instance per application)."""

    def __init__(self, bridge: Bridge):
        super().__init__(AGENT_NS)
        self.bridge = bridge
        self._sockets: dict[str, set[str]] = {}      # agent id -> sids in this process

    @property
    def metrics(self):  # used by socket_edge
        return self.bridge.metrics

    def connected_agents(self) -> list[str]:
        """Agents with at least one socket in this process."""
        return list(self._sockets)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth_data: Any = None) -> None:
        token = auth_data.get("token") if isinstance(auth_data, dict) else None
        try:
            claims = await auth.verify_claims(token, self.bridge.settings.secret, self.bridge.store)
            agent_id = claims["sub"]
        except Unauthorized as exc:
            log.info("agent connection refused: %s", exc.message)
            raise _refused("unauthorized", exc.message)
        except Exception as exc:  # noqa: BLE001 - a store outage must refuse, not crash
            log.warning("agent connection refused, token not checkable: %s", exc)
            raise _refused("unavailable", "try again later")
        agent = await self.bridge.directory.get(agent_id)
        if agent is None:
            raise _refused("unauthorized", "unknown agent")
        await self.save_session(sid, {"agent_id": agent.id, "jti": claims["jti"],
                                      "exp": float(claims["exp"])})
        await self.enter_room(sid, agent_room(agent.id))
        await self.enter_room(sid, AGENTS_ROOM)
        self._sockets.setdefault(agent.id, set()).add(sid)
        self.bridge.router.spawn(self._welcome(sid, agent), f"welcome agent {agent.id}")

    async def _welcome(self, sid: str, agent: AgentInfo) -> None:
        """After the connection is confirmed: online, the queue, and the agent's chats."""
        manager = self.server.manager
        for _ in range(500):
            if manager.is_connected(sid, AGENT_NS):
                break
            await asyncio.sleep(0.01)
        else:
            return
        router = self.bridge.router
        log.info("agent %s connected", agent.id)
        await router.agent_status(agent, "online")
        await self.emit("queue", await router.queue_payload(QUEUE_PUSH_LIMIT), to=sid)
        for conversation in await self.bridge.store.list_conversations(state="agent", agent_id=agent.id):
            await self.emit("assigned", await router.assigned_payload(conversation.id), to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        try:
            session = await self.get_session(sid)
        except KeyError:
            return
        agent_id = session.get("agent_id")
        if not agent_id:
            return
        sids = self._sockets.get(agent_id, set())
        sids.discard(sid)
        if not sids:
            self._sockets.pop(agent_id, None)
            agent = await self.bridge.directory.get(agent_id)
            if agent is not None:
                # chats stay with the agent for agent_disconnect_grace_s (see routing.tick)
                self.bridge.router.spawn(self.bridge.router.agent_status(agent, "offline"),
                                         f"agent {agent_id} offline")

    async def _agent(self, sid: str) -> AgentInfo:
        session = await self.get_session(sid)
        if session.get("exp", 0.0) <= time.time() or \
                await self.bridge.store.is_token_revoked(session.get("jti", "")):
            self.bridge.router.spawn(self._drop(sid), f"drop agent socket {sid}")
            raise Unauthorized("your session has ended; sign in again")
        agent = await self.bridge.directory.get(session.get("agent_id", ""))
        if agent is None:
            raise Unauthorized("your account no longer exists")
        return agent

    async def _drop(self, sid: str) -> None:
        """Tell a socket whose token stopped working, then disconnect it."""
        try:
            await self.emit("error", {"code": "unauthorized",
                                      "message": "your session has ended; sign in again"}, to=sid)
            await self.disconnect(sid)
        except Exception as exc:  # noqa: BLE001 - already gone
            log.debug("dropping agent socket %s: %s", sid, exc)

    async def drop_token(self, jti: str) -> int:
        """Disconnect this process's sockets that connected with token `jti` (logout)."""
        dropped = 0
        for sids in list(self._sockets.values()):
            for sid in list(sids):
                try:
                    session = await self.get_session(sid)
                except KeyError:
                    continue
                if session.get("jti") == jti:
                    dropped += 1
                    await self._drop(sid)
        return dropped

    async def check_tokens(self) -> int:
        """Disconnect this process's sockets whose token expired or was revoked (also by
        another bridge process). A store outage drops nobody. Returns how many."""
        now = time.time()
        dropped = 0
        for sids in list(self._sockets.values()):
            for sid in list(sids):
                try:
                    session = await self.get_session(sid)
                except KeyError:
                    continue
                try:
                    gone = session.get("exp", 0.0) <= now or \
                        await self.bridge.store.is_token_revoked(session.get("jti", ""))
                except StoreError:
                    return dropped
                if gone:
                    log.info("agent %s: token expired or revoked; disconnecting socket %s",
                             session.get("agent_id"), sid)
                    dropped += 1
                    await self._drop(sid)
        return dropped

    async def run_token_watch(self) -> None:
        """The loop behind check_tokens (started by the app like the watchdog)."""
        while True:
            await asyncio.sleep(self.bridge.settings.assign_interval_s)
            try:
                await self.check_tokens()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep watching
                log.exception("token watch failed")

    async def _prepare(self, sid: str, data: Any) -> tuple[AgentInfo, dict[str, Any]]:
        self.bridge.limits.check_payload(data)
        data = _dict(data)
        agent = await self._agent(sid)
        await self.bridge.limits.hit(f"agent:{agent.id}", self.bridge.settings.rate_ip_messages * 5)
        return agent, data

    @socket_edge
    async def on_presence(self, sid: str, data: Any) -> dict[str, Any]:
        agent, data = await self._prepare(sid, data)
        await self.bridge.router.agent_status(agent, _str(data, "status", max_len=20))
        return {"ok": True}

    def _text(self, data: dict[str, Any]) -> str:
        """The event's text: a non-empty string within the message size limit."""
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("text must be a non-empty string")
        self.bridge.limits.check_text(text)
        return text

    @socket_edge(error_event=False)
    async def on_claim(self, sid: str, data: Any) -> dict[str, Any]:
        agent, data = await self._prepare(sid, data)
        await self.bridge.router.claim(agent, _str(data, "conversation_id"))
        return {"ok": True}

    @socket_edge(error_event=False)
    async def on_message(self, sid: str, data: Any) -> dict[str, Any]:
        agent, data = await self._prepare(sid, data)
        text = self._text(data)
        client_id = _str(data, "client_id", required=False, max_len=100)
        message = await self.bridge.router.agent_message(agent, _str(data, "conversation_id"), text, client_id)
        return {"ok": True, "id": message.id}

    @socket_edge
    async def on_typing(self, sid: str, data: Any) -> dict[str, Any]:
        agent, data = await self._prepare(sid, data)
        on = data.get("on")
        if not isinstance(on, bool):
            raise BadRequest("on must be true or false")
        await self.bridge.router.agent_typing(agent, _str(data, "conversation_id"), on)
        return {"ok": True}

    @socket_edge(error_event=False)
    async def on_note(self, sid: str, data: Any) -> dict[str, Any]:
        agent, data = await self._prepare(sid, data)
        text = self._text(data)
        message = await self.bridge.router.note(agent, _str(data, "conversation_id"), text)
        return {"ok": True, "id": message.id}

    @socket_edge(error_event=False)
    async def on_hand_back(self, sid: str, data: Any) -> dict[str, Any]:
        agent, data = await self._prepare(sid, data)
        intent = _str(data, "intent", required=False, max_len=100)
        await self.bridge.router.hand_back(agent, _str(data, "conversation_id"), intent)
        return {"ok": True}

    @socket_edge(error_event=False)
    async def on_transfer(self, sid: str, data: Any) -> dict[str, Any]:
        agent, data = await self._prepare(sid, data)
        await self.bridge.router.transfer(agent, _str(data, "conversation_id"),
                                          _str(data, "agent_id", required=False, max_len=64),
                                          _str(data, "team", required=False, max_len=32))
        return {"ok": True}

    @socket_edge(error_event=False)
    async def on_close(self, sid: str, data: Any) -> dict[str, Any]:
        agent, data = await self._prepare(sid, data)
        resolution = _str(data, "resolution", required=False, max_len=200) or "resolved"
        await self.bridge.router.close(agent, _str(data, "conversation_id"), resolution)
        return {"ok": True}

    @socket_edge(error_event=False)
    async def on_flag(self, sid: str, data: Any) -> dict[str, Any]:
        agent, data = await self._prepare(sid, data)
        note = data.get("note") or ""
        if not isinstance(note, str):
            raise BadRequest("note must be a string")
        self.bridge.limits.check_text(note)
        await self.bridge.router.flag(agent, _str(data, "conversation_id"), _str(data, "message_id"), note)
        return {"ok": True}
