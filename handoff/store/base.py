"""The storage contract every store (embedded, Redis) fulfils.

The bridge keeps all shared state behind this interface, so one bridge process can run
on the embedded store and several can share Redis. Every method is a coroutine; every
method that decides something between racing callers (claiming, de-duplicating) is
atomic in every implementation. The contract test suite in tests/handoff/store runs
against both implementations.
"""
from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any

STATES = ("bot", "queued", "agent", "closed")


@dataclass(frozen=True)
class Conversation:
    """One visitor conversation (one session id)."""

    id: str
    state: str = "bot"                      # one of STATES
    created_at: float = 0.0
    updated_at: float = 0.0
    visitor_id: str = ""                    # stable per browser, links earlier conversations
    agent_id: str | None = None             # owner while state == "agent"
    reason: str | None = None               # escalation reason while queued / with agent
    topic: str | None = None                # team / skill
    priority: int = 0                       # higher is served first
    summary: str = ""
    detail: str = ""
    queued_at: float | None = None
    assigned_at: float | None = None
    first_agent_reply_at: float | None = None
    closed_at: float | None = None
    resolution: str | None = None
    page_url: str = ""
    user_agent: str = ""
    email: str | None = None                # left by the visitor (ticket)
    ticket: bool = False
    rating: int | None = None
    rating_comment: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """One entry of a conversation's log, in the order the bridge accepted it."""

    id: str
    conversation_id: str
    ts: float
    sender: str                             # visitor | bot | agent | system | note
    text: str | None = None
    client_id: str | None = None            # visitor-made id, for de-duplication
    agent_id: str | None = None
    agent_name: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)  # quick_replies, attachment, custom


@dataclass(frozen=True)
class AgentStatus:
    """Presence and load of one agent, shared between bridge processes."""

    agent_id: str
    status: str = "offline"                 # online | away | offline
    teams: tuple[str, ...] = ()
    capacity: int = 3
    active: int = 0                         # conversations currently assigned
    last_seen: float = 0.0


class StoreError(Exception):
    """The store is unreachable or answered wrongly; the caller reports 'unavailable'."""


