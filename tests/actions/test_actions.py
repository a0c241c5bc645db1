"""Unit tests of the custom actions: exact events and messages for given trackers."""
from __future__ import annotations

import asyncio

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet

from actions.actions import (ActionAnswerFaq, ActionClarify, ActionEscalate, ActionOrderStatus,
                             ActionProductInfo, ValidateOrderStatusForm)
from tests.actions.conftest import make_tracker, user_event

DOMAIN: dict = {}


def run(action, dispatcher, tracker):
    return asyncio.run(action.run(dispatcher, tracker, DOMAIN))


def texts(dispatcher) -> list[str]:
    return [m.get("text") for m in dispatcher.messages if m.get("text")]


# -- knowledge-base answers -----------------------------------------------------

def test_faq_answer_comes_from_the_intent_article_and_is_recorded(dispatcher):
    tracker = make_tracker(user_event("what's your return policy?", "returns_policy"))
    events = run(ActionAnswerFaq(), dispatcher, tracker)
    assert events == [SlotSet("kb_articles_shown", ["returns-policy"])]
    [text] = texts(dispatcher)
    assert "30 days" in text and 'help article "Returns and refund policy"' in text


def test_faq_appends_to_articles_already_shown_without_duplicates(dispatcher):
    tracker = make_tracker(user_event("and how do I pay", "payment_methods"),
                           slots={"kb_articles_shown": ["returns-policy", "payment-methods"]})
    events = run(ActionAnswerFaq(), dispatcher, tracker)
    assert events == [SlotSet("kb_articles_shown", ["returns-policy", "payment-methods"])]


def test_faq_without_intent_article_searches_the_text(dispatcher):
    tracker = make_tracker(user_event("do you take klarna", "chitchat"))
    events = run(ActionAnswerFaq(), dispatcher, tracker)
    assert events == [SlotSet("kb_articles_shown", ["payment-methods"])]


def test_faq_with_nothing_to_say_asks_to_rephrase(dispatcher):
    tracker = make_tracker(user_event("zzz qqq", "chitchat"))
    assert run(ActionAnswerFaq(), dispatcher, tracker) == []
    assert dispatcher.messages[0]["response"] == "utter_default"


# -- products -------------------------------------------------------------------

def test_stock_question_resolves_a_synonym_entity(dispatcher):
    tracker = make_tracker(user_event(
        "is the rain jacket in stock", "product_availability",
        entities=[{"entity": "product", "value": "trail jacket", "start": 7, "end": 18}]))
    events = run(ActionProductInfo(), dispatcher, tracker)
    assert events == [SlotSet("product", "Trail Jacket")]
    [text] = texts(dispatcher)
    assert text.startswith("Yes, the Trail Jacket is in stock, at $129.00.")
    assert "item trail-jacket" in text


def test_sold_out_product_says_when_it_is_back(dispatcher):
    tracker = make_tracker(user_event("any camping kettle left?", "product_availability"))
    events = run(ActionProductInfo(), dispatcher, tracker)
    assert events == [SlotSet("product", "Camp Kettle")]
    [text] = texts(dispatcher)
    assert "Camp Kettle ($34.50) is sold out" in text and "about 10 days" in text


def test_warranty_question_names_the_product_and_the_article(dispatcher):
    tracker = make_tracker(user_event("what's the warranty on the kettle", "warranty"))
    events = run(ActionProductInfo(), dispatcher, tracker)
    assert events == [SlotSet("product", "Camp Kettle"), SlotSet("kb_articles_shown", ["warranty"])]
    [text] = texts(dispatcher)
    assert "The Camp Kettle comes with a 2-year warranty against manufacturing defects" in text
    assert 'help article "Warranty and repairs"' in text


def test_product_slot_answers_a_follow_up_without_a_name(dispatcher):
    tracker = make_tracker(user_event("is it in stock?", "product_availability"),
                           slots={"product": "Daypack"})
    run(ActionProductInfo(), dispatcher, tracker)
    assert "only 3 left" in texts(dispatcher)[0]


def test_unknown_product_falls_back_to_the_article_and_asks_which(dispatcher):
    tracker = make_tracker(user_event("do you have the canoe in stock", "product_availability",
                                      entities=[{"entity": "product", "value": "canoe"}]))
    events = run(ActionProductInfo(), dispatcher, tracker)
    assert events == [SlotSet("kb_articles_shown", ["stock-and-restocks"])]
    assert texts(dispatcher)[1].startswith("Which product do you mean? We have: Trail Jacket,")


