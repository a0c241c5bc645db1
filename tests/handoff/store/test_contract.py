"""The store contract (handoff/store/base.py), run against every store kind.

Each test states one promise of the contract; the `store` fixture runs it on the
embedded store and on the Redis store (real redis-server).
"""
from __future__ import annotations

import asyncio
import time

import pytest

from handoff.store import AgentStatus, Conversation, Message, Store
from handoff.store.memory import EmbeddedStore

pytestmark = pytest.mark.asyncio


async def new_conv(store, cid: str, **fields) -> Conversation:
    return await store.create_conversation(Conversation(id=cid, **fields))


async def queued_conv(store, cid: str, priority: int = 0, queued_at: float = 1000.0) -> None:
    await new_conv(store, cid, created_at=queued_at)
    assert await store.transition(cid, ("bot",), "queued", priority=priority, queued_at=queued_at)
    await store.enqueue(cid, priority, queued_at)


def msg(cid: str, mid: str, text: str = "hi", **fields) -> Message:
    return Message(id=mid, conversation_id=cid, ts=float(len(mid)), sender="visitor", text=text,
                   **fields)


# lifecycle and conversations

async def test_ping(store):
    assert await store.ping() is True


async def test_create_and_get_round_trips_every_field(store):
    conv = Conversation(
        id="c1", state="bot", created_at=1763800000.123456, updated_at=1763800001.5,
        visitor_id="v1", agent_id=None, reason="frustration", topic="billing", priority=2,
        summary="Order #10023 late — ünïcode ✓", detail="negative sentiment -0.72",
        queued_at=None, page_url="https://shop.example/o", user_agent="UA/1.0",
        email=None, ticket=False, rating=None, meta={"language": "en", "nested": {"a": [1, 2]},
                                                      "empty": {}, "list": []})
    created = await store.create_conversation(conv)
    assert created == conv
    assert await store.get_conversation("c1") == conv
    assert await store.get_conversation("nope") is None


async def test_create_fills_timestamps_and_keeps_an_existing_conversation(store):
    before = time.time()
    first = await new_conv(store, "c1", visitor_id="v1")
    assert first.created_at >= before and first.updated_at >= first.created_at
    again = await store.create_conversation(Conversation(id="c1", visitor_id="other"))
    assert again == first
    assert (await store.get_conversation("c1")).visitor_id == "v1"


async def test_returned_objects_are_copies(store):
    conv = await new_conv(store, "c1", meta={"k": "v"})
    conv.meta["k"] = "changed"
    assert (await store.get_conversation("c1")).meta == {"k": "v"}


async def test_update_conversation_applies_changes_and_bumps_updated_at(store):
    await new_conv(store, "c1", created_at=100.0, updated_at=100.0)
    updated = await store.update_conversation("c1", summary="s", email="a@example.com",
                                              meta={"x": 1}, rating=5)
    assert (updated.summary, updated.email, updated.meta, updated.rating) == \
        ("s", "a@example.com", {"x": 1}, 5)
    assert updated.updated_at > 100.0
    assert await store.get_conversation("c1") == updated


async def test_update_conversation_refuses_unknown_conversation_and_fields(store):
    with pytest.raises(KeyError):
        await store.update_conversation("missing", summary="x")
    await new_conv(store, "c1")
    with pytest.raises(ValueError):
        await store.update_conversation("c1", no_such_field=1)
    with pytest.raises(ValueError):
        await store.update_conversation("c1", id="c2")
    with pytest.raises(ValueError):
        await store.update_conversation("c1", state="flying")


async def test_transition_with_expected_state(store):
    await new_conv(store, "c1")
    moved = await store.transition("c1", ("bot",), "queued", reason="frustration", priority=1)
    assert (moved.state, moved.reason, moved.priority) == ("queued", "frustration", 1)
    assert (await store.get_conversation("c1")).state == "queued"


async def test_transition_with_wrong_expected_state_changes_nothing(store):
    await new_conv(store, "c1", summary="before")
    assert await store.transition("c1", ("agent", "queued"), "closed", summary="after") is None
    current = await store.get_conversation("c1")
    assert (current.state, current.summary) == ("bot", "before")
    assert await store.transition("missing", ("bot",), "queued") is None
    with pytest.raises(ValueError):
        await store.transition("c1", ("bot",), "flying")


