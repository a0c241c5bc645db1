"""Queue policy: priorities, serving order, expected waits and the choice of an agent.

Pure functions over store records, so every bridge process decides the same way and
the rules can be tested without I/O. The atomic part (who gets a conversation) is the
store's `claim`; this module only decides whom to offer it to.

- Priority comes from the escalation reason (REASON_PRIORITY) plus bonuses for chats
  that come back to the queue (an agent did not answer, went away, or transferred it),
  plus one point per `priority_aging_s` seconds waited, so nobody waits forever.
  Within one effective priority the queue is first come, first served.
- Expected wait: the recent pick-up rate (pick-ups in the last `pickup_window_s`)
  times the position; with fewer than two recent pick-ups, `default_wait_s` per place.
- Agent choice: online, below capacity, with the conversation's topic among the
  agent's teams (or a "*" team; a "general" topic goes to anyone); after
  `skill_fallback_s` of waiting, any online agent. Least busy first (active/capacity).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .store.base import AgentStatus, Conversation

TOPICS = ("billing", "technical", "orders", "account", "general")
REASONS = ("human_requested", "frustration", "bot_failure", "policy_topic", "bot_unavailable")
REASON_PRIORITY = {"policy_topic": 40, "frustration": 30, "bot_failure": 20,
                   "human_requested": 20, "bot_unavailable": 10}
REQUEUE_BONUS = 50      # an agent let the visitor down once already
TRANSFER_BONUS = 50     # a transferred chat has already waited
MAX_WAIT_S = 4 * 3600.0


def normalize_topic(topic: object) -> str:
    text = str(topic or "general").strip().lower()
    return text if text in TOPICS else "general"


def normalize_reason(reason: object) -> str:
    text = str(reason or "human_requested").strip().lower()
    return text if text in REASONS else "human_requested"


def base_priority(reason: str) -> int:
    return REASON_PRIORITY.get(reason, 20)


def effective_priority(conversation: Conversation, now: float, aging_s: float) -> int:
    waited = max(0.0, now - (conversation.queued_at or now))
    return conversation.priority + (int(waited // aging_s) if aging_s > 0 else 0)


def serving_order(queued: Iterable[Conversation], now: float, aging_s: float) -> list[Conversation]:
    """Queued conversations in the order agents should take them."""
    return sorted(queued, key=lambda c: (-effective_priority(c, now, aging_s),
                                         c.queued_at or 0.0, c.id))


def expected_wait(position: int, pickups: list[tuple[float, float]], now: float,
                  default_wait_s: float) -> float:
    """Seconds until an agent takes the conversation at `position` (1-based)."""
    if position <= 0:
        return 0.0
    if len(pickups) >= 2:
        span = max(60.0, now - min(ts for ts, _ in pickups))
        per_place = span / len(pickups)
    else:
        per_place = default_wait_s
    return round(min(MAX_WAIT_S, position * per_place), 1)


@dataclass(frozen=True)
class Candidate:
    agent_id: str
    load: float


def can_serve(status: AgentStatus, topic: str | None, any_skill: bool) -> bool:
    """Whether this agent's teams cover the topic (or skills no longer matter)."""
    if any_skill or not status.teams:
        return True
    teams = {t.lower() for t in status.teams}
    topic = normalize_topic(topic)
    return topic in teams or "*" in teams or topic == "general"


def choose_agent(conversation: Conversation, statuses: Iterable[AgentStatus], now: float,
                 skill_fallback_s: float, avoid: Iterable[str] = ()) -> str | None:
    """The least busy online agent with room and the skill, or None."""
    waited = now - (conversation.queued_at or now)
    avoid = set(avoid)
    best: tuple[float, int, str] | None = None
    for status in statuses:
        if status.status != "online" or status.active >= status.capacity or status.agent_id in avoid:
            continue
        if not can_serve(status, conversation.topic, waited >= skill_fallback_s):
            continue
        key = (status.active / max(status.capacity, 1), status.active, status.agent_id)
        if best is None or key < best:
            best = key
    return best[2] if best else None