# -- orders ---------------------------------------------------------------------

def test_known_order_is_described(dispatcher):
    tracker = make_tracker(user_event("10023", "inform"), slots={"order_number": "10023"})
    assert run(ActionOrderStatus(), dispatcher, tracker) == [SlotSet("order_number", "10023")]
    assert texts(dispatcher) == ["Order #10023 (2-Person Tent) has shipped with UPS and should "
                                 "arrive by 2026-11-23. Tracking number: 1Z999AA10123456784."]


def test_unknown_order_is_said_clearly_and_the_slot_cleared(dispatcher):
    tracker = make_tracker(user_event("99999", "inform"), slots={"order_number": "99999"})
    assert run(ActionOrderStatus(), dispatcher, tracker) == [SlotSet("order_number", None)]
    assert texts(dispatcher)[0].startswith("I couldn't find an order #99999.")


def test_malformed_order_number_in_the_slot_is_rejected(dispatcher):
    tracker = make_tracker(user_event("12-ab", "inform"), slots={"order_number": "12-ab"})
    assert run(ActionOrderStatus(), dispatcher, tracker) == [SlotSet("order_number", None)]
    assert dispatcher.messages[0]["response"] == "utter_order_number_malformed"


def test_order_status_without_number_asks_for_it(dispatcher):
    tracker = make_tracker(user_event("where is my order", "order_status"))
    assert run(ActionOrderStatus(), dispatcher, tracker) == []
    assert dispatcher.messages[0]["response"] == "utter_ask_order_number"


@pytest.mark.parametrize("given, expected", [("10023", "10023"), ("#10024", "10024"),
                                             ("order 10021", "10021")])
def test_form_accepts_order_numbers(dispatcher, given, expected):
    result = ValidateOrderStatusForm().validate_order_number(given, dispatcher, None, DOMAIN)
    assert result == {"order_number": expected}
    assert dispatcher.messages == []


@pytest.mark.parametrize("given", ["123", "1002345", "AB-10023x", "12ab"])
def test_form_rejects_malformed_order_numbers(dispatcher, given):
    result = ValidateOrderStatusForm().validate_order_number(given, dispatcher, None, DOMAIN)
    assert result == {"order_number": None}
    assert dispatcher.messages[0]["response"] == "utter_order_number_malformed"


def test_form_extracts_a_malformed_attempt_so_it_can_be_rejected(dispatcher):
    tracker = make_tracker(user_event("it's 123-45", "inform"),
                           slots={"requested_slot": "order_number"}, active_loop="order_status_form")
    result = asyncio.run(ValidateOrderStatusForm().extract_order_number(dispatcher, tracker, DOMAIN))
    assert result == {"order_number": "123-45"}


# -- fallback -------------------------------------------------------------------

def test_clarify_offers_the_best_guesses_and_a_person(dispatcher):
    ranking = [{"name": "nlu_fallback", "confidence": 0.2},
               {"name": "refund_status", "confidence": 0.18},
               {"name": "greet", "confidence": 0.1},
               {"name": "returns_policy", "confidence": 0.09}]
    tracker = make_tracker(user_event("money thing back??", "nlu_fallback", 0.2, ranking=ranking),
                           slots={"failed_turns": 0.0})
    events = run(ActionClarify(), dispatcher, tracker)
    assert events[0] == SlotSet("failed_turns", 1.0)
    [message, fallback] = dispatcher.messages
    assert message["buttons"] == [
        {"title": "The status of a refund", "payload": "/refund_status"},
        {"title": "Returns and refunds", "payload": "/returns_policy"},
        {"title": "Talk to a person", "payload": "/request_human"}]
    assert fallback["custom"] == {"fallback": {"intent": "refund_status", "confidence": 0.18}}
    assert not fallback.get("text") and not fallback.get("buttons")


def test_clarify_reports_the_best_guess_even_if_it_is_never_suggested(dispatcher):
    # the payload names what the classifier thought, also small talk the buttons leave out
    ranking = [{"name": "nlu_fallback", "confidence": 0.3},
               {"name": "greet", "confidence": 0.22},
               {"name": "shipping_options", "confidence": 0.2}]
    tracker = make_tracker(user_event("hiya shipping??", "nlu_fallback", 0.3, ranking=ranking))
    run(ActionClarify(), dispatcher, tracker)
    assert dispatcher.messages[0]["buttons"][0]["payload"] == "/shipping_options"
    assert dispatcher.messages[-1]["custom"] == {"fallback": {"intent": "greet", "confidence": 0.22}}