async def test_concurrent_transitions_only_one_wins(store):
    await new_conv(store, "c1")
    results = await asyncio.gather(*[store.transition("c1", ("bot",), "queued", detail=str(i))
                                     for i in range(30)])
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (await store.get_conversation("c1")).detail == winners[0].detail


async def test_list_conversations_filters_and_orders_newest_first(store):
    await new_conv(store, "a", visitor_id="v1", created_at=1.0, updated_at=1.0)
    await new_conv(store, "b", visitor_id="v1", created_at=2.0, updated_at=2.0)
    await new_conv(store, "c", visitor_id="v2", created_at=3.0, updated_at=3.0)
    await store.transition("b", ("bot",), "closed", updated_at=50.0)
    await queued_conv(store, "d", queued_at=4.0)
    assert await store.claim("d", "ag1")

    assert [c.id for c in await store.list_conversations()] == ["d", "c", "b", "a"]
    assert [c.id for c in await store.list_conversations(limit=2)] == ["d", "c"]
    assert [c.id for c in await store.list_conversations(visitor_id="v1")] == ["b", "a"]
    assert [c.id for c in await store.list_conversations(state="closed")] == ["b"]
    assert [c.id for c in await store.list_conversations(state="bot")] == ["c", "a"]
    assert [c.id for c in await store.list_conversations(agent_id="ag1")] == ["d"]
    assert [c.id for c in await store.list_conversations(agent_id="ag2")] == []
    assert [c.id for c in await store.list_conversations(since=10.0)] == ["d", "b"]
    assert [c.id for c in await store.list_conversations(state="bot", visitor_id="v1")] == ["a"]
    assert [c.id for c in await store.list_conversations(state="closed", visitor_id="v2")] == []


async def test_list_conversations_follows_state_and_agent_changes(store):
    await queued_conv(store, "c1")
    assert await store.claim("c1", "ag1")
    assert await store.release("c1", "ag1")
    await store.transition("c1", ("agent",), "bot")
    assert await store.list_conversations(agent_id="ag1") == []
    assert await store.list_conversations(state="agent") == []
    assert [c.id for c in await store.list_conversations(state="bot")] == ["c1"]


async def test_count_conversations(store):
    assert await store.count_conversations() == 0
    await new_conv(store, "a")
    await new_conv(store, "b")
    await queued_conv(store, "c")
    assert await store.count_conversations() == 3
    assert await store.count_conversations(state="bot") == 2
    assert await store.count_conversations(state="queued") == 1
    assert await store.claim("c", "ag1")
    await store.transition("a", ("bot",), "closed")
    assert [await store.count_conversations(state=s) for s in ("bot", "queued", "agent", "closed")] \
        == [1, 0, 1, 1]


# messages

async def test_append_and_read_messages_in_order(store):
    await new_conv(store, "c1")
    sent = [msg("c1", f"m{i}", text=f"t{i}") for i in range(5)]
    for m in sent:
        assert await store.append_message(m) == (m, False)
    assert await store.messages("c1") == sent
    assert await store.messages("c1", limit=2) == sent[:2]
    assert await store.messages("other") == []


async def test_messages_keep_every_field(store):
    await new_conv(store, "c1")
    m = Message(id="m1", conversation_id="c1", ts=1763800000.654321, sender="agent",
                text="Hello ✓", client_id=None, agent_id="ag1", agent_name="Alice",
                payload={"quick_replies": [{"content_type": "text", "title": "Yes",
                                            "payload": "/affirm"}], "empty": {}})
    await store.append_message(m)
    assert await store.messages("c1") == [m]


async def test_messages_after_id(store):
    await new_conv(store, "c1")
    sent = [msg("c1", f"m{i}") for i in range(6)]
    for m in sent:
        await store.append_message(m)
    assert await store.messages("c1", after_id="m2") == sent[3:]
    assert await store.messages("c1", after_id="m2", limit=2) == sent[3:5]
    assert await store.messages("c1", after_id="m5") == []
    # an id this conversation never had: the whole log (the client de-duplicates by id)
    assert await store.messages("c1", after_id="unknown") == sent


