"""The embedded store: all bridge state in the memory of ONE process.

Used when no Redis is configured (development, the demo, a single small bridge). It is
explicitly one-process: nothing is shared with other bridge processes and nothing
survives a restart. Run several bridges only with the Redis store.

Atomicity comes from asyncio itself: no method awaits between reading and writing
state, so every method runs to completion without another coroutine interleaving.
No locks and no I/O are needed. It is not thread-safe (the bridge is one event loop).
Values are copied in and out, so callers cannot alter stored state by mutating what
they passed or got back (the records are frozen, so only their dicts are copied).
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections import deque
from typing import Any, Callable

from ._common import (PICKUPS_KEPT, check_changes, check_priority, check_release_changes,
                      check_state)
from .base import AgentStatus, Conversation, Message, Store

log = logging.getLogger(__name__)


def _with(record: Any, name: str, value: Any) -> Any:
    """A copy of the frozen dataclass `record` with field `name` set to `value`, made
    without running __init__ (the bridge copies records on every store call)."""
    twin = object.__new__(type(record))
    twin.__dict__.update(record.__dict__)
    twin.__dict__[name] = value
    return twin


def _own_conversation(conversation: Conversation) -> Conversation:
    """A copy that shares nothing mutable with `conversation`. Conversation is frozen, so
    only `meta` needs copying (cheaper than deep-copying the whole record)."""
    return _with(conversation, "meta", copy.deepcopy(conversation.meta) if conversation.meta else {})


def _own_message(message: Message) -> Message:
    """A copy that shares nothing mutable with `message` (only `payload` is mutable)."""
    return _with(message, "payload", copy.deepcopy(message.payload) if message.payload else {})


class EmbeddedStore(Store):
    """In-process implementation of base.Store; one process only (see module docstring).

    `clock` returns the current Unix time; tests pass a fake one.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._conversations: dict[str, Conversation] = {}
        self._messages: dict[str, list[Message]] = {}
        self._message_pos: dict[str, dict[str, int]] = {}      # conversation -> message id -> index
        self._client_ids: dict[str, dict[str, int]] = {}       # conversation -> client_id -> index
        self._queue: dict[str, tuple[int, float, int]] = {}    # id -> (priority, queued_at, seq)
        self._queue_seq = 0
        self._pickups: deque[tuple[float, float]] = deque(maxlen=PICKUPS_KEPT)
        self._presence: dict[str, AgentStatus] = {}
        self._active: dict[str, int] = {}
        self._revoked: dict[str, float] = {}
        self._flags: list[dict[str, Any]] = []
        self._hits: dict[str, tuple[int, int, float]] = {}     # key -> (window index, count, window end)
        self._hits_since_sweep = 0

    async def start(self) -> None:
        log.info("embedded store in use: state is kept in this process only and is lost on restart")

    async def ping(self) -> bool:
        return True

    # conversations

    async def create_conversation(self, conversation: Conversation) -> Conversation:
        existing = self._conversations.get(conversation.id)
        if existing is not None:
            return _own_conversation(existing)
        check_state(conversation.state)
        now = self._clock()
        stored = dataclasses.replace(
            _own_conversation(conversation),
            created_at=conversation.created_at or now,
            updated_at=conversation.updated_at or conversation.created_at or now,
        )
        self._conversations[stored.id] = stored
        self._messages[stored.id] = []
        self._message_pos[stored.id] = {}
        self._client_ids[stored.id] = {}
        log.debug("conversation %s created", stored.id)
        return _own_conversation(stored)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = self._conversations.get(conversation_id)
        return _own_conversation(found) if found is not None else None

    async def update_conversation(self, conversation_id: str, **changes: Any) -> Conversation:
        check_changes(changes)
        if conversation_id not in self._conversations:
            raise KeyError(conversation_id)
        return self._apply(conversation_id, changes)

    async def transition(self, conversation_id: str, expected: tuple[str, ...], new_state: str,
                         **changes: Any) -> Conversation | None:
        check_state(new_state)
        check_changes(changes)
        current = self._conversations.get(conversation_id)
        if current is None or current.state not in expected:
            return None
        return self._apply(conversation_id, {**changes, "state": new_state})

    def _apply(self, conversation_id: str, changes: dict[str, Any]) -> Conversation:
        current = self._conversations[conversation_id]
        changes = copy.deepcopy(changes)
        changes.setdefault("updated_at", self._clock())
        updated = dataclasses.replace(current, **changes)
        self._conversations[conversation_id] = updated
        if current.state == "queued" and updated.state != "queued":
            self._queue.pop(conversation_id, None)
        return _own_conversation(updated)

    async def list_conversations(self, *, state: str | None = None, visitor_id: str | None = None,
                                 agent_id: str | None = None, since: float | None = None,
                                 limit: int = 1000) -> list[Conversation]:
        found = [c for c in self._conversations.values()
                 if (state is None or c.state == state)
                 and (visitor_id is None or c.visitor_id == visitor_id)
                 and (agent_id is None or c.agent_id == agent_id)
                 and (since is None or c.updated_at >= since)]
        found.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        return [_own_conversation(c) for c in found[:max(limit, 0)]]

    async def count_conversations(self, *, state: str | None = None) -> int:
        if state is None:
            return len(self._conversations)
        return sum(1 for c in self._conversations.values() if c.state == state)

    # messages

    async def append_message(self, message: Message) -> tuple[Message, bool]:
        cid = message.conversation_id
        if cid not in self._conversations:
            raise KeyError(cid)
        log_ = self._messages[cid]
        positions = self._message_pos[cid]
        client_ids = self._client_ids[cid]
        if message.client_id is not None and message.client_id in client_ids:
            return _own_message(log_[client_ids[message.client_id]]), True
        if message.id in positions:
            return _own_message(log_[positions[message.id]]), True
        positions[message.id] = len(log_)
        if message.client_id is not None:
            client_ids[message.client_id] = len(log_)
        log_.append(_own_message(message))
        return _own_message(message), False

    async def messages(self, conversation_id: str, *, after_id: str | None = None,
                       limit: int = 500) -> list[Message]:
        log_ = self._messages.get(conversation_id, [])
        start = 0
        if after_id is not None and after_id in self._message_pos.get(conversation_id, {}):
            start = self._message_pos[conversation_id][after_id] + 1
        return [_own_message(m) for m in log_[start:start + max(limit, 0)]]

    # queue

    async def enqueue(self, conversation_id: str, priority: int, queued_at: float) -> None:
        check_priority(priority)
        if conversation_id not in self._conversations:
            raise KeyError(conversation_id)
        if conversation_id in self._queue:
            return
        self._queue_seq += 1
        self._queue[conversation_id] = (priority, queued_at, self._queue_seq)
        log.debug("conversation %s queued (priority %d)", conversation_id, priority)

    async def dequeue(self, conversation_id: str) -> None:
        self._queue.pop(conversation_id, None)

    async def queue(self) -> list[str]:
        return sorted(self._queue, key=lambda cid: (-self._queue[cid][0], self._queue[cid][1],
                                                    self._queue[cid][2]))

    async def claim(self, conversation_id: str, agent_id: str) -> bool:
        return self._claim(conversation_id, agent_id, None)

    async def claim_if_room(self, conversation_id: str, agent_id: str, capacity: int) -> bool:
        return self._claim(conversation_id, agent_id, capacity)

    def _claim(self, conversation_id: str, agent_id: str, capacity: int | None) -> bool:
        current = self._conversations.get(conversation_id)
        if conversation_id not in self._queue or current is None or current.state != "queued":
            return False
        if capacity is not None and self._active.get(agent_id, 0) >= capacity:
            return False
        del self._queue[conversation_id]
        now = self._clock()
        self._conversations[conversation_id] = dataclasses.replace(
            current, state="agent", agent_id=agent_id, assigned_at=now, updated_at=now)
        self._active[agent_id] = self._active.get(agent_id, 0) + 1
        log.debug("conversation %s claimed by agent %s", conversation_id, agent_id)
        return True

    async def release(self, conversation_id: str, agent_id: str) -> bool:
        current = self._conversations.get(conversation_id)
        if current is None or current.agent_id != agent_id:
            return False
        self._conversations[conversation_id] = dataclasses.replace(
            current, agent_id=None, updated_at=self._clock())
        self._active[agent_id] = max(self._active.get(agent_id, 0) - 1, 0)
        log.debug("conversation %s released by agent %s", conversation_id, agent_id)
        return True

    async def release_to(self, conversation_id: str, agent_id: str, new_state: str,
                         **changes: Any) -> Conversation | None:
        check_state(new_state)
        check_release_changes(changes)
        current = self._conversations.get(conversation_id)
        if current is None or current.agent_id != agent_id:
            return None
        if new_state == "queued":
            check_priority(changes.get("priority", current.priority))
            if changes.get("queued_at") is None:
                changes["queued_at"] = self._clock()
        self._active[agent_id] = max(self._active.get(agent_id, 0) - 1, 0)
        updated = self._apply(conversation_id, {**changes, "state": new_state, "agent_id": None})
        if new_state == "queued" and conversation_id not in self._queue:
            self._queue_seq += 1
            self._queue[conversation_id] = (updated.priority, updated.queued_at, self._queue_seq)
        log.debug("conversation %s released by agent %s to %s", conversation_id, agent_id, new_state)
        return updated

    async def record_pickup(self, waited_s: float, ts: float) -> None:
        self._pickups.append((ts, waited_s))

    async def recent_pickups(self, since: float) -> list[tuple[float, float]]:
        return sorted(p for p in self._pickups if p[0] >= since)

    # agents

    async def set_agent_status(self, status: AgentStatus) -> None:
        self._presence[status.agent_id] = dataclasses.replace(status, teams=tuple(status.teams))

    async def get_agent_status(self, agent_id: str) -> AgentStatus | None:
        presence = self._presence.get(agent_id)
        if presence is None and agent_id not in self._active:
            return None
        presence = presence or AgentStatus(agent_id=agent_id)
        return dataclasses.replace(presence, active=self._active.get(agent_id, 0))

    async def agent_statuses(self) -> list[AgentStatus]:
        ids = sorted(set(self._presence) | set(self._active))
        return [s for s in [await self.get_agent_status(i) for i in ids] if s is not None]

    # tokens

    async def revoke_token(self, token_id: str, expires_at: float) -> None:
        now = self._clock()
        self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp > now}
        if expires_at > now:
            self._revoked[token_id] = expires_at

    async def is_token_revoked(self, token_id: str) -> bool:
        expires_at = self._revoked.get(token_id)
        return expires_at is not None and expires_at > self._clock()

    # flags

    async def add_flag(self, conversation_id: str, message_id: str, agent_id: str, note: str,
                       ts: float) -> None:
        self._flags.append({"conversation_id": conversation_id, "message_id": message_id,
                            "agent_id": agent_id, "note": note, "ts": ts})

    async def flags(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._flags)

    # rate limiting

    async def hit(self, key: str, window_s: float) -> int:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        now = self._clock()
        window = math.floor(now / window_s)
        index, count, _ = self._hits.get(key, (window, 0, 0.0))
        count = count + 1 if index == window else 1
        self._hits[key] = (window, count, (window + 1) * window_s)
        self._sweep_hits(now)
        return count

    def _sweep_hits(self, now: float) -> None:
        """Forget counters whose window is over, now and then, so memory stays bounded."""
        self._hits_since_sweep += 1
        if self._hits_since_sweep < 1000:
            return
        self._hits_since_sweep = 0
        self._hits = {k: v for k, v in self._hits.items() if v[2] > now}
