"""The bridge's HTTP client for Rasa's REST API (never an import of Rasa), over one or
several Rasa servers that share a tracker store and a lock store (the cluster profile).

Affinity: each conversation prefers one server, chosen by rendezvous (highest random
weight) hashing of (conversation id, server URL) with blake2b, so every bridge process
picks the same server for a conversation without talking to the others, and removing a
server moves only the conversations that preferred it. Every call of a conversation
(webhook, tracker, events, pause/resume, trigger_intent) goes in that preference order.

Failover: a call that failed before Rasa could have processed it (connection refused or
reset, server disconnected before answering, DNS/OS errors), or that Rasa answered with
502/503/504, is tried at once on the next server; the failed server is marked down for
``down_s`` seconds, during which it goes to the back of every preference order (still
tried last when every server is down). A timeout is never retried (the server may still
be processing the message: a retry would run the turn twice), nor a 500, a 4xx or a
malformed answer. When no server could take the call, errors.Unavailable is raised as
with one server, and the routing turns it into a ``bot_unavailable`` handoff.

Every call carries ``?token=`` and is bounded by ``rasa_timeout_s`` per server tried.
Latencies (per attempt) and failovers go to the metrics.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any, Callable, Sequence
from urllib.parse import quote, urlsplit

import aiohttp

from .errors import Unavailable

log = logging.getLogger(__name__)

# Failures that happen before Rasa could have processed the call: safe to send it elsewhere.
FAILOVER_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,       # refused, DNS, unreachable (a ClientOSError)
    aiohttp.ClientOSError,              # reset while sending
    aiohttp.ClientConnectionResetError,
    aiohttp.ServerDisconnectedError,    # closed before any answer (a server killed mid-call)
)
# Answers of a proxy or of Rasa itself meaning "not now, ask someone else".
FAILOVER_STATUSES = frozenset({502, 503, 504})
STATUS_TIMEOUT_S = 3.0


def _weight(key: str, url: str) -> int:
    """The rendezvous weight of (key, url): blake2b, the same in every process (unlike hash())."""
    digest = hashlib.blake2b(key.encode() + b"\0" + url.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous_order(key: str, urls: Sequence[str]) -> list[str]:
    """``urls`` by descending rendezvous weight for ``key`` (ties, never seen in practice,
    by URL so that the order of the list given does not matter)."""
    return sorted(urls, key=lambda url: (_weight(key, url), url), reverse=True)


def public_url(url: str) -> str:
    """The URL without user:password, fit for /readyz and logs."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


