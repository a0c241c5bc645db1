"""Pure parts of the bridge: PII masking, Rasa shapes, the handoff packet, queue policy,
business hours, settings, the app's secret rule, the bot's reports and the analytics."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from handoff import bot_reports, queueing
from handoff.app import create_app
from handoff.hours import BusinessHours
from handoff.packet import build_packet, transcript_from_tracker
from handoff.pii import mask_text
from handoff.settings import Settings
from handoff.shapes import fallback_signal, handoff_signal, rest_to_parts, to_wire
from handoff.store.base import AgentStatus, Conversation, Message
from tests.support.processes import PROJECT_ROOT, free_port, stop, wait_for_port


# ---------------------------------------------------------------- PII

@pytest.mark.parametrize("text, expected", [
    ("mail jane.doe@example.com now", "mail j***@example.com now"),
    ("card 4111 1111 1111 1111", "card **** **** **** 1111"),
    ("card 4111-1111-1111-1111.", "card **** **** **** 1111."),
    ("call me on +1 (555) 123-4567", "call me on ***-***-67"),
    ("order 10023 please", "order 10023 please"),
    ("on 2024-01-05 it broke", "on 2024-01-05 it broke"),
    ("1234 5678 9012 3456", "**** **** **** 3456"),   # fails Luhn: a mistyped card is still masked
])
def test_mask_text(text, expected):
    assert mask_text(text) == expected


@given(st.text(max_size=200))
@hsettings(max_examples=200, deadline=None)
def test_mask_never_crashes_and_hides_emails(text):
    masked = mask_text(text + " someone.private@example.org")
    assert "someone.private@" not in masked


# ---------------------------------------------------------------- shapes

def test_rest_to_parts_shapes():
    assert rest_to_parts({"text": "hi"}) == [("hi", {})]
    assert rest_to_parts({"text": "a\n\nb", "buttons": [{"title": "T", "payload": "/p"}]}) == [
        ("a", {}), ("b", {"quick_replies": [{"content_type": "text", "title": "T", "payload": "/p"}]})]
    assert rest_to_parts({"image": "http://i"}) == [(None, {"attachment": {"type": "image", "payload": {"src": "http://i"}}})]
    assert rest_to_parts({"attachment": {"type": "video"}}) == [(None, {"attachment": {"type": "video"}})]
    assert rest_to_parts({"custom": {"a": 1}}) == [(None, {"custom": {"a": 1}})]


def test_handoff_signal():
    assert handoff_signal({"custom": {"handoff": {"reason": "frustration"}}}) == {"reason": "frustration"}
    assert handoff_signal({"custom": {"other": 1}}) is None
    assert handoff_signal({"text": "x"}) is None


def test_fallback_signal():
    assert fallback_signal({"custom": {"fallback": {"intent": "greet", "confidence": 0.4}}}) == \
        {"intent": "greet", "confidence": 0.4}
    assert fallback_signal({"custom": {"fallback": "greet"}}) is None
    assert fallback_signal({"custom": {"handoff": {}}}) is None
    assert fallback_signal({"text": "x"}) is None


# ---------------------------------------------------------------- the bot's reports

@pytest.mark.parametrize("value, expected", [
    ("order_status", "order_status"), ("  greet ", "greet"), ("<b>x</b>", "<b>x</b>"),
    ("", None), ("   ", None), ("x" * 101, None), ("a\nb", None), ("a\x00b", None),
    (12, None), (None, None), (["greet"], None), ({"name": "greet"}, None),
])
def test_reported_names_are_strings_only_and_capped(value, expected):
    assert bot_reports.clean_name(value) == expected


@pytest.mark.parametrize("value, expected", [
    (0.71234567, 0.7123), (1, 1.0), (0, 0.0), (-0.1, None), (1.5, None), (float("nan"), None),
    (float("inf"), None), (True, None), ("0.5", None), (None, None),
])
def test_reported_confidences_are_numbers_in_0_1(value, expected):
    assert bot_reports.clean_confidence(value) == expected


def test_reported_articles_are_distinct_strings_and_capped():
    assert bot_reports.clean_articles(["a", 1, "", "a", "b", None, "x" * 500]) == ["a", "b"]
    assert bot_reports.clean_articles("returns-policy") == []
    assert bot_reports.clean_articles({"a": 1}) == []
    many = [f"article-{i}" for i in range(bot_reports.MAX_ARTICLES + 10)]
    assert bot_reports.clean_articles(many) == many[:bot_reports.MAX_ARTICLES]


def test_reports_keep_the_other_meta_keys():
    meta = {"ticket_id": "T-1", "fallbacks": [{"message_id": "m0", "intent": "greet"}, "junk"]}
    entry = bot_reports.fallback_entry({"intent": "refund_status", "confidence": 0.2}, "m1", 5.0)
    assert entry == {"message_id": "m1", "intent": "refund_status", "confidence": 0.2, "ts": 5.0}
    updated = bot_reports.with_fallbacks(meta, [entry])
    assert updated["ticket_id"] == "T-1"
    assert updated["fallbacks"] == [{"message_id": "m0", "intent": "greet"}, entry]
    assert meta["fallbacks"][1] == "junk"  # a new dict; the one read is left alone
    escalated = bot_reports.with_escalation(updated, {"reason": "frustration", "intent": 7, "articles": "x"})
    assert (escalated["ticket_id"], escalated["escalation_intent"], escalated["articles_shown"]) == ("T-1", None, [])
    assert escalated["fallbacks"] == updated["fallbacks"]


def test_to_wire_keeps_rasa_shape_and_our_fields():
    m = Message(id="m1", conversation_id="c", ts=1.0, sender="agent", text="hi", agent_name="Alice",
                client_id="agent:x")
    assert to_wire(m) == {"text": "hi", "id": "m1", "ts": 1.0, "sender": "agent", "agent_name": "Alice"}
    v = Message(id="m2", conversation_id="c", ts=2.0, sender="visitor", text="yo", client_id="k")
    assert to_wire(v)["client_id"] == "k"


# ---------------------------------------------------------------- packet

TRACKER = {
    "slots": {"order_number": "10023", "email": "jane@example.com", "kb_articles_shown": ["returns-policy"],
              "requested_slot": None, "escalation_reason": "bot_failure", "handoff_summary": "two fallbacks"},
    "events": [
        {"event": "action", "name": "action_session_start"},
        {"event": "user", "text": "where is 10023", "timestamp": 1.0, "metadata": {"message_id": "m1",
         "page_url": "https://shop/p"}, "parse_data": {"intent": {"name": "order_status", "confidence": 0.91}}},
        {"event": "bot", "text": "It ships tomorrow", "timestamp": 2.0},
        {"event": "user", "text": "blorp", "timestamp": 3.0, "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.3}}},
        {"event": "user", "text": "hmm qq", "timestamp": 4.0, "parse_data": {"intent": {"name": "chitchat", "confidence": 0.4}}},
        {"event": "action", "name": "action_default_fallback"},
        {"event": "bot", "text": "I'm Alice", "timestamp": 5.0, "metadata": {"agent_id": "alice", "agent_name": "Alice"}},
    ]}


def test_transcript_marks_failed_turns():
    transcript = transcript_from_tracker(TRACKER)
    assert [t["sender"] for t in transcript] == ["visitor", "bot", "visitor", "visitor", "agent"]
    assert transcript[0]["id"] == "m1" and transcript[0]["intent"] == "order_status"
    assert [t.get("failed", False) for t in transcript if t["sender"] == "visitor"] == [False, True, True]


def test_packet_masks_and_collects():
    conversation = Conversation(id="c1", state="queued", visitor_id="v", reason="bot_failure", topic="orders",
                                summary="Mail me at jane@example.com")
    earlier = [Conversation(id="c0", state="closed", created_at=5.0, summary="call +1 555 123 4567"),
               conversation]
    packet = build_packet(conversation, tracker=TRACKER, log=[], earlier=earlier, mask_pii=True)
    assert packet["reason"] == "bot_failure" and packet["topic"] == "orders"
    assert packet["summary"] == "Mail me at j***@example.com"
    assert packet["slots"] == {"order_number": "10023", "email": "j***@example.com"}
    assert packet["articles_shown"] == ["returns-policy"] and packet["failed_turns"] == 2
    assert packet["page_url"] == "https://shop/p"
    assert {"name": "order_status", "confidence": 0.91} in packet["intents"]
    assert [e["conversation_id"] for e in packet["earlier_conversations"]] == ["c0"]
    assert "555" not in packet["earlier_conversations"][0]["summary"]
    unmasked = build_packet(conversation, tracker=TRACKER, log=[], earlier=[], mask_pii=False)
    assert unmasked["slots"]["email"] == "jane@example.com"


def test_packet_from_log_when_rasa_is_down():
    log = [Message(id="a", conversation_id="c", ts=1, sender="visitor", text="hello"),
           Message(id="b", conversation_id="c", ts=2, sender="note", text="secret note")]
    packet = build_packet(Conversation(id="c", reason="bot_unavailable"), tracker=None, log=log,
                          earlier=[], mask_pii=True)
    assert [t["text"] for t in packet["transcript"]] == ["hello"]


# ---------------------------------------------------------------- queue policy

def test_serving_order_priority_then_fifo_with_aging():
    now = 1000.0
    a = Conversation(id="a", priority=20, queued_at=990)
    b = Conversation(id="b", priority=30, queued_at=995)
    c = Conversation(id="c", priority=20, queued_at=980)
    old = Conversation(id="old", priority=10, queued_at=now - 3 * 120)
    order = queueing.serving_order([a, b, c, old], now, aging_s=120)
    assert [x.id for x in order] == ["b", "c", "a", "old"]
    much_older = Conversation(id="older", priority=10, queued_at=now - 25 * 120)
    assert queueing.serving_order([b, much_older], now, 120)[0].id == "older"


def test_expected_wait():
    assert queueing.expected_wait(2, [], 1000, 120) == 240
    pickups = [(400.0, 10.0), (700.0, 20.0), (1000.0, 30.0)]
    assert queueing.expected_wait(1, pickups, 1000, 120) == 200     # 600 s span / 3 pick-ups
    assert queueing.expected_wait(0, pickups, 1000, 120) == 0


def test_choose_agent_skill_capacity_load():
    now = 100.0
    conv = Conversation(id="c", topic="billing", queued_at=99.0)
    s = [AgentStatus("busy", "online", ("billing",), capacity=3, active=2),
         AgentStatus("free", "online", ("billing",), capacity=3, active=0),
         AgentStatus("tech", "online", ("technical",), capacity=3, active=0),
         AgentStatus("away", "away", ("billing",), capacity=3, active=0),
         AgentStatus("full", "online", ("billing",), capacity=1, active=1)]
    assert queueing.choose_agent(conv, s, now, 120) == "free"
    assert queueing.choose_agent(conv, s, now, 120, avoid=["free"]) == "busy"
    assert queueing.choose_agent(conv, s[2:3], now, 120) is None
    assert queueing.choose_agent(conv, s[2:3], now + 500, 120) == "tech"        # skill fallback
    assert queueing.choose_agent(Conversation(id="g", topic="general", queued_at=now), s[2:3], now, 120) == "tech"


def test_normalize():
    assert queueing.normalize_topic("BILLING") == "billing"
    assert queueing.normalize_topic("weird") == "general"
    assert queueing.normalize_reason("nope") == "human_requested"


# ---------------------------------------------------------------- business hours

def test_business_hours():
    hours = BusinessHours("mon-fri 09:00-17:00; sat 10:00-12:00", "Europe/Berlin")
    at = lambda *a: dt.datetime(*a, tzinfo=hours.tz).timestamp()   # noqa: E731
    assert hours.is_open(at(2024, 1, 8, 9, 0))          # Monday
    assert not hours.is_open(at(2024, 1, 8, 17, 0))
    assert hours.is_open(at(2024, 1, 13, 11, 59))       # Saturday
    assert not hours.is_open(at(2024, 1, 14, 11, 0))    # Sunday
    assert BusinessHours("", "UTC").is_open(0)
    with pytest.raises(ValueError):
        BusinessHours("weekdays 9-5")


# ---------------------------------------------------------------- settings and app

def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("HANDOFF_PORT", "9999")
    monkeypatch.setenv("HANDOFF_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("HANDOFF_MASK_PII", "false")
    monkeypatch.setenv("HANDOFF_RASA_URL", "http://rasa:5005/")
    s = Settings()
    assert s.port == 9999 and s.allowed_origins == ["https://a.example", "https://b.example"]
    assert s.mask_pii is False and s.rasa_url == "http://rasa:5005"
    with pytest.raises(Exception):
        s.port = 1   # frozen


def test_defaults():
    s = Settings(_env_file=None)
    assert (s.host, s.port, s.rasa_url, s.store_url, s.agents_file, s.mask_pii, s.kb_path) == \
        ("127.0.0.1", 8080, "http://127.0.0.1:5005", "", "var/agents.yml", True, "data/kb")


def test_secret_required_in_prod_random_in_dev(caplog):
    with pytest.raises(ValueError):
        create_app(Settings(environment="prod", secret=""))
    app = create_app(Settings(environment="dev", secret=""))
    from handoff.context import BRIDGE
    assert len(app[BRIDGE].settings.secret) >= 32
    assert "HANDOFF_SECRET is empty" in caplog.text


@pytest.mark.parametrize("store_url, says", [("", "store: embedded"), ("redis", "store: Redis")])
def test_python_m_handoff_says_which_store(store_url, says, redis_url, tmp_path):
    port = free_port()
    env = {**os.environ, "HANDOFF_PORT": str(port), "HANDOFF_SECRET": "s" * 40,
           "HANDOFF_AGENTS_FILE": str(tmp_path / "agents.yml"),
           "HANDOFF_STORE_URL": redis_url if store_url == "redis" else "",
           "HANDOFF_RASA_URL": f"http://127.0.0.1:{free_port()}"}
    log = tmp_path / "bridge.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "handoff"], cwd=PROJECT_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, 20, proc)
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        stop(proc)
    assert says in log.read_text()


# ---------------------------------------------------------------- analytics

def test_analytics_numbers():
    from handoff.analytics import analytics
    rows = [
        Conversation(id="bot", state="bot", created_at=10),
        Conversation(id="handed-back", state="bot", created_at=11, reason="frustration",
                     queued_at=20, assigned_at=50, first_agent_reply_at=60),
        Conversation(id="closed", state="closed", created_at=12, reason="human_requested", queued_at=20,
                     assigned_at=30, first_agent_reply_at=31, rating=5, resolution="resolved"),
        Conversation(id="ticket", state="closed", created_at=13, ticket=True, resolution="ticket"),
        Conversation(id="outside", state="bot", created_at=1000),
    ]
    out = analytics(rows, 0, 100)
    assert out["conversations"] == 4 and out["resolved_by_bot"] == 1 and out["resolved_by_bot_share"] == 0.25
    assert out["handoffs_by_reason"] == {"frustration": 1, "human_requested": 1}
    assert out["queue_wait"] == {"count": 2, "median_s": 20.0, "p90_s": 30.0}
    assert out["first_agent_response"]["count"] == 2
    assert out["ratings"]["average"] == 5 and out["tickets"] == 1
    assert out["resolutions"] == {"resolved": 1, "ticket": 1}
    # nothing reported by the bot: the handoffs are of unknown intent, no fallbacks, no articles
    assert out["handoffs_by_intent"] == {"unknown": 2}
    assert (out["fallbacks"], out["fallbacks_by_intent"], out["articles_before_handoff"]) == (0, {}, {})


def test_analytics_by_intent_fallbacks_and_articles():
    from handoff.analytics import analytics

    def fb(intent, mid="m"):
        return {"message_id": mid, "intent": intent, "confidence": 0.2, "ts": 1.0}

    rows = [
        Conversation(id="a", state="queued", created_at=10, reason="bot_failure", meta={
            "fallbacks": [fb("refund_status"), fb("returns_policy")], "escalation_intent": "nlu_fallback",
            "articles_shown": ["refund-status", "returns-policy"]}),
        Conversation(id="b", state="agent", created_at=11, reason="frustration", meta={
            "escalation_intent": "order_status", "articles_shown": ["refund-status"], "ticket_id": "x"}),
        Conversation(id="c", state="bot", created_at=12, meta={
            "fallbacks": [fb("refund_status"), fb(None), "junk", fb(42)],
            # not escalated: articles and intent left from nothing count for nothing
            "escalation_intent": "greet", "articles_shown": ["warranty"]}),
        Conversation(id="d", state="queued", created_at=13, reason="bot_unavailable",
                     meta={"escalation_intent": None, "articles_shown": None, "fallbacks": {"not": "a list"}}),
        Conversation(id="e", state="queued", created_at=14, reason="human_requested",
                     meta={"escalation_intent": "order_status", "articles_shown": ["refund-status"]}),
        Conversation(id="outside", state="queued", created_at=500, reason="frustration",
                     meta={"escalation_intent": "complain", "fallbacks": [fb("complain")],
                           "articles_shown": ["complaints"]}),
    ]
    out = analytics(rows, 0, 100)
    assert out["handoffs"] == 4
    assert out["handoffs_by_intent"] == {"order_status": 2, "nlu_fallback": 1, "unknown": 1}
    assert list(out["handoffs_by_intent"]) == ["order_status", "nlu_fallback", "unknown"]
    assert out["fallbacks"] == 5
    assert out["fallbacks_by_intent"] == {"refund_status": 2, "unknown": 2, "returns_policy": 1}
    assert list(out["fallbacks_by_intent"]) == ["refund_status", "unknown", "returns_policy"]
    assert out["articles_before_handoff"] == {"refund-status": 3, "returns-policy": 1}
    assert sum(out["handoffs_by_intent"].values()) == out["handoffs"]
    assert sum(out["fallbacks_by_intent"].values()) == out["fallbacks"]
