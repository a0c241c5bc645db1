"""Input limits: payload and message sizes, and fixed-window rate limits in the store
(so that several bridge processes count together). Raise errors.TooLarge /
errors.RateLimited; the edges turn those into ``error`` events, ack errors or 413/429.
"""
from __future__ import annotations

import json
from typing import Any

from .errors import RateLimited, TooLarge
from .settings import Settings
from .store.base import Store


def payload_size(data: Any) -> int:
    """Bytes of the event's JSON (what the client sent, re-encoded)."""
    try:
        return len(json.dumps(data, ensure_ascii=False, default=str).encode("utf-8"))
    except (TypeError, ValueError):
        return 1 << 30


class Limits:
    """The checks the edges run before any work."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store

    def check_payload(self, data: Any) -> None:
        if payload_size(data) > self.settings.max_payload_bytes:
            raise TooLarge(f"payload larger than {self.settings.max_payload_bytes} bytes")

    def check_text(self, text: str) -> None:
        if len(text) > self.settings.max_message_chars:
            raise TooLarge(f"message longer than {self.settings.max_message_chars} characters")

    async def hit(self, key: str, limit: int) -> None:
        """Count one event under key; RateLimited once the window's limit is passed."""
        if limit <= 0:
            return
        if await self.store.hit("rl:" + key, self.settings.rate_window_s) > limit:
            raise RateLimited("too many requests; slow down")
