"""The bridge's HTTP client for Rasa's REST API (never an import of Rasa).

Every call carries ``?token=`` and is bounded by ``rasa_timeout_s``; a timeout, a refused
connection or a 5xx answer raises errors.Unavailable, which the routing turns into a
``bot_unavailable`` handoff. Latencies go to the metrics.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable
from urllib.parse import quote

import aiohttp

from .errors import Unavailable

log = logging.getLogger(__name__)


class RasaClient:
    """Talks to one Rasa server: webhook, tracker, tracker events, trigger_intent, status."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str, timeout_s: float,
                 observe: Callable[[str, float], None] | None = None):
        self._session = session
        self._url = url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._observe = observe or (lambda endpoint, seconds: None)

    async def _call(self, method: str, path: str, endpoint: str, *, json: Any = None,
                    params: dict[str, str] | None = None, timeout: aiohttp.ClientTimeout | None = None) -> Any:
        query = dict(params or {})
        if self._token:
            query["token"] = self._token
        started = time.perf_counter()
        try:
            async with self._session.request(method, self._url + path, json=json, params=query,
                                             timeout=timeout or self._timeout) as response:
                if response.status >= 500:
                    raise Unavailable(f"Rasa answered {response.status} on {endpoint}")
                if response.status >= 400:
                    body = await response.text()
                    log.warning("Rasa refused %s: %s %s", endpoint, response.status, body[:200])
                    raise Unavailable(f"Rasa refused {endpoint} with {response.status}")
                return await response.json(content_type=None)
        except asyncio.TimeoutError as exc:
            raise Unavailable(f"Rasa did not answer {endpoint} in time") from exc
        except aiohttp.ClientError as exc:
            raise Unavailable(f"Rasa unreachable on {endpoint}: {exc.__class__.__name__}") from exc
        except ValueError as exc:  # malformed JSON
            raise Unavailable(f"Rasa answered malformed JSON on {endpoint}") from exc
        finally:
            self._observe(endpoint, time.perf_counter() - started)

    async def send_message(self, conversation_id: str, text: str,
                           metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """POST /webhooks/rest/webhook; Rasa's replies in the REST channel's shapes."""
        body = {"sender": conversation_id, "message": text, "metadata": metadata or {}}
        result = await self._call("POST", "/webhooks/rest/webhook", "webhook", json=body)
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        """GET /conversations/{id}/tracker (all events)."""
        result = await self._call("GET", f"/conversations/{quote(conversation_id, safe='')}/tracker",
                                  "tracker", params={"include_events": "ALL"})
        return result if isinstance(result, dict) else {}

    async def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        """POST /conversations/{id}/tracker/events."""
        await self._call("POST", f"/conversations/{quote(conversation_id, safe='')}/tracker/events",
                         "events", json=events if len(events) != 1 else events[0])

    async def pause(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "pause"}])

    async def resume(self, conversation_id: str) -> None:
        await self.append_events(conversation_id, [{"event": "resume"}])

    async def add_bot_message(self, conversation_id: str, text: str, metadata: dict[str, Any]) -> None:
        """Write an agent's message into the tracker as a bot event (whole transcript)."""
        await self.append_events(conversation_id, [{"event": "bot", "text": text, "metadata": metadata,
                                                    "timestamp": time.time()}])

    async def trigger_intent(self, conversation_id: str, intent: str) -> list[dict[str, Any]]:
        """POST /conversations/{id}/trigger_intent; the messages the bot answered with."""
        result = await self._call("POST", f"/conversations/{quote(conversation_id, safe='')}/trigger_intent",
                                  "trigger_intent", json={"name": intent, "entities": {}})
        messages = result.get("messages") if isinstance(result, dict) else None
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    async def status(self) -> bool:
        """True when GET /status answers (used by /readyz)."""
        try:
            await self._call("GET", "/status", "status", timeout=aiohttp.ClientTimeout(total=3))
            return True
        except Unavailable:
            return False