class Store(abc.ABC):
    """Shared state of the bridge. See module docstring."""

    # lifecycle
    async def start(self) -> None:
        """Connect; called from the app's startup context."""

    async def close(self) -> None:
        """Release connections; called from the cleanup context."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the store answers (used by /readyz)."""

    # conversations
    @abc.abstractmethod
    async def create_conversation(self, conversation: Conversation) -> Conversation:
        """Store a new conversation and return it as stored (created_at/updated_at filled in
        with now when 0). If the id exists already, nothing changes and the stored one is
        returned. ValueError for a state not in STATES."""

    @abc.abstractmethod
    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    @abc.abstractmethod
    async def update_conversation(self, conversation_id: str, **changes: Any) -> Conversation:
        """Apply field changes and bump updated_at; KeyError when unknown.

        ValueError for unknown fields, a changed id or an unknown state. Leaving the
        'queued' state also removes the conversation from the queue. Change agent_id only
        through claim/release, which keep the agents' active counts."""

    async def get_conversations(self, conversation_ids: list[str]) -> list[Conversation]:
        """Several conversations at once, in the given order, unknown ids left out.
        Additive; the fallback loads them one by one, the Redis store in pipelines."""
        found = [await self.get_conversation(cid) for cid in conversation_ids]
        return [c for c in found if c is not None]

    @abc.abstractmethod
    async def transition(self, conversation_id: str, expected: tuple[str, ...], new_state: str,
                         **changes: Any) -> Conversation | None:
        """Atomically move to new_state if the current state is in expected; None otherwise.

        None too when the conversation does not exist. `changes` are applied in the same
        step (as in update_conversation), and leaving 'queued' removes it from the queue."""

    @abc.abstractmethod
    async def list_conversations(self, *, state: str | None = None, visitor_id: str | None = None,
                                 agent_id: str | None = None, since: float | None = None,
                                 limit: int = 1000) -> list[Conversation]:
        """Conversations matching every given filter, newest created first, at most limit.
        `since` keeps those updated at or after that time."""

    # messages
    @abc.abstractmethod
    async def append_message(self, message: Message) -> tuple[Message, bool]:
        """Append to the log. If message.client_id was already appended to this conversation,
        return (the stored message, True) and append nothing; else (message, False).
        The same holds for a message id already in the log. KeyError when the conversation
        does not exist."""

    @abc.abstractmethod
    async def messages(self, conversation_id: str, *, after_id: str | None = None,
                       limit: int = 500) -> list[Message]:
        """The log in order, optionally only what follows after_id.

        At most `limit` messages from the start (or from after after_id): page forward by
        passing the last id seen. An after_id this conversation does not have gives the
        log from the start (the client de-duplicates by id). [] for an unknown conversation."""

    # queue
    @abc.abstractmethod
    async def enqueue(self, conversation_id: str, priority: int, queued_at: float) -> None:
        """Put in the queue (idempotent): higher priority first, then first come first served.

        Enqueueing what is already queued changes nothing (it keeps its place; dequeue first
        to change the priority). KeyError when the conversation does not exist. Claim
        only takes conversations that are in the queue and in state 'queued'."""

    @abc.abstractmethod
    async def dequeue(self, conversation_id: str) -> None:
        """Remove from the queue if present."""

    @abc.abstractmethod
    async def queue(self) -> list[str]:
        """Conversation ids in serving order."""

    @abc.abstractmethod
    async def claim(self, conversation_id: str, agent_id: str) -> bool:
        """Atomically take a queued conversation for an agent: removes it from the queue,
        sets state 'agent' and agent_id, increments the agent's active count. True for
        exactly one of any number of racing callers; False if it was not queued."""

    @abc.abstractmethod
    async def release(self, conversation_id: str, agent_id: str) -> bool:
        """Atomically undo an assignment held by agent_id (hand back, close, transfer,
        timeout): decrements the agent's active count. False if agent_id did not hold it.

        Clears agent_id and leaves the state as it is: the caller then transitions (to
        'bot', 'closed' or 'queued' for a transfer); either order works. release_to does
        both in one atomic step."""

    # Added after the first contract (additive): atomic combinations the bridge needs when
    # several processes share the store. The fallbacks below are NOT atomic; both stores
    # override them with atomic versions.

    async def claim_if_room(self, conversation_id: str, agent_id: str, capacity: int) -> bool:
        """claim, but only while the agent holds fewer than `capacity` conversations, checked
        in the same atomic step (so racing bridges cannot push an agent over capacity).
        False if it was not queued or the agent is full."""
        status = await self.get_agent_status(agent_id)
        if status is not None and status.active >= capacity:
            return False
        return await self.claim(conversation_id, agent_id)

    async def release_to(self, conversation_id: str, agent_id: str, new_state: str,
                         **changes: Any) -> Conversation | None:
        """release and transition in one atomic step, so that no crash can leave a
        conversation in state 'agent' without an agent: if agent_id holds it, clear
        agent_id, decrement the agent's active count, set new_state and apply `changes`.
        When new_state is 'queued' the conversation is also put in the queue with its
        (changed) priority, and queued_at is the one in `changes`, else now. None if
        agent_id did not hold it."""
        if not await self.release(conversation_id, agent_id):
            return None
        if new_state == "queued" and changes.get("queued_at") is None:
            changes["queued_at"] = time.time()
        updated = await self.update_conversation(conversation_id, state=new_state, **changes)
        if new_state == "queued":
            await self.enqueue(conversation_id, updated.priority, updated.queued_at)
        return updated

    async def count_conversations(self, *, state: str | None = None) -> int:
        """How many conversations there are (in `state`), without loading them (for
        metrics). Additive; the fallback loads them, both stores override it."""
        return len(await self.list_conversations(state=state, limit=2**62))

    @abc.abstractmethod
    async def record_pickup(self, waited_s: float, ts: float) -> None:
        """Remember a pick-up, for expected-wait estimates."""

    @abc.abstractmethod
    async def recent_pickups(self, since: float) -> list[tuple[float, float]]:
        """(ts, waited_s) of pick-ups since a time."""

    # agents
    @abc.abstractmethod
    async def set_agent_status(self, status: AgentStatus) -> None:
        """Store presence, teams, capacity and last_seen. status.active is ignored: the
        active count belongs to claim/release."""

    @abc.abstractmethod
    async def get_agent_status(self, agent_id: str) -> AgentStatus | None:
        """The agent's status with its current active count; None when the agent never set
        a status nor held a conversation (one that only claimed shows as 'offline')."""

    @abc.abstractmethod
    async def agent_statuses(self) -> list[AgentStatus]:
        """Every known agent's status (as get_agent_status), ordered by agent id."""

    # tokens (agent sessions; revocation survives restarts and is shared)
    @abc.abstractmethod
    async def revoke_token(self, token_id: str, expires_at: float) -> None:
        """Remember a revoked token id until the token would have expired anyway."""

    @abc.abstractmethod
    async def is_token_revoked(self, token_id: str) -> bool: ...

    # flags for the designers' review
    @abc.abstractmethod
    async def add_flag(self, conversation_id: str, message_id: str, agent_id: str, note: str,
                       ts: float) -> None: ...

    @abc.abstractmethod
    async def flags(self) -> list[dict[str, Any]]:
        """Flags in the order added: {"conversation_id", "message_id", "agent_id", "note", "ts"}."""

    # rate limiting (fixed window counters, shared between processes)
    @abc.abstractmethod
    async def hit(self, key: str, window_s: float) -> int:
        """Count one event for key in the current window; returns the count so far."""
