"""Several Rasa servers under one bridge (issue #8): affinity and failover.

The real bridge application talks to two or three fake Rasa servers that share their
trackers (like Rasa servers on one tracker store). Checked:

- affinity: conversations are spread over the servers by rendezvous hashing, and every
  call of one conversation (webhook, tracker, events, trigger_intent) goes to its server;
  the hash is the same in every process and removing a server moves only its conversations;
- failover: a server stopped in the middle of a stream of visitor messages costs no
  message (each is answered once and logged once in the tracker, nothing escalated
  bot_unavailable); the stopped server is skipped during its cool-off and used again
  after it; a server that drops the connection mid-request, or answers 502/503/504, is
  retried on the next one;
- no failover: a timeout (the slow server got exactly one call), a 500 or a 4xx lead to
  bot_unavailable as with one server; so does every server down;
- settings (the list, its errors) and /readyz (ready while one server answers).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from pydantic import ValidationError

from handoff.rasa import rendezvous_order
from handoff.settings import Settings
from tests.handoff.clients import Agent, BridgeServer, Visitor
from tests.handoff.conftest import PASSWORDS, serve
from tests.support.fake_rasa import FakeRasa

UNAVAILABLE = "Our assistant is not available right now"
COOL_OFF_S = 5.0


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[list[FakeRasa]]:
    """Three fake Rasa servers on one shared tracker store."""
    trackers: dict[str, dict[str, Any]] = {}
    servers = [FakeRasa(trackers=trackers) for _ in range(3)]
    for fake in servers:
        await fake.start()
    try:
        yield servers
    finally:
        for fake in servers:
            fake.delay, fake.drop, fake.down = 0.0, False, False
            await fake.stop()


@pytest.fixture
def cluster(fakes, make_settings):
    """cluster(n) -> serve() the real bridge on the first n fakes (cool-off COOL_OFF_S; rate
    limits out of the way of message streams)."""
    def start(count: int = 3, **overrides: Any):
        values = dict(rasa_url=",".join(f.url for f in fakes[:count]), rasa_retry_down_s=COOL_OFF_S,
                      rate_ip_messages=10_000, rate_session_messages=1_000)   # streams of messages
        return serve(make_settings(**{**values, **overrides}))
    return start


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def frozen(server: BridgeServer) -> Clock:
    clock = Clock()
    server.bridge.rasa.clock = clock
    return clock


def by_url(fakes: list[FakeRasa]) -> dict[str, FakeRasa]:
    return {fake.url: fake for fake in fakes}


def preferred(server: BridgeServer, fakes: list[FakeRasa], sid: str) -> list[FakeRasa]:
    """The fakes in the order the bridge tries them for this conversation."""
    urls = by_url(fakes)
    return [urls[url] for url in server.bridge.rasa.preference(sid)]


def rendezvous_order_fakes(fakes: list[FakeRasa], sid: str) -> list[FakeRasa]:
    """The fakes in pure rendezvous order (whatever is marked down)."""
    urls = by_url(fakes)
    return [urls[url] for url in rendezvous_order(sid, list(urls))]


def calls(fake: FakeRasa, sid: str, endpoint: str | None = None) -> list[tuple[str, str, Any]]:
    """The calls this fake received for one conversation (endpoint: "webhook", "events", ...)."""
    found = []
    for method, path, body in fake.calls:
        if path == "/webhooks/rest/webhook":
            mine, kind = isinstance(body, dict) and body.get("sender") == sid, "webhook"
        else:
            mine, kind = path.startswith(f"/conversations/{sid}/"), path.rsplit("/", 1)[-1]
        if mine and endpoint in (None, kind):
            found.append((method, path, body))
    return found


def failovers(server: BridgeServer, endpoint: str = "webhook") -> float:
    value = server.bridge.metrics.registry.get_sample_value("handoff_rasa_failovers_total",
                                                            {"endpoint": endpoint})
    return value or 0.0


def unavailable_handoffs(server: BridgeServer) -> float:
    value = server.bridge.metrics.registry.get_sample_value("handoff_handoffs_total",
                                                            {"reason": "bot_unavailable"})
    return value or 0.0


def user_texts(fake: FakeRasa, sid: str) -> list[str]:
    return [e["text"] for e in fake.events(sid, "user")]


async def talk(visitor: Visitor, text: str) -> None:
    """Send one message and wait for the bot's echo of exactly that message."""
    ack = await visitor.say(text)
    assert ack["ok"] is True, ack
    await visitor.bot_text(lambda m: m.get("sender") == "bot" and m["text"] == f"echo: {text}", timeout=10)


