"""Hostile input (docs/reliability.md, "Hostile input"): fuzzing of every Socket.IO event
and HTTP endpoint, access control, and flooding. Complements tests/handoff/test_fuzz.py
(fixed weird payloads and random user_uttered payloads), test_auth.py, test_limits.py.

Every fuzz test also runs a bystander: a conversation with an agent that must keep
working, and whose log must not change, while the fuzzing goes on; and the bridge must
not have hit an unexpected exception (the `unavailable` error counter stays at 0: the
edges report any unexpected exception as `unavailable`).
"""
from __future__ import annotations

import asyncio
import json
import random
import string
import time

import aiohttp
import jwt
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from handoff.auth import ALGORITHM, ISSUER, issue_token
from tests.handoff.clients import Agent, Visitor
from tests.handoff.conftest import PASSWORDS, serve
from tests.handoff.chats import escalate

VISITOR_EVENTS = ["session_request", "user_uttered", "typing", "leave_email", "rate"]
AGENT_EVENTS = ["presence", "claim", "message", "typing", "note", "hand_back", "transfer", "close", "flag"]
KEYS = ["message", "session_id", "client_id", "metadata", "customData", "on", "email", "score", "comment",
        "conversation_id", "text", "status", "intent", "agent_id", "team", "resolution", "message_id", "note"]

# unicode edges: NUL, lone surrogates (as JSON escapes survive python-socketio), RTL
# override, zero-width joiner, combining marks, astral plane, BOM, noncharacters
EDGE_TEXT = ["\x00", "\u202e\u202dabc", "a\u200db", "e\u0301\u0301\u0301", "\U0001F600" * 50, "\ufeff", "\uffff",
             "\ud800", "\udfff", "<script>alert(1)</script>", "' OR 1=1 --", "../../../etc/passwd", "%00", "{{7*7}}",
             "a" * 3000, "\u0085\u2028\u2029", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ß" * 1000]
text = st.one_of(st.text(max_size=40), st.sampled_from(EDGE_TEXT),
                 st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=20))
scalars = st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | \
    st.floats(allow_nan=True, allow_infinity=True) | text
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=5), kids, max_size=6), max_leaves=20)
payloads = st.one_of(values, st.dictionaries(st.sampled_from(KEYS), values, max_size=8),
                     st.builds(lambda n: {"message": "x" * n}, st.integers(0, 40_000)))


def examples(strategy, n: int, seed: int) -> list:
    """n examples of a strategy (hypothesis drives generation; the async calls run after)."""
    out: list = []

    @given(strategy)
    @hsettings(max_examples=n, deadline=None, database=None, derandomize=True,
               suppress_health_check=list(HealthCheck))
    def collect(value):
        out.append(value)

    collect()
    random.Random(seed).shuffle(out)
    return out


def unexpected_errors(server) -> float:
    return server.bridge.metrics.errors.labels(code="unavailable")._value.get()


@pytest.fixture
async def server(make_settings):
    async with serve(make_settings(rate_session_messages=100_000, rate_ip_messages=100_000,
                                   rate_ip_sessions=100_000, rate_login_attempts=100_000)) as server:
        yield server


class Bystander:
    """A visitor chatting with alice while the fuzzing goes on."""

    def __init__(self, server, fake_rasa):
        self.server, self.fake = server, fake_rasa

    async def __aenter__(self):
        self.alice = await Agent.login(self.server, "alice", PASSWORDS["alice"])
        self.visitor = Visitor(self.server.url)
        self.sid = await self.visitor.start()
        await escalate(self.visitor, self.fake)
        assert (await self.alice.call("claim", {"conversation_id": self.sid}))["ok"]
        await self.alice.next("assigned")
        self.before = await self.server.bridge.store.messages(self.sid)
        return self

    async def check(self, round_: int) -> None:
        log = await self.server.bridge.store.messages(self.sid)
        assert log == self.before, "the bystander's conversation changed under fuzzing"
        await self.visitor.say(f"still here {round_}")
        got = await self.alice.next("visitor_message", lambda m: m["text"] == f"still here {round_}")
        ack = await self.alice.call("message", {"conversation_id": self.sid, "text": f"yes {round_}"})
        assert ack["ok"]
        await self.visitor.bot_text(lambda m: m["text"] == f"yes {round_}")
        self.before = await self.server.bridge.store.messages(self.sid)
        assert got["id"] in {m.id for m in self.before}

    async def __aexit__(self, *exc):
        await self.visitor.close()
        await self.alice.close()


