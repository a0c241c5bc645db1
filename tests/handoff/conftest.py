"""Fixtures of the bridge's tests: a fake Rasa, agent accounts, and the REAL bridge
application served on a free port (aiohttp AppRunner/TCPSite), with clients speaking
Socket.IO (python-socketio AsyncClient) and HTTP to it.

pytest configuration for tests/handoff: asyncio tests and async fixtures run in
pytest-asyncio's "auto" mode (no per-test marker needed).
"""
from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from argon2 import PasswordHasher

from handoff.agents import add_agent
from handoff.app import create_app
from handoff.context import BRIDGE
from handoff.settings import Settings
from tests.handoff.clients import BridgeServer
from tests.support.fake_rasa import FakeRasa
from tests.support.processes import RedisServer
from tests.support.timeouts import default_timeouts

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORDS = {"alice": "alice-secret-pw", "bob": "bob-secret-pw", "carol": "carol-secret-pw"}


def pytest_configure(config: pytest.Config) -> None:
    config.option.asyncio_mode = "auto"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A hung bridge test fails after a while instead of blocking the run (pytest-timeout);
    the end-to-end test gets time for Rasa to load its model on a busy machine."""
    default_timeouts(config, items, "handoff", lambda item: 900 if "e2e" in item.path.name else 120)


@pytest_asyncio.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    async with FakeRasa() as fake:
        yield fake


@pytest.fixture
def agents_file(tmp_path) -> str:
    """alice (billing, orders, general), bob (technical, account), carol (billing, cap 1)."""
    path = str(tmp_path / "agents.yml")
    add_agent(path, "alice", name="Alice", teams=["billing", "orders", "general"], capacity=3,
              password=PASSWORDS["alice"], hasher=FAST_HASHER)
    add_agent(path, "bob", name="Bob", teams=["technical", "account"], capacity=3,
              password=PASSWORDS["bob"], hasher=FAST_HASHER)
    add_agent(path, "carol", name="Carol", teams=["billing"], capacity=1,
              password=PASSWORDS["carol"], hasher=FAST_HASHER)
    return path


@pytest.fixture(scope="session")
def redis_server():
    """One real redis-server for the session (fails, never skips, when missing)."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server) -> str:
    import redis
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def make_settings(fake_rasa, agents_file, tmp_path):
    """Settings for a test bridge: the fake Rasa, test agents, fast timings."""
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = dict(
            rasa_url=fake_rasa.url, rasa_token=fake_rasa.token, rasa_timeout_s=2.0,
            agents_file=agents_file, secret="test-secret-" + "x" * 32, store_url="",
            assign_interval_s=0.2, auto_assign=False, port=0)
        values.update(overrides)
        return Settings(**values)
    return make


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[BridgeServer]:
    """The real app on a free port; stopped (cleanup contexts run) afterwards."""
    server = BridgeServer(create_app(settings))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def bridge(make_settings) -> AsyncIterator[BridgeServer]:
    """A bridge on the embedded store, manual claiming (auto_assign off)."""
    async with serve(make_settings()) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def store_url(request) -> str:
    """Run a test on both stores: "" (embedded) and a real Redis."""
    return "" if request.param == "memory" else request.getfixturevalue("redis_url")


__all__ = ["BRIDGE", "serve"]
