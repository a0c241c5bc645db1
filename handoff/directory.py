"""The agent accounts the bridge serves, from the agents file (handoff.agents).

Read on first use and re-read when the file changes, so `python -m handoff.agents add`
takes effect without a restart; a malformed file keeps the last good accounts and logs
why. Lookups answer routing.AgentInfo (no password hashes beyond this module and auth).
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from .agents import Agent, AgentFileError, load_agents
from .routing import AgentInfo

log = logging.getLogger(__name__)


class Directory:
    """Agents by id from HANDOFF_AGENTS_FILE (see module docstring)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._agents: dict[str, Agent] = {}
        self._stamp: float | None = None
        self._lock = asyncio.Lock()

    def _mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return -1.0

    async def accounts(self) -> dict[str, Agent]:
        """All accounts (with hashes; for auth.login)."""
        async with self._lock:
            stamp = self._mtime()
            if stamp != self._stamp:
                try:
                    self._agents = await asyncio.to_thread(load_agents, self.path)
                    log.info("%d agent accounts loaded from %s", len(self._agents), self.path)
                except AgentFileError as exc:
                    log.error("agents file %s is invalid, keeping the last good accounts: %s",
                              self.path, exc)
                self._stamp = stamp
            return self._agents

    async def get(self, agent_id: str) -> AgentInfo | None:
        agent = (await self.accounts()).get(agent_id)
        if agent is None:
            return None
        return AgentInfo(id=agent.id, name=agent.name, teams=tuple(agent.teams), capacity=agent.capacity)
