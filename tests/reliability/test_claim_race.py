"""50 agents on two bridge processes race to claim 1,000 queued conversations.

Promised (docs/reliability.md, "Claims"): each conversation is assigned exactly once;
no agent goes over capacity (claim_if_room checks capacity in the same atomic step);
the store's load counts match what agents hold. Capacities are 20 each, so the 1,000
conversations exactly fill the 50 agents and the last claims fight over the last seats.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from argon2 import PasswordHasher

from handoff.agents import add_agent
from handoff.auth import issue_token
from handoff.ids import new_session_id
from handoff.store.base import Conversation
from handoff.store.redis import RedisStore
from tests.reliability.conftest import SECRET
from tests.reliability.harness import ResilientAgent, until

AGENTS, CONVERSATIONS, CAPACITY = 50, 1000, 20
PICKS_PER_WAVE = 4


async def test_fifty_agents_race_for_a_thousand_conversations(fresh_redis, bridge_env, bridges, tmp_path):
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    agents_file = str(tmp_path / "agents50.yml")
    names = [f"agent{i:02d}" for i in range(AGENTS)]
    for name in names:
        add_agent(agents_file, name, name=name.title(), teams=["general"], capacity=CAPACITY,
                  password="not-used-" + name, hasher=hasher)
    prefix = "race:"
    store = RedisStore(fresh_redis.url, prefix=prefix)
    await store.start()
    ids = []
    now = time.time()
    for i in range(CONVERSATIONS):
        cid = new_session_id()
        await store.create_conversation(Conversation(id=cid, state="bot", created_at=now, updated_at=now))
        await store.transition(cid, ("bot",), "queued", reason="human_requested", topic="general",
                               priority=20, queued_at=now + i / 1000)
        await store.enqueue(cid, 20, now + i / 1000)
        ids.append(cid)
    assert len(await store.queue()) == CONVERSATIONS

    one, two = await bridges(bridge_env(fresh_redis.url, prefix, HANDOFF_AGENTS_FILE=agents_file,
                                        HANDOFF_LOG_LEVEL="WARNING"), 2)
    agents = [ResilientAgent((one if i % 2 else two).url, issue_token(name, SECRET, 3600)[0], name)
              for i, name in enumerate(names)]
    try:
        connect_started = time.monotonic()
        await asyncio.gather(*(agent.start() for agent in agents))
        print(f"\nconnect {time.monotonic() - connect_started:.1f}s")
        wins: dict[str, list[str]] = {name: [] for name in names}
        attempts = Counter()
        refusals = Counter()
        taken: set[str] = set()
        rng = random.Random(1234)

        async def try_claim(agent: ResilientAgent, cid: str) -> None:
            attempts[agent.name] += 1
            ack = await agent.call("claim", {"conversation_id": cid}, timeout=30)
            if ack.get("ok"):
                wins[agent.name].append(cid)
                taken.add(cid)
            else:
                refusals[ack["error"]["message"]] += 1

        started = time.monotonic()
        free = list(ids)
        waves = 0
        while free and waves < 200:
            waves += 1
            wave = free[:AGENTS]
            tasks = []
            for agent in agents:
                if len(wins[agent.name]) >= CAPACITY:
                    continue
                # several agents go for the same conversations at the same moment
                for cid in rng.sample(wave, min(PICKS_PER_WAVE, len(wave))):
                    tasks.append(try_claim(agent, cid))
            rng.shuffle(tasks)
            await asyncio.gather(*tasks)
            free = [cid for cid in free if cid not in taken]
        elapsed = time.monotonic() - started
        print(f"claims {elapsed:.1f}s, {sum(attempts.values())} attempts, {waves} waves, "
              f"reconnects {sum(a.connects - 1 for a in agents)}")

        statuses = {st.agent_id: st.active for st in await store.agent_statuses()}
        over = {n: (len(w), statuses.get(n)) for n, w in wins.items() if len(w) != CAPACITY}
        print("off capacity (acked wins, store active):", over, dict(refusals))
        owners = Counter(cid for won in wins.values() for cid in won)
        assert len(owners) == CONVERSATIONS and set(owners) == set(ids), "not every conversation assigned"
        assert max(owners.values()) == 1, [c for c, n in owners.items() if n > 1][:5]
        assert all(len(won) == CAPACITY for won in wins.values()), {n: len(w) for n, w in wins.items()}
        stored = await store.get_conversations(ids)
        by_agent = {cid: name for name, won in wins.items() for cid in won}
        wrong = [(c.id, c.state, c.agent_id, by_agent.get(c.id), c.meta, c.priority, c.assigned_at, c.queued_at) for c in stored
                 if c.state != "agent" or c.agent_id != by_agent[c.id]]
        assert len(stored) == CONVERSATIONS and not wrong, wrong[:5]
        for status in await store.agent_statuses():
            assert status.active == CAPACITY, status
        assert await store.queue() == []
        # each winner got its `assigned` event, nobody else did
        await until(lambda: sum(len(a.assigned) for a in agents) >= CONVERSATIONS, 30, "assigned events")
        for agent in agents:
            # (a set: an agent socket that reconnects under load is sent its chats again)
            assert {x["conversation"]["id"] for x in agent.assigned} == set(wins[agent.name])
        total = sum(attempts.values())
        print(f"\nFIGURES claim_race: agents={AGENTS} conversations={CONVERSATIONS} waves={waves} "
              f"attempts={total} refused={dict(refusals)} seconds={elapsed:.1f} "
              f"claims_per_s={total / elapsed:.0f}")
    finally:
        await asyncio.gather(*(agent.close() for agent in agents), return_exceptions=True)
        await store.close()
