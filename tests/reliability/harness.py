"""Building blocks of the fault tests: real bridge processes that can be killed with
SIGKILL and restarted on the same port, and visitor / agent clients that reconnect by
themselves (python-socketio's reconnection), bind their session again, re-send what was
not acknowledged (same client_id, so the bridge de-duplicates) and record what a
screen would show (de-duplicated by message id, like the widget and the console).
"""
from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import socketio

from tests.support.processes import PROJECT_ROOT, free_port, stop, wait_for_port

QUIET_LIMITS = {"HANDOFF_RATE_SESSION_MESSAGES": "100000", "HANDOFF_RATE_IP_MESSAGES": "1000000",
                "HANDOFF_RATE_IP_SESSIONS": "100000", "HANDOFF_RATE_LOGIN_ATTEMPTS": "100000"}


async def close_client(sio: Any) -> None:
    """Disconnect a Socket.IO client for good: no reconnection, its HTTP session closed."""
    sio.reconnection = False
    try:
        await sio.disconnect()
    except Exception:  # noqa: BLE001
        pass
    http_ = getattr(sio.eio, "http", None)
    if http_ is not None and not http_.closed:
        await http_.close()


class BridgeProcess:
    """`python -m handoff` on a fixed free port; kill -9 and restart on the same port."""

    _count = itertools.count()

    def __init__(self, env: dict[str, str], log_dir: Path, port: int | None = None):
        self.port = port or free_port()
        self.env = {**os.environ, **env, "HANDOFF_PORT": str(self.port)}
        self.log_dir = Path(log_dir)
        self.name = f"bridge{next(self._count)}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, timeout: float = 30) -> "BridgeProcess":
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "handoff"], cwd=PROJECT_ROOT,
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            log.close()
        self.starts += 1
        wait_for_port(self.port, timeout, self.proc)
        return self

    async def astart(self, timeout: float = 30) -> "BridgeProcess":
        return await asyncio.to_thread(self.start, timeout)

    def kill9(self) -> None:
        """SIGKILL: no cleanup, no goodbye to sockets, Redis or Rasa."""
        assert self.proc is not None and self.proc.poll() is None, "not running"
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def log(self, tail: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""


async def http(method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        async with session.request(method, url, **kw) as response:
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, await response.text()


async def until(predicate, timeout: float, what: str, interval: float = 0.05) -> float:
    """Wait until predicate() (sync or async) is true; the seconds it took."""
    start = time.monotonic()
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        await asyncio.sleep(interval)


def _client() -> socketio.AsyncClient:
    return socketio.AsyncClient(reconnection=True, reconnection_attempts=0, reconnection_delay=0.2,
                                reconnection_delay_max=1.0, randomization_factor=0.2)


class ResilientVisitor:
    """A widget tab: reconnects, binds its session again, re-sends unacknowledged
    messages with the same client_id, shows every message id once."""

    def __init__(self, url: str, name: str = ""):
        self.url = url
        self.name = name
        self.sio = _client()
        self.session_id: str | None = None
        self.bound = asyncio.Event()
        self.shown: dict[str, dict[str, Any]] = {}      # message id -> message, in arrival order
        self.acked: list[tuple[str, str, str]] = []     # (client_id, text, message id) in send order
        self.states: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.binds = 0
        self.duplicate_acks = 0

        @self.sio.event
        async def connect():
            self.bound.clear()
            asyncio.get_running_loop().create_task(self._bind())

        @self.sio.event
        async def disconnect(*_args):
            self.bound.clear()

        @self.sio.on("session_confirm")
        async def confirm(session_id):
            if self.session_id is None:
                self.session_id = session_id

        @self.sio.on("history")
        async def history(data):
            for message in data.get("messages", []):
                self._show(message)
            if data.get("state"):
                self.states.append(data["state"])

        @self.sio.on("bot_uttered")
        async def bot_uttered(data):
            self._show(data)

        @self.sio.on("visitor_uttered")
        async def visitor_uttered(data):
            self._show({**data, "sender": "visitor"})

        @self.sio.on("conversation_state")
        async def conversation_state(data):
            self.states.append(data)

        @self.sio.on("error")
        async def error(data):
            self.errors.append(data)

    def _show(self, message: dict[str, Any]) -> None:
        if isinstance(message, dict) and message.get("id") and message["id"] not in self.shown:
            self.shown[message["id"]] = message

    async def _bind(self) -> None:
        for _ in range(50):
            try:
                ack = await self.sio.call("session_request", {"session_id": self.session_id}, timeout=5)
            except Exception:  # noqa: BLE001 - the connection went away again
                if not self.sio.connected:
                    return
                await asyncio.sleep(0.2)
                continue
            if isinstance(ack, dict) and ack.get("ok"):
                if self.session_id is not None and ack["session_id"] != self.session_id:
                    raise AssertionError(f"{self.name}: session changed {self.session_id} -> {ack}")
                self.session_id = ack["session_id"]
                self.binds += 1
                self.bound.set()
                return
            await asyncio.sleep(0.2)

    async def start(self, timeout: float = 10) -> str:
        await self.sio.connect(self.url, transports=["websocket"], wait_timeout=5)
        await asyncio.wait_for(self.bound.wait(), timeout)
        return self.session_id

    async def send(self, text: str, deadline_s: float = 60) -> str:
        """Until acknowledged (across reconnects); returns the message id."""
        client_id = uuid.uuid4().hex
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                await asyncio.wait_for(self.bound.wait(), max(0.1, end - time.monotonic()))
                ack = await self.sio.call("user_uttered", {"message": text, "session_id": self.session_id,
                                                           "client_id": client_id}, timeout=3)
            except Exception:  # noqa: BLE001 - not connected / no ack: try again
                await asyncio.sleep(0.1)
                continue
            if isinstance(ack, dict) and ack.get("ok"):
                self.duplicate_acks += bool(ack.get("duplicate"))
                self.acked.append((client_id, text, ack["id"]))
                return ack["id"]
            await asyncio.sleep(0.2)    # unavailable / rate limited: retry later
        raise AssertionError(f"{self.name}: {text!r} not acknowledged within {deadline_s}s")

    def shown_visitor_texts(self) -> list[str]:
        return [m.get("text") for m in self.shown.values() if m.get("sender") == "visitor"]

    async def close(self) -> None:
        await close_client(self.sio)


class ResilientAgent:
    """An agent console that reconnects with its token and re-sends unacknowledged replies."""

    def __init__(self, url: str, token: str, name: str = ""):
        self.url = url
        self.token = token
        self.name = name
        self.sio = _client()
        self.connected = asyncio.Event()
        self.assigned: list[dict[str, Any]] = []
        self.visitor_messages: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.queue: dict[str, Any] = {}
        self.connects = 0

        @self.sio.event(namespace="/agent")
        async def connect():
            self.connects += 1
            self.connected.set()

        @self.sio.event(namespace="/agent")
        async def disconnect(*_args):
            self.connected.clear()

        @self.sio.on("assigned", namespace="/agent")
        async def assigned(data):
            self.assigned.append(data)

        @self.sio.on("visitor_message", namespace="/agent")
        async def visitor_message(data):
            self.visitor_messages.append(data)

        @self.sio.on("conversation_update", namespace="/agent")
        async def update(data):
            self.updates.append(data)

        @self.sio.on("queue", namespace="/agent")
        async def queue(data):
            self.queue = data

    async def start(self) -> "ResilientAgent":
        await self.sio.connect(self.url, namespaces=["/agent"], auth={"token": self.token},
                               transports=["websocket"], wait_timeout=5)
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def call(self, event: str, data: Any, timeout: float = 5) -> Any:
        return await self.sio.call(event, data, namespace="/agent", timeout=timeout)

    async def send(self, conversation_id: str, text: str, deadline_s: float = 60) -> str:
        client_id = uuid.uuid4().hex
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                await asyncio.wait_for(self.connected.wait(), max(0.1, end - time.monotonic()))
                ack = await self.call("message", {"conversation_id": conversation_id, "text": text,
                                                  "client_id": client_id}, timeout=3)
            except Exception:  # noqa: BLE001
                await asyncio.sleep(0.1)
                continue
            if isinstance(ack, dict) and ack.get("ok"):
                return ack["id"]
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name}: reply {text!r} not acknowledged within {deadline_s}s")

    async def close(self) -> None:
        await close_client(self.sio)


async def server_log(url: str, session_id: str) -> list[dict[str, Any]]:
    """The conversation's log as the bridge replays it to a fresh tab."""
    client = socketio.AsyncClient(reconnection=False)
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    @client.on("history")
    async def history(data):
        if not got.done():
            got.set_result(data["messages"])

    try:
        await client.connect(url, transports=["websocket"], wait_timeout=5)
        ack = await client.call("session_request", {"session_id": session_id}, timeout=5)
        assert ack["session_id"] == session_id, ack
        return await asyncio.wait_for(got, 5)
    finally:
        await client.disconnect()
