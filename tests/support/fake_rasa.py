"""A small stand-in for Rasa's HTTP API, for the bridge's protocol tests.

It imitates what the bridge uses of Rasa (``--enable-api --auth-token``):
``POST /webhooks/rest/webhook``, ``GET /conversations/{id}/tracker``,
``POST /conversations/{id}/tracker/events``, ``POST /conversations/{id}/trigger_intent``
and ``GET /status``, all requiring ``?token=``. Trackers keep user, bot and action
events and honour pause/resume (a paused conversation logs the user turn and predicts
nothing), like Rasa does.

Scripting:
    fake.replies["hi"] = [{"text": "Hello!"}]                  # exact message -> replies
    fake.replies["human"] = [{"text": "Sure"}, fake.handoff("human_requested", "billing")]
    fake.replies["eh?"] = [{"text": "Did you mean...?"}, fake.fallback("refund_status", 0.21)]
    fake.intents["hi"] = ("greet", 0.97)                        # parse result logged
    fake.intent_replies["greet"] = [{"text": "Welcome back"}]   # trigger_intent answers
    fake.slots = {"order_number": "10023"}                      # slots of every tracker
    fake.delay = 5.0        # every call waits this long (slower than rasa_timeout_s)
    fake.down = True        # every call answers 500 (or fake.down_status, e.g. 503)
    fake.drop = True        # every call is recorded, then its connection is closed without
                            # an answer and nothing is processed (a server killed mid-call)
Anything not scripted is answered with ``{"text": "echo: <message>"}``.

Run with ``async with FakeRasa() as fake: fake.url, fake.token``. ``stop()`` really closes
the listener (connections are then refused) and ``start()`` serves again on the same port.
Several fakes given one ``trackers`` dict share their trackers, like Rasa servers on one
tracker store.
"""
from __future__ import annotations

import asyncio
import copy
import time
from typing import Any, Callable

from aiohttp import web

from tests.support.processes import free_port

FALLBACK_ACTION = "action_default_fallback"