async def test_fuzz_every_socketio_event(server, fake_rasa):
    async with Bystander(server, fake_rasa) as bystander:
        visitor = Visitor(server.url)
        bob = await Agent.login(server, "bob", PASSWORDS["bob"])
        try:
            sid = await visitor.start()
            cases = examples(payloads, 120, 1)
            for n, payload in enumerate(cases):
                if isinstance(payload, dict) and isinstance(payload.get("session_id"), str) and n % 2:
                    payload = {**payload, "session_id": sid}
                if isinstance(payload, dict) and n % 3 == 0:
                    payload = {**payload, "conversation_id": bystander.sid}   # someone else's chat
                for event in VISITOR_EVENTS:
                    if not visitor.sio.connected:       # an oversized packet drops that socket only
                        await visitor.close()
                        visitor = Visitor(server.url)
                        sid = await visitor.start()
                    try:
                        ack = await visitor.call(event, payload, timeout=5)
                    except Exception:   # noqa: BLE001 - only a dropped oversized packet may go unanswered
                        assert len(json.dumps(payload, default=str)) > server.bridge.settings.max_payload_bytes
                        continue
                    assert isinstance(ack, dict) and "ok" in ack, (event, payload, ack)
                    if not ack["ok"]:
                        assert set(ack["error"]) == {"code", "message"} and ack["error"]["message"]
                    elif event == "session_request":
                        sid = ack["session_id"]
                        visitor.session_id = sid
                for event in AGENT_EVENTS:
                    ack = await bob.call(event, payload, timeout=5)
                    assert isinstance(ack, dict) and "ok" in ack, (event, payload, ack)
                    if not ack["ok"]:
                        assert set(ack["error"]) == {"code", "message"}
                    if event == "presence" and ack["ok"]:
                        await bob.call("presence", {"status": "online"})
                if n % 40 == 0:
                    await bystander.check(n)
            await bystander.check(-1)
            assert unexpected_errors(server) == 0
            assert bob.sio.connected and (await server.http("GET", "/healthz"))[0] == 200
        finally:
            await visitor.close()
            await bob.close()


HTTP_ROUTES = [("POST", "/api/agent/login"), ("POST", "/api/agent/logout"), ("GET", "/api/queue"),
               ("GET", "/api/conversations/{x}"), ("GET", "/api/agents"), ("GET", "/api/flags"),
               ("GET", "/api/kb/search"), ("GET", "/api/analytics"), ("GET", "/healthz"), ("GET", "/readyz"),
               ("GET", "/metrics"), ("GET", "/widget/{x}"), ("POST", "/api/queue"), ("DELETE", "/api/agents"),
               ("GET", "/socket.io/")]
segment = st.one_of(st.text(alphabet=string.ascii_letters + string.digits + "-_.~%", max_size=30),
                    st.sampled_from(["..", "%2e%2e%2f", "%00", "a" * 5000, "%F0%9F%98%80", "%ff%fe", "%", ";x"]))
query_value = st.one_of(st.text(max_size=30), st.sampled_from(["", "-1", "1e309", "nan", "999999999999999999999",
                                                               "x" * 600, "10", "0"]))
http_cases = st.fixed_dictionaries({
    "route": st.sampled_from(HTTP_ROUTES), "segment": segment,
    "query": st.dictionaries(st.sampled_from(["q", "limit", "since", "until", "x", "EIO", "transport"]),
                             query_value, max_size=3),
    "auth": st.sampled_from([None, "Bearer ", "Bearer garbage", "Basic YWJj", "Bearer a.b.c", "bearer  x",
                             "Bearer " + "A" * 8000, "FORGED", "VALID"]),
    "body": st.one_of(st.none(), st.binary(max_size=200), values.map(lambda v: json.dumps(v, default=str).encode()),
                      st.just(b"{" * 10_000), st.just(b"x" * 70_000)),
    "content_type": st.sampled_from([None, "application/json", "text/plain", "multipart/form-data; boundary=x"]),
})


