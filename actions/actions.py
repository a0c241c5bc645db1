"""Custom actions: knowledge-base answers, product facts, order look-ups, the
clarifying first stage of the fallback, and the hand-over to a person.

The logic lives in the pure-Python modules of ``bot/`` (knowledge base, order
store, escalation rules); these classes only adapt them to rasa_sdk. Data paths
can be overridden with SUPPORTLINE_KB_PATH, SUPPORTLINE_ORDERS_PATH and
SUPPORTLINE_ESCALATION_CONFIG (defaults: this project's data/).
"""
from __future__ import annotations

import functools
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # `bot` is a sibling package of `actions`
    sys.path.insert(0, str(PROJECT_ROOT))

from bot.escalation import Decision, EscalationDetector, conversation_from_events  # noqa: E402
from bot.intents import label  # noqa: E402
from bot.knowledge import KnowledgeBase, Product, load_knowledge_base  # noqa: E402
from bot.orders import OrderStore, load_orders, normalize_order_number  # noqa: E402

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
# Intents never offered as suggestions in a clarifying question.
NOT_SUGGESTED = {FALLBACK_INTENT, "greet", "goodbye", "thanks", "affirm", "deny", "inform",
                 "chitchat", "out_of_scope", "bot_challenge", "request_human"}
TEAM_NAMES = {"billing": "billing", "technical": "product and repairs", "orders": "orders",
              "account": "accounts", "general": "customer care"}
LOW_STOCK = 5
# Something the visitor offered as an order number: a token with a digit in it.
_ORDER_CANDIDATE = re.compile(r"#?\b[\w-]*\d[\w-]*\b")


@functools.lru_cache(maxsize=1)
def knowledge_base() -> KnowledgeBase:
    """The knowledge base, loaded once per action-server process."""
    return load_knowledge_base(os.environ.get("SUPPORTLINE_KB_PATH") or PROJECT_ROOT / "data" / "kb")


@functools.lru_cache(maxsize=1)
def order_store() -> OrderStore:
    """The demo order store, loaded once per process."""
    return load_orders(os.environ.get("SUPPORTLINE_ORDERS_PATH") or None)


@functools.lru_cache(maxsize=1)
def detector() -> EscalationDetector:
    """The escalation rules, loaded once per process (same file as the Rasa policy)."""
    return EscalationDetector.from_file(os.environ.get("SUPPORTLINE_ESCALATION_CONFIG") or None)


def _latest_intent(tracker: Tracker) -> Optional[Text]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def _shown(tracker: Tracker, *article_ids: Text) -> SlotSet:
    """kb_articles_shown with these ids appended (each id once, in order of showing)."""
    shown = list(tracker.get_slot("kb_articles_shown") or [])
    for article_id in article_ids:
        if article_id not in shown:
            shown.append(article_id)
    return SlotSet("kb_articles_shown", shown)


class ActionAnswerFaq(Action):
    """Answers an FAQ intent with the knowledge-base article made for it.

    The article is chosen by intent (``intents:`` in articles.yml), else by a
    keyword search of the message, so new articles work before new intents do.
    The reply names the article, and its id is added to ``kb_articles_shown``.
    """

    def name(self) -> Text:
        return "action_answer_faq"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        kb = knowledge_base()
        intent = _latest_intent(tracker)
        article = kb.article_for_intent(intent) if intent else None
        if article is None:
            found = kb.search(tracker.latest_message.get("text") or "", limit=1)
            article = found[0] if found else None
        if article is None:
            logger.info("no article for intent %s", intent)
            dispatcher.utter_message(response="utter_default")
            return []
        logger.info("answering intent %s from article %s", intent, article.id)
        dispatcher.utter_message(text=article_reply(article))
        return [_shown(tracker, article.id)]


def article_reply(article) -> Text:
    """An article as one chat message that says where it comes from (no blank
    lines: Rasa would split the message there)."""
    text = f"{article.body} (From our help article \"{article.title}\""
    text += f": {article.url})" if article.url else ")"
    return text


