"""The handoff packet: everything an agent needs at the top of an escalated chat.

Built from Rasa's tracker (transcript with failed turns marked, intents with their
confidences, slots, knowledge-base articles the bot answered from) and from the bridge's
own records (reason, page, user agent, the visitor's earlier conversations). When Rasa
is unreachable (the bot_unavailable case) the transcript comes from the bridge's log.
Personal data is masked when mask_pii is on. Pure functions: no I/O here.
"""
from __future__ import annotations

from typing import Any, Iterable

from .pii import mask
from .store.base import Conversation, Message

FALLBACK_ACTIONS = frozenset({"action_default_fallback", "action_two_stage_fallback",
                              "utter_ask_rephrase", "utter_default"})
FALLBACK_INTENTS = frozenset({"nlu_fallback"})
HIDDEN_SLOTS = frozenset({"requested_slot", "session_started_metadata", "escalation_reason",
                          "escalation_topic", "escalation_detail", "handoff_summary",
                          "kb_articles_shown"})


def transcript_from_tracker(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    """User and bot turns of the tracker, failed user turns marked ``failed: true``.

    A user turn failed when its intent is nlu_fallback or when, before the next user
    turn, the bot ran one of the fallback/rephrase actions.
    """
    events = tracker.get("events") or []
    transcript: list[dict[str, Any]] = []
    last_user: dict[str, Any] | None = None
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = parse.get("intent") or {}
            meta = event.get("metadata") or {}
            entry: dict[str, Any] = {
                "id": str(meta.get("message_id") or f"e{index}"),
                "ts": float(event.get("timestamp") or 0.0),
                "sender": "visitor",
                "text": event.get("text") or "",
            }
            if intent.get("name"):
                entry["intent"] = intent["name"]
                entry["confidence"] = round(float(intent.get("confidence") or 0.0), 4)
                if intent["name"] in FALLBACK_INTENTS:
                    entry["failed"] = True
            transcript.append(entry)
            last_user = entry
        elif kind == "bot":
            meta = event.get("metadata") or {}
            entry = {"id": f"e{index}", "ts": float(event.get("timestamp") or 0.0),
                     "sender": "agent" if meta.get("agent_id") else "bot",
                     "text": event.get("text") or ""}
            if meta.get("agent_name"):
                entry["agent_name"] = meta["agent_name"]
            transcript.append(entry)
        elif kind == "action" and event.get("name") in FALLBACK_ACTIONS and last_user is not None:
            last_user["failed"] = True
    return transcript


def transcript_from_log(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """The bridge's own log as a transcript (when Rasa cannot be asked)."""
    out = []
    for m in messages:
        if m.sender in ("note",):
            continue
        entry: dict[str, Any] = {"id": m.id, "ts": m.ts, "sender": m.sender, "text": m.text or ""}
        if m.agent_name:
            entry["agent_name"] = m.agent_name
        out.append(entry)
    return out


def intents_from_transcript(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": t["intent"], "confidence": t.get("confidence", 0.0)}
            for t in transcript if t.get("intent")]


def visible_slots(tracker: dict[str, Any]) -> dict[str, Any]:
    slots = tracker.get("slots") or {}
    return {k: v for k, v in slots.items()
            if v not in (None, "", [], {}) and k not in HIDDEN_SLOTS}


def build_packet(conversation: Conversation, *, tracker: dict[str, Any] | None,
                 log: list[Message], earlier: list[Conversation], mask_pii: bool) -> dict[str, Any]:
    """The packet described in docs/protocol.md ("The handoff packet")."""
    slots_all = (tracker or {}).get("slots") or {}
    if tracker and tracker.get("events"):
        transcript = transcript_from_tracker(tracker)
    else:
        transcript = transcript_from_log(log)
    articles = slots_all.get("kb_articles_shown") or []
    if not isinstance(articles, list):
        articles = [articles]
    page_url = conversation.page_url
    user_agent = conversation.user_agent
    if tracker and not page_url:
        for event in reversed(tracker.get("events") or []):
            meta = event.get("metadata") if isinstance(event, dict) else None
            if event.get("event") == "user" and isinstance(meta, dict) and meta.get("page_url"):
                page_url = str(meta.get("page_url"))
                user_agent = user_agent or str(meta.get("user_agent") or "")
                break
    packet = {
        "conversation_id": conversation.id,
        "reason": conversation.reason or slots_all.get("escalation_reason"),
        "topic": conversation.topic or slots_all.get("escalation_topic"),
        "detail": conversation.detail or slots_all.get("escalation_detail") or "",
        "summary": conversation.summary or slots_all.get("handoff_summary") or "",
        "transcript": transcript,
        "failed_turns": sum(1 for t in transcript if t.get("failed")),
        "intents": intents_from_transcript(transcript),
        "slots": visible_slots(tracker or {}),
        "articles_shown": [str(a) for a in articles],
        "page_url": page_url,
        "user_agent": user_agent,
        "visitor_id": conversation.visitor_id,
        "email": conversation.email,
        "earlier_conversations": [
            {"conversation_id": c.id, "started_at": c.created_at, "state": c.state,
             "summary": c.summary, "reason": c.reason}
            for c in earlier if c.id != conversation.id],
    }
    if mask_pii:  # ids stay as they are: only the free text and the slot values
        for key in ("detail", "summary", "email", "page_url"):
            packet[key] = mask(packet[key])
        packet["slots"] = mask(packet["slots"])
        for entry in packet["transcript"]:
            entry["text"] = mask(entry["text"])
        for entry in packet["earlier_conversations"]:
            entry["summary"] = mask(entry["summary"])
    return packet