async def test_append_deduplicates_by_client_id(store):
    await new_conv(store, "c1")
    await new_conv(store, "c2")
    first = msg("c1", "m1", text="first", client_id="u-1")
    assert await store.append_message(first) == (first, False)
    stored, duplicate = await store.append_message(msg("c1", "m2", text="retry", client_id="u-1"))
    assert (stored, duplicate) == (first, True)
    # the same client id in another conversation is a different message
    other = msg("c2", "m3", client_id="u-1")
    assert await store.append_message(other) == (other, False)
    # messages without client_id are never de-duplicated against each other
    assert (await store.append_message(msg("c1", "m4")))[1] is False
    assert (await store.append_message(msg("c1", "m5")))[1] is False
    assert [m.id for m in await store.messages("c1")] == ["m1", "m4", "m5"]


async def test_append_same_message_id_twice_is_a_duplicate(store):
    await new_conv(store, "c1")
    first = msg("c1", "m1", text="first")
    await store.append_message(first)
    assert await store.append_message(msg("c1", "m1", text="again")) == (first, True)
    assert await store.messages("c1") == [first]


async def test_concurrent_appends_with_one_client_id_store_one_message(store):
    await new_conv(store, "c1")
    results = await asyncio.gather(*[store.append_message(msg("c1", f"m{i}", client_id="same"))
                                     for i in range(30)])
    assert sum(1 for _, dup in results if not dup) == 1
    assert len({stored.id for stored, _ in results}) == 1
    assert len(await store.messages("c1")) == 1


async def test_append_to_unknown_conversation_fails(store):
    with pytest.raises(KeyError):
        await store.append_message(msg("missing", "m1"))


# queue

async def test_queue_orders_by_priority_then_fifo(store):
    await queued_conv(store, "low-early", priority=0, queued_at=1.0)
    await queued_conv(store, "high-late", priority=5, queued_at=9.0)
    await queued_conv(store, "low-late", priority=0, queued_at=3.0)
    await queued_conv(store, "high-early", priority=5, queued_at=2.0)
    await queued_conv(store, "mid", priority=1, queued_at=0.5)
    await queued_conv(store, "negative", priority=-1, queued_at=0.1)
    await queued_conv(store, "low-mid", priority=0, queued_at=1.000001)
    assert await store.queue() == ["high-early", "high-late", "mid", "low-early", "low-mid",
                                   "low-late", "negative"]


async def test_queue_fifo_with_realistic_timestamps(store):
    base = 1763800000.0
    for i in range(20):
        await queued_conv(store, f"c{i:02d}", queued_at=base + i * 0.001)
    assert await store.queue() == [f"c{i:02d}" for i in range(20)]


async def test_enqueue_is_idempotent_and_keeps_the_place(store):
    await queued_conv(store, "a", queued_at=1.0)
    await queued_conv(store, "b", queued_at=2.0)
    await store.enqueue("a", 0, 99.0)
    await store.enqueue("a", 0, 99.0)
    assert await store.queue() == ["a", "b"]


async def test_enqueue_unknown_conversation_fails(store):
    with pytest.raises(KeyError):
        await store.enqueue("missing", 0, 1.0)


async def test_dequeue(store):
    await queued_conv(store, "a", queued_at=1.0)
    await queued_conv(store, "b", queued_at=2.0)
    await store.dequeue("a")
    await store.dequeue("a")
    await store.dequeue("never-queued")
    assert await store.queue() == ["b"]
    await store.enqueue("a", 0, 5.0)
    assert await store.queue() == ["b", "a"]


async def test_leaving_the_queued_state_leaves_the_queue(store):
    await queued_conv(store, "a", queued_at=1.0)
    await queued_conv(store, "b", queued_at=2.0)
    await store.transition("a", ("queued",), "closed", resolution="visitor left")
    await store.update_conversation("b", state="bot")
    assert await store.queue() == []


# claim and release

async def test_claim_assigns_and_counts(store):
    await queued_conv(store, "c1", queued_at=1.0)
    await queued_conv(store, "c2", queued_at=2.0)
    before = time.time()
    assert await store.claim("c1", "ag1") is True
    conv = await store.get_conversation("c1")
    assert (conv.state, conv.agent_id) == ("agent", "ag1")
    assert conv.assigned_at >= before
    assert await store.queue() == ["c2"]
    assert (await store.get_agent_status("ag1")).active == 1
    assert await store.claim("c2", "ag1") is True
    assert (await store.get_agent_status("ag1")).active == 2