async def unavailable(visitor: Visitor) -> None:
    """The visitor is told the bot is unavailable and queued with reason bot_unavailable."""
    told = await visitor.bot_text(lambda m: m.get("sender") == "system" and UNAVAILABLE in m["text"])
    assert told
    state = await visitor.next("conversation_state", lambda s: s["state"] == "queued")
    assert state["reason"] == "bot_unavailable"


async def visitors(server: BridgeServer, count: int) -> list[Visitor]:
    started = [Visitor(server.url) for _ in range(count)]
    for visitor in started:
        await visitor.start()
    return started


async def close_all(clients: list[Any]) -> None:
    for client in clients:
        await client.close()


# ---------------------------------------------------------------- rendezvous hashing (pure)

URLS = ["http://rasa-a:5005", "http://rasa-b:5005", "http://rasa-c:5005"]
KEYS = [f"conversation-{i}" for i in range(3000)]


def test_rendezvous_spreads_keys_and_ignores_list_order():
    firsts = [rendezvous_order(key, URLS)[0] for key in KEYS]
    for url in URLS:
        assert 0.25 < firsts.count(url) / len(KEYS) < 0.42, (url, firsts.count(url))
    assert all(rendezvous_order(key, URLS) == rendezvous_order(key, list(reversed(URLS))) for key in KEYS)


def test_removing_a_server_moves_only_its_conversations():
    survivors = URLS[:2]
    for key in KEYS:
        order = rendezvous_order(key, URLS)
        after = rendezvous_order(key, survivors)
        expected = order[0] if order[0] in survivors else order[1]
        assert after[0] == expected, key


def test_rendezvous_order_is_the_same_in_every_process():
    """Not Python's salted hash(): other processes (other hash seeds) pick the same server."""
    script = ("import json, sys; from handoff.rasa import rendezvous_order; "
              f"print(json.dumps([rendezvous_order(k, {URLS!r}) for k in {KEYS[:200]!r}]))")
    here = [rendezvous_order(key, URLS) for key in KEYS[:200]]
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                             check=True, timeout=60, cwd=os.getcwd())
        assert json.loads(out.stdout) == here, seed


# ---------------------------------------------------------------- settings

def test_settings_take_a_list_of_rasa_urls(monkeypatch):
    monkeypatch.setenv("HANDOFF_RASA_URL",
                       " http://rasa-a:5005/ , https://rasa-b.internal/rasa/,http://10.0.0.3:5005")
    monkeypatch.setenv("HANDOFF_RASA_RETRY_DOWN_S", "2.5")
    s = Settings()
    assert s.rasa_urls == ("http://rasa-a:5005", "https://rasa-b.internal/rasa", "http://10.0.0.3:5005")
    assert s.rasa_retry_down_s == 2.5
    one = Settings(rasa_url="http://rasa:5005/")
    assert one.rasa_url == "http://rasa:5005" and one.rasa_urls == ("http://rasa:5005",)
    assert Settings(rasa_url=["http://a:1/", "http://b:2"]).rasa_urls == ("http://a:1", "http://b:2")
    monkeypatch.delenv("HANDOFF_RASA_RETRY_DOWN_S")
    assert Settings().rasa_retry_down_s == 5.0
    with pytest.raises(ValidationError):
        s.rasa_url = "http://other:5005"        # still frozen