async def test_fuzz_every_http_endpoint(server, fake_rasa):
    token = await server.login("bob", PASSWORDS["bob"])
    forged = jwt.encode({"sub": "bob", "jti": "x", "iat": 0, "exp": 2**40, "iss": ISSUER}, "wrong-secret" * 4,
                        algorithm=ALGORITHM)
    statuses: dict[int, int] = {}
    async with Bystander(server, fake_rasa) as bystander:
        async with aiohttp.ClientSession() as session:
            for n, case in enumerate(examples(http_cases, 250, 2)):
                method, path = case["route"]
                path = path.replace("{x}", case["segment"])
                headers = {}
                if case["auth"] == "VALID":
                    headers["Authorization"] = f"Bearer {token}"
                elif case["auth"] == "FORGED":
                    headers["Authorization"] = f"Bearer {forged}"
                elif case["auth"] is not None:
                    headers["Authorization"] = case["auth"]
                if case["content_type"]:
                    headers["Content-Type"] = case["content_type"]
                try:
                    async with session.request(method, server.url + path, params=case["query"], headers=headers,
                                               data=case["body"], allow_redirects=False) as response:
                        body = await response.read()
                        status = response.status
                except aiohttp.ClientError as exc:   # the server may refuse a malformed request line
                    assert "a" * 5000 in path, (case, exc)
                    continue
                statuses[status] = statuses.get(status, 0) + 1
                assert status < 500, (case, status, body[:300])
                if path.startswith("/api/") and status >= 400:
                    error = json.loads(body)["error"]
                    assert error["code"] and error["message"], (case, body)
                if case["auth"] == "FORGED":
                    assert status in (401, 404, 405, 400, 413, 429) or not path.startswith("/api/") or \
                        path.startswith(("/api/kb", "/api/agent/login")), (case, status)
                if n % 80 == 0:
                    await bystander.check(n)
        await bystander.check(-1)
    assert unexpected_errors(server) == 0
    print(f"\nFIGURES http_fuzz statuses: {dict(sorted(statuses.items()))}")


# --------------------------------------------------------------------------- access


async def test_no_agent_action_without_a_valid_token(server, fake_rasa):
    """Every agent endpoint refuses missing, forged, 'none'-algorithm, tampered and other-
    secret tokens; a visitor socket cannot reach agent events at all."""
    secret = server.bridge.settings.secret
    good, _ = issue_token("alice", secret, 600)
    header, payload, signature = good.split(".")
    bad_tokens = [
        None, "", "garbage",
        jwt.encode({"sub": "alice", "jti": "j", "iat": int(time.time()), "exp": int(time.time()) + 600,
                    "iss": ISSUER}, "not-the-secret-" + "k" * 30, algorithm=ALGORITHM),
        jwt.encode({"sub": "alice", "jti": "j", "iat": int(time.time()), "exp": int(time.time()) + 600,
                    "iss": ISSUER}, None, algorithm="none"),
        f"{header}.{payload[:-2]}xx.{signature}",           # tampered claims
        f"{header}.{payload}.",                              # signature stripped
        issue_token("alice", secret, 600)[0].replace(".", "..", 1),
        jwt.encode({"sub": "alice", "jti": "j", "iat": 0, "exp": 1, "iss": ISSUER}, secret, algorithm=ALGORITHM),
    ]
    for token in bad_tokens:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        for method, path in [("GET", "/api/queue"), ("GET", "/api/agents"), ("GET", "/api/flags"),
                             ("GET", "/api/analytics"), ("GET", "/api/conversations/abc"),
                             ("POST", "/api/agent/logout")]:
            status, body = await server.http(method, path, headers=headers)
            assert status == 401 and body["error"]["code"] == "unauthorized", (token, path, status, body)
    # agent events sent on the visitor namespace do nothing
    visitor = Visitor(server.url)
    try:
        sid = await visitor.start()
        await escalate(visitor, fake_rasa)
        for event in AGENT_EVENTS:
            try:
                await visitor.call(event, {"conversation_id": sid, "text": "x", "status": "online"}, timeout=1)
            except Exception:  # noqa: BLE001 - unknown event: no ack
                pass
        conversation = await server.bridge.store.get_conversation(sid)
        assert conversation.state == "queued" and conversation.agent_id is None
    finally:
        await visitor.close()


