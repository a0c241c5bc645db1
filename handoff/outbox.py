"""Where the bridge's events go: rooms of the Socket.IO server.

Every tab of a visitor session joins the room ``s:<session id>`` (namespace ``/``); every
connection of an agent joins ``a:<agent id>`` and ``agents`` (namespace ``/agent``).
Emitting to rooms (never to one socket id) is what lets several bridge processes share
one Redis manager: the process that decides something need not hold the socket.
"""
from __future__ import annotations

from typing import Any

import socketio

VISITOR_NS = "/"
AGENT_NS = "/agent"


def session_room(session_id: str) -> str:
    return f"s:{session_id}"


def agent_room(agent_id: str) -> str:
    return f"a:{agent_id}"


AGENTS_ROOM = "agents"


class Outbox:
    """Emits to visitors and agents by room (see module docstring)."""

    def __init__(self, sio: socketio.AsyncServer):
        self.sio = sio

    async def visitor(self, session_id: str, event: str, data: Any, *, local: bool = False) -> None:
        """local=True: only this process's sockets of the session, without the Redis
        fan-out (for what every process sends its own visitors, like queue positions)."""
        await self.sio.emit(event, data, room=session_room(session_id), namespace=VISITOR_NS,
                            ignore_queue=local)

    def has_local_visitor(self, session_id: str) -> bool:
        """True when a socket of this session is connected to this process."""
        return bool(self.sio.manager.rooms.get(VISITOR_NS, {}).get(session_room(session_id)))

    async def agent(self, agent_id: str, event: str, data: Any) -> None:
        await self.sio.emit(event, data, room=agent_room(agent_id), namespace=AGENT_NS)

    async def agents(self, event: str, data: Any) -> None:
        await self.sio.emit(event, data, room=AGENTS_ROOM, namespace=AGENT_NS)