async def test_claim_refuses_what_is_not_queued(store):
    await new_conv(store, "bot-state")
    assert await store.claim("bot-state", "ag1") is False
    assert await store.claim("missing", "ag1") is False
    await queued_conv(store, "c1")
    assert await store.claim("c1", "ag1") is True
    assert await store.claim("c1", "ag2") is False
    assert await store.claim("c1", "ag1") is False
    # in state "queued" but never put in the queue
    await new_conv(store, "c2")
    await store.transition("c2", ("bot",), "queued")
    assert await store.claim("c2", "ag1") is False
    assert (await store.get_agent_status("ag1")).active == 1
    assert await store.get_agent_status("ag2") is None


async def test_fifty_concurrent_claims_exactly_one_wins(store):
    await queued_conv(store, "c1")
    results = await asyncio.gather(*[store.claim("c1", f"ag{i}") for i in range(50)])
    assert results.count(True) == 1
    winner = f"ag{results.index(True)}"
    assert (await store.get_conversation("c1")).agent_id == winner
    statuses = await store.agent_statuses()
    assert sum(s.active for s in statuses) == 1
    assert (await store.get_agent_status(winner)).active == 1


async def test_release(store):
    await queued_conv(store, "c1")
    assert await store.claim("c1", "ag1")
    assert await store.release("c1", "ag2") is False
    assert (await store.get_conversation("c1")).agent_id == "ag1"
    assert (await store.get_agent_status("ag1")).active == 1
    assert await store.release("c1", "ag1") is True
    conv = await store.get_conversation("c1")
    assert conv.agent_id is None and conv.state == "agent"
    assert (await store.get_agent_status("ag1")).active == 0
    assert await store.release("c1", "ag1") is False
    assert (await store.get_agent_status("ag1")).active == 0
    assert await store.release("missing", "ag1") is False


async def test_release_after_closing_still_counts_down(store):
    await queued_conv(store, "c1")
    assert await store.claim("c1", "ag1")
    await store.transition("c1", ("agent",), "closed", resolution="solved")
    assert await store.release("c1", "ag1") is True
    assert (await store.get_agent_status("ag1")).active == 0


async def test_transfer_through_the_queue(store):
    await queued_conv(store, "c1")
    assert await store.claim("c1", "ag1")
    assert await store.release("c1", "ag1")
    assert await store.transition("c1", ("agent",), "queued")
    await store.enqueue("c1", 3, 50.0)
    assert await store.claim("c1", "ag2")
    assert [(s.agent_id, s.active) for s in await store.agent_statuses()] == [("ag1", 0), ("ag2", 1)]


async def test_concurrent_claims_over_many_conversations(store):
    for i in range(100):
        await queued_conv(store, f"c{i:03d}", queued_at=float(i))
    taken: dict[str, list[str]] = {}

    async def agent(agent_id: str) -> None:
        while True:
            ids = await store.queue()
            if not ids:
                return
            for cid in ids[:3]:
                if await store.claim(cid, agent_id):
                    taken.setdefault(cid, []).append(agent_id)

    await asyncio.gather(*[agent(f"ag{i}") for i in range(10)])
    assert sorted(taken) == [f"c{i:03d}" for i in range(100)]
    assert all(len(v) == 1 for v in taken.values())
    per_agent = {}
    for cid, (aid,) in taken.items():
        per_agent[aid] = per_agent.get(aid, 0) + 1
        assert (await store.get_conversation(cid)).agent_id == aid
    for aid, n in per_agent.items():
        assert (await store.get_agent_status(aid)).active == n


# pick-ups

async def test_pickups(store):
    await store.record_pickup(30.0, 100.0)
    await store.record_pickup(10.0, 200.0)
    await store.record_pickup(10.0, 200.0)
    await store.record_pickup(5.5, 300.25)
    assert await store.recent_pickups(150.0) == [(200.0, 10.0), (200.0, 10.0), (300.25, 5.5)]
    assert await store.recent_pickups(0.0) == [(100.0, 30.0), (200.0, 10.0), (200.0, 10.0),
                                               (300.25, 5.5)]
    assert await store.recent_pickups(301.0) == []


async def test_pickups_are_trimmed_to_recent(store):
    from handoff.store._common import PICKUPS_KEPT

    for i in range(PICKUPS_KEPT + 50):
        await store.record_pickup(1.0, float(i))
    kept = await store.recent_pickups(0.0)
    assert len(kept) == PICKUPS_KEPT
    assert kept[0][0] == 50.0 and kept[-1][0] == float(PICKUPS_KEPT + 49)


