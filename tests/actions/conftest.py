"""Tracker fixtures for the action unit tests: rasa_sdk trackers built from a few
user turns, as the Rasa server would send them to the action server."""
from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

SLOTS = {"order_number": None, "product": None, "email": None, "kb_articles_shown": None,
         "failed_turns": 0.0, "escalation_reason": None, "escalation_topic": None,
         "escalation_detail": None, "handoff_summary": None, "requested_slot": None}


def user_event(text: str, intent: str, confidence: float = 0.95, entities=None,
               ranking=None) -> dict:
    parse = {"intent": {"name": intent, "confidence": confidence},
             "entities": entities or [], "text": text,
             "intent_ranking": ranking or [{"name": intent, "confidence": confidence}]}
    return {"event": "user", "text": text, "parse_data": parse}


def make_tracker(*turns: dict, slots: dict | None = None, active_loop: str | None = None,
                 bot_messages: int = 0) -> Tracker:
    """A tracker whose latest message is the last of ``turns`` (user_event dicts)."""
    events = [{"event": "action", "name": "action_session_start"},
              {"event": "session_started"}, {"event": "action", "name": "action_listen"}]
    for index, turn in enumerate(turns):
        events.append(turn)
        if index < len(turns) - 1:
            events.append({"event": "action", "name": "action_answer_faq"})
            events.append({"event": "bot", "text": "an answer"})
            events.append({"event": "action", "name": "action_listen"})
    events += [{"event": "bot", "text": "earlier"}] * bot_messages
    latest = turns[-1]["parse_data"] if turns else {}
    return Tracker("visitor-1", {**SLOTS, **(slots or {})}, latest, events, False, None,
                   {"name": active_loop} if active_loop else {}, "action_listen")


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()