@pytest.mark.parametrize("value, message", [
    ("", "give at least one Rasa server URL"),
    (" , ", "give at least one Rasa server URL"),
    ("rasa:5005", "'rasa:5005' is not an http(s) base URL"),
    ("http://a:5005,ftp://b:5005", "'ftp://b:5005' is not an http(s) base URL"),
    ("http://", "is not an http(s) base URL"),
    ("http://a:5005?token=x", "is not an http(s) base URL"),
    ("http://a:99999", "is not a valid URL"),
    ("http://a:5005,http://a:5005/", "lists http://a:5005 more than once"),
])
def test_settings_refuse_bad_rasa_urls(value, message):
    with pytest.raises(ValidationError) as error:
        Settings(rasa_url=value)
    assert "HANDOFF_RASA_URL" in str(error.value) and message in str(error.value)


def test_settings_refuse_a_negative_cool_off():
    with pytest.raises(ValidationError):
        Settings(rasa_retry_down_s=-1)


# ---------------------------------------------------------------- affinity

async def test_conversations_are_spread_and_each_sticks_to_one_server(cluster, fakes):
    async with cluster(3) as server:
        people = await visitors(server, 12)
        try:
            for turn in range(3):
                await asyncio.gather(*(talk(v, f"question {turn}") for v in people))
            homes = set()
            for visitor in people:
                sid = visitor.session_id
                counts = {fake.url: len(calls(fake, sid, "webhook")) for fake in fakes}
                home = rendezvous_order(sid, [f.url for f in fakes])[0]
                assert counts[home] == 3 and sum(counts.values()) == 3, counts
                homes.add(home)
            # 12 conversations all on one of 3 servers: probability 3 ** -11
            assert len(homes) >= 2, homes
            assert failovers(server) == 0
        finally:
            await close_all(people)


async def test_every_call_of_a_conversation_goes_to_its_server(cluster, fakes):
    async with cluster(3) as server:
        alice = await Agent.login(server, "alice", PASSWORDS["alice"])
        visitor = Visitor(server.url)
        try:
            sid = await visitor.start()
            home, *others = preferred(server, fakes, sid)
            home.intent_replies["greet"] = [{"text": "Welcome back!"}]
            home.replies["a person please"] = [FakeRasa.handoff("human_requested", "billing")]
            await talk(visitor, "hello")
            await visitor.say("a person please")
            await visitor.next("conversation_state", lambda s: s["state"] == "queued")
            assert (await alice.call("claim", {"conversation_id": sid}))["ok"]
            await alice.next("assigned")
            assert (await alice.call("message", {"conversation_id": sid, "text": "Hi, Alice here"}))["ok"]
            assert await alice.call("hand_back", {"conversation_id": sid, "intent": "greet"}) == {"ok": True}
            await visitor.bot_text(lambda m: m["text"] == "Welcome back!")
            for _ in range(50):
                if any(e.get("event") == "bot" and e.get("text") == "Hi, Alice here" for e in home.events(sid)):
                    break
                await asyncio.sleep(0.05)
            kinds = {path.rsplit("/", 1)[-1] for _, path, _ in calls(home, sid)}
            assert {"webhook", "tracker", "events", "trigger_intent"} <= kinds, kinds
            assert all(calls(other, sid) == [] for other in others)
        finally:
            await close_all([visitor, alice])


# ---------------------------------------------------------------- failover