class ActionProductInfo(Action):
    """Stock, price and warranty of a named product, synonyms included.

    The product comes from the message's ``product`` entity, else from a name or
    synonym found in the text, else from the ``product`` slot (so "is it in
    stock?" works after the product was named). Without any product the
    general article for the intent answers and the bot asks which product.
    """

    def name(self) -> Text:
        return "action_product_info"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        kb = knowledge_base()
        intent = _latest_intent(tracker)
        product = resolve_product(kb, tracker)
        if product is None:
            article = kb.article_for_intent(intent or "")
            events: List[EventType] = []
            if article is not None:
                dispatcher.utter_message(text=article_reply(article))
                events.append(_shown(tracker, article.id))
            names = ", ".join(p.name for p in kb.products)
            dispatcher.utter_message(text=f"Which product do you mean? We have: {names}.")
            return events
        logger.info("product %s for intent %s", product.id, intent)
        if intent == "warranty":
            text = warranty_reply(product)
            article = kb.article_for_intent("warranty")
            events = [SlotSet("product", product.name)]
            if article is not None:
                text += f" To claim, see our help article \"{article.title}\"."
                events.append(_shown(tracker, article.id))
            dispatcher.utter_message(text=text)
            return events
        dispatcher.utter_message(text=stock_reply(product))
        return [SlotSet("product", product.name)]


def resolve_product(kb: KnowledgeBase, tracker: Tracker) -> Optional[Product]:
    """The product the visitor means (entity, then text, then the product slot)."""
    for value in tracker.get_latest_entity_values("product"):
        product = kb.product(value)
        if product is not None:
            return product
    product = kb.find_product_in_text(tracker.latest_message.get("text") or "")
    return product or kb.product(tracker.get_slot("product"))


def stock_reply(product: Product) -> Text:
    """Availability and price, naming the product record it comes from."""
    source = f"(Product facts: {product.name}, item {product.id})"
    if product.in_stock:
        amount = f"only {product.stock} left" if product.stock < LOW_STOCK else "in stock"
        return (f"Yes, the {product.name} is {amount}, at {product.price_text()}. "
                f"It's {product.description}. {source}")
    back = (f" We expect it back in about {product.restock_days} days;"
            if product.restock_days else "")
    return (f"Sorry, the {product.name} ({product.price_text()}) is sold out right now.{back} "
            f"click \"Notify me\" on its page and we'll email you when it's back. {source}")


def warranty_reply(product: Product) -> Text:
    """The product's warranty term, naming the product record it comes from."""
    return (f"The {product.name} comes with a {product.warranty_years}-year warranty against manufacturing defects "
            f"(Product facts: {product.name}, item {product.id}).")