def test_clarify_without_any_guess_reports_none(dispatcher):
    tracker = make_tracker(user_event("zzz", "nlu_fallback", 0.3,
                                      ranking=[{"name": "nlu_fallback", "confidence": 0.3}]))
    run(ActionClarify(), dispatcher, tracker)
    assert dispatcher.messages[-1]["custom"] == {"fallback": {"intent": None, "confidence": None}}


# -- escalation -----------------------------------------------------------------

def escalate(dispatcher, tracker):
    events = run(ActionEscalate(), dispatcher, tracker)
    handoff = [m["custom"]["handoff"] for m in dispatcher.messages if m.get("custom")]
    return events, handoff


def test_escalation_on_request_sends_empathy_then_the_handoff_payload(dispatcher):
    tracker = make_tracker(user_event("where is my order", "order_status"),
                           user_event("I want to talk to a human", "request_human", 0.97),
                           slots={"order_number": "10023",
                                  "kb_articles_shown": ["shipping-options", "refund-status"]},
                           bot_messages=0)
    events, [handoff] = escalate(dispatcher, tracker)
    assert dispatcher.messages[0]["response"] == "utter_escalate_human_requested"
    assert dispatcher.messages[0]["team_name"] == "orders"
    assert dispatcher.messages[-1] == {**dispatcher.messages[-1], "custom": {"handoff": handoff}}
    assert handoff == {
        "reason": "human_requested", "topic": "orders",
        "detail": "intent request_human (0.97)",
        "summary": "Visitor asked for a person about where my order is (order #10023); "
                   "after 1 bot answers, articles shown: shipping-options, refund-status",
        "intent": "request_human", "articles": ["shipping-options", "refund-status"]}
    assert events == [SlotSet("escalation_reason", "human_requested"),
                      SlotSet("escalation_topic", "orders"),
                      SlotSet("escalation_detail", "intent request_human (0.97)"),
                      SlotSet("handoff_summary", handoff["summary"])]


def test_escalation_for_frustration_inside_a_form_ends_the_form(dispatcher):
    tracker = make_tracker(user_event("where is my order", "order_status"),
                           user_event("THIS IS RIDICULOUS, WHERE IS IT", "order_status"),
                           active_loop="order_status_form",
                           slots={"requested_slot": "order_number"})
    events, [handoff] = escalate(dispatcher, tracker)
    assert handoff["reason"] == "frustration" and handoff["topic"] == "orders"
    assert "shouting" in handoff["detail"]
    assert (handoff["intent"], handoff["articles"]) == ("order_status", [])
    assert dispatcher.messages[0]["response"] == "utter_escalate_frustration"
    assert events[-2:] == [ActiveLoop(None), SlotSet("requested_slot", None)]


def test_escalation_for_a_policy_topic_uses_the_topic_team(dispatcher):
    tracker = make_tracker(user_event("I will file a chargeback with my bank", "payment_failed"))
    events, [handoff] = escalate(dispatcher, tracker)
    assert (handoff["reason"], handoff["topic"], handoff["detail"]) == (
        "policy_topic", "billing", "policy topic chargeback")
    assert events[0] == SlotSet("escalation_reason", "policy_topic")


def test_escalation_after_two_fallbacks_is_a_bot_failure(dispatcher):
    tracker = make_tracker(user_event("blorp the frobnicator", "nlu_fallback", 0.1),
                           user_event("frobnicate it now", "nlu_fallback", 0.12))
    events, [handoff] = escalate(dispatcher, tracker)
    assert handoff["reason"] == "bot_failure"
    assert handoff["intent"] == "nlu_fallback"
    assert handoff["detail"] == "2 fallbacks in a row"
    assert "2 not understood" in handoff["summary"]


def test_escalation_by_button_without_any_signal_still_records_a_reason(dispatcher):
    tracker = make_tracker(user_event("/request_human", "request_human", 0.3))
    events, [handoff] = escalate(dispatcher, tracker)
    assert handoff["reason"] == "human_requested"
    assert handoff["detail"] == "intent request_human"
