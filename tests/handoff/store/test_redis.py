"""What only the Redis store promises: sharing between processes, surviving restarts,
key prefixes, JSON values, and StoreError when Redis is gone."""
from __future__ import annotations

import asyncio
import json
import random

import pytest
import redis

from handoff.store import AgentStatus, Conversation, Message, StoreError, open_store
from handoff.store.redis import RedisStore
from tests.support.processes import RedisServer

pytestmark = pytest.mark.asyncio


async def started(url: str, **kwargs) -> RedisStore:
    store = RedisStore(url, **kwargs)
    await store.start()
    return store


async def fill_queue(store, n: int) -> list[str]:
    ids = [f"c{i:03d}" for i in range(n)]
    for i, cid in enumerate(ids):
        await store.create_conversation(Conversation(id=cid, created_at=1000.0 + i))
        await store.transition(cid, ("bot",), "queued")
        await store.enqueue(cid, i % 3, 1000.0 + i)
    return ids


async def test_open_store_gives_a_redis_store(redis_url):
    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    await store.start()
    assert await store.ping()
    await store.close()


async def test_fifty_agents_on_separate_connections_share_two_hundred_conversations(redis_url):
    """Like 50 agents on several bridge processes: every conversation goes to one agent."""
    stores = [await started(redis_url) for _ in range(5)]
    ids = await fill_queue(stores[0], 200)
    wins: list[tuple[str, str]] = []

    async def agent(n: int) -> None:
        store, agent_id = stores[n % len(stores)], f"agent{n:02d}"
        rng = random.Random(n)
        while True:
            queue = await store.queue()
            if not queue:
                return
            cid = rng.choice(queue[:10])
            if await store.claim(cid, agent_id):
                wins.append((cid, agent_id))

    await asyncio.gather(*[agent(n) for n in range(50)])

    assert sorted(cid for cid, _ in wins) == ids
    owners = dict(wins)
    per_agent: dict[str, int] = {}
    for _, agent_id in wins:
        per_agent[agent_id] = per_agent.get(agent_id, 0) + 1
    checker = await started(redis_url)
    for cid in ids:
        conv = await checker.get_conversation(cid)
        assert (conv.state, conv.agent_id) == ("agent", owners[cid])
    statuses = {s.agent_id: s.active for s in await checker.agent_statuses()}
    assert {a: n for a, n in statuses.items() if n} == per_agent
    assert sum(statuses.values()) == 200
    for agent_id, n in per_agent.items():
        assert len(await checker.list_conversations(agent_id=agent_id)) == n
    assert await checker.queue() == []
    for store in [*stores, checker]:
        await store.close()


async def test_fifty_claims_from_fifty_connections_one_wins(redis_url):
    stores = [await started(redis_url) for _ in range(50)]
    await fill_queue(stores[0], 1)
    results = await asyncio.gather(*[s.claim("c000", f"agent{i}") for i, s in enumerate(stores)])
    assert results.count(True) == 1
    assert sum(s.active for s in await stores[0].agent_statuses()) == 1
    for store in stores:
        await store.close()


async def test_concurrent_release_counts_down_once(redis_url):
    stores = [await started(redis_url) for _ in range(10)]
    await fill_queue(stores[0], 1)
    assert await stores[0].claim("c000", "alice")
    results = await asyncio.gather(*[s.release("c000", "alice") for s in stores])
    assert results.count(True) == 1
    assert (await stores[0].get_agent_status("alice")).active == 0
    for store in stores:
        await store.close()


async def test_state_survives_a_new_store_instance(redis_url):
    first = await started(redis_url)
    await fill_queue(first, 3)
    assert await first.claim("c001", "alice")
    await first.append_message(Message(id="m1", conversation_id="c000", ts=1.0, sender="visitor",
                                       text="hello", client_id="u1"))
    await first.set_agent_status(AgentStatus(agent_id="alice", status="online", teams=("billing",)))
    await first.revoke_token("jti-1", 4102444800.0)
    await first.close()

    second = await started(redis_url)
    assert await second.queue() == ["c002", "c000"]          # priority 2 before priority 0
    conv = await second.get_conversation("c001")
    assert (conv.state, conv.agent_id) == ("agent", "alice")
    alice = await second.get_agent_status("alice")
    assert (alice.status, alice.teams, alice.active) == ("online", ("billing",), 1)
    assert [m.text for m in await second.messages("c000")] == ["hello"]
    again = Message(id="m2", conversation_id="c000", ts=2.0, sender="visitor", text="hello",
                    client_id="u1")
    assert (await second.append_message(again))[1] is True
    assert await second.is_token_revoked("jti-1")
    assert await second.release("c001", "alice")
    await second.close()