# agents

async def test_agent_status(store):
    assert await store.get_agent_status("ag1") is None
    assert await store.agent_statuses() == []
    status = AgentStatus(agent_id="ag1", status="online", teams=("billing", "general"),
                         capacity=2, last_seen=1763800000.25)
    await store.set_agent_status(status)
    assert await store.get_agent_status("ag1") == status
    await store.set_agent_status(AgentStatus(agent_id="ag0", status="away"))
    assert [s.agent_id for s in await store.agent_statuses()] == ["ag0", "ag1"]


async def test_active_count_belongs_to_the_store(store):
    """set_agent_status never overwrites the count that claim/release maintain."""
    await queued_conv(store, "c1")
    await store.set_agent_status(AgentStatus(agent_id="ag1", status="online"))
    assert await store.claim("c1", "ag1")
    await store.set_agent_status(AgentStatus(agent_id="ag1", status="away", active=0))
    status = await store.get_agent_status("ag1")
    assert (status.status, status.active) == ("away", 1)
    await store.set_agent_status(AgentStatus(agent_id="ag1", status="online", active=7))
    assert (await store.get_agent_status("ag1")).active == 1


# tokens

async def test_revoked_tokens(store):
    now = time.time()
    assert await store.is_token_revoked("jti-1") is False
    await store.revoke_token("jti-1", now + 60)
    assert await store.is_token_revoked("jti-1") is True
    assert await store.is_token_revoked("jti-2") is False
    await store.revoke_token("jti-old", now - 1)   # already expired: nothing to remember
    assert await store.is_token_revoked("jti-old") is False


async def test_revocation_expires(store):
    await store.revoke_token("jti-1", time.time() + 0.3)
    assert await store.is_token_revoked("jti-1") is True
    await asyncio.sleep(0.5)
    assert await store.is_token_revoked("jti-1") is False


# flags

async def test_flags(store):
    assert await store.flags() == []
    await store.add_flag("c1", "m1", "ag1", "misread refund as return", 10.0)
    await store.add_flag("c2", "m9", "ag2", "", 11.5)
    assert await store.flags() == [
        {"conversation_id": "c1", "message_id": "m1", "agent_id": "ag1",
         "note": "misread refund as return", "ts": 10.0},
        {"conversation_id": "c2", "message_id": "m9", "agent_id": "ag2", "note": "", "ts": 11.5},
    ]


# rate limiting

async def test_hit_counts_per_key_in_a_window(store):
    assert [await store.hit("ip:1", 60) for _ in range(3)] == [1, 2, 3]
    assert await store.hit("ip:2", 60) == 1


async def test_hit_window_resets(store):
    window = 0.4
    # start just after a window boundary so that three quick hits share one window
    await asyncio.sleep(window - (time.time() % window) + 0.01)
    assert [await store.hit("k", window) for _ in range(3)] == [1, 2, 3]
    await asyncio.sleep(window + 0.05)
    assert await store.hit("k", window) == 1


async def test_concurrent_hits_are_all_counted(store):
    counts = await asyncio.gather(*[store.hit("burst", 60) for _ in range(40)])
    assert sorted(counts) == list(range(1, 41))


# additive: claim_if_room and release_to

async def test_claim_if_room_respects_capacity(store):
    for i in range(3):
        await queued_conv(store, f"c{i}", queued_at=float(i))
    assert await store.claim_if_room("c0", "ag1", 2) is True
    assert await store.claim_if_room("c1", "ag1", 2) is True
    assert await store.claim_if_room("c2", "ag1", 2) is False
    assert (await store.get_conversation("c2")).state == "queued"
    assert await store.queue() == ["c2"]
    assert await store.claim_if_room("c2", "ag2", 2) is True
    assert await store.claim_if_room("missing", "ag3", 2) is False
    assert await store.release("c0", "ag1")
    await queued_conv(store, "c3", queued_at=9.0)
    assert await store.claim_if_room("c3", "ag1", 2) is True
    assert (await store.get_agent_status("ag1")).active == 2


