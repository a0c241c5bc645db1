"""The two stores agree: random sequences of operations (hypothesis) give the same answers,
the same errors and the same final state on the embedded store and on Redis.

The contract suite checks chosen cases; this finds the sequences nobody thought of
(a release after a close, a re-queue of a claimed conversation, a duplicate after a
transfer ...). Both stores run on one fake clock, so timestamps match exactly.
"""
from __future__ import annotations

import asyncio
from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handoff.store import AgentStatus, Conversation, Message
from handoff.store.memory import EmbeddedStore
from handoff.store.redis import RedisStore

IDS = st.sampled_from(["a", "b", "c"])
AGENTS = st.sampled_from(["x", "y"])
STATES = st.sampled_from(["bot", "queued", "agent", "closed"])
CLIENT_IDS = st.sampled_from([None, "k1", "k2"])

OPERATIONS = st.one_of(
    st.tuples(st.just("create"), IDS, st.sampled_from(["v1", "v2"])),
    st.tuples(st.just("transition"), IDS, st.frozensets(STATES, max_size=2), STATES,
              st.integers(-2, 3)),
    st.tuples(st.just("update"), IDS, st.sampled_from(["summary", "state", "visitor_id"]),
              st.sampled_from(["bot", "queued", "closed", "v1", "v3"])),
    st.tuples(st.just("enqueue"), IDS, st.integers(-2, 3), st.integers(0, 5)),
    st.tuples(st.just("escalate"), IDS, st.integers(-2, 3), st.integers(0, 5)),
    st.tuples(st.just("dequeue"), IDS),
    st.tuples(st.just("claim"), IDS, AGENTS),
    st.tuples(st.just("claim_if_room"), IDS, AGENTS, st.integers(0, 2)),
    st.tuples(st.just("release"), IDS, AGENTS),
    st.tuples(st.just("release_to"), IDS, AGENTS, st.sampled_from(["bot", "queued", "closed"]),
              st.integers(0, 3)),
    st.tuples(st.just("append"), IDS, CLIENT_IDS, st.booleans()),
    st.tuples(st.just("messages"), IDS, st.sampled_from([None, "m0", "m3", "zz"]),
              st.integers(0, 4)),
    st.tuples(st.just("status"), AGENTS, st.sampled_from(["online", "away"])),
    st.tuples(st.just("list"), st.sampled_from([None, "bot", "queued", "agent"]),
              st.sampled_from([None, "v1", "v2"]), st.sampled_from([None, "x"]),
              st.sampled_from([None, 3.0])),
)


async def apply(store, op: tuple, n: int) -> Any:
    """Run one operation; the outcome, or the exception type, as a comparable value."""
    kind, *args = op
    try:
        if kind == "create":
            cid, visitor = args
            return await store.create_conversation(Conversation(id=cid, visitor_id=visitor))
        if kind == "transition":
            cid, expected, new_state, priority = args
            return await store.transition(cid, tuple(sorted(expected)), new_state,
                                          priority=priority, summary=f"t{n}")
        if kind == "update":
            cid, field, value = args
            return await store.update_conversation(cid, **{field: value})
        if kind == "enqueue":
            cid, priority, at = args
            return await store.enqueue(cid, priority, float(at))
        if kind == "escalate":
            cid, priority, at = args
            moved = await store.transition(cid, ("bot",), "queued", priority=priority)
            return moved, await store.enqueue(cid, priority, float(at))
        if kind == "dequeue":
            return await store.dequeue(args[0])
        if kind == "claim":
            return await store.claim(*args)
        if kind == "claim_if_room":
            return await store.claim_if_room(*args)
        if kind == "release":
            return await store.release(*args)
        if kind == "release_to":
            cid, agent, state, priority = args
            return await store.release_to(cid, agent, state, priority=priority)
        if kind == "append":
            cid, client_id, reuse_id = args
            return await store.append_message(Message(
                id="m0" if reuse_id else f"m{n}", conversation_id=cid, ts=float(n), sender="visitor", text=f"text {n}",
                client_id=client_id))
        if kind == "messages":
            cid, after, limit = args
            return await store.messages(cid, after_id=after, limit=limit)
        if kind == "status":
            agent, status = args
            return await store.set_agent_status(AgentStatus(agent_id=agent, status=status,
                                                            teams=("billing",), last_seen=float(n)))
        if kind == "list":
            state, visitor, agent, since = args
            return await store.list_conversations(state=state, visitor_id=visitor, agent_id=agent,
                                                  since=since)
    except (KeyError, ValueError) as exc:
        return type(exc).__name__
    raise AssertionError(f"unknown operation {kind}")


async def snapshot(store) -> Any:
    return (await store.queue(),
            [await store.get_conversation(c) for c in "abc"],
            [await store.messages(c) for c in "abc"],
            await store.agent_statuses(),
            await store.list_conversations(),
            [await store.count_conversations(state=s) for s in (None, "bot", "queued", "agent",
                                                                "closed")])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPERATIONS, min_size=5, max_size=40))
def test_stores_agree_on_any_sequence(redis_server, ops):
    raw = redis.Redis.from_url(redis_server.url)
    raw.flushall()
    raw.close()

    async def run() -> None:
        now = [1.0]

        def clock() -> float:
            return now[0]

        memory = EmbeddedStore(clock=clock)
        shared = RedisStore(redis_server.url, clock=clock)
        await shared.start()
        try:
            # "a" and "b" exist from the start, so most operations meet a real conversation;
            # "c" exists only if the sequence creates it.
            for n, op in enumerate([("create", "a", "v1"), ("create", "b", "v2"), *ops]):
                now[0] = float(n + 1)
                expected = await apply(memory, op, n)
                got = await apply(shared, op, n)
                assert got == expected, f"operation {n} {op}: redis {got!r} != memory {expected!r}"
            assert await snapshot(shared) == await snapshot(memory)
        finally:
            await shared.close()

    asyncio.run(run())
