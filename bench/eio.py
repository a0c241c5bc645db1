"""A minimal Socket.IO v5 / Engine.IO v4 client over one aiohttp WebSocket, for load
generation: thousands of these fit in one process where python-socketio's AsyncClient
(a task set, queues and an HTTP session per client) would not.

It speaks the text protocol only (no binary attachments, no long-polling):

    server: 0{"sid", "pingInterval", ...}        Engine.IO open
    client: 40 / 40/agent,{"token": ...}         connect to a namespace (with auth)
    server: 40{"sid"} / 44{"message"}             connected / refused
    server: 2  -> client: 3                       ping / pong
    client: 42<ns,><id>["event", data]           event (with ack id)
    server: 43<ns,><id>[data]                    ack
    server: 42<ns,>["event", data]               event

Events are handed to `on_event(event, data, t)` with t = time.perf_counter() at receipt
(perf_counter is CLOCK_MONOTONIC on Linux: comparable across processes of one machine).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any, Callable

import aiohttp

EventHandler = Callable[[str, Any, float], None]


class ProtocolError(RuntimeError):
    pass


def _split(packet: str, start: int) -> tuple[str, str]:
    """(namespace, rest) of a socket.io packet body after its type digit(s)."""
    if packet.startswith("/", start):
        comma = packet.find(",", start)
        if comma < 0:
            return packet[start:], ""
        return packet[start:comma], packet[comma + 1:]
    return "/", packet[start:]


class SioSocket:
    """One Socket.IO connection to one namespace."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, namespace: str = "/",
                 on_event: EventHandler | None = None):
        self.session = session
        self.url = base_url.rstrip("/").replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.namespace = namespace
        self.on_event = on_event or (lambda event, data, t: None)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task | None = None
        self._connected: asyncio.Future | None = None
        self.closed = False

    @property
    def _prefix(self) -> str:
        return "" if self.namespace == "/" else self.namespace + ","

    async def connect(self, auth: dict[str, Any] | None = None, timeout: float = 30.0) -> None:
        self.ws = await self.session.ws_connect(self.url, autoping=False, max_msg_size=0,
                                                timeout=aiohttp.ClientWSTimeout(ws_close=5.0)
                                                if hasattr(aiohttp, "ClientWSTimeout") else 5.0)
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type != aiohttp.WSMsgType.TEXT or not msg.data.startswith("0"):
            raise ProtocolError(f"no Engine.IO open packet: {msg!r}")
        self._connected = asyncio.get_running_loop().create_future()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        body = "" if auth is None else json.dumps(auth, separators=(",", ":"))
        if self.namespace == "/":
            await self.ws.send_str("40" + body)
        else:
            await self.ws.send_str("40" + self.namespace + "," + body)
        await asyncio.wait_for(self._connected, timeout)

    async def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                t = time.perf_counter()
                data: str = msg.data
                kind = data[:1]
                if kind == "2":                    # Engine.IO ping
                    await ws.send_str("3" + data[1:])
                    continue
                if kind != "4" or len(data) < 2:   # 1 close, 6 noop ...
                    if kind == "1":
                        break
                    continue
                sio = data[1]
                ns, rest = _split(data, 2)
                if sio == "2":                     # event
                    i = 0
                    while i < len(rest) and rest[i].isdigit():
                        i += 1
                    args = json.loads(rest[i:])
                    self.on_event(args[0], args[1] if len(args) > 1 else None, t)
                elif sio == "3":                   # ack
                    i = 0
                    while i < len(rest) and rest[i].isdigit():
                        i += 1
                    fut = self._acks.pop(int(rest[:i]), None)
                    if fut is not None and not fut.done():
                        args = json.loads(rest[i:])
                        fut.set_result(args[0] if args else None)
                elif sio == "0":                   # connected
                    if self._connected and not self._connected.done():
                        self._connected.set_result(json.loads(rest) if rest else {})
                elif sio == "4":                   # connect_error
                    if self._connected and not self._connected.done():
                        self._connected.set_exception(ProtocolError(f"refused: {rest}"))
                elif sio == "1":                   # disconnected by the server
                    break
        except (aiohttp.ClientError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.closed = True
            if self._connected and not self._connected.done():
                self._connected.set_exception(ProtocolError("connection closed"))
            for fut in self._acks.values():
                if not fut.done():
                    fut.set_exception(ProtocolError("connection closed"))
            self._acks.clear()

    async def emit(self, event: str, data: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str("42" + self._prefix + json.dumps([event, data], separators=(",", ":")))

    async def call(self, event: str, data: Any, timeout: float = 30.0) -> Any:
        """Emit with an ack id; the ack's first argument."""
        assert self.ws is not None
        ack_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = fut
        await self.ws.send_str("42" + self._prefix + str(ack_id)
                               + json.dumps([event, data], separators=(",", ":")))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._acks.pop(ack_id, None)

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            try:
                await self.ws.send_str("41" + self._prefix)
            except (ConnectionError, aiohttp.ClientError, RuntimeError):
                pass
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass


class Waiter:
    """Records events of one socket and lets a coroutine wait for a matching one."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Callable[[str, Any], bool], asyncio.Future]] = []

    def __call__(self, event: str, data: Any, t: float) -> None:
        for item in list(self.waiting):
            match, fut = item
            if not fut.done() and match(event, data):
                fut.set_result((data, t))
                self.waiting.remove(item)

    def expect(self, match: Callable[[str, Any], bool]) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.waiting.append((match, fut))
        return fut

    def cancel_all(self) -> None:
        for _, fut in self.waiting:
            if not fut.done():
                fut.cancel()
        self.waiting.clear()
