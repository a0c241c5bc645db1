"""What the bot reports about its turns, kept on the conversation for the analytics
(handoff.analytics) and the designers' review (handoff.review).

Two parts of the bot -> bridge contract (docs/protocol.md section 1) carry facts that
are not messages, so they live in ``Conversation.meta`` rather than in the log:

* the ``fallback`` custom payload of action_clarify (the classifier's best guess for a
  message it did not understand) -> one entry of ``meta["fallbacks"]``:
  ``{"message_id", "intent", "confidence", "ts"}``, the newest MAX_FALLBACKS kept;
* ``intent`` and ``articles`` of the ``handoff`` payload -> ``meta["escalation_intent"]``
  and ``meta["articles_shown"]``, replaced at every escalation (a bridge-made one,
  such as ``bot_unavailable``, has neither: None and []).

Everything here comes from Rasa, so it is validated: names (intents, article ids) are
strings of 1..MAX_NAME printable characters, confidences finite numbers in [0, 1],
at most MAX_ARTICLES distinct article ids; anything else is dropped (a name becomes
None). The functions build new meta dicts and leave every other key as it was; the
caller writes them with one store step. The readers tolerate conversations stored
before these keys existed or with damaged values.
"""
from __future__ import annotations

import math
from typing import Any

from .store.base import Conversation

FALLBACKS = "fallbacks"
ESCALATION_INTENT = "escalation_intent"
ARTICLES_SHOWN = "articles_shown"
MAX_FALLBACKS = 100     # per conversation: the newest are kept
MAX_ARTICLES = 50       # the knowledge base has a few dozen articles
MAX_NAME = 100


def clean_name(value: Any) -> str | None:
    """An intent name or article id, or None when it is not a usable one."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_NAME or not value.isprintable():
        return None
    return value


def clean_confidence(value: Any) -> float | None:
    """A classifier confidence in [0, 1], or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return None
    return round(value, 4)


def clean_articles(value: Any) -> list[str]:
    """Distinct usable article ids in the order given, at most MAX_ARTICLES."""
    if not isinstance(value, (list, tuple)):
        return []
    found: list[str] = []
    for item in value:
        name = clean_name(item)
        if name is not None and name not in found:
            found.append(name)
            if len(found) == MAX_ARTICLES:
                break
    return found


def fallback_entry(signal: dict[str, Any], message_id: str | None, ts: float) -> dict[str, Any]:
    """One record of meta["fallbacks"] from a ``fallback`` payload; message_id is the
    visitor message the bot did not understand (None for a turn without one)."""
    return {"message_id": message_id if isinstance(message_id, str) else None,
            "intent": clean_name(signal.get("intent")),
            "confidence": clean_confidence(signal.get("confidence")), "ts": ts}


def with_fallbacks(meta: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """meta with the entries appended to its fallbacks (the newest MAX_FALLBACKS kept)."""
    kept = [e for e in meta.get(FALLBACKS) or [] if isinstance(e, dict)]
    return {**meta, FALLBACKS: (kept + entries)[-MAX_FALLBACKS:]}


def with_escalation(meta: dict[str, Any], signal: dict[str, Any]) -> dict[str, Any]:
    """meta with the escalation's intent and articles from a ``handoff`` payload."""
    return {**meta, ESCALATION_INTENT: clean_name(signal.get("intent")),
            ARTICLES_SHOWN: clean_articles(signal.get("articles"))}


def fallbacks(conversation: Conversation) -> list[dict[str, Any]]:
    """The recorded fallback turns of a conversation, oldest first."""
    entries = conversation.meta.get(FALLBACKS)
    if not isinstance(entries, list):
        return []
    return [{"message_id": e.get("message_id") if isinstance(e.get("message_id"), str) else None,
             "intent": clean_name(e.get("intent")), "confidence": clean_confidence(e.get("confidence")),
             "ts": e.get("ts")}
            for e in entries if isinstance(e, dict)]


def escalation_intent(conversation: Conversation) -> str | None:
    """The intent of the visitor's last message before the (latest) escalation."""
    return clean_name(conversation.meta.get(ESCALATION_INTENT))


def articles_shown(conversation: Conversation) -> list[str]:
    """Article ids the visitor had been shown when the conversation (last) escalated."""
    return clean_articles(conversation.meta.get(ARTICLES_SHOWN))