class ValidateOrderStatusForm(FormValidationAction):
    """Checks the order number the visitor gives while the form asks for it.

    Something that looks like an attempt (a token with a digit) but is not a
    5-digit number gets a clear "that doesn't look like an order number" and the
    form asks again; whether the number exists is action_order_status's job.
    """

    def name(self) -> Text:
        return "validate_order_status_form"

    async def extract_order_number(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: DomainDict) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "order_number":
            return {}
        if list(tracker.get_latest_entity_values("order_number")):
            return {}  # the regular entity mapping fills it
        match = _ORDER_CANDIDATE.search(tracker.latest_message.get("text") or "")
        return {"order_number": match.group(0)} if match else {}

    def validate_order_number(self, slot_value: Any, dispatcher: CollectingDispatcher,
                              tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        number = normalize_order_number(slot_value)
        if number is None:
            logger.info("malformed order number given")
            dispatcher.utter_message(response="utter_order_number_malformed", value=slot_value)
            return {"order_number": None}
        return {"order_number": number}


class ActionOrderStatus(Action):
    """Looks the order up in the demo store and says where it is.

    Unknown and malformed numbers get a clear reply and clear the slot, so the
    next order question asks for the number again.
    """

    def name(self) -> Text:
        return "action_order_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        raw = tracker.get_slot("order_number")
        if not raw:
            if list(tracker.get_latest_entity_values("email")):
                dispatcher.utter_message(text="Thanks, I've noted your email address. "
                                              "What can I help you with?")
            else:
                dispatcher.utter_message(response="utter_ask_order_number")
            return []
        number = normalize_order_number(raw)
        if number is None:
            dispatcher.utter_message(response="utter_order_number_malformed", value=raw)
            return [SlotSet("order_number", None)]
        order = order_store().get(number)
        if order is None:
            logger.info("order number not found")
            dispatcher.utter_message(
                text=f"I couldn't find an order #{number}. Please check the number in your "
                     "confirmation email, or ask for a person and we'll find it by your email "
                     "address.")
            return [SlotSet("order_number", None)]
        dispatcher.utter_message(text=order.describe())
        return [SlotSet("order_number", number)]


class ActionClarify(Action):
    """First stage of the fallback: a clarifying question with suggestions.

    Offers the classifier's best guesses as buttons (payload ``/<intent>``),
    matching help articles, and a way to a person; counts the failed turn in
    ``failed_turns``. A second failure in a row is a bot failure, which
    bot.policy.EscalationPolicy turns into a hand-over.

    After the question it sends the ``fallback`` custom payload of docs/protocol.md
    section 1 (the classifier's best non-fallback guess and its confidence), which the
    bridge never shows and records for the analytics of confused intents.
    """

    def name(self) -> Text:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        ranking = tracker.latest_message.get("intent_ranking") or []
        guesses = [item["name"] for item in ranking if item.get("name") not in NOT_SUGGESTED][:2]
        buttons = [{"title": label(name)[:1].upper() + label(name)[1:], "payload": f"/{name}"}
                   for name in guesses]
        buttons.append({"title": "Talk to a person", "payload": "/request_human"})
        text = "Sorry, I'm not sure I understood. Did you mean one of these?"
        articles = knowledge_base().search(tracker.latest_message.get("text") or "", limit=2)
        if articles:
            titles = "; ".join(f"\"{a.title}\"" for a in articles)
            text += f" These help articles might also answer it: {titles}."
        dispatcher.utter_message(text=text, buttons=buttons)
        dispatcher.utter_message(json_message={"fallback": best_guess(ranking)})
        failed = int(tracker.get_slot("failed_turns") or 0) + 1
        events: List[EventType] = [SlotSet("failed_turns", float(failed))]
        if articles:
            events.append(_shown(tracker, *(a.id for a in articles)))
        return events


def best_guess(ranking: List[Dict[Text, Any]]) -> Dict[Text, Any]:
    """The top entry of an intent ranking that is not the fallback intent, as
    ``{"intent", "confidence"}`` (both None when the ranking has no such entry)."""
    for item in ranking:
        name = item.get("name")
        if name and name != FALLBACK_INTENT:
            return {"intent": name, "confidence": float(item.get("confidence") or 0.0)}
    return {"intent": None, "confidence": None}


class ActionEscalate(Action):
    """Hands the conversation to a person (the bot -> bridge contract).

    Hear, empathise, apologise, resolve: first a message for the reason that
    acknowledges the feeling and says what happens next, then the ``handoff``
    custom payload of docs/protocol.md section 1; the same facts go into the
    slots escalation_reason, escalation_topic, escalation_detail and
    handoff_summary. The payload also names the intent of the visitor's last
    message and the articles of ``kb_articles_shown`` (for the analytics of
    what preceded escalations). An active form is ended, so that the agent
    starts clean.
    """

    def name(self) -> Text:
        return "action_escalate"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        rules = detector()
        conversation = conversation_from_events(tracker.events)
        decision = rules.assess(conversation)
        if decision is None:
            # Reached by the request_human rule below the detector's confidence bar,
            # or by the /request_human button.
            decision = Decision("human_requested", rules.team(conversation.turns),
                                f"intent {_latest_intent(tracker) or 'unknown'}")
        summary = rules.summary(decision, conversation, tracker.slots)
        logger.info("handing over conversation %s: %s (%s)", tracker.sender_id,
                    decision.reason, decision.topic)
        dispatcher.utter_message(response=f"utter_escalate_{decision.reason}",
                                 team_name=TEAM_NAMES.get(decision.topic, decision.topic))
        dispatcher.utter_message(json_message={"handoff": {
            "reason": decision.reason, "topic": decision.topic,
            "detail": decision.detail, "summary": summary,
            "intent": _latest_intent(tracker),
            "articles": [str(a) for a in tracker.get_slot("kb_articles_shown") or []]}})
        events: List[EventType] = [
            SlotSet("escalation_reason", decision.reason),
            SlotSet("escalation_topic", decision.topic),
            SlotSet("escalation_detail", decision.detail),
            SlotSet("handoff_summary", summary),
        ]
        if tracker.active_loop.get("name"):
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return events
