"""bot.lock_store.AtomicRedisLockStore against a real redis-server, next to Rasa's own
RedisLockStore on the same races.

Rasa's RedisLockStore issues a ticket by GET, change in Python, SET; it cleans up by
GET/SET, GET, DEL. Racing clients (threads and forked processes, each with its own
connection, released together by a barrier) show what that does: duplicated ticket
numbers, lost tickets, a lock deleted under a live ticket. The atomic store must never
do any of it. Then: lock() serializes asyncio holders of two "servers" in ticket
order with a short hand-over, expired tickets stop blocking, the lifetime comes from
TICKET_LOCK_LIFETIME, and a stock RedisLockStore understands what ours writes.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

import pytest
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore, RedisLockStore

from bot.lock_store import AtomicRedisLockStore
from tests.support.processes import PROJECT_ROOT, RedisServer

pytestmark = pytest.mark.timeout(300)

PREFIX = "test"
PROCESSES = 3
THREADS = 6                      # per process: 18 clients per round
ROUNDS = 40
CYCLES = 500


@pytest.fixture(scope="module")
def redis_server():
    with RedisServer() as server:
        yield server


def make_store(kind: str, port: int, **settings):
    """A lock store of ``kind`` ('atomic' or 'stock') on its own connection."""
    cls = AtomicRedisLockStore if kind == "atomic" else RedisLockStore
    return cls(host="127.0.0.1", port=port, db=0, key_prefix=PREFIX, **settings)


def conversation() -> str:
    return f"conv-{uuid.uuid4().hex[:10]}"


# --- races between threads and processes ---------------------------------------------

def _client(kind, port, barrier, jobs, results):
    """One racing client: per round wait at the barrier, then take a ticket on the
    round's conversation."""
    store = make_store(kind, port)
    store.red.ping()
    for round_no, conversation_id in enumerate(jobs):
        barrier.wait(timeout=60)
        results.put((round_no, store.issue_ticket(conversation_id)))


def _process(kind, port, barrier, jobs_per_thread, results):
    threads = [threading.Thread(target=_client, args=(kind, port, barrier, jobs, results))
               for jobs in jobs_per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def race(kind: str, port: int, jobs: list[list[list[str]]]) -> list[list[int]]:
    """Issue a ticket on conversation ``jobs[process][thread][round]`` in forked
    processes and their threads, all clients released together each round; the ticket
    numbers issued per round."""
    ctx = multiprocessing.get_context("fork")
    parties = sum(len(threads) for threads in jobs)
    barrier, results = ctx.Barrier(parties), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(kind, port, barrier, threads, results))
             for threads in jobs]
    for proc in procs:
        proc.start()
    rounds = len(jobs[0][0])
    issued: list[list[int]] = [[] for _ in range(rounds)]
    for _ in range(parties * rounds):
        round_no, number = results.get(timeout=120)
        issued[round_no].append(number)
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0, f"racing process failed ({kind})"
    return issued


def stored_numbers(store: RedisLockStore, conversation_id: str) -> list[int]:
    lock = store.get_lock(conversation_id)
    return [t.number for t in lock.tickets] if lock else []


def issue_race(kind: str, port: int) -> tuple[list[list[int]], list[list[int]]]:
    """ROUNDS rounds; each round PROCESSES x THREADS clients issue one ticket each on a
    fresh conversation at the same instant. Per round: numbers issued, numbers stored."""
    conversations = [conversation() for _ in range(ROUNDS)]
    issued = race(kind, port, [[conversations] * THREADS] * PROCESSES)
    reader = make_store("stock", port)
    return issued, [stored_numbers(reader, c) for c in conversations]


def test_simultaneous_tickets_are_unique_and_consecutive_and_stock_ones_are_not(redis_server):
    """(a) and (b): the same race on both stores. Ours: every round the numbers
    0..N-1, each once, all stored in issue order. Rasa's: at least one round with a
    duplicated or lost ticket (printed: how many rounds)."""
    clients = PROCESSES * THREADS
    issued, stored = issue_race("atomic", redis_server.port)
    for numbers, kept in zip(issued, stored):
        assert sorted(numbers) == list(range(clients)), numbers
        assert kept == list(range(clients)), kept

    issued, stored = issue_race("stock", redis_server.port)
    duplicated = sum(len(set(numbers)) < len(numbers) for numbers in issued)
    lost = sum(len(kept) < clients for kept in stored)
    broken = sum(len(set(numbers)) < len(numbers) or len(kept) < clients
                 for numbers, kept in zip(issued, stored))
    print(f"\nFIGURES issue_race: clients={clients} rounds={ROUNDS} "
          f"stock_broken_rounds={broken} stock_duplicated={duplicated} stock_lost={lost} "
          f"stock_tickets_kept_mean={statistics.mean(len(k) for k in stored):.1f} atomic_broken=0")
    assert broken >= 1, "Rasa's RedisLockStore never raced: the race test proves nothing"