async def test_concurrent_claims_never_exceed_capacity(store):
    for i in range(20):
        await queued_conv(store, f"c{i:02d}", queued_at=float(i))
    results = await asyncio.gather(*[store.claim_if_room(f"c{i:02d}", "ag1", 3) for i in range(20)])
    assert results.count(True) == 3
    assert (await store.get_agent_status("ag1")).active == 3
    assert len(await store.queue()) == 17


async def test_release_to_bot(store):
    await queued_conv(store, "c1")
    assert await store.claim("c1", "ag1")
    assert await store.release_to("c1", "ag2", "bot") is None
    assert (await store.get_conversation("c1")).agent_id == "ag1"
    conv = await store.release_to("c1", "ag1", "bot", reason=None, topic=None, priority=0)
    assert (conv.state, conv.agent_id, conv.reason, conv.priority) == ("bot", None, None, 0)
    assert await store.get_conversation("c1") == conv
    assert (await store.get_agent_status("ag1")).active == 0
    assert await store.queue() == []
    assert await store.list_conversations(agent_id="ag1") == []
    assert [c.id for c in await store.list_conversations(state="bot")] == ["c1"]
    assert await store.release_to("c1", "ag1", "bot") is None
    assert (await store.get_agent_status("ag1")).active == 0


async def test_release_to_closed(store):
    await queued_conv(store, "c1")
    assert await store.claim("c1", "ag1")
    conv = await store.release_to("c1", "ag1", "closed", closed_at=77.0, resolution="solved")
    assert (conv.state, conv.closed_at, conv.resolution) == ("closed", 77.0, "solved")
    assert await store.claim("c1", "ag2") is False


async def test_release_to_queued_puts_it_back_in_the_queue(store):
    await queued_conv(store, "first", priority=5, queued_at=10.0)
    await queued_conv(store, "c1", priority=0, queued_at=1.0)
    assert await store.claim("c1", "ag1")
    conv = await store.release_to("c1", "ag1", "queued", priority=50, queued_at=20.0,
                                  meta={"avoid_agents": ["ag1"]})
    assert (conv.state, conv.priority, conv.queued_at, conv.meta) == \
        ("queued", 50, 20.0, {"avoid_agents": ["ag1"]})
    assert await store.queue() == ["c1", "first"]
    assert await store.claim("c1", "ag2")
    assert [(s.agent_id, s.active) for s in await store.agent_statuses()] == [("ag1", 0), ("ag2", 1)]


async def test_release_to_queued_without_queued_at_queues_now(store):
    await queued_conv(store, "c1", queued_at=1.0)
    assert await store.claim("c1", "ag1")
    before = time.time()
    conv = await store.release_to("c1", "ag1", "queued")
    assert conv.queued_at >= before
    await queued_conv(store, "later", queued_at=time.time() + 5)
    assert await store.queue() == ["c1", "later"]


async def test_release_to_refuses_what_it_decides_itself(store):
    await queued_conv(store, "c1")
    assert await store.claim("c1", "ag1")
    for bad in [{"state": "bot"}, {"nope": 1}, {"id": "c2"}]:
        with pytest.raises(ValueError):
            await store.release_to("c1", "ag1", "bot", **bad)
    with pytest.raises(ValueError):
        await store.release_to("c1", "ag1", "flying")
    assert (await store.get_conversation("c1")).agent_id == "ag1"
    assert (await store.get_agent_status("ag1")).active == 1


async def test_concurrent_release_to_only_one_wins(store):
    await queued_conv(store, "c1")
    assert await store.claim("c1", "ag1")
    results = await asyncio.gather(*[store.release_to("c1", "ag1", "queued", priority=i)
                                     for i in range(20)])
    assert sum(r is not None for r in results) == 1
    assert (await store.get_agent_status("ag1")).active == 0
    assert await store.queue() == ["c1"]


class FallbackStore(EmbeddedStore):
    """The embedded store with base.Store's generic fallbacks for the additive methods,
    as a store that does not override them would have."""

    claim_if_room = Store.claim_if_room
    release_to = Store.release_to
    count_conversations = Store.count_conversations


@pytest.mark.parametrize("scenario", [
    test_count_conversations, test_claim_if_room_respects_capacity, test_release_to_bot, test_release_to_closed,
    test_release_to_queued_puts_it_back_in_the_queue,
    test_release_to_queued_without_queued_at_queues_now,
], ids=lambda f: f.__name__)
async def test_base_fallbacks_agree_when_nothing_races(scenario):
    await scenario(FallbackStore())