class RasaClient:
    """Talks to the Rasa servers: webhook, tracker, tracker events, trigger_intent, status.

    ``urls`` is one base URL or a list of them; ``down_s`` is the cool-off of a failed
    server; ``failover(endpoint)`` is called each time a call moves to the next server;
    ``clock`` (monotonic seconds) times the cool-off and may be replaced by tests.
    """

    def __init__(self, session: aiohttp.ClientSession, urls: str | Sequence[str], token: str, timeout_s: float,
                 observe: Callable[[str, float], None] | None = None, *, down_s: float = 5.0,
                 failover: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._session = session
        self.urls = tuple(url.rstrip("/") for url in ([urls] if isinstance(urls, str) else urls))
        if not self.urls:
            raise ValueError("RasaClient needs at least one Rasa server URL")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._observe = observe or (lambda endpoint, seconds: None)
        self._failover = failover or (lambda endpoint: None)
        self._down_s = down_s
        self._down_until: dict[str, float] = {}
        self.clock = clock

    # ------------------------------------------------------------------ servers

    def is_down(self, url: str) -> bool:
        """True while ``url`` is in its cool-off after a failure."""
        until = self._down_until.get(url)
        return until is not None and self.clock() < until

    def preference(self, conversation_id: str) -> list[str]:
        """The servers in the order a call of this conversation tries them: rendezvous
        order, servers in their cool-off moved to the back (in rendezvous order too)."""
        ranked = rendezvous_order(conversation_id, self.urls)
        return [url for url in ranked if not self.is_down(url)] + [url for url in ranked if self.is_down(url)]

    def _mark_down(self, url: str) -> None:
        self._down_until[url] = self.clock() + self._down_s

    def _mark_up(self, url: str) -> None:
        if self._down_until.pop(url, None) is not None:
            log.info("Rasa server %s answers again", public_url(url))

    # ------------------------------------------------------------------ calls

    async def _attempt(self, url: str, method: str, path: str, endpoint: str, *, json: Any,
                       params: dict[str, str] | None, timeout: aiohttp.ClientTimeout) -> tuple[Any, str | None]:
        """One try on one server: ``(result, None)``; or ``(None, why)`` when the call may go
        to another server (Rasa cannot have processed it, or said it is unavailable); raises
        Unavailable when it may not (timeout, 500, 4xx, broken or malformed answer)."""
        query = dict(params or {})
        if self._token:
            query["token"] = self._token
        started = time.perf_counter()
        answered = False
        try:
            async with self._session.request(method, url + path, json=json, params=query,
                                             timeout=timeout) as response:
                answered = True
                if response.status in FAILOVER_STATUSES:
                    return None, f"Rasa answered {response.status} on {endpoint}"
                if response.status >= 500:
                    raise Unavailable(f"Rasa answered {response.status} on {endpoint}")
                if response.status >= 400:
                    body = await response.text()
                    log.warning("Rasa server %s refused %s: %s %s", public_url(url), endpoint,
                                response.status, body[:200])
                    raise Unavailable(f"Rasa refused {endpoint} with {response.status}")
                return await response.json(content_type=None), None
        except asyncio.TimeoutError as exc:
            raise Unavailable(f"Rasa did not answer {endpoint} in time") from exc
        except FAILOVER_ERRORS as exc:
            if answered:  # the answer broke off: Rasa did process the call
                raise Unavailable(f"Rasa's answer on {endpoint} broke off: {exc.__class__.__name__}") from exc
            return None, f"Rasa unreachable on {endpoint}: {exc.__class__.__name__}"
        except aiohttp.ClientError as exc:
            raise Unavailable(f"Rasa unreachable on {endpoint}: {exc.__class__.__name__}") from exc
        except ValueError as exc:  # malformed JSON
            raise Unavailable(f"Rasa answered malformed JSON on {endpoint}") from exc
        finally:
            self._observe(endpoint, time.perf_counter() - started)

    async def _call(self, conversation_id: str, method: str, path: str, endpoint: str, *,
                    json: Any = None, params: dict[str, str] | None = None) -> Any:
        """The call on the conversation's servers in preference order, failing over as the
        module docstring says; Unavailable when no server could take it."""
        order = self.preference(conversation_id)
        why = ""
        for index, url in enumerate(order):
            result, failure = await self._attempt(url, method, path, endpoint, json=json, params=params,
                                                  timeout=self._timeout)
            if failure is None:
                self._mark_up(url)
                return result
            why = failure
            self._mark_down(url)
            if index + 1 < len(order):
                self._failover(endpoint)
                log.warning("Rasa server %s failed on %s for conversation %s (%s): marked down for %gs; "
                            "trying %s", public_url(url), endpoint, conversation_id, failure, self._down_s,
                            public_url(order[index + 1]))
            else:
                log.warning("Rasa server %s failed on %s for conversation %s (%s): marked down for %gs; "
                            "no other server to try", public_url(url), endpoint, conversation_id, failure,
                            self._down_s)
        raise Unavailable(why if len(order) == 1 else f"{why} (and on every other Rasa server)")

    async def send_message(self, conversation_id: str, text: str,
                           metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """POST /webhooks/rest/webhook; Rasa's replies in the REST channel's shapes.

        A server that disconnects before answering (ServerDisconnectedError: it was
        stopped or killed while processing the message) is failed over like a refused
        connection: Rasa saves the tracker only at the end of a turn, so a turn cut off
        by the server's death was not stored, and running it on the next server does not
        log it twice. Not covered: side effects custom actions already had in that turn,
        and a server dying in the instant between saving the tracker and sending its
        reply (that turn would be logged twice)."""
        body = {"sender": conversation_id, "message": text, "metadata": metadata or {}}
        result = await self._call(conversation_id, "POST", "/webhooks/rest/webhook", "webhook", json=body)
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        """GET /conversations/{id}/tracker (all events)."""
        result = await self._call(conversation_id, "GET",
                                  f"/conversations/{quote(conversation_id, safe='')}/tracker",
                                  "tracker", params={"include_events": "ALL"})
        return result if isinstance(result, dict) else {}

    async def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        """POST /conversations/{id}/tracker/events."""
        await self._call(conversation_id, "POST",
                         f"/conversations/{quote(conversation_id, safe='')}/tracker/events",
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
        result = await self._call(conversation_id, "POST",
                                  f"/conversations/{quote(conversation_id, safe='')}/trigger_intent",
                                  "trigger_intent", json={"name": intent, "entities": {}})
        messages = result.get("messages") if isinstance(result, dict) else None
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    # ------------------------------------------------------------------ readiness

    async def probe(self, url: str) -> bool:
        """True when GET /status on this server answers. Probes do not change the down
        marks: only real calls do, so a readiness check cannot hide a failing server."""
        try:
            _, failure = await self._attempt(url, "GET", "/status", "status", json=None, params=None,
                                             timeout=aiohttp.ClientTimeout(total=STATUS_TIMEOUT_S))
        except Unavailable:
            return False
        return failure is None

    async def servers(self) -> list[dict[str, Any]]:
        """Each server's state for /readyz: ``{"url", "ok" (answers /status), "marked_down"}``."""
        answers = await asyncio.gather(*(self.probe(url) for url in self.urls))
        return [{"url": public_url(url), "ok": ok, "marked_down": self.is_down(url)}
                for url, ok in zip(self.urls, answers)]
