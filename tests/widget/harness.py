"""Real servers for the browser tests: the bridge (handoff.app.create_app) and the fake
Rasa run on one asyncio loop in a background thread, so a test written with Playwright's
sync API can start them, script the fake Rasa and look into the bridge's store.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from aiohttp import web
from argon2 import PasswordHasher

from handoff.agents import Agent, hash_password, save_agents
from handoff.app import create_app
from handoff.context import BRIDGE
from handoff.settings import Settings
from tests.support.fake_rasa import FakeRasa
from tests.support.processes import PROJECT_ROOT, free_port

T = TypeVar("T")

FAST_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
AGENTS = {  # username: (name, teams, password)
    "alice": ("Alice", ("billing", "orders", "general"), "alice-password-1"),
    "bob": ("Bob", ("technical", "account", "general"), "bob-password-2"),
}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-servers", daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        async def wrapper() -> T:
            return fn()
        return self.run(wrapper(), timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def write_agents(path: Path) -> None:
    save_agents(path, [Agent(id=username, name=name, teams=teams, capacity=5,
                             password_hash=hash_password(password, FAST_HASH))
                       for username, (name, teams, password) in AGENTS.items()])


class BridgeServer:
    """The real bridge application on a free port, against a Rasa at rasa_url."""

    def __init__(self, loop: LoopThread, tmp: Path, rasa_url: str, rasa_token: str, **overrides: Any):
        self.loop = loop
        self.port = free_port()
        agents_file = tmp / "agents.yml"
        write_agents(agents_file)
        values: dict[str, Any] = dict(
            environment="dev", host="127.0.0.1", port=self.port, rasa_url=rasa_url,
            rasa_token=rasa_token, rasa_timeout_s=30.0, store_url="", agents_file=str(agents_file),
            secret=secrets.token_urlsafe(32), static_dir=str(PROJECT_ROOT / "widget"),
            kb_path=str(PROJECT_ROOT / "data" / "kb"), business_hours="", auto_assign=False,
            assign_interval_s=0.5, rate_session_messages=1000, rate_ip_messages=5000,
            rate_ip_sessions=1000, rate_login_attempts=1000, log_level="WARNING")
        values.update(overrides)
        self.settings = Settings(**values)
        self.app: web.Application | None = None
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BridgeServer":
        async def start() -> None:
            self.app = create_app(self.settings)
            self.runner = web.AppRunner(self.app, shutdown_timeout=2)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.loop.run(start())
        return self

    def stop(self) -> None:
        if self.runner is not None:
            self.loop.run(self.runner.cleanup(), timeout=30)
            self.runner = None

    @property
    def bridge(self):
        assert self.app is not None
        return self.app[BRIDGE]

    def messages(self, conversation_id: str) -> list[Any]:
        """The bridge's stored log of a conversation."""
        return self.loop.run(self.bridge.store.messages(conversation_id, limit=1000))

    def conversation(self, conversation_id: str) -> Any:
        return self.loop.run(self.bridge.store.get_conversation(conversation_id))

    def http(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


class FakeRasaServer:
    """tests/support/fake_rasa.FakeRasa, run on the test loop."""

    def __init__(self, loop: LoopThread):
        self.loop = loop
        self.fake = FakeRasa()

    def start(self) -> FakeRasa:
        self.loop.run(self.fake.start())
        return self.fake

    def stop(self) -> None:
        self.loop.run(self.fake.stop())


def wait_until(predicate: Callable[[], Any], timeout: float = 10, message: str = "condition") -> Any:
    """Poll predicate until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.05)


class HostSite:
    """A second web server (another origin than the bridge) serving host pages that embed
    the widget, for cross-origin embedding."""

    def __init__(self, loop: LoopThread):
        self.loop = loop
        self.port = free_port()
        self.pages: dict[str, str] = {}
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "HostSite":
        async def page(request: web.Request) -> web.Response:
            html = self.pages.get(request.path)
            if html is None:
                raise web.HTTPNotFound()
            return web.Response(text=html, content_type="text/html")

        async def start() -> None:
            app = web.Application()
            app.router.add_get("/{tail:.*}", page)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.loop.run(start())
        return self

    def stop(self) -> None:
        if self.runner is not None:
            self.loop.run(self.runner.cleanup())
            self.runner = None
