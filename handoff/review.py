"""Review candidates: what went wrong in live conversations, for the conversation designers.

The one place that collects them from a store; used by ``GET /api/review`` (http_api)
and by ``python -m bot.designer.review`` (directly with ``--store-url``, or through that
endpoint with ``--bridge-url``). For conversations updated since ``since``:

* visitor messages that led to a fallback (the bot answered with the clarifying
  question of action_clarify, or Rasa's default "didn't get that", or the bridge
  recorded action_clarify's fallback report for the message);
* the last visitor message before each escalation, with its reason;
* messages agents flagged as misunderstood (``flag`` in the console).

A candidate's intent is the one stored with the message, else the classifier's best
guess that action_clarify reported for it (handoff.bot_reports), else the caller's
``guess``, else ``unknown``.

Texts are masked (handoff.pii) before they leave this module.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from .bot_reports import fallbacks
from .pii import mask_text
from .store.base import Message, Store

FALLBACK_MARKERS = ("Sorry, I'm not sure I understood", "Sorry, I didn't get that")


@dataclass
class Candidate:
    text: str                      # masked
    conversation_id: str
    message_id: str
    source: str                    # fallback | escalation | flagged
    link: str
    intent: str = "unknown"
    reason: str | None = None
    note: str | None = None        # masked
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Candidate":
        return cls(text=str(data.get("text") or ""), conversation_id=str(data["conversation_id"]),
                   message_id=str(data["message_id"]), source=str(data["source"]),
                   link=str(data.get("link") or ""), intent=data.get("intent") or "unknown",
                   reason=data.get("reason"), note=data.get("note"))


def conversation_link(base_url: str, conversation_id: str) -> str:
    return f"{base_url.rstrip('/')}/console/#conversation={urllib.parse.quote(conversation_id, safe='')}"


async def _all_messages(store: Store, conversation_id: str) -> list[Message]:
    messages: list[Message] = []
    after = None
    while True:
        page = await store.messages(conversation_id, after_id=after, limit=500)
        messages += page
        if len(page) < 500:
            return messages
        after = page[-1].id


async def collect(store: Store, *, since: float, base_url: str,
                  guess: Callable[[str, str], str | None] | None = None) -> list[Candidate]:
    """Candidates from the store, in conversation order, one per visitor message.

    ``guess(conversation id, raw text)`` names an intent when the message carries none."""
    found: dict[tuple[str, str], Candidate] = {}
    reported: dict[tuple[str, str], str | None] = {}   # fallback reports: (cid, message id) -> best guess

    def add(message: Message, source: str, **extra: Any) -> None:
        key = (message.conversation_id, message.id)
        note = mask_text(extra["note"]) if extra.get("note") else None
        if key in found:  # one example per message; flagged wins, notes kept
            cand = found[key]
            if source == "flagged":
                cand.source, cand.note = "flagged", note or cand.note
            cand.reason = cand.reason or extra.get("reason")
            return
        intent = ((message.payload or {}).get("intent") or reported.get(key)
                  or (guess(message.conversation_id, message.text or "") if guess else None))
        found[key] = Candidate(text=mask_text(message.text or ""), conversation_id=message.conversation_id,
                               message_id=message.id, source=source,
                               link=conversation_link(base_url, message.conversation_id),
                               intent=intent or "unknown", reason=extra.get("reason"), note=note)

    conversations = await store.list_conversations(since=since, limit=100_000)
    logs: dict[str, list[Message]] = {}
    for conversation in reversed(conversations):  # oldest first
        log = logs[conversation.id] = await _all_messages(store, conversation.id)
        reported.update({(conversation.id, entry["message_id"]): entry["intent"]
                         for entry in fallbacks(conversation) if entry["message_id"]})
        last_visitor: Message | None = None
        escalated = False
        for message in log:
            if message.sender == "visitor" and message.text:
                last_visitor = message
                if (conversation.id, message.id) in reported:
                    add(message, "fallback")
            elif message.sender == "bot" and last_visitor is not None:
                text = message.text or ""
                if any(text.startswith(marker) for marker in FALLBACK_MARKERS):
                    add(last_visitor, "fallback")
                if (message.payload or {}).get("handoff") or (message.payload or {}).get("custom", {}).get("handoff"):
                    add(last_visitor, "escalation", reason=conversation.reason)
                    escalated = True
        if conversation.reason and not escalated and last_visitor is not None:
            cutoff = conversation.queued_at or conversation.assigned_at or float("inf")
            before = [m for m in log if m.sender == "visitor" and m.text and m.ts <= cutoff]
            if before:
                add(before[-1], "escalation", reason=conversation.reason)
    for flag in await store.flags():
        if float(flag.get("ts") or 0) < since:
            continue
        cid = flag["conversation_id"]
        if cid not in logs:
            logs[cid] = await _all_messages(store, cid)
        message = next((m for m in logs[cid] if m.id == flag["message_id"]), None)
        if message is not None and message.text:
            add(message, "flagged", note=flag.get("note") or None)
    return list(found.values())