def _cycle(kind, port, conversation_id, start, cycles, results):
    """A message after message: take a ticket, clean up (the lock is created and
    deleted each time)."""
    store = make_store(kind, port)
    store.red.ping()
    start.wait(60)
    for _ in range(cycles):
        store.cleanup(conversation_id, store.issue_ticket(conversation_id))
    results.put(("cycled", cycles))


def _probe(kind, port, conversation_id, start, cycles, results):
    """Another server's messages of the same conversation: take a ticket, check it is
    in the lock, clean up. Counts tickets missing right after being issued."""
    store = make_store(kind, port)
    store.red.ping()
    start.wait(60)
    missing = 0
    for _ in range(cycles):
        number = store.issue_ticket(conversation_id)
        missing += number not in stored_numbers(store, conversation_id)
        store.cleanup(conversation_id, number)
    results.put(("missing", missing))


def cleanup_race(kind: str, port: int) -> int:
    """Two processes hammer one conversation: one cycles issue/cleanup (so its cleanup
    keeps deleting the emptied lock), the other issues and checks its ticket is there.
    Returns how many of the CYCLES probe tickets were missing (deleted or overwritten
    by the other process)."""
    ctx = multiprocessing.get_context("fork")
    c, start, results = conversation(), ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=target, args=(kind, port, c, start, CYCLES, results))
             for target in (_cycle, _probe)]
    for proc in procs:
        proc.start()
    outcome = dict(results.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0, f"racing process failed ({kind})"
    return outcome["missing"]


def test_cleanup_never_deletes_a_lock_with_a_live_ticket(redis_server):
    """(c) Cleanup deletes the lock only when it is empty, in one step: a ticket issued
    at any moment of another server's cleanup stays in the lock. With Rasa's store it
    sometimes does not (overwritten by the cleaner's SET, or deleted by its DEL)."""
    missing = cleanup_race("atomic", redis_server.port)
    stock_missing = cleanup_race("stock", redis_server.port)
    print(f"\nFIGURES cleanup_race: cycles={CYCLES} atomic_missing={missing} "
          f"stock_missing={stock_missing}")
    assert missing == 0
    assert stock_missing >= 1, "Rasa's RedisLockStore never raced: the race test proves nothing"


def test_stock_cleanup_race_by_hand(redis_server):
    """Rasa's cleanup interleaved by hand with another server's issue_ticket, step by
    step as the two would run: the new ticket's lock is deleted, and its waiter fails
    as `_acquire_lock` does (no lock: LockError). Ours cannot interleave: cleanup is
    one script, so the same two calls leave the new ticket in place."""
    port = redis_server.port
    stock_a, stock_b = make_store("stock", port), make_store("stock", port)
    c = conversation()
    assert stock_a.issue_ticket(c) == 0
    stock_a.finish_serving(c, 0)                     # A: GET, remove ticket 0, SET (empty)
    assert not stock_a.is_someone_waiting(c)         # A: GET: nobody waits ...
    assert stock_b.issue_ticket(c) == 0              # B: GET, add ticket 0, SET
    stock_a.delete_lock(c)                           # A: ... DEL: B's ticket is gone
    assert stock_b.get_lock(c) is None
    with pytest.raises(LockError):
        asyncio.run(stock_b._acquire_lock(c, 0, 0.01))

    ours_a, ours_b = make_store("atomic", port), make_store("atomic", port)
    c = conversation()
    assert ours_a.issue_ticket(c) == 0
    ours_a.cleanup(c, 0)
    assert ours_b.issue_ticket(c) == 0
    assert stored_numbers(ours_b, c) == [0]


# --- lock(): order and hand-over -------------------------------------------------------

HOLD_S = 0.05


def hold_on_servers(kind: str, port: int, servers: int,
                    per_server: int) -> list[tuple[int, float, float]]:
    """Event loops in threads ("servers"), each with its own store, start ``per_server``
    lock() holders of one conversation at once; each holds the lock HOLD_S. Returns
    (ticket, entered, left) per holder, by entry time."""
    c = conversation()
    barrier = threading.Barrier(servers)
    records: list[tuple[int, float, float]] = []
    inside: list[int] = []
    errors: list[BaseException] = []

    async def holder(store):
        async with store.lock(c) as lock:
            ticket = lock.now_serving           # the ticket first in line is ours
            entered = time.monotonic()
            inside.append(ticket)
            assert len(inside) == 1, f"two holders at once: {inside}"
            await asyncio.sleep(HOLD_S)
            inside.remove(ticket)
            records.append((ticket, entered, time.monotonic()))

    def server():
        store = make_store(kind, port)
        store.red.ping()

        async def main():
            barrier.wait(10)
            await asyncio.gather(*(holder(store) for _ in range(per_server)))
        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=server) for _ in range(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return sorted(records, key=lambda r: r[1])


def test_lock_serializes_holders_in_ticket_order_with_a_short_handover(redis_server):
    """(d) 2 x 6 holders: they enter one at a time, in ticket order 0..11, and each
    gets in soon after the previous one left (poll interval 20 ms). Measured alongside:
    Rasa's store, polling every second (on one server: on two it would race)."""
    records = hold_on_servers("atomic", redis_server.port, servers=2, per_server=6)
    assert [ticket for ticket, _, _ in records] == list(range(12))
    gaps = [b[1] - a[2] for a, b in zip(records, records[1:])]
    assert min(gaps) >= 0, gaps
    stock = hold_on_servers("stock", redis_server.port, servers=1, per_server=2)
    stock_gap = stock[1][1] - stock[0][2]
    print(f"\nFIGURES handover: atomic_gap_ms median={statistics.median(gaps) * 1000:.0f} "
          f"max={max(gaps) * 1000:.0f}; stock_gap_ms={stock_gap * 1000:.0f}")
    assert max(gaps) < 0.1, gaps
    assert stock_gap > 0.1, "Rasa's store should wait up to its 1 s poll"


def test_poll_interval_is_a_setting(redis_server):
    store = make_store("atomic", redis_server.port, poll_interval=0.04)
    assert store.poll_interval == 0.04
    assert make_store("atomic", redis_server.port).poll_interval == 0.02
    with pytest.raises(ValueError):
        make_store("atomic", redis_server.port, poll_interval=0)
    with pytest.raises(ValueError, match="colour"):
        make_store("atomic", redis_server.port, colour="red")


# --- lifetimes ---------------------------------------------------------------------------

def test_expired_ticket_no_longer_blocks(redis_server):
    """(e) A server took ticket 0 with a 0.3 s lifetime and died (never cleaned up): the
    next message waits until that ticket expires, then gets in; with only dead tickets
    left the key itself vanishes."""
    store = make_store("atomic", redis_server.port)
    c = conversation()
    assert store.issue_ticket(c, lock_lifetime=0.3) == 0

    async def next_message() -> tuple[float, int]:
        started = time.monotonic()
        async with store.lock(c) as lock:
            return time.monotonic() - started, lock.now_serving

    waited, ticket = asyncio.run(next_message())
    assert ticket == 1
    assert 0.2 <= waited < 0.6, waited

    dead = conversation()
    store.issue_ticket(dead, lock_lifetime=0.3)
    assert 0 < store.red.pttl(PREFIX + ":lock:" + dead) <= 1400
    deadline = time.monotonic() + 5
    while store.red.exists(PREFIX + ":lock:" + dead) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not store.red.exists(PREFIX + ":lock:" + dead)


def test_update_lock_drops_expired_tickets(redis_server):
    store = make_store("atomic", redis_server.port)
    c = conversation()
    store.issue_ticket(c, lock_lifetime=0.2)
    store.issue_ticket(c, lock_lifetime=30)
    time.sleep(0.3)
    raw_before = json.loads(store.red.get(PREFIX + ":lock:" + c))
    assert len(raw_before["tickets"]) == 2          # still stored until someone drops it
    store.update_lock(c)
    assert len(json.loads(store.red.get(PREFIX + ":lock:" + c))["tickets"]) == 1
    assert stored_numbers(store, c) == [1]


def test_a_ticket_issued_by_hand_expires_and_a_waiter_polling_it_gets_lock_error(redis_server):
    """Without the lease (a ticket issued and never renewed, as by a killed server),
    a waiter finds it gone once its lifetime has passed: LockError, as in Rasa."""
    store = make_store("atomic", redis_server.port)
    c = conversation()
    store.issue_ticket(c)                            # someone holds the lock for long
    mine = store.issue_ticket(c, lock_lifetime=0.2)

    async def poll_without_renewing():
        await store._acquire_lock(c, mine, 0.02)

    with pytest.raises(LockError):
        asyncio.run(poll_without_renewing())
    assert stored_numbers(store, c) == [0]


def test_a_live_waiter_keeps_its_ticket_behind_a_dead_servers_ticket(redis_server):
    """The cluster's failover case: a server died holding ticket 0; the message, retried
    on another server, takes ticket 1 a moment later and waits. Its ticket is renewed
    while it waits, so it gets its turn once ticket 0 expires, even if ticket 0 was
    issued long before or the waiting server is slow to look."""
    store = make_store("atomic", redis_server.port)
    c = conversation()
    store.issue_ticket(c, lock_lifetime=0.6)          # the dead server's ticket

    async def retried_message() -> tuple[float, int]:
        started = time.monotonic()
        async with store.lock(c, lock_lifetime=0.3, wait_time_in_seconds=0.5) as lock:
            return time.monotonic() - started, lock.now_serving

    waited, serving = asyncio.run(retried_message())
    assert serving == 1
    assert 0.5 <= waited < 2.0, waited
    assert not store.red.exists(PREFIX + ":lock:" + c)


def test_a_turn_longer_than_the_lifetime_is_not_overtaken(redis_server):
    """A holder whose turn lasts three lifetimes keeps the lock; the next message waits
    for it without failing, and never runs beside it."""
    store = make_store("atomic", redis_server.port)
    c = conversation()
    spans: list[tuple[str, float, float]] = []

    async def message(name: str, hold_s: float, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        async with store.lock(c, lock_lifetime=0.3):
            began = time.monotonic()
            await asyncio.sleep(hold_s)
            spans.append((name, began, time.monotonic()))

    async def both() -> None:
        await asyncio.gather(message("long", 0.9, 0), message("next", 0.05, 0.1))

    asyncio.run(both())
    (first, _, first_end), (second, second_start, _) = sorted(spans, key=lambda span: span[1])
    assert (first, second) == ("long", "next")
    assert second_start >= first_end
    assert not store.red.exists(PREFIX + ":lock:" + c)


def test_lifetime_comes_from_ticket_lock_lifetime(redis_server):
    """Default lifetime: Rasa's (60 s, or TICKET_LOCK_LIFETIME when set)."""
    store = make_store("atomic", redis_server.port)
    c = conversation()
    store.issue_ticket(c)
    expires = store.get_lock(c).tickets[0].expires
    assert LOCK_LIFETIME - 2 < expires - time.time() <= LOCK_LIFETIME + 0.5

    code = ("import time; from bot.lock_store import AtomicRedisLockStore as S; "
            f"s = S(host='127.0.0.1', port={redis_server.port}, db=0, key_prefix='{PREFIX}'); "
            "s.issue_ticket('lifetime'); "
            "print(s.get_lock('lifetime').tickets[0].expires - time.time())")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "TICKET_LOCK_LIFETIME": "7"}).stdout
    assert 5 < float(out.split()[-1]) <= 7.5, out


