"""Prometheus metrics of one bridge application.

Each application gets its own CollectorRegistry (tests run several apps in one process,
and a process-global registry would refuse the second one). Gauges that describe shared
state (conversations by state, queue length, agents online) are refreshed from the
store when /metrics is scraped, so every bridge process reports the same numbers.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

from .store.base import STATES, Store

WAIT_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    """The bridge's metrics (see docs/bridge.md for the list)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.conversations = Gauge("handoff_conversations", "Conversations by state", ["state"], registry=r)
        self.queue_length = Gauge("handoff_queue_length", "Conversations waiting for an agent", registry=r)
        self.agents_online = Gauge("handoff_agents_online", "Agents with presence online", registry=r)
        self.handoffs = Counter("handoff_handoffs", "Conversations handed to people, by reason",
                                ["reason"], registry=r)
        self.queue_wait = Histogram("handoff_queue_wait_seconds", "Time from queued to picked up",
                                    buckets=WAIT_BUCKETS, registry=r)
        self.messages = Counter("handoff_messages_relayed", "Messages relayed, by direction",
                                ["direction"], registry=r)
        self.rasa_latency = Histogram("handoff_rasa_latency_seconds", "Rasa HTTP API latency",
                                      ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.rasa_failovers = Counter("handoff_rasa_failovers",
                                      "Rasa calls moved to the next Rasa server, by endpoint",
                                      ["endpoint"], registry=r)
        self.silent_turns = Counter("handoff_bot_silent_turns",
                                    "Visitor messages Rasa answered with nothing (a failed turn)", registry=r)
        self.errors = Counter("handoff_client_errors", "Errors reported to clients, by code",
                              ["code"], registry=r)
        self.reassignments = Counter("handoff_reassignments", "Chats taken back from agents, by cause",
                                     ["cause"], registry=r)

    def observe_rasa(self, endpoint: str, seconds: float) -> None:
        self.rasa_latency.labels(endpoint=endpoint).observe(seconds)

    def count_rasa_failover(self, endpoint: str) -> None:
        self.rasa_failovers.labels(endpoint=endpoint).inc()

    async def refresh(self, store: Store) -> None:
        """Read the shared gauges from the store."""
        for state in STATES:
            self.conversations.labels(state=state).set(
                len(await store.list_conversations(state=state, limit=1_000_000)))
        self.queue_length.set(len(await store.queue()))
        self.agents_online.set(sum(1 for s in await store.agent_statuses() if s.status == "online"))

    def render(self) -> bytes:
        return generate_latest(self.registry)
