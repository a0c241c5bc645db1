"""The escalation detector alone: routine and mildly negative messages stay with
the bot; requests for people, frustration, policy topics and bot failures escalate."""
from __future__ import annotations

import pytest

from bot.escalation import EscalationDetector, Turn, conversation_from_events


@pytest.fixture(scope="module")
def detector() -> EscalationDetector:
    return EscalationDetector.from_file()


def one(text: str, intent: str = "order_status", confidence: float = 0.9) -> list[Turn]:
    return [Turn(text, intent, confidence)]


@pytest.mark.parametrize("text", [
    "my package is a bit late, where is it?",
    "I'm a bit annoyed that it's late",
    "I'm not happy with the quality of the kettle",
    "where is my order?",
    "WHERE IS MY ORDER",                  # shouting alone is one point, not enough
    "are you a human?",                   # a question about the bot, not a request
    "I need a 2-person tent",
    "is the trail jacket in stock",
    "thanks, that was helpful",
    "how do I reset my password",
    "my order hasn't arrived yet, can you check?",
])
def test_routine_and_mildly_negative_messages_stay_with_the_bot(detector, text):
    assert detector.assess(one(text)) is None


@pytest.mark.parametrize("text", [
    "I want to talk to a human",
    "can I speak with someone from your team?",
    "real person please",
    "connect me to an agent",
    "get me a representative now",
    "I need a person to look at this",
])
def test_requests_for_a_person_escalate_by_wording(detector, text):
    decision = detector.assess(one(text, intent="complaint", confidence=0.4))
    assert decision is not None and decision.reason == "human_requested"


def test_request_human_intent_escalates_whatever_the_wording(detector):
    decision = detector.assess(one("operator", intent="request_human", confidence=0.8))
    assert decision.reason == "human_requested"
    assert decision.detail == "intent request_human (0.80)"


def test_low_confidence_request_intent_alone_does_not(detector):
    assert detector.assess(one("hmm ok", intent="request_human", confidence=0.3)) is None


@pytest.mark.parametrize("text, why", [
    ("you are useless", "insult"),
    ("This is terrible, I'm really disappointed", "strongly negative"),
    ("WHERE IS MY ORDER!!!", "shouting"),
    ("this is ridiculous, third time I ask and nothing", "complaint wording"),
    ("what a pathetic excuse for a shop", "insult"),
])
def test_frustration_escalates_on_one_message(detector, text, why):
    decision = detector.assess(one(text))
    assert decision is not None and decision.reason == "frustration"
    assert why in decision.detail
    assert decision.topic == "orders"


def test_repeated_complaints_escalate_although_each_is_mild(detector):
    turns = [Turn("I'm a bit annoyed my order is late", "order_status", 0.9),
             Turn("still waiting, no news", "order_status", 0.9)]
    assert detector.assess(turns[:1]) is None
    turns.append(Turn("my order is late again, this is so annoying", "complaint", 0.9))
    decision = detector.assess(turns)
    assert decision is not None and decision.reason == "frustration"
    assert "upset messages" in decision.detail


@pytest.mark.parametrize("text, topic, team", [
    ("I'm going to sue you", "legal_threat", "general"),
    ("my lawyer will hear about this", "legal_threat", "general"),
    ("I'll file a chargeback", "chargeback", "billing"),
    ("I'll ask my bank to reverse the payment", "chargeback", "billing"),
    ("my account was hacked", "account_takeover", "account"),
    ("someone logged into my account and placed orders", "account_takeover", "account"),
    ("was there a data breach? I got a phishing email", "data_breach", "technical"),
])
def test_policy_topics_escalate_with_their_team(detector, text, topic, team):
    decision = detector.assess(one(text, intent="complaint"))
    assert (decision.reason, decision.topic, decision.detail) == (
        "policy_topic", team, f"policy topic {topic}")


def test_policy_topic_wins_over_a_request_for_a_person(detector):
    decision = detector.assess(one("get me a human, my lawyer is waiting", "request_human"))
    assert decision.reason == "policy_topic"


def test_one_fallback_is_clarified_two_in_a_row_escalate(detector):
    first = [Turn("blorp", "nlu_fallback", 0.1)]
    assert detector.assess(first) is None
    decision = detector.assess(first + [Turn("frob", "nlu_fallback", 0.1)])
    assert decision.reason == "bot_failure" and decision.detail == "2 fallbacks in a row"


def test_a_fallback_after_an_understood_turn_is_not_a_failure_yet(detector):
    turns = [Turn("blorp", "nlu_fallback", 0.1), Turn("refund status", "refund_status", 0.9),
             Turn("frob", "nlu_fallback", 0.1)]
    assert detector.assess(turns) is None


def test_the_same_question_three_times_is_a_rephrase_loop(detector):
    turns = [Turn("where's my refund", "refund_status", 0.9),
             Turn("my refund, where is it", "refund_status", 0.9)]
    assert detector.assess(turns) is None
    decision = detector.assess(turns + [Turn("refund??", "refund_status", 0.9)])
    assert decision.reason == "bot_failure" and decision.topic == "billing"
    assert "3 times in a row" in decision.detail


def test_the_same_question_about_different_orders_is_not_a_loop(detector):
    turns = [Turn(f"where is order {n}", "order_status", 0.9, (("order_number", n),))
             for n in ("10021", "10022", "10023")]
    assert detector.assess(turns) is None


def test_repeated_small_talk_is_not_a_loop(detector):
    assert detector.assess([Turn("hi", "greet", 0.9)] * 3) is None


def test_events_after_a_handover_start_a_clean_slate():
    events = [
        {"event": "user", "text": "you are useless", "parse_data": {"intent": {"name": "complaint", "confidence": 0.9}}},
        {"event": "action", "name": "action_escalate"},
        {"event": "bot", "text": "sorry"},
        {"event": "resume"},
        {"event": "user", "text": "thanks for fixing it", "parse_data": {"intent": {"name": "thanks", "confidence": 0.9}}},
    ]
    conversation = conversation_from_events(events)
    assert [t.text for t in conversation.turns] == ["thanks for fixing it"]
    assert conversation.bot_messages == 0


def test_summary_says_why_what_and_how_far(detector):
    conversation = conversation_from_events([
        {"event": "user", "text": "where is my order", "parse_data": {"intent": {"name": "order_status", "confidence": 0.9}}},
        {"event": "bot", "text": "Order #10023 has shipped"},
        {"event": "bot", "text": "Anything else?"},
        {"event": "user", "text": "you are useless", "parse_data": {"intent": {"name": "complaint", "confidence": 0.9}}},
    ])
    decision = detector.assess(conversation)
    summary = detector.summary(decision, conversation, {"order_number": "10023",
                                                        "kb_articles_shown": ["shipping-options"]})
    assert summary == ("Visitor is upset about a complaint (order #10023); after 2 bot answers, "
                       "articles shown: shipping-options")


def test_thresholds_come_from_configuration():
    strict = EscalationDetector({"frustration": {"negative": -0.3, "strong_negative": -0.3,
                                                 "escalate_at": 2}})
    assert strict.assess(one("I'm a bit annoyed that it's late")).reason == "frustration"
    lenient = EscalationDetector({"frustration": {"strong_negative": -0.99, "escalate_at": 5,
                                                  "window_escalate_at": 99}})
    assert lenient.assess(one("This is terrible, I'm really disappointed")) is None
