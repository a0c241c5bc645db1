"""Test clients for the bridge: the server runner, a visitor tab and an agent console,
all speaking the real protocols (Socket.IO via python-socketio's AsyncClient, HTTP via
aiohttp). Every received event is recorded so tests can wait for it."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import aiohttp
import socketio
from aiohttp import web

from handoff.context import BRIDGE, Bridge
from tests.support.processes import free_port

Predicate = Callable[[Any], bool]


class BridgeServer:
    """An application served on 127.0.0.1:<free port>."""

    def __init__(self, app: web.Application):
        self.app = app
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bridge(self) -> Bridge:
        return self.app[BRIDGE]

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, shutdown_timeout=1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def http(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path, **kw) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = await response.text()
                return response.status, body

    async def login(self, username: str, password: str) -> str:
        status, body = await self.http("POST", "/api/agent/login",
                                       json={"username": username, "password": password})
        assert status == 200, body
        return body["token"]


class Recorder:
    """Records (event, data) pairs of one namespace; waits for the next matching one."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._cursor: dict[str, int] = {}
        self._changed = asyncio.Event()

    def record(self, event: str, data: Any) -> None:
        self.events.append((event, data))
        self._changed.set()

    def all(self, event: str) -> list[Any]:
        return [d for e, d in self.events if e == event]

    async def next(self, event: str, predicate: Predicate | None = None, timeout: float = 5.0) -> Any:
        """The first not yet consumed `event` (matching predicate), waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            start = self._cursor.get(event, 0)
            for index in range(start, len(self.events)):
                name, data = self.events[index]
                if name == event and (predicate is None or predicate(data)):
                    self._cursor[event] = index + 1
                    return data
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [e for e, _ in self.events]
                raise AssertionError(f"no {event!r} within {timeout}s; events so far: {seen}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def quiet(self, event: str, seconds: float = 0.3, predicate: Predicate | None = None) -> None:
        """Assert that no (further) `event` arrives within `seconds`."""
        count = len([1 for e, d in self.events if e == event and (predicate is None or predicate(d))])
        await asyncio.sleep(seconds)
        now = len([1 for e, d in self.events if e == event and (predicate is None or predicate(d))])
        assert now == count, f"unexpected {event!r}: {self.all(event)[count:]}"


class Visitor:
    """One browser tab of a visitor (namespace /)."""

    def __init__(self, url: str):
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.rec = Recorder()
        self.session_id: str | None = None

        @self.sio.on("*")
        async def catch_all(event: str, *args: Any) -> None:
            self.rec.record(event, args[0] if args else None)

    async def connect(self, headers: dict[str, str] | None = None, transports: list[str] | None = None) -> "Visitor":
        await self.sio.connect(self.url, headers=headers or {}, transports=transports or ["websocket"],
                               wait_timeout=5)
        return self

    async def start(self, session_id: str | None = None) -> str:
        """session_request -> session_confirm; returns the confirmed id."""
        if not self.sio.connected:
            await self.connect()
        await self.sio.emit("session_request", {"session_id": session_id})
        self.session_id = await self.rec.next("session_confirm")
        return self.session_id

    async def call(self, event: str, data: Any, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def say(self, text: str, client_id: str | None = None, **extra: Any) -> dict[str, Any]:
        payload = {"message": text, "session_id": self.session_id, **extra}
        if client_id:
            payload["client_id"] = client_id
        return await self.call("user_uttered", payload)

    async def next(self, event: str, predicate: Predicate | None = None, timeout: float = 5.0) -> Any:
        return await self.rec.next(event, predicate, timeout)

    async def bot_text(self, predicate: Predicate | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next bot_uttered that carries text (and matches predicate)."""
        return await self.next("bot_uttered", lambda d: "text" in d and (predicate is None or predicate(d)),
                               timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await _close_http(self.sio)
        await _close_http(self.sio)


async def _close_http(client: socketio.AsyncClient) -> None:
    """A client whose connection was refused still holds an aiohttp session."""
    http = getattr(client.eio, "http", None)
    if http is not None and not http.closed:
        await http.close()


class Agent:
    """One agent console (namespace /agent)."""

    def __init__(self, server: BridgeServer, token: str):
        self.server = server
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.rec = Recorder()

        @self.sio.on("*", namespace="/agent")
        async def catch_all(event: str, *args: Any) -> None:
            self.rec.record(event, args[0] if args else None)

    @classmethod
    async def login(cls, server: BridgeServer, username: str, password: str) -> "Agent":
        agent = cls(server, await server.login(username, password))
        await agent.sio.connect(server.url, namespaces=["/agent"], auth={"token": agent.token},
                                transports=["websocket"], wait_timeout=5)
        await agent.rec.next("queue")
        return agent

    async def call(self, event: str, data: Any, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, data, namespace="/agent", timeout=timeout)

    async def next(self, event: str, predicate: Predicate | None = None, timeout: float = 5.0) -> Any:
        return await self.rec.next(event, predicate, timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await _close_http(self.sio)