class FakeRasa:
    """See module docstring."""

    def __init__(self, token: str = "fake-rasa-token", trackers: dict[str, dict[str, Any]] | None = None):
        self.token = token
        self.port = free_port()
        self.replies: dict[str, list[dict[str, Any]] | Callable[[str], list[dict[str, Any]]]] = {}
        self.intents: dict[str, tuple[str, float]] = {}
        self.intent_replies: dict[str, list[dict[str, Any]]] = {}
        self.slots: dict[str, Any] = {}
        self.delay = 0.0
        self.down = False
        self.down_status = 500
        self.drop = False
        self.trackers: dict[str, dict[str, Any]] = {} if trackers is None else trackers
        self.calls: list[tuple[str, str, Any]] = []     # (method, path, body)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def handoff(reason: str = "human_requested", topic: str = "general", detail: str = "",
                summary: str = "", intent: str | None = None,
                articles: list[str] | None = None) -> dict[str, Any]:
        """The escalation reply action_escalate sends (docs/protocol.md, section 1)."""
        return {"custom": {"handoff": {"reason": reason, "topic": topic, "detail": detail,
                                       "summary": summary, "intent": intent,
                                       "articles": list(articles or [])}}}

    @staticmethod
    def fallback(intent: str | None, confidence: float | None) -> dict[str, Any]:
        """The fallback report action_clarify sends after its question (section 1)."""
        return {"custom": {"fallback": {"intent": intent, "confidence": confidence}}}

    def tracker(self, conversation_id: str) -> dict[str, Any]:
        return self.trackers.setdefault(conversation_id, {
            "sender_id": conversation_id, "slots": {}, "events": [], "paused": False,
            "latest_message": {}})

    def events(self, conversation_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        events = self.tracker(conversation_id)["events"]
        return [e for e in events if kind is None or e.get("event") == kind]

    # ------------------------------------------------------------------ server

    async def __aenter__(self) -> "FakeRasa":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/status", self._status)
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_get("/conversations/{cid}/tracker", self._get_tracker)
        app.router.add_post("/conversations/{cid}/tracker/events", self._post_events)
        app.router.add_post("/conversations/{cid}/trigger_intent", self._trigger_intent)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        body = None
        if request.body_exists:
            body = await request.json()
        self.calls.append((request.method, request.path, body))
        if self.drop:
            request.transport.close()
            raise asyncio.CancelledError
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            return web.json_response({"message": "down"}, status=self.down_status)
        if request.query.get("token") != self.token:
            return web.json_response({"message": "unauthorized"}, status=401)
        return await handler(request)

    # ------------------------------------------------------------------ endpoints

    @staticmethod
    async def _body(request: web.Request) -> Any:
        return await request.json() if request.body_exists else None

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response({"model_file": "fake.tar.gz", "num_active_training_jobs": 0})

    def _bot_events(self, tracker: dict[str, Any], replies: list[dict[str, Any]]) -> None:
        now = time.time()
        for reply in replies:
            if "text" in reply:
                tracker["events"].append({"event": "bot", "text": reply["text"], "timestamp": now,
                                          "metadata": {}})

    async def _webhook(self, request: web.Request) -> web.Response:
        body = (await self._body(request)) or {}
        cid, text = str(body.get("sender")), str(body.get("message", ""))
        tracker = self.tracker(cid)
        intent, confidence = self.intents.get(text, ("chitchat", 0.42))
        tracker["events"].append({"event": "user", "text": text, "timestamp": time.time(),
                                  "metadata": body.get("metadata") or {},
                                  "parse_data": {"intent": {"name": intent, "confidence": confidence},
                                                 "entities": []}})
        tracker["latest_message"] = {"text": text, "intent": {"name": intent, "confidence": confidence}}
        if tracker["paused"]:
            return web.json_response([])
        scripted = self.replies.get(text)
        if callable(scripted):
            replies = scripted(text)
        elif scripted is not None:
            replies = copy.deepcopy(scripted)
        else:
            replies = [{"text": f"echo: {text}"}]
        if intent == "nlu_fallback":
            tracker["events"].append({"event": "action", "name": FALLBACK_ACTION, "timestamp": time.time()})
        self._bot_events(tracker, replies)
        return web.json_response([{"recipient_id": cid, **r} for r in replies])

    async def _get_tracker(self, request: web.Request) -> web.Response:
        tracker = copy.deepcopy(self.tracker(request.match_info["cid"]))
        tracker["slots"] = {**self.slots, **tracker["slots"]}
        return web.json_response(tracker)

    async def _post_events(self, request: web.Request) -> web.Response:
        tracker = self.tracker(request.match_info["cid"])
        body = (await self._body(request))
        events = body if isinstance(body, list) else [body]
        for event in events:
            if not isinstance(event, dict) or "event" not in event:
                return web.json_response({"message": "bad event"}, status=400)
            if event["event"] == "pause":
                tracker["paused"] = True
            elif event["event"] == "resume":
                tracker["paused"] = False
            tracker["events"].append({**event, "timestamp": event.get("timestamp", time.time())})
        return web.json_response(copy.deepcopy(tracker))

    async def _trigger_intent(self, request: web.Request) -> web.Response:
        tracker = self.tracker(request.match_info["cid"])
        name = ((await self._body(request)) or {}).get("name")
        replies = copy.deepcopy(self.intent_replies.get(name, []))
        tracker["events"].append({"event": "user", "text": f"/{name}", "timestamp": time.time(),
                                  "parse_data": {"intent": {"name": name, "confidence": 1.0}}})
        self._bot_events(tracker, replies)
        return web.json_response({"tracker": copy.deepcopy(tracker),
                                  "messages": [{"recipient_id": tracker["sender_id"], **r} for r in replies]})