# --- compatibility with Rasa's stored format ------------------------------------------

def test_stock_store_reads_and_continues_our_lock(redis_server):
    """(f) Same key, same JSON: Rasa's RedisLockStore reads our lock, sees who waits,
    issues the next number; we continue after its ticket; cleanup works both ways."""
    ours, stock = make_store("atomic", redis_server.port), make_store("stock", redis_server.port)
    c = f"conv/{uuid.uuid4().hex[:6]} \u00e9"      # characters JSON escapes
    assert [ours.issue_ticket(c) for _ in range(3)] == [0, 1, 2]
    lock = stock.get_lock(c)
    assert lock.conversation_id == c
    assert [t.number for t in lock.tickets] == [0, 1, 2]
    assert all(LOCK_LIFETIME - 2 < t.expires - time.time() <= LOCK_LIFETIME + 0.5
               for t in lock.tickets)
    assert lock.now_serving == 0 and stock.is_someone_waiting(c)
    raw = json.loads(ours.red.get(PREFIX + ":lock:" + c))
    assert set(raw) == {"conversation_id", "tickets"}
    assert all(set(json.loads(t)) == {"number", "expires"} for t in raw["tickets"])

    assert stock.issue_ticket(c) == 3
    assert ours.issue_ticket(c) == 4
    stock.cleanup(c, 0)
    ours.cleanup(c, 1)
    assert stored_numbers(stock, c) == [2, 3, 4]
    for number in (2, 3, 4):
        ours.cleanup(c, number)
    assert stock.get_lock(c) is None
    assert ours.issue_ticket(c) == 0                # an empty lock starts at 0, as Rasa's
    ours.cleanup(c, 0)
    stock.save_lock(TicketLock(c))                  # an empty lock left by the stock store
    ours.update_lock(c)
    assert stock.get_lock(c) is None


def test_lock_store_create_builds_it_from_an_endpoint_config(redis_server):
    from rasa.utils.endpoints import EndpointConfig

    config = EndpointConfig(url="127.0.0.1", type="bot.lock_store.AtomicRedisLockStore",
                            port=redis_server.port, db=3, key_prefix="abc", poll_interval=0.03)
    store = LockStore.create(config)
    assert isinstance(store, AtomicRedisLockStore)
    assert store.key_prefix == "abc:lock:" and store.poll_interval == 0.03
    assert store.red.connection_pool.connection_kwargs["db"] == 3
    assert store.issue_ticket("x") == 0
    assert store.red.exists("abc:lock:x")