async def test_a_visitor_cannot_reach_another_visitors_conversation(server, fake_rasa):
    """Session ids are 192-bit random values the bridge issues: asking for an id it did not
    issue (guessed, made up, a message id) gives a NEW session; naming another session
    on a bound socket is refused; replaying another conversation's client_id or message id
    does not touch it."""
    alice_tab, mallory = Visitor(server.url), Visitor(server.url)
    try:
        victim = await alice_tab.start()
        await alice_tab.say("my card number is private", client_id="c-victim")
        await alice_tab.bot_text()
        victim_log = await server.bridge.store.messages(victim)
        assert len(victim) >= 32 and len(set(victim)) > 10
        message_id = victim_log[0].id
        await mallory.connect()
        guesses = [victim[:-1] + ("A" if victim[-1] != "A" else "B"), victim.upper(), victim + " ", message_id,
                   "1", "0" * 32, "../" + victim, victim[:16], "s:" + victim, f"{victim}\x00"]
        for guess in guesses:
            ack = await mallory.call("session_request", {"session_id": guess})
            assert ack["ok"] and ack["session_id"] not in (victim, guess) and ack["new"] is True, (guess, ack)
        mallory.session_id = ack["session_id"]
        history = [e for e, d in mallory.rec.events if e == "history"]
        assert history == []
        # naming the victim's session on mallory's bound socket is refused, for every event
        for event, extra in [("user_uttered", {"message": "hi"}), ("typing", {"on": True}),
                             ("leave_email", {"email": "m@evil.example"}), ("rate", {"score": 1})]:
            ack = await mallory.call(event, {"session_id": victim, **extra})
            assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (event, ack)
        # replayed client_id: mallory's own new message, not the victim's
        ack = await mallory.say("hello", client_id="c-victim")
        assert ack["ok"] and ack["duplicate"] is False and ack["id"] != victim_log[0].id
        assert await server.bridge.store.messages(victim) == victim_log
        assert not [d for e, d in mallory.rec.events if isinstance(d, dict) and "private" in json.dumps(d)]
    finally:
        await alice_tab.close()
        await mallory.close()


# --------------------------------------------------------------------------- flooding


async def test_flood_is_limited_while_others_are_answered(make_settings, fake_rasa):
    """One IP floods from several sessions; per-session and per-IP limits hold, the flood
    does not reach Rasa, and visitors from other IPs keep getting answers quickly."""
    settings = make_settings(trust_proxy=True, rate_window_s=10.0, rate_session_messages=20,
                             rate_ip_messages=60, rate_ip_sessions=20)
    async with serve(settings) as server:
        attackers = [Visitor(server.url) for _ in range(5)]
        honest = [Visitor(server.url) for _ in range(4)]
        try:
            for v in attackers:
                await v.connect(headers={"X-Forwarded-For": "203.0.113.66"})
                await v.start()
            for i, v in enumerate(honest):
                await v.connect(headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})
                await v.start()
            rasa_calls_before = len(fake_rasa.calls)
            accepted = {id(v): 0 for v in attackers}
            codes: dict[str, int] = {}

            async def flood(v: Visitor) -> None:
                for k in range(150):
                    ack = await v.call("user_uttered", {"message": f"spam {k}", "session_id": v.session_id},
                                       timeout=10)
                    if ack["ok"]:
                        accepted[id(v)] += 1
                    else:
                        codes[ack["error"]["code"]] = codes.get(ack["error"]["code"], 0) + 1

            latencies: list[float] = []

            async def chat(v: Visitor) -> None:
                for k in range(8):
                    t0 = time.monotonic()
                    ack = await v.say(f"honest {k}")
                    assert ack["ok"], ack
                    await v.bot_text(lambda m, k=k: m.get("text") == f"echo: honest {k}", timeout=5)
                    latencies.append(time.monotonic() - t0)
                    await asyncio.sleep(0.2)

            started = time.monotonic()
            await asyncio.gather(*(flood(v) for v in attackers), *(chat(v) for v in honest))
            elapsed = time.monotonic() - started
            windows = int(elapsed // settings.rate_window_s) + 2   # fixed windows the run touched
            total = sum(accepted.values())
            assert total <= settings.rate_ip_messages * windows, (total, elapsed)
            assert max(accepted.values()) <= settings.rate_session_messages * windows
            assert codes.get("rate_limited", 0) >= 5 * 150 - total and set(codes) == {"rate_limited"}
            spam_to_rasa = [c for c in fake_rasa.calls[rasa_calls_before:]
                            if c[2] and str(c[2].get("message", "")).startswith("spam")]
            assert len(spam_to_rasa) <= total
            latencies.sort()
            assert latencies[-1] < 2.0, latencies
            # new sessions per IP are limited too
            refused = 0
            for _ in range(settings.rate_ip_sessions + 5):
                extra = Visitor(server.url)
                await extra.connect(headers={"X-Forwarded-For": "203.0.113.66"})
                ack = await extra.call("session_request", {})
                refused += not ack["ok"] and ack["error"]["code"] == "rate_limited"
                await extra.close()
            assert refused >= 5
            print(f"\nFIGURES flood: attacker_accepted={total}/{5 * 150} in {elapsed:.1f}s, "
                  f"honest_p50_ms={latencies[len(latencies) // 2] * 1000:.0f} max_ms={latencies[-1] * 1000:.0f}")
        finally:
            for v in (*attackers, *honest):
                await v.close()