async def test_a_server_stopped_mid_stream_costs_no_message(cluster, fakes, caplog):
    caplog.set_level(logging.INFO)
    messages = 10
    async with cluster(3) as server:
        clock = frozen(server)
        people = await visitors(server, 6)
        try:
            sids = [v.session_id for v in people]
            victim = preferred(server, fakes, sids[0])[0]
            on_victim = [sid for sid in sids if preferred(server, fakes, sid)[0] is victim]
            answered = 0
            stop_at = 3 * len(people)

            async def stream(index: int, visitor: Visitor) -> None:
                nonlocal answered
                for i in range(messages):
                    await talk(visitor, f"parcel-{index}-{i}")
                    answered += 1

            async def stop_victim() -> None:
                while answered < stop_at:
                    await asyncio.sleep(0.005)
                await victim.stop()               # its listener closes while messages are in flight

            await asyncio.gather(*(stream(i, v) for i, v in enumerate(people)), stop_victim())

            # every message answered once, stored once, in order; nothing escalated
            for index, visitor in enumerate(people):
                sent = [f"parcel-{index}-{i}" for i in range(messages)]
                bot = [m["text"] for m in visitor.rec.all("bot_uttered") if m.get("sender") == "bot"]
                assert bot == [f"echo: {t}" for t in sent]
                assert not [m for m in visitor.rec.all("bot_uttered") if m.get("sender") == "system"]
                assert not visitor.rec.all("conversation_state")
                assert user_texts(fakes[0], visitor.session_id) == sent
            assert unavailable_handoffs(server) == 0
            # only the victim's conversations moved, each to its next server
            for sid in sids:
                home, second, third = rendezvous_order_fakes(fakes, sid)
                assert calls(third, sid) == []
                if home is victim:
                    assert len(calls(home, sid, "webhook")) + len(calls(second, sid, "webhook")) == messages
                else:
                    assert len(calls(home, sid, "webhook")) == messages and calls(second, sid) == []
            moved = failovers(server)
            assert 1 <= moved <= len(on_victim), (moved, on_victim)
            warnings = [r.getMessage() for r in caplog.records
                        if r.name == "handoff.rasa" and r.levelno == logging.WARNING]
            assert any(victim.url in w and any(sid in w for sid in on_victim) for w in warnings), warnings
            assert not any("parcel-" in r.getMessage() for r in caplog.records)   # never message bodies

            # during its cool-off the stopped server is skipped: no new failover
            assert server.bridge.rasa.is_down(victim.url)
            assert all(server.bridge.rasa.preference(sid)[-1] == victim.url for sid in sids)
            await asyncio.gather(*(talk(v, f"parcel-{i}-again") for i, v in enumerate(people)))
            assert failovers(server) == moved
            # back on its port, but still cooling off: not used yet
            await victim.start()
            before = len(victim.calls)
            await asyncio.gather(*(talk(v, f"parcel-{i}-still") for i, v in enumerate(people)))
            assert len(victim.calls) == before
            # after the cool-off its conversations come back to it
            clock.now += COOL_OFF_S + 0.1
            assert not server.bridge.rasa.is_down(victim.url)
            await asyncio.gather(*(talk(v, f"parcel-{i}-back") for i, v in enumerate(people)))
            for sid in on_victim:
                assert calls(victim, sid, "webhook")[-1][2]["message"].endswith("-back")
            assert len(victim.calls) == before + len(on_victim)
            assert failovers(server) == moved and unavailable_handoffs(server) == 0
        finally:
            await close_all(people)


async def test_a_dropped_connection_is_retried_on_the_next_server(cluster, fakes):
    async with cluster(2) as server:
        visitor = Visitor(server.url)
        try:
            sid = await visitor.start()
            first, second = preferred(server, fakes[:2], sid)
            first.drop = True                     # closes the connection without an answer
            await talk(visitor, "where is my parcel")
            assert len(calls(first, sid, "webhook")) == 1 and len(calls(second, sid, "webhook")) == 1
            assert user_texts(first, sid) == ["where is my parcel"]      # one turn in the shared tracker
            assert failovers(server) == 1 and unavailable_handoffs(server) == 0
            assert server.bridge.rasa.is_down(first.url)
        finally:
            await visitor.close()


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_server_saying_it_is_unavailable_is_retried(cluster, fakes, status):
    async with cluster(2) as server:
        visitor = Visitor(server.url)
        try:
            sid = await visitor.start()
            first, second = preferred(server, fakes[:2], sid)
            first.down, first.down_status = True, status
            await talk(visitor, "hello")
            assert len(calls(first, sid, "webhook")) == 1 and len(calls(second, sid, "webhook")) == 1
            assert failovers(server) == 1 and unavailable_handoffs(server) == 0
        finally:
            await visitor.close()


