"""The cluster profile as users run it (`make cluster`): nginx on one public port, two
bridges on one Redis, two real Rasa servers (trained model) on one PostgreSQL tracker
store and one Redis lock store, one action server.

- nginx serves the widget's Socket.IO over long-polling, WebSocket, and polling upgraded
  to WebSocket (what browsers do), to clients of both bridges;
- a visitor on one bridge and an agent on the other chat normally: queue positions,
  state, typing and messages cross between the processes;
- a Rasa server killed with SIGKILL in the middle of traffic costs no visitor message:
  every message is answered by the bot, none is escalated, and Rasa's tracker holds
  each conversation's messages in the order they were sent;
- SIGTERM stops every process the profile started.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import urllib.request

import pytest

from handoff.rasa import rendezvous_order
from tests.cluster.profile import (Cluster, agent_from, listening, rasa_pid, visitor_from,
                                   wait_until)
from tests.reliability.harness import close_client
from tests.support.processes import PROJECT_ROOT

HUMAN = "I want to talk to a human"
TURNS = ["hello there", "how much is express shipping?", "can I pay with PayPal?",
         "do you have a student discount?", "how do I return my boots?", "thanks a lot"]


def _bridges_and_sources(cluster: Cluster) -> list[tuple[str, str]]:
    """(bridge, source address) for each bridge, so that tests reach both."""
    by_bridge = cluster.sources_by_bridge()
    assert len(by_bridge) == 2, f"nginx sent every tested address to one bridge: {by_bridge}"
    return [(bridge, sources[0]) for bridge, sources in sorted(by_bridge.items())]


async def _bot_answers(visitor, text: str, timeout: float = 60) -> dict:
    await visitor.say(text)
    return await visitor.bot_text(lambda m: m["sender"] == "bot", timeout=timeout)


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]],
                         ids=["polling", "websocket", "upgrade"])
async def test_nginx_serves_every_transport_on_both_bridges(cluster: Cluster, transports):
    for bridge, source in _bridges_and_sources(cluster):
        visitor = visitor_from(cluster, source)
        try:
            await visitor.connect(transports=transports)
            session_id = await visitor.start()
            reply = await _bot_answers(visitor, "hello there")
            assert reply["text"].strip(), reply
            if len(transports) == 1:
                assert visitor.sio.transport() == transports[0]
            else:   # what browsers do: start polling, upgrade to WebSocket through nginx
                await wait_until(lambda: visitor.sio.transport() == "websocket", 10, "upgrade")
            # a reload (new connection, same session id) continues the same conversation
            await close_client(visitor.sio)
            again = visitor_from(cluster, source)
            try:
                await again.connect(transports=transports)
                assert await again.start(session_id) == session_id
                history = await again.next("history", timeout=10)
                assert "hello there" in [m.get("text") for m in history["messages"]], (bridge, history)
            finally:
                await close_client(again.sio)
        finally:
            await close_client(visitor.sio)


async def test_visitor_and_agent_on_different_bridges(cluster: Cluster):
    (visitor_bridge, visitor_ip), (agent_bridge, agent_ip) = _bridges_and_sources(cluster)
    assert visitor_bridge != agent_bridge
    alice = await agent_from(cluster, agent_ip, "alice")
    first, second = visitor_from(cluster, visitor_ip), visitor_from(cluster, visitor_ip)
    try:
        assert (await alice.call("presence", {"status": "away"}))["ok"]   # no auto-assignment
        one, two = await first.start(), await second.start()

        # escalation through the real assistant; positions reach the visitors' bridge
        await first.say(HUMAN)
        state = await first.next("conversation_state", lambda s: s["state"] == "queued", timeout=60)
        assert state["reason"] == "human_requested" and state["position"] == 1
        await second.say(HUMAN)
        state = await second.next("conversation_state", lambda s: s["state"] == "queued", timeout=60)
        assert state["position"] == 2

        # the agent's bridge sees both in the queue
        queue = await alice.next("queue", lambda q: {one, two} <= {e["conversation_id"] for e in q["queue"]},
                                 timeout=20)
        assert [e["conversation_id"] for e in queue["queue"]][:2] == [one, two]

        # a claim on the agent's bridge: state for the first, a new position for the second
        assert (await alice.call("claim", {"conversation_id": one}))["ok"]
        assigned = await alice.next("assigned", lambda a: a["conversation"]["id"] == one, timeout=30)
        assert assigned["packet"]["reason"] == "human_requested"
        await first.next("conversation_state", lambda s: s["state"] == "agent", timeout=10)
        moved = await second.next("conversation_state", lambda s: s.get("position") == 1, timeout=10)
        assert moved["state"] == "queued"

        # typing both ways
        assert (await alice.call("typing", {"conversation_id": one, "on": True}))["ok"]
        typing = await first.next("typing", lambda t: t.get("from") == "agent" and t["on"], timeout=10)
        assert typing["agent_name"] == "Alice"
        assert (await first.call("typing", {"session_id": one, "on": True}))["ok"]
        assert (await alice.next("visitor_typing", lambda t: t["conversation_id"] == one, timeout=10))["on"]

        # messages both ways
        ack = await alice.call("message", {"conversation_id": one, "text": "Hello, Alice here."})
        assert ack["ok"]
        said = await first.bot_text(lambda m: m["sender"] == "agent", timeout=10)
        assert said["text"] == "Hello, Alice here." and said["agent_name"] == "Alice"
        await first.say("Thanks, my order is late")
        got = await alice.next("visitor_message", lambda m: m["conversation_id"] == one, timeout=10)
        assert got["text"] == "Thanks, my order is late"

        # closing on the agent's bridge closes the visitor's chat on the other
        assert (await alice.call("close", {"conversation_id": one}))["ok"]
        await first.next("conversation_state", lambda s: s["state"] == "closed", timeout=10)
        print(f"\nFIGURES cluster_cross_bridge: visitor_bridge={visitor_bridge} agent_bridge={agent_bridge}")
    finally:
        for client in (first, second, alice):
            await close_client(client.sio)


def _tracker_user_texts(cluster: Cluster, conversation_id: str) -> list[str]:
    url = f"{cluster.rasa_urls[1]}/conversations/{conversation_id}/tracker?token={cluster.rasa_token}"
    with urllib.request.urlopen(url, timeout=30) as response:
        events = json.load(response)["events"]
    return [e["text"] for e in events if e["event"] == "user"]


def _failovers(cluster: Cluster) -> float:
    total = 0.0
    for port in cluster.bridge_ports:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        total += sum(float(v) for v in re.findall(r"^handoff_rasa_failovers_total\{[^}]*\} (\S+)$", text, re.M))
    return total


async def _visitors_on_every_server(cluster: Cluster, visitors: list, per_server: int) -> None:
    """Start visitors into ``visitors`` (the caller closes them) until ``per_server`` of
    them prefer each Rasa server. The bridges choose a server by rendezvous hashing of
    the random session id, so six visitors taken as they come all prefer the server that
    survives once in 64 runs, and killing the other would then test nothing."""
    sources = [ip for _, ip in _bridges_and_sources(cluster)]
    counts = {url: 0 for url in cluster.rasa_urls}
    for attempt in range(100):
        if all(n == per_server for n in counts.values()):
            return
        visitor = visitor_from(cluster, sources[attempt % 2])
        visitors.append(visitor)
        preferred = rendezvous_order(await visitor.start(), cluster.rasa_urls)[0]
        if counts[preferred] < per_server:
            counts[preferred] += 1
        else:
            visitors.remove(visitor)
            await close_client(visitor.sio)
    raise AssertionError(f"no {per_server} sessions on every Rasa server in 100 tries: {counts}")


async def test_a_rasa_server_killed_mid_traffic_loses_no_message(cluster: Cluster):
    visitors: list = []
    killed_at_round = 2
    before = _failovers(cluster)
    try:
        await _visitors_on_every_server(cluster, visitors, per_server=3)
        ids = [v.session_id for v in visitors]
        victim = rasa_pid(cluster, "rasa1")
        answered: dict[str, list[str]] = {cid: [] for cid in ids}

        async def converse(visitor, index: int) -> None:
            for round_, text in enumerate(TURNS):
                if round_ == killed_at_round and index == 0:
                    os.kill(victim, signal.SIGKILL)
                reply = await _bot_answers(visitor, f"{text}", timeout=90)
                answered[visitor.session_id].append(reply["text"])
                await asyncio.sleep(0.05 * index)

        started = time.monotonic()
        await asyncio.gather(*(converse(v, i) for i, v in enumerate(visitors)))
        elapsed = time.monotonic() - started

        for visitor in visitors:
            system = [m["text"] for m in visitor.rec.all("bot_uttered") if m.get("sender") == "system"]
            assert not system, (visitor.session_id, system)          # no "not available" notice
            assert not [s for s in visitor.rec.all("conversation_state") if s["state"] != "bot"]
            assert len(answered[visitor.session_id]) == len(TURNS)
            texts = _tracker_user_texts(cluster, visitor.session_id)
            deduplicated = [t for i, t in enumerate(texts) if i == 0 or t != texts[i - 1]]
            assert deduplicated == TURNS, (visitor.session_id, texts)
        failovers = _failovers(cluster) - before
        assert failovers > 0, "the killed server was never failed over from"
        print(f"\nFIGURES cluster_rasa_killed: visitors={len(visitors)} turns={len(TURNS)} "
              f"failovers={failovers:.0f} all_answered_s={elapsed:.1f}")
    finally:
        for visitor in visitors:
            await close_client(visitor.sio)
    # supervisord brings the killed server back; later tests see the whole cluster
    await wait_until(lambda: listening(cluster.rasa_ports[0]), 600, "rasa1 restarted by supervisord")
    assert rasa_pid(cluster, "rasa1") != victim


async def test_rolling_model_rollout_keeps_every_conversation(cluster: Cluster):
    """`make cluster-ship` restarts the Rasa servers one at a time while visitors talk."""
    sources = [ip for _, ip in _bridges_and_sources(cluster)]
    visitors = [visitor_from(cluster, sources[i % 2]) for i in range(4)]
    before = {name: rasa_pid(cluster, name) for name in ("rasa1", "rasa2")}
    env = {**os.environ, "CLUSTER_STATE_DIR": str(cluster.state_dir), "RASA_TOKEN": cluster.rasa_token}
    try:
        for visitor in visitors:
            await visitor.start()
        ship = await asyncio.create_subprocess_exec(
            "bash", "scripts/cluster-ship.sh", "--no-train", cwd=PROJECT_ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        answered = 0

        async def converse(visitor) -> None:
            nonlocal answered
            turn = 0
            while ship.returncode is None:
                await _bot_answers(visitor, TURNS[turn % len(TURNS)], timeout=90)
                answered += 1
                turn += 1
                await asyncio.sleep(0.5)

        talking = [asyncio.create_task(converse(v)) for v in visitors]
        output, _ = await asyncio.wait_for(ship.communicate(), 1800)
        await asyncio.gather(*talking)
        assert ship.returncode == 0, output.decode()[-3000:]
        assert "live on every Rasa server" in output.decode()
        for visitor in visitors:
            system = [m["text"] for m in visitor.rec.all("bot_uttered") if m.get("sender") == "system"]
            assert not system, (visitor.session_id, system)
            assert not [s for s in visitor.rec.all("conversation_state") if s["state"] != "bot"]
        after = {name: rasa_pid(cluster, name) for name in ("rasa1", "rasa2")}
        assert all(after[name] != before[name] for name in before), (before, after)
        assert answered >= 2 * len(visitors)
        print(f"\nFIGURES cluster_rollout: answered_turns={answered} during the rolling restart")
    finally:
        for visitor in visitors:
            await close_client(visitor.sio)


def test_sigterm_stops_every_process(cluster: Cluster):
    """Last in the module: SIGTERM to `make cluster` leaves nothing of it running."""
    ports = [int(cluster.url.rsplit(":", 1)[1]), *cluster.bridge_ports, *cluster.rasa_ports]
    pids = [int(p) for p in re.findall(r"pid (\d+)", cluster.ctl("status"))]
    assert len(pids) == 7, cluster.ctl("status")      # redis, actions, 2 rasa, 2 bridges, nginx
    cluster.stop()
    assert cluster.proc.returncode == 0, "".join(cluster.output[-30:])
    for port in ports:
        assert not listening(port), f"port {port} still open"
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
