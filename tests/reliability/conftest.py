"""Fixtures of the reliability tests (faults and hostile input, docs/reliability.md):
the fake Rasa, test agent accounts and real Redis servers from tests/handoff, plus real
`python -m handoff` processes (tests/reliability/harness.py).

Nothing here skips: a missing redis-server, Rasa environment or model fails the test.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.handoff.conftest import (  # noqa: F401 - fixtures, re-exported for this directory
    FAST_HASHER, PASSWORDS, agents_file, fake_rasa, make_settings, redis_server, redis_url)
from tests.reliability.harness import QUIET_LIMITS, BridgeProcess
from tests.support.processes import RedisServer
from tests.support.timeouts import default_timeouts

SECRET = "reliability-secret-" + "r" * 32


def pytest_configure(config: pytest.Config) -> None:
    config.option.asyncio_mode = "auto"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    default_timeouts(config, items, "reliability", lambda item: 240)


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, with persistence (append-only file, fsync always)."""
    with RedisServer(persistent=True) as server:
        yield server


@pytest.fixture
def bridge_env(fake_rasa, agents_file):
    """Environment for bridge processes on a Redis URL (fake Rasa, test agents)."""
    def make(store_url: str, prefix: str = "rel:", **extra: str) -> dict[str, str]:
        env = {"HANDOFF_STORE_URL": store_url, "HANDOFF_STORE_PREFIX": prefix,
               "HANDOFF_SECRET": SECRET, "HANDOFF_AGENTS_FILE": agents_file,
               "HANDOFF_RASA_URL": fake_rasa.url, "HANDOFF_RASA_TOKEN": fake_rasa.token,
               "HANDOFF_RASA_TIMEOUT_S": "2", "HANDOFF_ASSIGN_INTERVAL_S": "0.25",
               "HANDOFF_AUTO_ASSIGN": "false", "HANDOFF_LOG_LEVEL": "INFO", **QUIET_LIMITS}
        env.update(extra)
        return env
    return make


@pytest.fixture
def bridges(tmp_path: Path):
    """Start bridge processes with bridges(env, n); all stopped afterwards."""
    started: list[BridgeProcess] = []

    async def start(env: dict[str, str], n: int = 1) -> list[BridgeProcess]:
        procs = [BridgeProcess(env, tmp_path) for _ in range(n)]
        for proc in procs:
            started.append(proc)
            await proc.astart()
        return procs

    yield start
    for proc in started:
        proc.stop()