async def test_a_timeout_is_not_retried(cluster, fakes):
    async with cluster(2, rasa_timeout_s=0.5) as server:
        visitor = Visitor(server.url)
        try:
            sid = await visitor.start()
            slow, other = preferred(server, fakes[:2], sid)
            slow.delay = 1.5                      # may still be processing: a retry would run the turn twice
            await visitor.say("are you there?")
            await unavailable(visitor)
            await asyncio.sleep(0.8)              # the pause that follows goes to the slow server too
            assert len(calls(slow, sid, "webhook")) == 1
            assert calls(other, sid) == []
            assert failovers(server) == 0 and unavailable_handoffs(server) == 1
            assert not server.bridge.rasa.is_down(slow.url)
        finally:
            await visitor.close()


@pytest.mark.parametrize("fault", ["500", "401"])
async def test_a_500_or_a_4xx_is_not_retried(cluster, fakes, fault):
    async with cluster(2) as server:
        visitor = Visitor(server.url)
        try:
            sid = await visitor.start()
            first, other = preferred(server, fakes[:2], sid)
            if fault == "500":
                first.down = True                 # Rasa failed inside the turn: it may have run
            else:
                first.token = "another-token"     # refused: the same call would be refused again
            await visitor.say("hello?")
            await unavailable(visitor)
            await asyncio.sleep(0.2)
            assert len(calls(first, sid, "webhook")) == 1
            assert calls(other, sid) == []
            assert failovers(server) == 0 and unavailable_handoffs(server) == 1
        finally:
            await visitor.close()


async def test_every_server_down_is_bot_unavailable(cluster, fakes):
    async with cluster(2) as server:
        people = await visitors(server, 2)
        try:
            stopped, busy = people
            for fake in fakes[:2]:
                await fake.stop()
            await stopped.say("hello?")
            await unavailable(stopped)
            assert failovers(server) == 1          # first server -> second, then nothing left
            for fake in fakes[:2]:
                await fake.start()
                fake.down, fake.down_status = True, 503
            await busy.say("hello?")
            await unavailable(busy)
            assert all(len(calls(fake, busy.session_id, "webhook")) == 1 for fake in fakes[:2])
            assert unavailable_handoffs(server) == 2
        finally:
            await close_all(people)


async def test_one_server_is_still_tried_while_cooling_off(cluster, fakes):
    """One URL keeps working as before: the only server is tried even when marked down."""
    async with cluster(1) as server:
        frozen(server)
        people = await visitors(server, 2)
        try:
            first, second = people
            await fakes[0].stop()
            await first.say("hello?")
            await unavailable(first)
            assert server.bridge.rasa.is_down(fakes[0].url) and failovers(server) == 0
            await fakes[0].start()
            await talk(second, "hello again")
            assert not server.bridge.rasa.is_down(fakes[0].url)
        finally:
            await close_all(people)


# ---------------------------------------------------------------- readiness

async def test_readyz_is_ready_while_one_server_answers(cluster, fakes):
    async with cluster(2) as server:
        status, body = await server.http("GET", "/readyz")
        assert status == 200 and body["rasa"] is True
        assert [s["ok"] for s in body["rasa_servers"]] == [True, True]
        await fakes[0].stop()
        status, body = await server.http("GET", "/readyz")
        assert status == 200 and body["ok"] is True and body["rasa"] is True
        assert body["rasa_servers"] == [
            {"url": fakes[0].url, "ok": False, "marked_down": False},
            {"url": fakes[1].url, "ok": True, "marked_down": False}]
        await fakes[1].stop()
        status, body = await server.http("GET", "/readyz")
        assert status == 503 and body["ok"] is False and body["rasa"] is False and body["store"] is True
        assert [s["ok"] for s in body["rasa_servers"]] == [False, False]
