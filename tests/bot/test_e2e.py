"""End to end: the real Rasa server and action server, spoken to over HTTP the way
the bridge does (REST webhook, tracker API, token auth)."""
from __future__ import annotations

import uuid

import pytest

from tests.support.rasa_stack import RasaStack, request

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def stack():
    with RasaStack() as (url, token):
        yield url, token


def say(stack, sender: str, text: str) -> list[dict]:
    url, token = stack
    status, body = request("POST", f"{url}/webhooks/rest/webhook?token={token}",
                           {"sender": sender, "message": text,
                            "metadata": {"page_url": "https://trailhead.example/orders"}})
    assert status == 200, body
    return body


def tracker(stack, sender: str) -> dict:
    url, token = stack
    status, body = request("GET", f"{url}/conversations/{sender}/tracker?token={token}")
    assert status == 200, body
    return body


def test_the_api_refuses_requests_without_the_token(stack):
    url, token = stack
    status, _ = request("GET", f"{url}/conversations/someone/tracker")
    assert status == 401
    status, _ = request("GET", f"{url}/conversations/someone/tracker?token=wrong-{token}")
    assert status == 401
    status, _ = request("GET", f"{url}/status")
    assert status == 401


def test_order_status_form_asks_for_the_number_and_looks_it_up(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    [ask] = say(stack, sender, "where is my order?")
    assert "order number" in ask["text"]
    replies = say(stack, sender, "it's 12-34")
    assert "doesn't look like one of our order numbers" in replies[0]["text"]
    replies = say(stack, sender, "10023")
    assert replies[-1]["text"].startswith("Order #10023 (2-Person Tent) has shipped")
    assert tracker(stack, sender)["slots"]["order_number"] == "10023"


def test_faq_and_product_answers_name_their_source(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    [answer] = say(stack, sender, "how long do I have to return something?")
    assert 'help article "Returns and refund policy"' in answer["text"]
    [answer] = say(stack, sender, "is the rain jacket in stock?")
    assert "Trail Jacket is in stock" in answer["text"] and "item trail-jacket" in answer["text"]
    slots = tracker(stack, sender)["slots"]
    assert slots["kb_articles_shown"] == ["returns-policy"]
    assert slots["product"] == "Trail Jacket"


def test_frustration_escalates_with_empathy_then_the_handoff_payload(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    say(stack, sender, "what's the status of order 10024?")
    replies = say(stack, sender, "This is ridiculous, you are useless!!")
    assert [("text" in r, "custom" in r) for r in replies] == [(True, False), (False, True)]
    assert "sorry" in replies[0]["text"].lower()
    handoff = replies[-1]["custom"]["handoff"]
    assert set(handoff) == {"reason", "topic", "detail", "summary", "intent", "articles"}
    assert handoff["reason"] == "frustration"
    assert isinstance(handoff["intent"], str) and handoff["intent"]
    assert handoff["intent"] == tracker(stack, sender)["latest_message"]["intent"]["name"]
    assert handoff["articles"] == []
    assert handoff["topic"] == "orders"
    assert "insult" in handoff["detail"]
    assert "(order #10024)" in handoff["summary"]

    state = tracker(stack, sender)
    slots = state["slots"]
    assert slots["escalation_reason"] == "frustration"
    assert slots["escalation_topic"] == "orders"
    assert slots["escalation_detail"] == handoff["detail"]
    assert slots["handoff_summary"] == handoff["summary"]
    actions = [e["name"] for e in state["events"] if e["event"] == "action"]
    assert actions[-2:] == ["action_escalate", "action_listen"]


def test_a_request_for_a_person_escalates(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    say(stack, sender, "how long do I have to return something?")
    replies = say(stack, sender, "can I talk to a real person please")
    handoff = replies[-1]["custom"]["handoff"]
    assert handoff["reason"] == "human_requested"
    assert handoff["intent"] == "request_human"
    assert handoff["articles"] == ["returns-policy"]


def test_two_fallbacks_in_a_row_escalate_as_bot_failure(stack):
    sender = f"e2e-{uuid.uuid4().hex}"
    [clarify, fallback] = say(stack, sender, "xqzt vlorp glimmerstack")
    assert clarify["text"].startswith("Sorry, I'm not sure I understood.")
    assert clarify["buttons"][-1] == {"title": "Talk to a person", "payload": "/request_human"}
    # the fallback payload names the classifier's best non-fallback guess
    ranking = tracker(stack, sender)["latest_message"]["intent_ranking"]
    best = next(r for r in ranking if r["name"] != "nlu_fallback")
    assert set(fallback) == {"recipient_id", "custom"}
    assert fallback["custom"] == {"fallback": {"intent": best["name"],
                                               "confidence": pytest.approx(best["confidence"])}}
    replies = say(stack, sender, "blarg fnord wubba")
    handoff = replies[-1]["custom"]["handoff"]
    assert handoff["reason"] == "bot_failure"
    assert tracker(stack, sender)["slots"]["failed_turns"] == 1.0