async def test_state_survives_a_redis_server_restart():
    """With persistence on (AOF), a restarted Redis still has queue, assignments and logs."""
    with RedisServer(persistent=True) as server:
        store = await started(server.url)
        await fill_queue(store, 2)
        assert await store.claim("c000", "alice")
        await store.close()
        server.stop()
        server.start()
        store = await started(server.url)
        assert await store.queue() == ["c001"]
        assert (await store.get_conversation("c000")).agent_id == "alice"
        assert (await store.get_agent_status("alice")).active == 1
        await store.close()


async def test_keys_are_under_the_prefix_and_values_are_json(redis_url):
    store = await started(redis_url, prefix="tenant-a:")
    await store.create_conversation(Conversation(id="c1", meta={"language": "en"}))
    await store.append_message(Message(id="m1", conversation_id="c1", ts=1.0, sender="bot",
                                       text="hi"))
    await store.hit("ip:1", 60)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = raw.keys("*")
    assert keys and all(k.startswith("tenant-a:") for k in keys)
    stored = raw.hgetall("tenant-a:conv:c1")
    assert {k: json.loads(v) for k, v in stored.items()}["meta"] == {"language": "en"}
    assert json.loads(raw.lindex("tenant-a:msgs:c1", 0))["text"] == "hi"
    raw.close()
    await store.close()


async def test_prefixes_keep_deployments_apart(redis_url):
    a = await started(redis_url, prefix="a:")
    b = await started(redis_url, prefix="b:")
    await fill_queue(a, 2)
    assert await b.queue() == []
    assert await b.get_conversation("c000") is None
    assert await b.claim("c000", "alice") is False
    assert await a.claim("c000", "alice") is True
    await a.close()
    await b.close()


async def test_rate_limit_counters_expire(redis_url):
    store = await started(redis_url)
    await store.hit("ip:9", 0.2)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    (key,) = raw.keys("handoff:rl:ip:9:*")
    assert 0 < raw.pttl(key) <= 1300
    await asyncio.sleep(1.5)
    assert raw.keys("handoff:rl:*") == []
    raw.close()
    await store.close()


async def test_unreachable_redis_raises_store_error():
    with RedisServer() as server:
        store = await started(server.url, socket_timeout=1.0)
        await fill_queue(store, 1)
        server.stop()
        assert await store.ping() is False
        calls = [
            store.get_conversation("c000"),
            store.create_conversation(Conversation(id="x")),
            store.update_conversation("c000", summary="x"),
            store.transition("c000", ("queued",), "bot"),
            store.list_conversations(),
            store.count_conversations(state="queued"),
            store.claim_if_room("c000", "alice", 3),
            store.release_to("c000", "alice", "bot"),
            store.append_message(Message(id="m", conversation_id="c000", ts=1.0, sender="bot")),
            store.messages("c000"),
            store.enqueue("c000", 0, 1.0),
            store.dequeue("c000"),
            store.queue(),
            store.claim("c000", "alice"),
            store.release("c000", "alice"),
            store.record_pickup(1.0, 2.0),
            store.recent_pickups(0.0),
            store.set_agent_status(AgentStatus(agent_id="alice")),
            store.get_agent_status("alice"),
            store.agent_statuses(),
            store.revoke_token("j", 4102444800.0),
            store.is_token_revoked("j"),
            store.add_flag("c000", "m", "alice", "", 1.0),
            store.flags(),
            store.hit("k", 1.0),
        ]
        for call in calls:
            with pytest.raises(StoreError):
                await asyncio.wait_for(call, 10)
        with pytest.raises(StoreError):
            await RedisStore(server.url).start()
        await store.close()


async def test_store_recovers_when_redis_comes_back():
    with RedisServer(persistent=True) as server:
        store = await started(server.url, socket_timeout=1.0)
        await fill_queue(store, 1)
        server.stop()
        with pytest.raises(StoreError):
            await store.queue()
        server.start()
        assert await store.queue() == ["c000"]
        assert await store.claim("c000", "alice")
        await store.close()


async def test_capacity_holds_across_bridge_processes(redis_url):
    """Two bridges auto-assigning to the same agents never push one over capacity."""
    stores = [await started(redis_url) for _ in range(6)]
    ids = await fill_queue(stores[0], 60)
    agents = [f"agent{i}" for i in range(5)]

    async def bridge(store, offset: int) -> None:
        for n, cid in enumerate(ids):
            await store.claim_if_room(cid, agents[(n + offset) % len(agents)], 3)

    await asyncio.gather(*[bridge(s, i) for i, s in enumerate(stores)])
    statuses = {s.agent_id: s.active for s in await stores[0].agent_statuses()}
    assert statuses == {a: 3 for a in agents}
    assert len(await stores[0].queue()) == 60 - 15
    for agent_id in agents:
        assert len(await stores[0].list_conversations(agent_id=agent_id)) == 3
    for store in stores:
        await store.close()
