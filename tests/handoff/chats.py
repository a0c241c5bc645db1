"""Conversations brought to a given state through the real protocol, for the bridge's
tests: handed to the queue by the (fake) bot, or claimed by an agent."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

from tests.handoff.clients import Agent, BridgeServer, Visitor
from tests.handoff.conftest import PASSWORDS
from tests.support.fake_rasa import FakeRasa


async def escalate(visitor: Visitor, fake: FakeRasa, text: str = "I want a human",
                   reason: str = "human_requested", topic: str = "billing") -> dict:
    """The visitor asks for a person and the bot hands the chat over; returns the
    visitor's first ``conversation_state`` in the queue."""
    fake.replies[text] = [{"text": "Of course, let me get a colleague."},
                          fake.handoff(reason, topic, "asked for a person", "Order 10023 late")]
    await visitor.say(text)
    assert (await visitor.bot_text())["text"] == "Of course, let me get a colleague."
    return await visitor.next("conversation_state", lambda s: s["state"] == "queued")


@contextlib.asynccontextmanager
async def claimed_chat(server: BridgeServer, fake: FakeRasa,
                       agent: str = "alice") -> AsyncIterator[tuple[Agent, Visitor, str]]:
    """An agent logged in and a visitor whose chat the bot handed over and that agent
    claimed: ``(agent, visitor, session id)``; both clients are closed afterwards."""
    owner = await Agent.login(server, agent, PASSWORDS[agent])
    visitor = Visitor(server.url)
    try:
        sid = await visitor.start()
        await escalate(visitor, fake)
        assert (await owner.call("claim", {"conversation_id": sid}))["ok"]
        yield owner, visitor, sid
    finally:
        await visitor.close()
        await owner.close()
