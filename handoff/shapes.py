"""Conversions between Rasa's REST reply shapes, the stored log and the wire shapes.

Rasa's REST channel answers ``{"recipient_id", "text"|"buttons"|"image"|"attachment"|
"custom"}``; its socketio channel (which plain Rasa widgets speak) emits ``bot_uttered``
with ``{"text"}``, ``{"text", "quick_replies"}``, ``{"attachment"}`` or a custom dict.
The bridge stores each bot message once (a Message) and renders it for every client
from there, so the history replay and the live events are the same shape.
"""
from __future__ import annotations

from typing import Any

from .store.base import Message


def rest_to_parts(reply: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """Split one Rasa REST reply into (text, payload) parts the way Rasa's socketio
    channel would emit them (texts split on blank lines, buttons on the last part)."""
    parts: list[tuple[str | None, dict[str, Any]]] = []
    text = reply.get("text")
    buttons = reply.get("buttons") or reply.get("quick_replies")
    if isinstance(text, str) and text.strip():
        pieces = text.strip().split("\n\n") or [text]
        for i, piece in enumerate(pieces):
            payload: dict[str, Any] = {}
            if buttons and i == len(pieces) - 1:
                payload["quick_replies"] = _quick_replies(buttons)
            parts.append((piece, payload))
    elif buttons:
        parts.append(("", {"quick_replies": _quick_replies(buttons)}))
    image = reply.get("image")
    if isinstance(image, str) and image:
        parts.append((None, {"attachment": {"type": "image", "payload": {"src": image}}}))
    attachment = reply.get("attachment")
    if attachment:
        parts.append((None, {"attachment": attachment}))
    elements = reply.get("elements")
    if isinstance(elements, list):
        for element in elements:
            parts.append((None, {"attachment": {"type": "template", "payload": {
                "template_type": "generic", "elements": element}}}))
    custom = reply.get("custom")
    if isinstance(custom, dict) and custom:
        parts.append((None, {"custom": custom}))
    return parts


def _quick_replies(buttons: list[Any]) -> list[dict[str, str]]:
    out = []
    for button in buttons:
        if isinstance(button, dict):
            out.append({"content_type": "text", "title": str(button.get("title", "")),
                        "payload": str(button.get("payload", button.get("title", "")))})
    return out


def handoff_signal(reply: dict[str, Any]) -> dict[str, Any] | None:
    """The escalation payload ({"reason", "topic", ...}) if this reply is one."""
    custom = reply.get("custom")
    if isinstance(custom, dict) and isinstance(custom.get("handoff"), dict):
        return custom["handoff"]
    return None


def fallback_signal(reply: dict[str, Any]) -> dict[str, Any] | None:
    """The fallback report ({"intent", "confidence"}) of action_clarify if this reply
    is one; never shown to the visitor (handoff.bot_reports records it)."""
    custom = reply.get("custom")
    if isinstance(custom, dict) and isinstance(custom.get("fallback"), dict):
        return custom["fallback"]
    return None


def to_wire(message: Message) -> dict[str, Any]:
    """A stored message as the visitor sees it: in `history` and, with `bot_uttered`,
    exactly Rasa's shape plus our fields (id, ts, sender, agent_name, client_id)."""
    payload = message.payload or {}
    wire: dict[str, Any] = {}
    custom = payload.get("custom")
    if isinstance(custom, dict):
        # Rasa's channel emits custom json as the event's data ({"data": x} -> x)
        body = custom.get("data") if isinstance(custom.get("data"), dict) else custom
        wire.update(body)
    if message.text is not None and (message.text or "quick_replies" in payload):
        wire["text"] = message.text
    if "quick_replies" in payload:
        wire["quick_replies"] = payload["quick_replies"]
    if "attachment" in payload:
        wire["attachment"] = payload["attachment"]
    wire.update({"id": message.id, "ts": message.ts, "sender": message.sender})
    if message.agent_name:
        wire["agent_name"] = message.agent_name
    if message.client_id and message.sender == "visitor":
        wire["client_id"] = message.client_id
    return wire


def to_agent_wire(message: Message) -> dict[str, Any]:
    """A stored message as an agent sees it (notes included, with who wrote them)."""
    wire = to_wire(message)
    if message.agent_id:
        wire["agent_id"] = message.agent_id
    if message.payload.get("intent"):
        wire["intent"] = message.payload["intent"]
    return wire
