"""Fixtures for the store contract suite: every test runs against each store kind.

The Redis variant uses a real redis-server (tests/support/processes.RedisServer) started
once per session and flushed before every test, so tests stay independent.
"""
from __future__ import annotations

import pytest
import redis
import pytest_asyncio

from handoff.store import open_store
from tests.support.processes import RedisServer

STORE_KINDS = ["memory", "redis"]


@pytest.fixture(scope="session")
def redis_server():
    """One throwaway redis-server for the whole session."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server):
    """The session server's URL, flushed so that every test starts empty."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest_asyncio.fixture(params=STORE_KINDS)
async def store(request):
    """A started, empty store of each kind; closed after the test."""
    if request.param == "memory":
        s = open_store(None)
    else:
        s = open_store(request.getfixturevalue("redis_url"))
    await s.start()
    yield s
    await s.close()
